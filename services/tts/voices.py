"""The voice catalogue: every loaded engine's voices, the default, and OpenAI's voice names."""

from collections.abc import Iterable

import structlog

from paneas.services.tts.engines.base import VoiceSpec
from paneas.services.tts.errors import UnknownVoice

log = structlog.get_logger("paneas.tts")

_PREFERRED_DEFAULTS = ("joe", "af_heart", "espeak-en-us")


class VoiceCatalogue:
    def __init__(
        self, voices: Iterable[VoiceSpec], default: str = "", aliases: dict[str, str] | None = None
    ) -> None:
        self.voices: dict[str, VoiceSpec] = {}
        for voice in voices:
            if voice.name in self.voices:
                other = self.voices[voice.name].engine
                raise ValueError(f"two voices named {voice.name!r} ({other} and {voice.engine})")
            self.voices[voice.name] = voice
        if not self.voices:
            raise ValueError("no voices: enable at least one engine (TTS_ENGINES)")
        if default and default not in self.voices:
            raise ValueError(f"TTS_DEFAULT_VOICE={default} is not a voice; {self.names()}")
        self.default = default or next(
            (name for name in _PREFERRED_DEFAULTS if name in self.voices), next(iter(self.voices))
        )
        self.aliases: dict[str, str] = {}
        for alias, target in (aliases or {}).items():
            alias = alias.lower()
            if alias in self.voices:
                raise ValueError(f"the alias {alias!r} is also a voice name")
            if target not in self.voices:
                log.info("voice alias speaks with the default voice", alias=alias, missing=target)
                target = self.default
            self.aliases[alias] = target
            self.voices[target].aliases.append(alias)

    def names(self) -> str:
        return "voices: " + ", ".join(self.voices) + "; OpenAI names: " + ", ".join(self.aliases)

    def resolve(self, name: str) -> VoiceSpec:
        """A voice by name or alias (aliases are case-insensitive); the default when empty."""
        if not name:
            return self.voices[self.default]
        if name in self.voices:
            return self.voices[name]
        if (target := self.aliases.get(name.lower())) is not None:
            return self.voices[target]
        raise UnknownVoice(f"no voice {name!r}; {self.names()} (ListVoices describes them)")

    def speaking(self, language: str) -> list[VoiceSpec]:
        """Voices speaking `language` (BCP-47 prefix match: "pt" finds pt-BR); all when empty."""
        wanted = language.lower().replace("_", "-")
        if not wanted:
            return list(self.voices.values())
        return [
            voice
            for voice in self.voices.values()
            if any(_matches(code.lower(), wanted) for code in voice.languages)
        ]


def _matches(code: str, wanted: str) -> bool:
    return code == wanted or code.startswith(wanted + "-") or wanted.startswith(code + "-")
