"""OCR benchmark: pages/s and latency through gRPC and REST vs tesserocr called directly.

    .venv/bin/python -m bench.ocr [--pages N] [--rounds R]

Starts a real OCR service and gateway (loopback only), renders text pages like an office
scan, and measures, on the same pages and with the same Tesseract languages:
  bare     tesserocr in this process: SetImage + Recognize + GetUTF8Text
  grpc     OcrService/Recognize through the generated stub (one page per request)
  rest     POST /api/v1/ocr through the gateway (one page per request)
  grpc-pdf one multi-page PDF per request: pages spread over the service's workers,
           compared with bare tesserocr on as many threads
Results go in docs/benchmarks.md.
"""

import argparse
import io
import os

# The same Tesseract threading as the service (see services/ocr/__main__.py), so the bare
# engine and the service run identical engine configurations. Read when libgomp loads.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import tesserocr
from PIL import Image, ImageDraw, ImageFont

from bench.machine import describe
from bench.stats import summary_ms
from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, http_ok, wait_until

TESSDATA = "/usr/share/tesseract-ocr/5/tessdata/"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TEXT = (
    "A reunião de orçamento foi adiada para sexta-feira. The quarterly report shows revenue "
    "growth of twelve percent, driven by new contracts in São Paulo and Lisbon."
)


def render_page(number: int, lines: int = 25) -> Image.Image:
    """An A4 page at 150 dpi with `lines` lines of mixed Portuguese and English text."""
    font = ImageFont.truetype(FONT, 24)
    page = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(page)
    words = TEXT.split()
    for row in range(lines):
        start = (row * 7 + number) % len(words)
        line = " ".join((words * 2)[start : start + 11])
        draw.text((80, 100 + row * 60), line, font=font, fill=0)
    return page


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def pdf_bytes(images: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=150)
    return buffer.getvalue()


def bare_tesseract(images: list[Image.Image], threads: int) -> float:
    """Seconds to recognise every image with tesserocr on `threads` threads."""
    apis = [tesserocr.PyTessBaseAPI(path=TESSDATA, lang="por+eng") for _ in range(threads)]

    def recognise(index: int) -> str:
        api = apis[index % threads]
        api.SetImage(images[index])
        return api.GetUTF8Text()

    started = time.perf_counter()
    if threads == 1:
        for index in range(len(images)):
            recognise(index)
    else:
        # One API per thread; pages interleave so each API is used by one thread at a time.
        with ThreadPoolExecutor(threads) as pool:
            list(
                pool.map(
                    lambda t: [recognise(i) for i in range(t, len(images), threads)], range(threads)
                )
            )
    elapsed = time.perf_counter() - started
    for api in apis:
        api.End()
    return elapsed


def report(
    pages: int,
    workers: int,
    bare_single: float,
    grpc_latencies: list[float],
    rest_latencies: list[float],
    grpc_pdf: float,
    bare_parallel: float,
) -> None:
    print(f"machine: {describe()}")
    print(f"{pages} A4 pages at 150 dpi, 25 lines each, Tesseract por+eng, {workers} workers")
    rows = [
        ("bare tesserocr, 1 thread", bare_single, bare_single, ""),
        ("gRPC, page per request", sum(grpc_latencies), bare_single, summary_ms(grpc_latencies)),
        ("REST, page per request", sum(rest_latencies), bare_single, summary_ms(rest_latencies)),
        (f"bare tesserocr, {workers} threads", bare_parallel, bare_parallel, ""),
        (f"gRPC, one {pages}-page PDF", grpc_pdf, bare_parallel, "(rasterising included)"),
    ]
    print(f"{'path':<28} {'pages/s':>8} {'ratio':>6}  latency per request")
    for name, seconds, baseline, latency in rows:
        print(f"{name:<28} {pages / seconds:8.2f} {seconds / baseline:6.3f}  {latency}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    images = [render_page(n) for n in range(args.pages)]
    pngs = [png_bytes(image) for image in images]
    token = secrets.token_urlsafe(16)
    ocr_port, gateway_port = free_port(), free_port()
    env = {
        "API_TOKENS": token,
        "OCR_PORT": str(ocr_port),
        "OCR_METRICS_PORT": "0",
        "OCR_ENGINES": "tesseract",
        "OCR_WORKERS": str(args.workers),
        "GATEWAY_PORT": str(gateway_port),
        "GATEWAY_OCR_TARGET": f"127.0.0.1:{ocr_port}",
        "LOG_LEVEL": "WARNING",
    }
    logs = Path("/tmp/paneas-bench")
    logs.mkdir(exist_ok=True)
    ocr = ServiceProcess("paneas.services.ocr", env, logs / "ocr.log")
    gateway = ServiceProcess("paneas.gateway", env, logs / "gateway.log")
    try:
        target = f"127.0.0.1:{ocr_port}"
        url = f"http://127.0.0.1:{gateway_port}"
        wait_until(lambda: grpc_serving(target), "ocr", ocr.process)
        wait_until(lambda: http_ok(f"{url}/openapi.json"), "gateway", gateway.process)
        metadata = (("authorization", f"Bearer {token}"),)
        headers = {"Authorization": f"Bearer {token}"}

        bare_single = bare_tesseract(images, 1)
        channel = grpc.insecure_channel(target)
        stub = ocr_pb2_grpc.OcrServiceStub(channel)
        stub.Recognize(ocr_pb2.RecognizeRequest(content=pngs[0]), metadata=metadata)  # warm

        grpc_latencies = []
        for png in pngs:
            started = time.perf_counter()
            stub.Recognize(ocr_pb2.RecognizeRequest(content=png), metadata=metadata)
            grpc_latencies.append(time.perf_counter() - started)

        rest_latencies = []
        with httpx.Client(timeout=300) as client:
            for png in pngs:
                started = time.perf_counter()
                response = client.post(
                    f"{url}/api/v1/ocr",
                    headers=headers,
                    files={"file": ("p.png", png, "image/png")},
                )
                response.raise_for_status()
                rest_latencies.append(time.perf_counter() - started)

        pdf = pdf_bytes(images)
        started = time.perf_counter()
        reply = stub.Recognize(
            ocr_pb2.RecognizeRequest(content=pdf, dpi=150), metadata=metadata, timeout=600
        )
        grpc_pdf = time.perf_counter() - started
        assert len(reply.pages) == args.pages
        bare_parallel = bare_tesseract(images, args.workers)
        channel.close()
    finally:
        gateway.stop()
        ocr.stop()

    report(
        args.pages,
        args.workers,
        bare_single,
        grpc_latencies,
        rest_latencies,
        grpc_pdf,
        bare_parallel,
    )


if __name__ == "__main__":
    main()
