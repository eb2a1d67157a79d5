"""The experiment routes on a real uvicorn server: submit (idempotent), list, leaderboard, one
experiment with its patch and log, cancel, and the refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import running_server, serve_settings

from voicedesk.config import Settings
from voicedesk.experiments.ledger import Ledger, RunResult
from voicedesk.store import Store
from voicedesk.stt.whisper import WhisperTranscriber

pytestmark = pytest.mark.model

PATCH = "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-WARMUP = 100\n+WARMUP = 50\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default agents, a store under tmp_path, one attempt per experiment."""
    return serve_settings(tmp_path, experiments={"max_attempts": 1})


@pytest.fixture
def api(settings: Settings, transcriber: WhisperTranscriber) -> Iterator[httpx.Client]:
    """A client of a server with no token and no runner."""
    with (
        running_server(settings, transcriber) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def _ledger(settings: Settings) -> Ledger:
    """The server's ledger, opened on its own connection."""
    return Ledger(Store.in_dir(settings.data_dir()), settings.experiments)


def _submit(api: httpx.Client, description: str, **fields: Any) -> dict[str, Any]:
    """POST one experiment; its body."""
    made = api.post("/experiments", json={"description": description, **fields})
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def test_submit_list_and_show(api: httpx.Client, settings: Settings, tmp_path: Path) -> None:
    first = _submit(api, "halve the warmup", patch=PATCH, hypothesis="less warmup, more steps",
                    branch="exp/warmup", budget_s=120)
    assert first["status"] == "queued" and first["proposed_by"] == "api"
    assert (first["command"], first["budget_s"], first["hard_limit_s"]) == (
        "uv run train.py", 120.0, 600.0)
    assert (first["metric_name"], first["baseline"], first["branch"]) == (
        "val_bpb", "main", "exp/warmup")
    assert "patch" not in first and "log_tail" not in first
    second = _submit(api, "  double   the   batch ", command="python train.py")
    assert second["description"] == "double the batch"

    listed = api.get("/experiments").json()
    assert [e["id"] for e in listed] == [second["id"], first["id"]]
    assert [e["id"] for e in api.get("/experiments", params={"limit": 1}).json()] == [
        second["id"]]
    assert api.get("/experiments", params={"status": "keep"}).json() == []

    detail = api.get(f"/experiments/{first['id']}").json()
    assert (detail["patch"], detail["log_tail"]) == (PATCH, None)
    assert detail["hypothesis"] == "less warmup, more steps"

    log = tmp_path / "run.log"
    log.write_text("".join(f"step {i:05d} loss 3.21\n" for i in range(1000)) + "val_bpb: 0.99\n")
    _ledger(settings).set_log(first["id"], str(log))
    tail = api.get(f"/experiments/{first['id']}").json()["log_tail"]
    assert tail.endswith("step 00999 loss 3.21\nval_bpb: 0.99\n")
    assert tail.startswith("step ") and len(tail.encode()) <= 4096
    log.unlink()
    assert api.get(f"/experiments/{first['id']}").json()["log_tail"] is None


def test_a_repeated_key_returns_the_first_experiment(api: httpx.Client) -> None:
    headers = {"Idempotency-Key": "k-1"}
    made = api.post("/experiments", json={"description": "try rope"}, headers=headers)
    again = api.post("/experiments", json={"description": "try rope, again"}, headers=headers)
    assert (made.status_code, again.status_code) == (201, 200)
    assert again.json() == made.json()
    by_field = api.post("/experiments", json={"description": "x", "idempotency_key": "k-1"})
    assert (by_field.status_code, by_field.json()["id"]) == (200, made.json()["id"])
    other = api.post("/experiments", json={"description": "try rope"},
                     headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 201
    assert [e["description"] for e in api.get("/experiments").json()] == ["try rope"] * 2


def _finish(ledger: Ledger, metric: float | None, exit_code: int = 0) -> None:
    """Run the oldest queued experiment to its end, as a worker would."""
    claimed = ledger.claim("test-worker", gpu="0")
    assert claimed is not None
    result = RunResult(exit_code=exit_code, metric=metric, peak_vram_mb=45_000.0,
                       log_path="/nonexistent/run.log", commit_sha="abc1234def")
    ledger.finish(claimed.id, "test-worker", result)


def test_the_leaderboard_is_best_first(api: httpx.Client, settings: Settings) -> None:
    assert api.get("/experiments/leaderboard").json() == []
    for words in ("baseline", "better", "worse", "broken", "still waiting"):
        _submit(api, words)
    ledger = _ledger(settings)
    for metric, code in ((1.0, 0), (0.9, 0), (1.1, 0), (None, 1)):
        _finish(ledger, metric, code)
    board = api.get("/experiments/leaderboard").json()
    assert [(e["description"], e["metric_value"], e["status"]) for e in board] == [
        ("better", 0.9, "keep"), ("baseline", 1.0, "keep"), ("worse", 1.1, "discard")]
    assert board[0]["reason"] == "val_bpb 0.9 vs best kept 1"
    assert (board[0]["gpu"], board[0]["worker"], board[0]["commit_sha"]) == (
        "0", "test-worker", "abc1234def")
    assert [e["description"] for e in api.get("/experiments/leaderboard?limit=1").json()] == [
        "better"]
    crashed = api.get("/experiments", params={"status": "crash"}).json()
    assert [e["description"] for e in crashed] == ["broken"]
    assert crashed[0]["reason"] == "exited with code 1 (after 1 attempts)"
    queued = api.get("/experiments", params={"status": "queued"}).json()
    assert [e["description"] for e in queued] == ["still waiting"]


def test_cancel(api: httpx.Client, settings: Settings) -> None:
    made = _submit(api, "try muon")
    cancelled = api.post(f"/experiments/{made['id']}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["reason"]) == (
        "cancelled", "cancelled through the API")
    again = api.post(f"/experiments/{made['id']}/cancel")
    assert (again.status_code, again.json()) == (
        409, {"detail": f"experiment {made['id']} is already cancelled"})
    _submit(api, "finished")
    _finish(_ledger(settings), 1.0)
    done = api.post("/experiments/2/cancel")
    assert (done.status_code, done.json()["detail"]) == (409, "experiment 2 is already keep")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("get", "/experiments/999", None, 404, "there is no experiment 999"),
        ("post", "/experiments/999/cancel", None, 404, "there is no experiment 999"),
        ("get", "/experiments/0", None, 422, None),
        ("get", f"/experiments/{2**63}", None, 422, None),
        ("get", "/experiments?status=sleeping", None, 422, None),
        ("get", "/experiments?limit=0", None, 422, None),
        ("get", "/experiments/leaderboard?limit=0", None, 422, None),
        ("post", "/experiments", {}, 422, "body.description: Field required"),
        ("post", "/experiments", {"description": "   "}, 422, "the description is blank"),
        ("post", "/experiments", {"description": "x", "colour": "red"}, 422, None),
        ("post", "/experiments", {"description": "x", "budget_s": 0}, 422, None),
        ("post", "/experiments", {"description": "x", "budget_s": 900}, 422,
         "hard_limit_s (600) must be at least budget_s (900)"),
        ("post", "/experiments", {"description": "x", "budget_s": 60, "hard_limit_s": 30}, 422,
         "hard_limit_s (30) must be at least budget_s (60)"),
        ("post", "/experiments", "{not json", 422, None),
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
    assert api.get("/experiments").json() == []


def test_a_header_and_a_field_key_must_agree(api: httpx.Client) -> None:
    refused = api.post("/experiments", json={"description": "x", "idempotency_key": "a"},
                       headers={"Idempotency-Key": "b"})
    assert (refused.status_code, refused.json()["detail"]) == (
        422, "the Idempotency-Key header and idempotency_key differ")
    agreed = api.post("/experiments", json={"description": "x", "idempotency_key": "a"},
                      headers={"Idempotency-Key": "a"})
    assert agreed.status_code == 201


def test_every_route_needs_the_token(tmp_path: Path, transcriber: WhisperTranscriber) -> None:
    settings = serve_settings(tmp_path, serve={"token": "s3cret"})
    with running_server(settings, transcriber) as url, httpx.Client(base_url=url) as client:
        for method, path in (("get", "/experiments"), ("post", "/experiments"),
                             ("get", "/experiments/leaderboard"), ("get", "/experiments/1"),
                             ("post", "/experiments/1/cancel")):
            refused = client.request(method, path, json={"description": "x"})
            assert refused.status_code == 401, path
        made = client.post("/experiments", json={"description": "x"},
                           headers={"Authorization": "Bearer s3cret"})
        assert made.status_code == 201
