"""The page speaks: replies to what is typed or said there, and alerts from /events, in the
server's voice (`[speech] web = "server"`), stopped by a press of the talk button."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_helpers import make_repo
from playwright.sync_api import Browser, Page, expect
from serve_helpers import running_server, serve_settings
from test_web_page import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    browser,
    fake_mic,
    no_token_env,
    open_page,
)

from voicedesk.agents.questions import Questions
from voicedesk.store import Store
from voicedesk.stt.whisper import WhisperTranscriber

pytestmark = pytest.mark.model


def spoken(page: Page) -> list[dict[str, Any]]:
    """What the page has spoken so far (window.voicedesk.spoken)."""
    entries: list[dict[str, Any]] = page.evaluate(
        "() => window.voicedesk.spoken.map(e => ({...e}))"
    )
    return entries


def wait_spoken(page: Page, text: str, played: bool = True) -> None:
    """Wait until the page has started speaking a line containing `text`."""
    page.wait_for_function(
        "([text, played]) => window.voicedesk.spoken.some("
        "e => e.text.includes(text) && (!played || e.played))",
        arg=[text, played],
    )


def test_replies_and_alerts_are_spoken_and_a_press_stops_them(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    browser: Browser,  # noqa: F811
) -> None:
    repo = make_repo(tmp_path / "repo")
    agents = {
        "infra": {"kind": "shell", "repo": repo, "commands": {"run the tests": "echo 12 passed"}},
        "frontend": {"kind": "coding"},
    }
    settings = serve_settings(
        tmp_path, agents=agents, speech={"web": "server"}, alerts={"poll_s": 0.2}
    )
    with (
        running_server(settings, transcriber, run_jobs=True) as url,
        open_page(browser, f"{url}/") as page,
    ):
        expect(page.locator("#speak-replies")).to_be_checked()
        expect(page.locator("#speak-replies")).to_be_enabled()

        page.fill("#command", "status")
        page.click("#send")
        wait_spoken(page, "Nothing is running or queued.")

        page.fill("#command", "infra, run the tests")
        page.click("#send")
        alert = page.locator("#transcript li.alert").first
        expect(alert).to_contain_text("Job 1, infra, finished")
        wait_spoken(page, "Job 1, infra, finished")
        entries = spoken(page)
        assert [e["via"] for e in entries] == ["server"] * len(entries)
        assert entries[1]["text"].startswith("Job 1 queued for infra")

        page.hover("#ptt")  # barge-in: pressing to talk stops the voice at once
        page.mouse.down()
        page.wait_for_function(
            "() => window.voicedesk.spoken.every(e => e.stoppedAt !== null || "
            "!e.text.includes('finished')) && window.voicedesk.spoken.length >= 3"
        )
        page.mouse.up()
        last = next(e for e in spoken(page) if "finished" in e["text"])
        assert last["stoppedAt"] is not None and last["stoppedAt"] >= last["at"]


def test_an_agent_waiting_for_an_answer_is_answered_from_the_page(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    browser: Browser,  # noqa: F811
) -> None:
    settings = serve_settings(tmp_path, alerts={"poll_s": 0.2})
    with (
        running_server(settings, transcriber, run_jobs=False) as url,
        open_page(browser, f"{url}/") as page,
    ):
        job = httpx.post(f"{url}/jobs", json={"agent": "frontend", "task": "run the tests"})
        assert job.status_code == 201
        store = Store.in_dir(settings.data_dir())
        asked = Questions(store).ask(1, "frontend", "permission", "may it run: npm test?")
        alert = page.locator("#transcript li.alert.kind-needs_input")
        expect(alert).to_contain_text("may it run: npm test")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web_page_needs_input.png"))
        alert.get_by_role("button", name="Allow").click()
        expect(page.locator("#transcript li.reply").first).to_have_text(
            re.compile("Told frontend: yes")
        )
        answered = Questions(store).get(asked.id)
        assert answered is not None and answered.answer == "yes"
        assert httpx.get(f"{url}/questions", timeout=10).json() == []
