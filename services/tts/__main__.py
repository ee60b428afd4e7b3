"""`python -m paneas.services.tts` (or `paneas-tts`): Piper, Kokoro and espeak-ng voices."""

import asyncio
import time

import structlog

from paneas.services.runtime.admission import Admission
from paneas.services.runtime.server import GrpcService, ServiceRegistration
from paneas.services.runtime.settings import RuntimeSettings
from paneas.services.tts import metrics
from paneas.services.tts.engines.base import TtsEngine
from paneas.services.tts.errors import Overloaded
from paneas.services.tts.servicer import TtsServicer
from paneas.services.tts.settings import TtsSettings
from paneas.services.tts.voices import VoiceCatalogue
from paneas.tts.v1 import tts_pb2, tts_pb2_grpc

SERVICE_NAME = tts_pb2.DESCRIPTOR.services_by_name["TtsService"].full_name
log = structlog.get_logger("paneas.tts")


def build_engines(settings: TtsSettings) -> dict[str, TtsEngine]:
    engines: dict[str, TtsEngine] = {}
    threads = settings.thread_count()
    for name in dict.fromkeys(settings.engines):
        if name == "piper":
            from paneas.services.tts.engines.piper import PiperEngine

            engines[name] = PiperEngine(settings.piper_voices, threads)
        elif name == "kokoro":
            from paneas.services.tts.engines.kokoro import KokoroEngine

            engines[name] = KokoroEngine(
                settings.kokoro_model, settings.kokoro_voices, settings.kokoro_languages, threads
            )
        else:
            from paneas.services.tts.engines.espeak import EspeakEngine

            engines[name] = EspeakEngine(settings.espeak_voices)
    return engines


class Service:
    """The engines, the catalogue (known once they load) and the servicer in front."""

    def __init__(self, settings: TtsSettings, runtime: RuntimeSettings) -> None:
        self.settings = settings
        self.engines = build_engines(settings)
        # Requests are admitted whole, up to `workers + max_queue` at once; their sentences
        # take the workers one at a time, so a stream whose client leaves stops after the
        # sentence in progress.
        self.workers = Admission(
            settings.workers,
            settings.max_queue,
            settings.retry_after_seconds,
            work="the speech synthesiser",
            threads="tts",
            overloaded=Overloaded,
            load=lambda workers, _: f"{workers.admitted} requests in progress",
            queue_depth=metrics.QUEUE_DEPTH,
            rejections=metrics.REJECTIONS,
        )
        self.servicer = TtsServicer(
            self.engines, self.workers, settings, runtime.grpc_max_message_bytes
        )

    async def load(self) -> None:
        for name, engine in self.engines.items():
            started = time.perf_counter()
            await self.workers.run(engine.load)
            if self.settings.warmup:
                voice = engine.voices()[0]
                await self.workers.run(
                    lambda e=engine, v=voice: e.synthesize("Hello.", v, v.languages[0], 1.0)
                )
            log.info(
                "engine ready",
                engine=name,
                voices=len(engine.voices()),
                seconds=round(time.perf_counter() - started, 2),
            )
        catalogue = VoiceCatalogue(
            (voice for engine in self.engines.values() for voice in engine.voices()),
            self.settings.default_voice,
            self.settings.openai_voices,
        )
        self.servicer.catalogue = catalogue
        log.info("voices", count=len(catalogue.voices), default=catalogue.default)


async def serve(settings: TtsSettings) -> None:
    runtime = RuntimeSettings()
    service = Service(settings, runtime)
    registration = ServiceRegistration(
        SERVICE_NAME, tts_pb2_grpc.add_TtsServiceServicer_to_server, service.servicer
    )
    await GrpcService("tts", settings, runtime).run(
        [registration], load=service.load, close=service.workers.close
    )


def main() -> None:
    asyncio.run(serve(TtsSettings()))


if __name__ == "__main__":
    main()
