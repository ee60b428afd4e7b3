"""The browser UI end to end: Debian Chromium against the suite's gateway and real services."""

import re

from playwright.sync_api import expect

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
    expect(page.locator(".message.assistant .content").nth(1)).not_to_be_empty(timeout=LONG)
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
    """Chromium's fake microphone plays jfk.wav (looped); the transcript appears live, a
    dropped connection is reopened without losing it, and stop brings the summary."""
    sign_in(page, api_token)
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-language").select_option("en")
    page.get_by_role("button", name="Start").click()
    transcript = page.locator("#live-transcript .finals")
    expect(transcript).to_have_text(re.compile("country", re.I), timeout=LONG)
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
