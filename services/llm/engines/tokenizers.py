"""Token counts for remote models, whose tokenizer is not loaded in this process.

`o200k_base` / `cl100k_base` are OpenAI's own encodings (bpe-openai bundles them: no download);
a path is a Hugging Face tokenizer.json; empty falls back to four characters per token.
Chat overhead follows OpenAI's published counting recipe (3 tokens per message, 3 to prime
the reply), so counts match what OpenAI bills within a few tokens.
"""

import json
import math
from typing import Any

_PER_MESSAGE = 3
_REPLY_PRIMING = 3


class RemoteTokenizer:
    def __init__(self, name: str) -> None:
        self.name = name
        self._encode = self._load(name)

    @staticmethod
    def _load(name: str) -> Any:
        if not name:
            return None
        if name.endswith(".json"):
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(name)
            return lambda text: tokenizer.encode(text, add_special_tokens=False).ids
        import bpe_openai

        encoding = bpe_openai.get_encoding(name)
        return encoding.encode

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        if self._encode is None:
            return math.ceil(len(text) / 4)
        return len(self._encode(text))

    def count_chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        count = _REPLY_PRIMING
        for message in messages:
            count += _PER_MESSAGE + self.count_text(message.get("role", ""))
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(part.get("text", "") for part in content)
            count += self.count_text(content or "")
            for call in message.get("tool_calls") or []:
                count += self.count_text(json.dumps(call.get("function", {})))
        if tools:
            count += self.count_text(json.dumps(tools))
        return count
