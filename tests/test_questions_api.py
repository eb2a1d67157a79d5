"""GET /questions and POST /jobs/{id}/answer on the real router, over a real store file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from voicedesk.agents.questions import Questions
from voicedesk.api import routes_questions
from voicedesk.api.deps import authorize, get_services
from voicedesk.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store file."""
    opened = Store(tmp_path / "v.db")
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """The questions router alone, no token, its services just a store connection of its own
    (opened on the server's loop, as the app does); the test's `store` is another one."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Open the server's store connection on its own thread."""
        app.state.store = Store(store.path)
        yield
        app.state.store.close()

    async def services(request: Request) -> SimpleNamespace:
        """The server's services: its store."""
        return SimpleNamespace(store=request.app.state.store)

    app = FastAPI(lifespan=lifespan)
    app.include_router(routes_questions.router)
    app.dependency_overrides[get_services] = services
    app.dependency_overrides[authorize] = lambda: "test"
    with TestClient(app) as test_client:
        yield test_client


def test_list_and_answer(client: TestClient, store: Store) -> None:
    """Open questions are listed; answering one records it once; then there is none to answer."""
    job = store.create_job("frontend", "write hello")
    store.claim_job("runner", 60.0, ["frontend"])
    asked = Questions(store).ask(job.id, "frontend", "permission", "may it run: ls?")
    listed = client.get("/questions").json()
    assert [(q["id"], q["prompt"], q["status"]) for q in listed] == [
        (asked.id, "may it run: ls?", "open")]
    assert client.get("/questions", params={"agent": "backend"}).json() == []
    answered = client.post(f"/jobs/{job.id}/answer", json={"text": "  yes,  allow it "})
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["answer"]) == ("answered", "yes, allow it")
    assert Questions(store).get(asked.id).answer == "yes, allow it"  # type: ignore[union-attr]
    again = client.post(f"/jobs/{job.id}/answer", json={"text": "no"})
    assert again.status_code == 409
    assert again.json() == {"detail": f"job {job.id} is not waiting for an answer"}
    assert client.get("/questions").json() == []


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/jobs/999/answer", {"text": "yes"}, 404),
    ("/jobs/1/answer", {"text": ""}, 422),
    ("/jobs/1/answer", {"text": "   "}, 422),
    ("/jobs/1/answer", {}, 422),
    ("/jobs/0/answer", {"text": "yes"}, 422),
])
def test_bad_answers(client: TestClient, store: Store, path: str, body: object,
                     status: int) -> None:
    """No such job, a blank answer, no body: 4xx with a reason."""
    store.create_job("frontend", "write hello")
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_an_ended_job_takes_no_answer(client: TestClient, store: Store) -> None:
    """A cancelled job's question is not listed and cannot be answered."""
    job = store.create_job("frontend", "write hello")
    Questions(store).ask(job.id, "frontend", "question", "Which file?")
    store.cancel_jobs([job.id], "test")
    assert client.get("/questions").json() == []
    response = client.post(f"/jobs/{job.id}/answer", json={"text": "that one"})
    assert (response.status_code, response.json()) == (
        409, {"detail": f"job {job.id} is already cancelled"})
