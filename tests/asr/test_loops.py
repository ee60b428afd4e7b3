"""Cutting a live decode's repetition loop (engine.py `cut_loop`), on Whisper's own tokenizer:
the words before the loop are kept, its first pass too, nothing of what did not loop."""

from pathlib import Path

import pytest
import tokenizers
from faster_whisper.tokenizer import Tokenizer

from paneas.services.asr.assets import ensure_packaged_model
from paneas.services.asr.engine import cut_loop


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    model = Path(ensure_packaged_model())
    hf = tokenizers.Tokenizer.from_file(str(model / "tokenizer.json"))
    return Tokenizer(hf, multilingual=True, task="transcribe", language="en")


def timestamp(tokenizer: Tokenizer, seconds: float) -> int:
    return tokenizer.timestamp_begin + round(seconds / 0.02)


def text_of(tokenizer: Tokenizer, tokens: list[int]) -> str:
    return tokenizer.decode([t for t in tokens if t < tokenizer.timestamp_begin]).strip()


def test_a_word_loop_is_cut_after_its_first_pass(tokenizer: Tokenizer) -> None:
    tokens = [timestamp(tokenizer, 0), *tokenizer.encode(" Try again" + " again" * 12)]
    kept = cut_loop(tokens, tokenizer)
    assert kept is not None
    assert text_of(tokenizer, kept) == "Try again"
    assert kept[0] == timestamp(tokenizer, 0)


def test_a_sentence_loop_with_timestamps_keeps_one_sentence_and_its_end(
    tokenizer: Tokenizer,
) -> None:
    sentence = tokenizer.encode(" No matter.")
    tokens = [timestamp(tokenizer, 0), *tokenizer.encode(" Ever tried.")]
    for second in range(1, 6):
        tokens += [timestamp(tokenizer, second), timestamp(tokenizer, second), *sentence]
    kept = cut_loop(tokens, tokenizer)
    assert kept is not None
    assert text_of(tokenizer, kept) == "Ever tried. No matter."
    assert kept[-1] == timestamp(tokenizer, 2)  # the first pass's segment is closed


def test_a_loop_after_a_sentence_keeps_the_sentence_whole(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.encode(" Yes." + " Thank you." * 6)
    kept = cut_loop(tokens, tokenizer)
    assert kept is not None
    assert text_of(tokenizer, kept) == "Yes. Thank you."


def test_a_loop_closed_by_a_timestamp_is_still_a_loop(tokenizer: Tokenizer) -> None:
    tokens = [*tokenizer.encode(" Thank you." * 5), timestamp(tokenizer, 3.2)]
    kept = cut_loop(tokens, tokenizer)
    assert kept is not None
    assert text_of(tokenizer, kept) == "Thank you."


@pytest.mark.parametrize(
    "text",
    [
        " And so my fellow Americans, ask not what your country can do for you.",
        " No, no.",  # said twice is speech, not a loop
        " Fail again. Fail better.",
    ],
)
def test_text_that_does_not_end_in_a_loop_is_left_alone(tokenizer: Tokenizer, text: str) -> None:
    tokens = [timestamp(tokenizer, 0), *tokenizer.encode(text), timestamp(tokenizer, 4)]
    assert cut_loop(tokens, tokenizer) is None
