"""Voices from ordinary files and paths (what real deployments configure), admission limits,
a broken configuration, and the packaged assets' checks."""

import asyncio
import shutil

import grpc
import pytest

from paneas.services.processes import ServiceProcess, free_port, grpc_serving, wait_until
from paneas.services.tts import assets
from paneas.tts.v1 import tts_pb2, tts_pb2_grpc


@pytest.fixture(scope="module")
def configured_service(api_token, tmp_path_factory):
    """A second service on a Piper voice copied to a plain path, Kokoro from explicit paths
    (pt-BR voices only), one espeak voice, one worker and no queue."""
    voices = tmp_path_factory.mktemp("voices")
    joe = assets.packaged_piper("joe")
    shutil.copy(joe, voices / "narrator.onnx")
    shutil.copy(f"{joe}.json", voices / "narrator.onnx.json")
    port = free_port()
    env = {
        "API_TOKENS": api_token,
        "TTS_PORT": str(port),
        "TTS_METRICS_PORT": "0",
        "TTS_PIPER_VOICES__NARRATOR__MODEL": str(voices / "narrator.onnx"),
        "TTS_PIPER_VOICES__NARRATOR__GENDER": "female",
        "TTS_KOKORO_MODEL": str(assets.ensure_kokoro_model()),
        "TTS_KOKORO_VOICES": str(assets.ensure_kokoro_voices()),
        "TTS_KOKORO_LANGUAGES": "p",
        "TTS_ESPEAK_VOICES": "pt-br",
        "TTS_DEFAULT_VOICE": "narrator",
        "TTS_WORKERS": "1",
        "TTS_MAX_QUEUE": "0",
        "TTS_WARMUP": "false",
        "GRPC_MAX_MESSAGE_BYTES": "300000",
    }
    service = ServiceProcess(
        "paneas.services.tts", env, tmp_path_factory.mktemp("tts-configured") / "tts.log"
    )
    target = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(target), "configured TTS service", service.process, 120)
    yield target
    service.stop()


async def test_voices_come_from_the_configured_paths(configured_service, auth_metadata):
    async with grpc.aio.insecure_channel(configured_service) as channel:
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        listed = await stub.ListVoices(tts_pb2.ListVoicesRequest(), metadata=auth_metadata)
        voices = {voice.name: voice for voice in listed.voices}
        assert set(voices) == {"narrator", "pf_dora", "pm_alex", "pm_santa", "espeak-pt-br"}
        assert listed.default_voice == "narrator"
        narrator = voices["narrator"]
        assert (narrator.engine, list(narrator.language_codes)) == ("piper", ["en-US"])
        assert narrator.gender == tts_pb2.GENDER_FEMALE
        # OpenAI names whose voices are not loaded here speak with the default voice.
        assert "alloy" in narrator.aliases and "nova" in narrator.aliases
        reply = await stub.Synthesize(
            tts_pb2.SynthesizeRequest(text="Hello there.", voice="alloy"), metadata=auth_metadata
        )
        assert reply.voice == "narrator" and reply.duration_seconds > 0.5


async def test_a_full_service_refuses_at_once_with_a_retry_hint(configured_service, auth_metadata):
    text = " ".join(f"Sentence {n} keeps the only worker busy for a while." for n in range(30))
    async with grpc.aio.insecure_channel(configured_service) as channel:
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        stream = stub.StreamSynthesize(
            tts_pb2.StreamSynthesizeRequest(text=text, format=tts_pb2.AUDIO_FORMAT_PCM),
            metadata=auth_metadata,
        )
        await stream.read()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Synthesize(tts_pb2.SynthesizeRequest(text="Me too."), metadata=auth_metadata)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "retry in 1 s" in refused.value.details()
        trailers = dict(refused.value.trailing_metadata() or ())
        assert trailers.get("retry-after-ms") == "1000"
        stream.cancel()
        # The cancelled stream frees its place: the next request is served.
        for _ in range(50):
            try:
                reply = await stub.Synthesize(
                    tts_pb2.SynthesizeRequest(text="Me too."), metadata=auth_metadata
                )
                break
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                await asyncio.sleep(0.1)
        assert reply.duration_seconds > 0.3


async def test_unary_audio_over_the_message_limit_is_refused_early(
    configured_service, auth_metadata
):
    text = " ".join(f"This is sentence {n} of a text too long for one message." for n in range(40))
    async with grpc.aio.insecure_channel(configured_service) as channel:
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Synthesize(tts_pb2.SynthesizeRequest(text=text), metadata=auth_metadata)
        assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
        assert "use StreamSynthesize" in refused.value.details()
        # The same text compressed fits.
        reply = await stub.Synthesize(
            tts_pb2.SynthesizeRequest(
                text=text[:400], format=tts_pb2.AUDIO_FORMAT_OPUS, sample_rate_hertz=16000
            ),
            metadata=auth_metadata,
        )
        assert 0 < len(reply.audio) < 300_000


# A TTS service of its own (ServiceProcess).
@pytest.mark.slow
def test_a_missing_voice_file_stops_the_service_with_its_path(api_token, tmp_path):
    env = {
        "API_TOKENS": api_token,
        "TTS_PORT": str(free_port()),
        "TTS_METRICS_PORT": "0",
        "TTS_ENGINES": "piper",
        "TTS_PIPER_VOICES__GHOST__MODEL": str(tmp_path / "ghost.onnx"),
    }
    service = ServiceProcess("paneas.services.tts", env, tmp_path / "tts.log")
    assert service.process.wait(60) != 0
    assert f"Piper voice {tmp_path / 'ghost.onnx'}: no such file" in service.log_text()


def test_kokoro_voices_are_built_only_from_the_pinned_tarball(tmp_path, monkeypatch):
    monkeypatch.setenv("PANEAS_MODELS_DIR", str(tmp_path))
    with pytest.raises(assets.TtsAssetError, match="run scripts/setup.sh"):
        assets.ensure_kokoro_voices()
    forged = tmp_path / "kokoro-js-1.2.1.tgz"
    forged.write_bytes(b"not the npm package")
    with pytest.raises(assets.TtsAssetError, match="is not the pinned"):
        assets.ensure_kokoro_voices(forged)
    assert not assets.kokoro_voices_path().exists()
