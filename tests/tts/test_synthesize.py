"""Synthesize, StreamSynthesize and ListVoices against the real service (Piper joe, Kokoro
int8, espeak-ng), heard back by the real ASR service."""

import asyncio
import time

import grpc
import pytest

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.evaluation import wer
from paneas.tts.v1 import tts_pb2
from tests.support.metrics import metric_value
from tests.tts.conftest import codec_slack, decode, duration_of

OPENAI_VOICES = [
    "alloy",
    "echo",
    "fable",
    "onyx",
    "nova",
    "shimmer",
    "ash",
    "ballad",
    "coral",
    "sage",
    "verse",
]
EN_TEXT = "The weather is lovely today. We will walk to the park after lunch."
PT_TEXT = "O tempo está ótimo hoje. Vamos caminhar no parque depois do almoço."
FORMATS = [
    tts_pb2.AUDIO_FORMAT_WAV,
    tts_pb2.AUDIO_FORMAT_PCM,
    tts_pb2.AUDIO_FORMAT_MP3,
    tts_pb2.AUDIO_FORMAT_OPUS,
    tts_pb2.AUDIO_FORMAT_FLAC,
    tts_pb2.AUDIO_FORMAT_AAC,
]


async def test_lists_every_engine_with_languages_genders_and_openai_aliases(tts, auth_metadata):
    listed = await tts.ListVoices(tts_pb2.ListVoicesRequest(), metadata=auth_metadata)
    voices = {voice.name: voice for voice in listed.voices}
    assert listed.default_voice == "joe"
    assert {voice.engine for voice in listed.voices} == {"piper", "kokoro", "espeak"}
    joe, dora, alex = voices["joe"], voices["pf_dora"], voices["pm_alex"]
    assert (joe.engine, list(joe.language_codes), joe.gender) == ("piper", ["en-US"], 2)
    assert joe.natural_sample_rate_hertz == 22050
    assert (dora.engine, list(dora.language_codes), dora.gender) == ("kokoro", ["pt-BR"], 1)
    assert alex.gender == tts_pb2.GENDER_MALE and alex.natural_sample_rate_hertz == 24000
    assert voices["espeak-pt-br"].language_codes == ["pt-BR"]
    aliases = {alias: voice.name for voice in listed.voices for alias in voice.aliases}
    assert sorted(aliases) == sorted(OPENAI_VOICES)
    assert aliases["alloy"] == "af_alloy" and aliases["onyx"] == "am_onyx"

    portuguese = await tts.ListVoices(
        tts_pb2.ListVoicesRequest(language="pt"), metadata=auth_metadata
    )
    assert {voice.name for voice in portuguese.voices} == {
        "pf_dora",
        "pm_alex",
        "pm_santa",
        "espeak-pt-br",
    }


@pytest.mark.parametrize("audio_format", FORMATS, ids=tts_pb2.AudioFormat.Name)
async def test_every_format_decodes_to_the_reported_duration(tts, auth_metadata, audio_format):
    reply = await tts.Synthesize(
        tts_pb2.SynthesizeRequest(text=EN_TEXT, voice="joe", format=audio_format),
        metadata=auth_metadata,
    )
    assert reply.format == audio_format and reply.voice == "joe" and reply.engine == "piper"
    expected_rate = 48000 if audio_format == tts_pb2.AUDIO_FORMAT_OPUS else 22050
    assert reply.sample_rate_hertz == expected_rate
    assert 3.0 < reply.duration_seconds < 8.0
    samples, rate = decode(reply.audio, audio_format, reply.sample_rate_hertz)
    assert rate == expected_rate
    decoded = samples.size / rate
    assert reply.duration_seconds <= decoded + 0.02
    assert decoded <= reply.duration_seconds + codec_slack(audio_format, rate)
    assert abs(samples).max() > 0.1, "silence"
    assert reply.characters == len(EN_TEXT) and reply.synthesis_seconds > 0


@pytest.mark.parametrize(
    ("audio_format", "rate"),
    [
        (tts_pb2.AUDIO_FORMAT_WAV, 16000),
        (tts_pb2.AUDIO_FORMAT_MP3, 44100),
        (tts_pb2.AUDIO_FORMAT_OPUS, 24000),
        (tts_pb2.AUDIO_FORMAT_FLAC, 8000),
    ],
)
async def test_resamples_to_the_requested_rate(tts, auth_metadata, audio_format, rate):
    reply = await tts.Synthesize(
        tts_pb2.SynthesizeRequest(
            text="Good morning.", voice="espeak-en-us", format=audio_format, sample_rate_hertz=rate
        ),
        metadata=auth_metadata,
    )
    samples, decoded_rate = decode(reply.audio, audio_format, rate)
    assert reply.sample_rate_hertz == rate
    # Opus is encoded at the rate asked for, but its decoders always give 48 kHz.
    assert decoded_rate == (48000 if audio_format == tts_pb2.AUDIO_FORMAT_OPUS else rate)
    samples_rate = decoded_rate
    decoded = samples.size / samples_rate
    assert reply.duration_seconds - 0.02 <= decoded
    assert decoded <= reply.duration_seconds + codec_slack(audio_format, samples_rate)


@pytest.mark.parametrize(
    ("voice", "language", "text"),
    [
        ("joe", "en", EN_TEXT),
        ("af_heart", "en", EN_TEXT),
        ("pf_dora", "pt", PT_TEXT),
        ("pm_alex", "pt", PT_TEXT),
    ],
)
async def test_whisper_understands_what_it_says(
    tts, asr_service, auth_metadata, voice, language, text
):
    reply = await tts.Synthesize(
        tts_pb2.SynthesizeRequest(
            text=text, voice=voice, format=tts_pb2.AUDIO_FORMAT_WAV, sample_rate_hertz=16000
        ),
        metadata=auth_metadata,
    )
    async with grpc.aio.insecure_channel(asr_service.target) as channel:
        heard = await asr_pb2_grpc.AsrServiceStub(channel).Recognize(
            asr_pb2.RecognizeRequest(
                audio=reply.audio, config=asr_pb2.RecognitionConfig(language=language)
            ),
            metadata=auth_metadata,
        )
    assert wer(text, heard.text) <= 0.2, heard.text


async def test_openai_voice_names_speak_with_their_voices(tts, auth_metadata):
    reply = await tts.Synthesize(
        tts_pb2.SynthesizeRequest(text="Hi.", voice="Onyx", format=tts_pb2.AUDIO_FORMAT_PCM),
        metadata=auth_metadata,
    )
    assert (reply.voice, reply.engine, reply.sample_rate_hertz) == ("am_onyx", "kokoro", 24000)


# Piper at any rate by itself; espeak-ng and Kokoro (0.5-2.0) hand the rest to atempo.
@pytest.mark.parametrize(
    ("voice", "slow", "fast"),
    [("joe", 0.5, 2.0), ("espeak-pt-br", 0.25, 4.0), ("am_echo", 0.5, 4.0)],
)
async def test_speed_changes_the_duration(tts, auth_metadata, voice, slow, fast):
    async def duration(speed: float) -> float:
        reply = await tts.Synthesize(
            tts_pb2.SynthesizeRequest(
                text="Uma frase curta para medir.", voice=voice, speed=speed, language=""
            ),
            metadata=auth_metadata,
        )
        assert duration_of(reply.audio, reply.format, reply.sample_rate_hertz) == pytest.approx(
            reply.duration_seconds, abs=0.02
        )
        return reply.duration_seconds

    normal, slower, faster = await duration(1.0), await duration(slow), await duration(fast)
    assert slower > normal * (1 / slow) * 0.6
    assert faster < normal * (1 / fast) * 1.5


async def test_control_and_invisible_characters_are_dropped(tts, auth_metadata):
    reply = await tts.Synthesize(
        tts_pb2.SynthesizeRequest(text="Hello\x00 world\u200b\u202e.", voice="joe"),
        metadata=auth_metadata,
    )
    assert reply.duration_seconds > 0.5 and reply.characters == 15


async def test_numbers_are_spoken_as_words_unless_disabled(tts, auth_metadata):
    text = "O Sr. Silva pagou R$ 5,50 no 2º dia."
    chunks = [
        chunk
        async for chunk in tts.StreamSynthesize(
            tts_pb2.StreamSynthesizeRequest(text=text, voice="espeak-pt-br"),
            metadata=auth_metadata,
        )
    ]
    assert [chunk.text for chunk in chunks] == [
        "O senhor Silva pagou cinco reais e cinquenta centavos no segundo dia."
    ]
    raw = [
        chunk
        async for chunk in tts.StreamSynthesize(
            tts_pb2.StreamSynthesizeRequest(
                text=text, voice="espeak-pt-br", disable_normalization=True
            ),
            metadata=auth_metadata,
        )
    ]
    assert [chunk.text for chunk in raw] == [text]


@pytest.mark.parametrize(
    "audio_format",
    [tts_pb2.AUDIO_FORMAT_WAV, tts_pb2.AUDIO_FORMAT_OPUS, tts_pb2.AUDIO_FORMAT_MP3],
    ids=tts_pb2.AudioFormat.Name,
)
async def test_stream_sends_each_sentence_as_it_is_done(tts, auth_metadata, audio_format):
    text = " ".join(
        f"This is sentence number {word}, spoken on its own."
        for word in ["one", "two", "three", "four", "five", "six"]
    )
    started = time.perf_counter()
    arrivals, chunks = [], []
    async for chunk in tts.StreamSynthesize(
        tts_pb2.StreamSynthesizeRequest(text=text, voice="joe", format=audio_format),
        metadata=auth_metadata,
    ):
        arrivals.append(time.perf_counter() - started)
        chunks.append(chunk)
    assert [chunk.sentence_index for chunk in chunks] == list(range(6))
    assert all(chunk.voice == "joe" and chunk.format == audio_format for chunk in chunks)
    # The first sentence was out well before the last was synthesised.
    assert arrivals[0] < arrivals[-1] / 2, arrivals
    for previous, chunk in zip(chunks, chunks[1:], strict=False):
        assert chunk.offset_seconds == pytest.approx(
            previous.offset_seconds + previous.duration_seconds
        )
    total = chunks[-1].offset_seconds + chunks[-1].duration_seconds
    joined = b"".join(chunk.audio for chunk in chunks)
    decoded, rate = decode(joined, audio_format, chunks[0].sample_rate_hertz)
    assert total - 0.02 <= decoded.size / rate <= total + codec_slack(audio_format, rate)


async def test_cancelled_stream_stops_synthesising(tts, tts_service, auth_metadata):
    sentences = 40
    text = " ".join(f"Here is sentence {n + 1} of a long text." for n in range(sentences))
    count = ("paneas_tts_sentences_total", {"engine": "piper", "voice": "joe"})
    before = metric_value(tts_service.metrics_url, count[0], **count[1])
    call = tts.StreamSynthesize(
        tts_pb2.StreamSynthesizeRequest(text=text, voice="joe", format=tts_pb2.AUDIO_FORMAT_PCM),
        metadata=auth_metadata,
    )
    started = time.perf_counter()
    first = await call.read()
    per_sentence = time.perf_counter() - started
    assert first.sentence_index == 0
    call.cancel()
    # Long enough for a good share of the rest, had synthesis gone on.
    await asyncio.sleep(max(2.0, 10 * per_sentence))
    done = metric_value(tts_service.metrics_url, count[0], **count[1]) - before
    assert 1 <= done <= 3, f"{done} of {sentences} sentences synthesised after the cancel"


async def test_metrics_by_engine_and_voice(tts, tts_service, auth_metadata):
    await tts.Synthesize(
        tts_pb2.SynthesizeRequest(text="Metrics.", voice="espeak-es"), metadata=auth_metadata
    )
    labels = {"engine": "espeak", "voice": "espeak-es"}
    url = tts_service.metrics_url
    assert metric_value(url, "paneas_tts_characters_total", **labels) >= len("Metrics.")
    assert metric_value(url, "paneas_tts_audio_seconds_total", **labels) > 0.3
    assert metric_value(url, "paneas_tts_real_time_factor_count", **labels) >= 1
    assert (
        metric_value(
            url, "paneas_tts_time_to_first_audio_seconds_count", **labels, rpc="synthesize"
        )
        >= 1
    )


@pytest.mark.parametrize(
    ("request_fields", "code", "hint"),
    [
        ({"text": ""}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ({"text": "   \n "}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ({"text": "x" * 2001}, grpc.StatusCode.INVALID_ARGUMENT, "limit of 2000"),
        ({"text": "Hi.", "voice": "nobody"}, grpc.StatusCode.NOT_FOUND, "joe, af_alloy"),
        ({"text": "Hi.", "speed": 0.1}, grpc.StatusCode.INVALID_ARGUMENT, "0.25-4.0"),
        ({"text": "Hi.", "speed": 5}, grpc.StatusCode.INVALID_ARGUMENT, "0.25-4.0"),
        ({"text": "Hi.", "sample_rate_hertz": 12345}, grpc.StatusCode.INVALID_ARGUMENT, "48000"),
        ({"text": "Hi.", "format": 42}, grpc.StatusCode.INVALID_ARGUMENT, "AUDIO_FORMAT_MP3"),
        (
            {"text": "Oi.", "voice": "joe", "language": "pt-BR"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "pf_dora",
        ),
        ({"text": "... —"}, grpc.StatusCode.INVALID_ARGUMENT, "nothing to speak"),
    ],
)
async def test_bad_requests_get_actionable_errors(tts, auth_metadata, request_fields, code, hint):
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await tts.Synthesize(tts_pb2.SynthesizeRequest(**request_fields), metadata=auth_metadata)
    assert unary.value.code() == code and hint in unary.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        async for _ in tts.StreamSynthesize(
            tts_pb2.StreamSynthesizeRequest(**request_fields), metadata=auth_metadata
        ):
            pass
    assert streamed.value.code() == code and hint in streamed.value.details()
