"""The HTTP API on a real uvicorn server: auth, limits, jobs, commands, audit, SSE, metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_helpers import make_repo
from live_process import voicedesk_env
from serve_helpers import running_server, serve_settings

from voicedesk.api.auth import RateLimiter, check_bind, is_loopback
from voicedesk.errors import ConfigError
from voicedesk.stt.whisper import WhisperTranscriber

pytestmark = pytest.mark.model


@pytest.fixture
def api(tmp_path: Path, transcriber: WhisperTranscriber) -> Iterator[httpx.Client]:
    """A client of a server with the default agents, no token, no runner."""
    with (
        running_server(serve_settings(tmp_path), transcriber) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def test_health_jobs_and_cancel(api: httpx.Client) -> None:
    assert api.get("/healthz").json()["agents"] == ["frontend", "backend", "infra", "research"]
    made = api.post("/jobs", json={"agent": "backend", "task": "fix the flaky test"})
    assert made.status_code == 201 and made.json()["status"] == "queued"
    job_id = made.json()["id"]
    detail = api.get(f"/jobs/{job_id}").json()
    assert [e["message"] for e in detail["events"]] == ["queued"]
    assert [j["id"] for j in api.get("/jobs", params={"status": "queued"}).json()] == [job_id]
    cancelled = api.post(f"/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post(f"/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json() == {"detail": f"job {job_id} is already cancelled"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("get", "/jobs/999", None, 404, "there is no job 999"),
        ("post", "/jobs/999/cancel", None, 404, "there is no job 999"),
        ("post", "/jobs", {"agent": "nobody", "task": "x"}, 422,
         "there is no agent called 'nobody'; agents: frontend, backend, infra, research"),
        ("post", "/jobs", {"agent": "backend"}, 422, "body.task: Field required"),
        ("post", "/jobs", "{not json", 422, None),
        ("post", "/commands", {"text": ""}, 422, None),
        ("get", "/jobs?limit=0", None, 422, None),
        ("get", "/jobs?status=sleeping", None, 422, None),
    ],
)
def test_bad_requests_are_4xx_with_a_reason(
    api: httpx.Client, method: str, path: str, body: Any, status: int, detail: str | None
) -> None:
    if isinstance(body, str):
        response = api.request(method, path, content=body,
                               headers={"content-type": "application/json"})
    else:
        response = api.request(method, path, json=body)
    assert response.status_code == status, response.text
    reason = response.json()["detail"]
    assert isinstance(reason, str) and reason
    if detail is not None:
        assert reason == detail
    assert api.get("/healthz").status_code == 200


def test_commands_take_the_say_path_and_are_audited(api: httpx.Client) -> None:
    said = api.post("/commands", json={"text": "frontend, add a dark mode toggle"}).json()
    assert said["intent"] == {"type": "dispatch", "agent": "frontend", "job": None,
                              "task": "add a dark mode toggle"}
    assert (said["action"], said["job_ids"]) == ("job_created", [1])
    status = api.post("/commands", json={"text": "what's the status of job one"}).json()
    assert status["reply"].startswith("Job 1, frontend: queued")
    audit = api.get("/utterances").json()
    assert [row["source"] for row in audit] == ["api", "api"]
    assert audit[1]["transcript"] == "frontend, add a dark mode toggle"
    queued = api.post("/commands", json={"text": "queue an experiment that halves the warmup"})
    assert queued.json()["action"] == "experiment_needs_change"  # no key: it waits for a patch
    assert [e["description"] for e in api.get("/experiments").json()] == ["halves the warmup"]


def test_metrics_count_requests(api: httpx.Client) -> None:
    api.get("/jobs")
    api.get("/jobs/5")
    text = api.get("/metrics").text
    assert 'voicedesk_http_requests_total{method="GET",route="/jobs",status="200"} 1.0' in text
    assert 'route="/jobs/{job_id}",status="404"' in text
    assert "voicedesk_transcriptions_queued 0.0" in text


def test_token_is_required_everywhere_but_healthz(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    settings = serve_settings(tmp_path, serve={"token": "s3cret"})
    with running_server(settings, transcriber) as url, httpx.Client(base_url=url) as client:
        assert client.get("/healthz").status_code == 200
        for path in ("/jobs", "/metrics", "/utterances", "/experiments", "/", "/events"):
            refused = client.get(path)
            assert refused.status_code == 401, path
            assert refused.json() == {"detail": "this service needs a token"}
            assert refused.headers["www-authenticate"] == "Bearer"
        wrong = client.get("/jobs", headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()["detail"]) == (401, "missing or wrong token")
        assert client.get("/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        page = client.get("/?token=s3cret")
        assert page.status_code == 303 and "voicedesk_token" in page.headers["set-cookie"]
        assert "httponly" in page.headers["set-cookie"].lower()
        client.cookies.set("voicedesk_token", "s3cret")
        assert client.get("/jobs").status_code == 200


def test_too_many_requests_is_429_with_retry_after(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    settings = serve_settings(tmp_path, serve={"rate_limit_per_minute": 6, "rate_burst": 3})
    with running_server(settings, transcriber) as url, httpx.Client(base_url=url) as client:
        codes = [client.get("/jobs").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/jobs")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["detail"].startswith("too many requests: try again in")
        assert client.get("/healthz").status_code == 200  # never limited


def test_rate_limiter_refills_at_the_steady_rate() -> None:
    limiter = RateLimiter(per_minute=60, burst=2)
    assert [limiter.retry_after("a", now=0.0) for _ in range(3)] == [None, None, 1]
    assert limiter.retry_after("b", now=0.0) is None  # per caller
    assert limiter.retry_after("a", now=1.01) is None  # one token back after a second


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.4", False), ("example.com", False)],
)
def test_only_loopback_may_go_without_a_token(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    check_bind(host, "token")
    if loopback:
        check_bind(host, None)
    else:
        with pytest.raises(ConfigError, match="without a token"):
            check_bind(host, None)


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "voicedesk", "serve", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60, env=voicedesk_env(tmp_path),
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("voicedesk: error: refusing to serve on 0.0.0.0")


def _sse(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs from a text/event-stream response."""
    name = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


def test_sse_shows_a_job_going_from_queued_to_done(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    repo = make_repo(tmp_path / "repo")
    agents = {"ops": {"kind": "shell", "repo": repo,
                      "commands": {"run the tests": "sleep 0.3; echo '2 passed'"}}}
    settings = serve_settings(tmp_path, agents=agents, runner={"poll_s": 0.1})
    with (
        running_server(settings, transcriber, run_jobs=True) as url,
        httpx.Client(base_url=url, timeout=30) as client,
        client.stream("GET", "/events") as events,
    ):
        assert events.headers["content-type"].startswith("text/event-stream")
        said = client.post("/commands", json={"text": "ops, run the tests"}).json()
        job_id = said["job_ids"][0]
        seen: list[str] = []
        began = time.monotonic()
        for name, data in _sse(events):
            if name == "job" and data["id"] == job_id:
                seen.append(data["status"])
                if data["status"] in ("done", "failed"):
                    break
            assert time.monotonic() - began < 20
    assert seen == ["queued", "running", "done"], seen


def test_oversized_json_bodies_are_refused_before_auth_reads_them(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    settings = serve_settings(tmp_path, serve={"token": "t"})
    big = b'{"agent": "backend", "task": "' + b"x" * (2 << 20) + b'"}'

    def chunks() -> Iterator[bytes]:
        """The same body with no Content-Length (chunked)."""
        for at in range(0, len(big), 65536):
            yield big[at : at + 65536]

    with running_server(settings, transcriber) as url, httpx.Client(base_url=url) as client:
        declared = client.post("/jobs", content=big, headers={"content-type": "application/json"})
        assert (declared.status_code, declared.json()) == (
            413, {"detail": "request body over 1048576 bytes"}
        )
        streamed = client.post("/jobs", content=chunks(),
                               headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert client.get("/healthz").status_code == 200
