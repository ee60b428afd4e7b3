"""One Debian Chromium for the UI tests, driven by Playwright, against the suite's gateway.

Chromium's fake capture device plays a real speech WAV as the microphone; `playwright install`
is never needed (scripts/setup.sh --dev installs Debian's chromium).
"""

import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from paneas.services.asr.evaluation import read_pcm16, sample_path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# A laptop-sized window; the screenshots in docs/ are taken at this size.
VIEWPORT = {"width": 1280, "height": 860}


@pytest.fixture(scope="session")
def fake_microphone(tmp_path_factory) -> Path:
    """jfk.wav followed by two seconds of silence (the fake device loops the file), as the
    16-bit WAV Chromium's fake capture reads."""
    samples, rate = read_pcm16(sample_path("jfk"))
    if samples.ndim > 1:
        samples = samples.mean(axis=1).astype(np.int16)
    samples = np.concatenate([samples, np.zeros(2 * rate, dtype=np.int16)])
    path = tmp_path_factory.mktemp("microphone") / "jfk-mic.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


@pytest.fixture(scope="session")
def browser(fake_microphone):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run scripts/setup.sh --dev")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={fake_microphone}",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, gateway):
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", base_url=gateway.url)
    context.grant_permissions(["microphone"], origin=gateway.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def sign_in(page, token: str) -> None:
    page.goto("/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("tab", name="Live").wait_for()


def screenshot(page, name: str) -> None:
    """docs/screenshots/<name>.png, refreshed only when asked (UI_SCREENSHOTS=1), so that an
    ordinary run leaves the tracked images alone."""
    if os.environ.get("UI_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
