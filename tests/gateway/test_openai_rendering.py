"""The gateway's OpenAI rendering of service answers, in process: transcriptions as json, text,
srt, vtt and verbose_json, and chat answers as `chat.completion` and `chat.completion.chunk`.
The routes' tests against real services check that the official client reads these."""

import json

import pytest

from paneas.asr.v1 import asr_pb2
from paneas.gateway.openai import transcription
from paneas.gateway.openai.chat import render
from paneas.llm.v1 import llm_pb2

SPOKEN = " Ask not what your country can do for you. Ask what you can do."


def recognized(language: str = "en") -> asr_pb2.RecognizeResponse:
    """Two spoken segments, the second past an hour, with a blank one between them."""
    return asr_pb2.RecognizeResponse(
        text=SPOKEN,
        language=language,
        duration_seconds=3663.0049,
        segments=[
            asr_pb2.Segment(
                id=0,
                start_seconds=0.5,
                end_seconds=4.25,
                text=" Ask not what your country can do for you.",
                # float32 on the wire: 1.2 arrives as 1.2000000476837158.
                avg_logprob=-0.25,
                compression_ratio=1.2,
                no_speech_probability=0.01,
                words=[
                    asr_pb2.Word(word=" Ask", start_seconds=0.5, end_seconds=0.7504),
                    asr_pb2.Word(word=" not", start_seconds=0.7504, end_seconds=1.0),
                ],
            ),
            asr_pb2.Segment(id=1, start_seconds=4.25, end_seconds=5.0, text="  "),
            asr_pb2.Segment(
                id=2,
                start_seconds=3661.0,
                end_seconds=3662.1234,
                text=" Ask what you can do.",
            ),
        ],
    )


def rendered(response_format: str, task: str = "transcribe", granularities=(), language="en"):
    return transcription.render(
        recognized(language), response_format, task, list(granularities), temperature=0.0
    )


def test_srt_numbers_the_spoken_cues_with_comma_milliseconds():
    answer = rendered("srt")
    assert answer.media_type == "text/plain"
    assert answer.body.decode() == (
        "1\n00:00:00,500 --> 00:00:04,250\nAsk not what your country can do for you.\n\n"
        "2\n01:01:01,000 --> 01:01:02,123\nAsk what you can do.\n\n"
    )


def test_vtt_has_its_header_and_dot_milliseconds_without_numbers():
    assert rendered("vtt").body.decode() == (
        "WEBVTT\n\n"
        "00:00:00.500 --> 00:00:04.250\nAsk not what your country can do for you.\n\n"
        "01:01:01.000 --> 01:01:02.123\nAsk what you can do.\n\n"
    )


@pytest.mark.parametrize(
    "seconds, marker, expected",
    [(0.0004, ",", "00:00:00,000"), (-0.2, ".", "00:00:00.000"), (360_000.5, ",", "100:00:00,500")],
)
def test_timestamps_round_to_milliseconds_and_let_hours_grow(seconds, marker, expected):
    assert transcription.timestamp(seconds, marker) == expected


def test_text_is_the_transcript_on_one_line():
    answer = rendered("text")
    assert answer.media_type == "text/plain"
    assert answer.body.decode() == SPOKEN.strip() + "\n"


def test_json_carries_usage_in_seconds_except_for_translations():
    assert json.loads(rendered("json").body) == {
        "text": SPOKEN.strip(),
        "usage": {"type": "duration", "seconds": 3663.005},
    }
    assert json.loads(rendered("json", task="translate").body) == {"text": SPOKEN.strip()}


def test_verbose_json_is_openais_with_segments_and_words_as_asked():
    body = json.loads(rendered("verbose_json", granularities=["word", "segment"]).body)
    assert body["task"] == "transcribe"
    assert body["language"] == "english"
    assert body["duration"] == 3663.005
    assert body["text"] == SPOKEN.strip()
    assert body["usage"] == {"type": "duration", "seconds": 3663.005}
    assert body["segments"][0] == {
        "id": 0,
        "seek": 50,
        "start": 0.5,
        "end": 4.25,
        "text": " Ask not what your country can do for you.",
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": -0.25,
        "compression_ratio": 1.2,
        "no_speech_prob": 0.01,
    }
    # Every segment, the blank one too, as the service decoded them.
    assert [segment["id"] for segment in body["segments"]] == [0, 1, 2]
    assert body["words"] == [
        {"word": "Ask", "start": 0.5, "end": 0.75},
        {"word": "not", "start": 0.75, "end": 1.0},
    ]


def test_verbose_json_leaves_out_what_was_not_asked_for():
    segments_only = json.loads(rendered("verbose_json").body)
    assert "segments" in segments_only and "words" not in segments_only
    words_only = json.loads(rendered("verbose_json", granularities=["word"]).body)
    assert "words" in words_only and "segments" not in words_only


def test_verbose_json_of_a_translation_is_in_english_without_usage():
    body = json.loads(rendered("verbose_json", task="translate", language="pt").body)
    assert body["task"] == "translate" and body["language"] == "english"
    assert "usage" not in body
    assert json.loads(rendered("verbose_json", language="pt-BR").body)["language"] == "portuguese"


@pytest.mark.parametrize(
    "previous, text, delta",
    [
        ("", " Ask not", "Ask not"),
        ("Ask not", " what", " what"),
        ("Ask not", "what", " what"),
        ("Ask not ", "what", "what"),
    ],
)
def test_streamed_deltas_join_like_the_full_transcript(previous, text, delta):
    assert transcription.join_delta(previous, text) == delta


def chunk_of(*choices: llm_pb2.ChunkChoice, usage: llm_pb2.Usage | None = None):
    message = llm_pb2.StreamChatResponse(id="chatcmpl-1", model="m", created=7, choices=choices)
    if usage is not None:
        message.usage.CopyFrom(usage)
    return message


def test_the_first_chunk_has_the_role_and_empty_content():
    first = chunk_of(llm_pb2.ChunkChoice(delta=llm_pb2.Delta(role=llm_pb2.ROLE_ASSISTANT)))
    assert render.chunk(first, include_usage=False) == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "m",
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
    }


def test_with_include_usage_every_chunk_has_usage_null_until_the_last():
    text = chunk_of(llm_pb2.ChunkChoice(delta=llm_pb2.Delta(content="Hi")))
    assert render.chunk(text, include_usage=True)["usage"] is None
    assert render.chunk(text, include_usage=True)["choices"][0]["delta"] == {"content": "Hi"}
    last = chunk_of(usage=llm_pb2.Usage(prompt_tokens=9, completion_tokens=3, total_tokens=12))
    rendered_last = render.chunk(last, include_usage=True)
    assert rendered_last["choices"] == []
    assert rendered_last["usage"] == {
        "prompt_tokens": 9,
        "completion_tokens": 3,
        "total_tokens": 12,
    }


def test_tool_call_fragments_name_the_call_once_then_carry_arguments():
    first = chunk_of(
        llm_pb2.ChunkChoice(
            delta=llm_pb2.Delta(
                role=llm_pb2.ROLE_ASSISTANT,
                tool_calls=[
                    llm_pb2.ToolCall(
                        index=0, id="call_1", function=llm_pb2.FunctionCall(name="weather")
                    )
                ],
            )
        )
    )
    later = chunk_of(
        llm_pb2.ChunkChoice(
            delta=llm_pb2.Delta(
                tool_calls=[
                    llm_pb2.ToolCall(index=0, function=llm_pb2.FunctionCall(arguments='{"city"'))
                ]
            ),
            finish_reason=llm_pb2.FINISH_REASON_TOOL_CALLS,
        )
    )
    # No content with the role when the message starts with a tool call.
    assert render.chunk(first, include_usage=False)["choices"][0]["delta"] == {
        "role": "assistant",
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": ""},
            }
        ],
    }
    choice = render.chunk(later, include_usage=False)["choices"][0]
    assert choice["delta"] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city"'}}]}
    assert choice["finish_reason"] == "tool_calls"


def test_a_completion_of_tool_calls_has_null_content_and_always_a_finish_reason():
    response = llm_pb2.ChatResponse(
        id="chatcmpl-2",
        model="m",
        created=8,
        choices=[
            llm_pb2.Choice(
                message=llm_pb2.Message(
                    role=llm_pb2.ROLE_ASSISTANT,
                    tool_calls=[
                        llm_pb2.ToolCall(
                            index=0,
                            id="call_1",
                            function=llm_pb2.FunctionCall(name="weather", arguments="{}"),
                        )
                    ],
                )
            ),
        ],
        usage=llm_pb2.Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7),
    )
    assert render.completion(response) == {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "created": 8,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": "{}"},
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        "system_fingerprint": None,
    }
