"""The browser UI end to end: Debian Chromium against the suite's gateway and real services."""

import re

from playwright.sync_api import expect

from paneas.services.asr.evaluation import sample_path
from tests.ocr.documents import ENGLISH, render_text
from tests.ui.conftest import screenshot, sign_in

LONG = 120_000  # ms: models on two shared cores


def test_page_is_public_and_a_wrong_token_is_refused(page, gateway, api_token):
    response = page.goto("/")
    assert response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "sign-in")

    page.get_by_label("API token").fill(api_token + "-wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").first).to_have_text(re.compile("refused"))
    expect(page.locator("#app")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('paneas.token')") is None

    page.get_by_label("API token").fill(api_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("tab", name="Live")).to_have_attribute("aria-selected", "true")
    # Kept for this tab only, never in localStorage.
    assert page.evaluate("sessionStorage.getItem('paneas.token')") == api_token
    assert page.evaluate("Object.keys(localStorage).length") == 0

    # Portuguese on the toggle.
    page.get_by_role("button", name="Português").click()
    expect(page.get_by_role("tab", name="Ao vivo")).to_be_visible()
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("tab", name="Live")).to_be_visible()


def test_markdown_renderer_never_makes_html_from_text(page, gateway, api_token):
    sign_in(page, api_token)
    html = page.evaluate(
        """async () => {
            const { renderMarkdown } = await import('/ui/markdown.js');
            const box = document.createElement('div');
            box.append(renderMarkdown(
                '# Title\\n**bold** <img src=x onerror="window.pwned=1"> [x](javascript:alert(1))' +
                '\\n\\n- one\\n- two\\n\\n```\\n<script>window.pwned=2</script>\\n```'));
            document.body.append(box);
            return [box.innerHTML, box.querySelectorAll('img, script, a, [onerror]').length];
        }"""
    )
    html, dangerous = html
    assert dangerous == 0, html
    assert "&lt;img src=x" in html and "<strong>bold</strong>" in html
    assert "<li>one</li><li>two</li>" in html and "<h3>Title</h3>" in html
    assert page.evaluate("window.pwned") is None


def test_chat_streams_and_names_the_routed_model(page, gateway, api_token):
    sign_in(page, api_token)
    page.get_by_role("tab", name="Chat").click()
    model = page.get_by_label("Model")
    expect(model.locator("option[value=auto]")).to_have_count(1)
    assert model.input_value() == "auto"

    page.get_by_label("Message").fill("Write a numbered list of three fruits, in **bold**.")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant .content").last
    # Streaming: the answer grows while the stop button is live.
    expect(page.get_by_role("button", name="Stop")).to_be_enabled(timeout=LONG)
    expect(answer).not_to_be_empty(timeout=LONG)
    expect(page.get_by_role("button", name="Stop")).to_be_disabled(timeout=LONG)
    expect(page.locator("#chat-routed")).not_to_have_text("—")
    assert page.locator("#chat-routed").text_content() != "auto"
    assert len(answer.text_content()) > 5
    screenshot(page, "chat")

    # Stop cancels a generation in flight.
    page.get_by_label("Message").fill("Count from one to two hundred in words, one per line.")
    page.get_by_role("button", name="Send").click()
    expect(answer.locator("xpath=..")).to_have_attribute("aria-busy", "true")
    # At once: how long the small model's reply runs is up to its sampling (at temperature 1
    # it sometimes ends within a second of its first words).
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".message.assistant.stopped")).to_have_count(1)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


# jfk.wav: "And so my fellow Americans, ask not what your country can do for you, ask what
# you can do for your country." Whisper base on a resampled microphone: key words, fuzzily.
JFK_KEY_WORDS = ("fellow", "americ", "ask", "country")


def _key_words_heard(text: str) -> set[str]:
    return {key for key in JFK_KEY_WORDS for word in _words(text) if word.startswith(key)}


def test_live_transcription_from_the_microphone(page, gateway, api_token):
    """Chromium's fake microphone plays jfk.wav (looped); the transcript appears live, with
    its speaker's label, a dropped connection is reopened without losing it, and stop brings
    the summary."""
    sign_in(page, api_token)
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-language").select_option("en")
    page.get_by_label("Speakers").check()
    page.get_by_role("button", name="Start").click()
    transcript = page.locator("#live-transcript .finals")
    expect(transcript).to_have_text(re.compile("country", re.I), timeout=LONG)
    # One voice: one label, before the first final.
    expect(transcript.locator(".speaker").first).to_have_text("A:")
    assert transcript.text_content().startswith("A: ")
    assert page.evaluate("document.getElementById('live-level').value") >= 0
    before = transcript.text_content()
    assert len(_key_words_heard(before)) >= 2, before

    # A dropped socket: a new ticket, a new stream, the transcript so far kept.
    page.evaluate("import('/ui/live.js').then((live) => live.dropConnection())")
    expect(page.locator("#live-status")).to_have_text(re.compile("reconnecting"))
    expect(page.locator("#live-status")).to_have_text("Listening", timeout=30_000)
    expect(transcript).to_have_text(re.compile(re.escape(before) + r"\s*\S"), timeout=LONG)
    assert transcript.text_content().startswith(before)
    # The file loops: in time every key word is heard.
    expect(transcript).to_have_text(re.compile(r"\bask\b.*\bcountry", re.I), timeout=LONG)
    screenshot(page, "live")

    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#live-status")).to_have_text(re.compile("Finished"), timeout=LONG)
    expect(page.locator("#live-summary")).not_to_be_empty()
    heard = _key_words_heard(transcript.text_content())
    assert len(heard) >= 3, transcript.text_content()
    expect(page.get_by_role("button", name="Start")).to_be_enabled()


def test_ocr_shows_text_and_boxes_over_the_page(page, gateway, api_token, tmp_path):
    scan = tmp_path / "scan.png"
    render_text([ENGLISH], width=1000, font_size=28).save(scan)
    sign_in(page, api_token)
    page.get_by_role("tab", name="OCR").click()
    page.locator("#ocr-input").set_input_files(scan)
    page.locator("#ocr-languages").fill("en")
    page.get_by_role("button", name="Recognise").click()
    text = page.locator(".page-text").first
    expect(text).to_contain_text("quick brown fox", timeout=LONG)
    expect(text).to_contain_text("libraries")
    # The page image with one box per word over it, in the page's pixel coordinates.
    expect(page.locator(".page-view img")).to_have_count(1)
    boxes = page.locator(".page-view svg rect.box")
    assert boxes.count() >= len(ENGLISH.split()) * 0.9
    assert page.locator(".page-view svg").get_attribute("viewBox").startswith("0 0 1000 ")
    screenshot(page, "ocr")
    page.locator("#ocr-boxes").select_option("lines")
    assert 3 <= boxes.count() < len(ENGLISH.split()) / 3


def test_speech_plays_and_downloads(page, gateway, api_token):
    sign_in(page, api_token)
    page.get_by_role("tab", name="Speech").click()
    expect(page.locator("#speech-voice option").first).to_be_attached(timeout=LONG)
    page.locator("#speech-language").select_option("en-US")
    page.locator("#speech-voice").select_option("joe")
    page.get_by_label("Text").fill("Hello from the Paneas web interface.")
    page.get_by_role("button", name="Speak").click()
    expect(page.locator("#speech-status")).to_contain_text("joe", timeout=LONG)
    audio = page.locator("#speech-audio")
    expect(audio).to_be_visible()
    page.wait_for_timeout(500)
    state = audio.evaluate(
        "(a) => new Promise((done) => a.readyState >= 1 ? done([a.duration, a.error]) : "
        "a.addEventListener('loadedmetadata', () => done([a.duration, a.error])))"
    )
    duration, error = state
    assert error is None and 1.0 < duration < 10.0, state
    assert page.locator("#speech-download").get_attribute("download") == "speech.wav"
    screenshot(page, "speech")


def test_file_transcription_with_word_times_and_subtitles(page, gateway, api_token):
    sign_in(page, api_token)
    page.get_by_role("tab", name="Files").click()
    page.locator("#files-input").set_input_files(sample_path("jfk"))
    page.locator("#files-language").select_option("en")
    page.get_by_role("button", name="Transcribe").click()
    words = page.locator("#files-transcript span.word")
    expect(words.first).to_be_visible(timeout=LONG)
    assert len(_key_words_heard(page.locator("#files-transcript").text_content())) == 4
    assert re.fullmatch(r"\d+\.\d\d–\d+\.\d\d s", words.first.get_attribute("title"))
    with page.expect_download() as download:
        page.get_by_role("button", name="SRT").click()
    srt = download.value.path().read_text()
    assert re.match(r"1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n\S", srt), srt
    assert download.value.suggested_filename == "jfk.srt"
    screenshot(page, "files")


def test_analytics_draws_the_gateways_usage(page, gateway, api_token):
    sign_in(page, api_token)
    page.get_by_role("tab", name="Analytics").click()
    # Earlier tests' requests (the chat, OCR, speech routes) are in the charts and table.
    expect(page.locator("#analytics-table th[scope=row]").first).to_be_visible(timeout=30_000)
    expect(page.locator("#analytics-table")).to_contain_text("/api/v1/ocr")
    expect(page.locator("#chart-days svg rect.bar").first).to_be_attached()
    expect(page.locator("#chart-latency svg rect.p95").first).to_be_attached()
    assert int(page.locator("#analytics-cards strong").first.text_content().replace(",", "")) > 0
    screenshot(page, "analytics")
