"""The web page in headless Chromium: push-to-talk through a fake microphone, typed commands,
the job board, the experiments table and the token cookie."""

from __future__ import annotations

import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from serve_helpers import running_server, serve_settings

from voicedesk.api.auth import COOKIE, TOKEN_ENV
from voicedesk.stt.whisper import WhisperTranscriber

pytestmark = pytest.mark.model

CHROMIUM = Path("/usr/bin/chromium")
SPEECH = Path(__file__).parent / "fixtures" / "dispatch_frontend.wav"
ARTIFACTS = Path(__file__).parent / "artifacts"
LEAD_S = 0.3
"""Silence before the speech in the fake microphone's file."""
TRAIL_S = 3.0
"""Silence after it, so that the file's restart (it loops) falls well after the release."""
AFTER_S = 0.6
"""How long the button stays held after the file's speech part has played."""
WAIT_MS = 30_000


def fake_microphone(path: Path) -> float:
    """Write the fixture padded with silence to `path`; the fixture's length in seconds."""
    with wave.open(str(SPEECH), "rb") as source:
        rate, width, channels = source.getframerate(), source.getsampwidth(), source.getnchannels()
        frames = source.getnframes()
        pcm = source.readframes(frames)
    silence = b"\0" * width * channels
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(silence * int(LEAD_S * rate) + pcm + silence * int(TRAIL_S * rate))
    return frames / rate


@pytest.fixture(scope="module")
def fake_mic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, float]]:
    """The fake microphone's file and the length of the fixture in it."""
    path = tmp_path_factory.mktemp("fake-mic") / "speech.wav"
    yield path, fake_microphone(path)


@pytest.fixture(scope="module")
def browser(fake_mic: tuple[Path, float]) -> Iterator[Browser]:
    """Headless Chromium whose microphone plays the padded fixture (it starts playing when a
    page opens the capture device, and loops)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    args = [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_mic[0]}",
    ]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(autouse=True)
def no_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token comes from the settings of each test only."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)


@contextmanager
def fresh_page(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own (no cookies), closed afterwards."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        yield page
    finally:
        context.close()


@contextmanager
def open_page(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh page at `url`, once its event stream is connected."""
    with fresh_page(browser) as page:
        page.goto(url)
        expect(page.locator("#live")).to_have_attribute("data-live", "live")
        yield page


def test_push_to_talk_dispatches_a_job(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    browser: Browser,
    fake_mic: tuple[Path, float],
) -> None:
    with (
        running_server(serve_settings(tmp_path), transcriber, run_jobs=False) as url,
        open_page(browser, f"{url}/") as page,
    ):
        state = page.locator("#state")
        expect(state).to_have_attribute("data-state", "idle")
        expect(page.locator("#experiments")).to_have_text("No experiments yet")
        expect(page.locator("#jobs tr[data-job-id]")).to_have_count(0)

        page.hover("#ptt")
        page.mouse.down()
        # The first press opens the microphone, and the fake device starts its file then: hold
        # until the file's speech part has played, plus a margin, counted from that moment.
        expect(state).to_have_attribute("data-state", "talking", timeout=10_000)
        time.sleep(LEAD_S + fake_mic[1] + AFTER_S)
        page.mouse.up()
        expect(state).to_have_attribute("data-state", "idle")

        final = page.locator("#transcript li.final .text")
        expect(final.first).to_contain_text("dark mode", ignore_case=True)
        row = page.locator('#jobs tr[data-job-id="1"]')
        expect(row).to_be_visible()
        expect(row.locator(".agent")).to_have_text("frontend")
        expect(row.locator(".badge")).to_have_text("queued")

        jobs = httpx.get(f"{url}/jobs", timeout=10).json()
        assert [(j["id"], j["agent"], j["status"]) for j in jobs] == [(1, "frontend", "queued")]
        assert "dark mode" in jobs[0]["task"].lower()

        row.click()
        detail = page.locator("#job-detail")
        expect(detail.locator("h3")).to_have_text("Job #1 · frontend")
        expect(detail.locator(".events li")).to_have_count(1)
        expect(detail.locator(".events")).to_contain_text("queued")
        expect(detail.locator("pre.log")).to_be_visible()

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web_page.png"), full_page=True)


def test_typed_commands_make_jobs_and_experiments(
    tmp_path: Path, transcriber: WhisperTranscriber, browser: Browser
) -> None:
    with (
        running_server(serve_settings(tmp_path), transcriber, run_jobs=False) as url,
        open_page(browser, f"{url}/") as page,
    ):
        page.fill("#command", "frontend, add a dark mode toggle")
        page.click("#send")
        row = page.locator('#jobs tr[data-job-id="1"]')
        expect(row.locator(".task")).to_have_text("add a dark mode toggle")
        expect(row.locator(".agent")).to_have_text("frontend")
        expect(page.locator("#transcript li.final .text").first).to_have_text(
            "“frontend, add a dark mode toggle”"
        )
        expect(page.locator("#command")).to_have_value("")

        # A job made elsewhere arrives through /events; its detail follows its events.
        made = httpx.post(f"{url}/jobs", json={"agent": "backend", "task": "fix <b>it</b>"})
        assert made.status_code == 201
        other = page.locator('#jobs tr[data-job-id="2"]')
        expect(other.locator(".task")).to_have_text("fix <b>it</b>")  # text, not markup
        assert page.locator("#jobs tr[data-job-id]").evaluate_all(
            "rows => rows.map(r => r.dataset.jobId)"
        ) == ["2", "1"]
        other.click()
        expect(page.locator("#job-detail .events li")).to_have_count(1)
        assert httpx.post(f"{url}/jobs/2/cancel").status_code == 200
        expect(other.locator(".badge")).to_have_text("cancelled")
        expect(page.locator("#job-detail .events li")).to_have_count(2)

        page.fill("#command", "queue an experiment that halves the warmup")
        page.press("#command", "Enter")
        expect(page.locator("#experiments")).to_contain_text("halves the warmup")
        expect(page.locator("#transcript li.reply").first).to_contain_text("xperiment")


def test_the_page_needs_the_token(
    tmp_path: Path, transcriber: WhisperTranscriber, browser: Browser
) -> None:
    settings = serve_settings(tmp_path, serve={"token": "t0k"})
    with running_server(settings, transcriber, run_jobs=False) as url, fresh_page(browser) as page:
        assert httpx.get(f"{url}/").status_code == 401
        assert httpx.get(f"{url}/jobs").status_code == 401
        login = httpx.get(f"{url}/?token=t0k")
        assert (login.status_code, login.headers["location"]) == (303, ".")
        cookie = login.headers["set-cookie"].lower()
        assert cookie.startswith(f"{COOKIE}=t0k;")
        assert "httponly" in cookie and "samesite=strict" in cookie

        refused = page.goto(f"{url}/")
        assert refused is not None and refused.status == 401

        with page.expect_response(lambda r: r.url == f"{url}/jobs") as listed:
            loaded = page.goto(f"{url}/?token=t0k")
        assert loaded is not None and loaded.status == 200
        assert page.url == f"{url}/"
        assert listed.value.status == 200
        expect(page.locator("#live")).to_have_attribute("data-live", "live")
        expect(page.locator("#experiments")).to_have_text("No experiments yet")
        [stored] = page.context.cookies()
        assert (stored["name"], stored["value"], stored["httpOnly"]) == (COOKIE, "t0k", True)


def test_the_space_bar_talks_unless_typing(
    tmp_path: Path, transcriber: WhisperTranscriber, browser: Browser
) -> None:
    with (
        running_server(serve_settings(tmp_path), transcriber, run_jobs=False) as url,
        open_page(browser, f"{url}/") as page,
    ):
        state = page.locator("#state")
        page.click("#command")
        page.keyboard.press("Space")
        expect(page.locator("#command")).to_have_value(" ")
        expect(state).to_have_attribute("data-state", "idle")

        page.evaluate("document.activeElement.blur()")
        page.keyboard.down("Space")
        expect(state).to_have_attribute("data-state", "talking", timeout=10_000)
        expect(page.locator("#ptt")).to_have_attribute("aria-pressed", "true")
        page.keyboard.up("Space")
        expect(state).to_have_attribute("data-state", "idle")
        expect(page.locator("#ptt")).to_have_attribute("aria-pressed", "false")


def test_a_refused_microphone_is_shown(
    tmp_path: Path, transcriber: WhisperTranscriber, browser: Browser
) -> None:
    refuse = ("navigator.mediaDevices.getUserMedia = () => "
              "Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));")
    with (
        running_server(serve_settings(tmp_path), transcriber, run_jobs=False) as url,
        fresh_page(browser) as page,
    ):
        page.add_init_script(refuse)
        page.goto(f"{url}/")
        state = page.locator("#state")
        page.hover("#ptt")
        page.mouse.down()
        expect(state).to_have_attribute("data-state", "error")
        expect(state).to_contain_text("microphone access was denied")
        page.mouse.up()
        expect(state).to_have_attribute("data-state", "error")
