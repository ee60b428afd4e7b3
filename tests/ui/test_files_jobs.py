"""The Files tab's background jobs in Chromium: a recording uploaded as a job, its progress bar
up to 100 %, its text downloaded, then deleted. Against a gateway of this module's own with
jobs on, over tests/jobs' real redis-server and jobs worker and the suite's ASR service."""

import re

import pytest
from playwright.sync_api import expect

from paneas.services.asr.evaluation import SAMPLES, sample_path, wer
from tests.conftest import start_gateway

# Redis, the jobs' settings and one worker on the suite's ASR service, as tests/jobs runs them.
from tests.jobs.conftest import jobs_env, jobs_redis, jobs_worker  # noqa: F401
from tests.ui.conftest import VIEWPORT, screenshot, sign_in

LONG = 180_000  # ms: a worker and Whisper on two shared cores


@pytest.fixture(scope="module")
def files_gateway(jobs_env, jobs_worker, asr_service, api_token, tmp_path_factory):  # noqa: F811
    """tests/jobs' gateway but with analytics on, as the page signs in through them."""
    running = start_gateway(
        api_token,
        "",
        tmp_path_factory.mktemp("files-gateway"),
        GATEWAY_ASR_TARGET=asr_service.target,
        **jobs_env,
    )
    yield running
    running.process.stop()


@pytest.fixture
def jobs_page(browser, files_gateway):
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", base_url=files_gateway.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def test_a_recording_as_a_job_reaches_100_percent_and_downloads(jobs_page, api_token):
    page = jobs_page
    sign_in(page, api_token)
    page.get_by_role("tab", name="Files").click()
    expect(page.get_by_text("No jobs yet.")).to_be_visible()

    page.locator("#jobs-input").set_input_files(sample_path("jfk"))
    page.locator("#jobs-language").select_option("en")
    page.get_by_label("Word timestamps").check()
    page.get_by_role("button", name="Submit job").click()
    row = page.locator("#jobs-list tr").first
    expect(row.get_by_role("rowheader")).to_have_text("jfk.wav", timeout=30_000)
    # The list refreshes itself while the job runs: no click brings the end.
    expect(row).to_have_attribute("data-status", "succeeded", timeout=LONG)
    bar = row.get_by_role("progressbar", name="jfk.wav: 100%")
    expect(bar).to_have_attribute("value", "1")
    expect(row.locator(".percent")).to_have_text("100%")
    expect(row.locator(".job-status")).to_have_text("succeeded")
    expect(page.get_by_text("No jobs yet.")).to_be_hidden()
    page.locator("#jobs-title").evaluate("(title) => title.scrollIntoView()")
    screenshot(page, "files-jobs")

    with page.expect_download() as download:
        row.get_by_role("button", name="Download text: jfk.wav").click()
    assert download.value.suggested_filename == "jfk.txt"
    text = download.value.path().read_text()
    assert wer(SAMPLES["jfk"].transcript, text) < 0.1, text

    with page.expect_download() as download:
        row.get_by_role("button", name="Download srt: jfk.wav").click()
    srt = download.value.path().read_text()
    assert re.match(r"1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n\S", srt), srt

    row.get_by_role("button", name="Delete: jfk.wav").click()
    expect(page.locator("#jobs-list tr")).to_have_count(0)
    expect(page.get_by_text("No jobs yet.")).to_be_visible()
