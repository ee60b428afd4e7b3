"""When a batched clip is decoded again (services/asr/batch.py `missed_parts`): only where
Whisper stopped early on speech it understood, never after a guess."""

from faster_whisper.transcribe import Segment

from paneas.services.asr.batch import LOG_PROB_THRESHOLD, Span, missed_parts


def segment(start: float, end: float, avg_logprob: float = -0.3) -> Segment:
    return Segment(
        id=0,
        seek=0,
        start=start,
        end=end,
        text="words",
        tokens=[],
        avg_logprob=avg_logprob,
        compression_ratio=1.2,
        no_speech_prob=0.01,
        words=None,
        temperature=0.0,
    )


CLIP = Span(10.0, 30.0)
# The VAD heard speech through most of the clip.
SPEECH = [Span(10.0, 18.0), Span(19.0, 29.5)]


def test_confident_text_ending_before_the_speech_leaves_the_rest_to_decode_again():
    assert missed_parts(CLIP, [segment(10.2, 18.0)], SPEECH) == [Span(18.0, 30.0)]


def test_text_starting_late_leaves_the_start_to_decode_again():
    assert missed_parts(CLIP, [segment(19.0, 29.5)], SPEECH) == [Span(10.0, 19.0)]


def test_text_covering_the_speech_needs_nothing_more():
    assert missed_parts(CLIP, [segment(10.2, 18.0), segment(19.1, 29.4)], SPEECH) == []


def test_a_remainder_of_padding_or_a_breath_is_not_decoded_again():
    # 0.6 s of VAD speech after the text: less than a short word with its padding.
    assert missed_parts(CLIP, [segment(10.0, 28.9)], SPEECH) == []


def test_a_guessed_clip_is_not_resumed():
    # Unintelligible speech (a line in a made-up language): Whisper invents a sentence at a
    # low log-probability; decoding the rest again only invented more.
    guess = segment(10.2, 14.0, avg_logprob=LOG_PROB_THRESHOLD - 0.7)
    assert missed_parts(CLIP, [guess], SPEECH) == []


def test_a_clip_with_no_text_is_not_resumed():
    assert missed_parts(CLIP, [], SPEECH) == []
