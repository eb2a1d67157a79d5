"""Questions an agent asks the user, in the store: asked, answered once, or closed with the job.

An agent blocked on the user (a permission request, a clarifying question) `ask`s, which also
appends the job event `needs_input` (the alert the user hears), then `wait`s until someone
`answer`s: the console (by voice), the API, or another process on the same store file. Every
call runs on the caller's thread with the caller's Store, as the runner does on its loop; no
await happens inside a transaction, so one connection on one event loop is safe.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable

from voicedesk.errors import AgentError
from voicedesk.store import Store
from voicedesk.types import ACTIVE_JOB_STATUSES, Question, QuestionKind

POLL_S = 0.25
"""How often `wait` looks at the store for an answer, in seconds."""

NEEDS_INPUT = "needs_input"
"""The job event kind written when an agent asks: its message is the question."""

_ACTIVE = ",".join(f"'{status}'" for status in ACTIVE_JOB_STATUSES)


def _question(row: sqlite3.Row) -> Question:
    """A questions row as a Question."""
    return Question(**dict(row))


class Questions:
    """The `questions` table of one store."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        """Keep questions in `store`, stamped by `clock`."""
        self.store, self.clock = store, clock

    def ask(self, job_id: int, agent: str, kind: QuestionKind, prompt: str) -> Question:
        """Record an open question and its job's `needs_input` event, in one transaction."""
        now = self.clock()
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO questions (job_id, agent, kind, prompt, asked_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (job_id, agent, kind, prompt, now),
            )
            db.execute(
                "INSERT INTO job_events (job_id, at, kind, message) VALUES (?, ?, ?, ?)",
                (job_id, now, NEEDS_INPUT, prompt),
            )
        return self.get(int(cursor.lastrowid or 0))  # type: ignore[return-value]

    def get(self, question_id: int) -> Question | None:
        """One question, or None."""
        if not 0 < question_id < 2**63:
            return None
        rows = self.store.query("SELECT * FROM questions WHERE id = ?", (question_id,))
        return _question(rows[0]) if rows else None

    def open(self, agent: str | None = None) -> list[Question]:
        """Open questions of jobs still queued or running, oldest first (of one agent)."""
        sql = (
            "SELECT q.* FROM questions q JOIN jobs j ON j.id = q.job_id"
            f" WHERE q.status = 'open' AND j.status IN ({_ACTIVE})"
        )
        args: tuple[str, ...] = ()
        if agent is not None:
            sql, args = sql + " AND q.agent = ?", (agent,)
        return [_question(row) for row in self.store.query(sql + " ORDER BY q.id", args)]

    def for_job(self, job_id: int) -> list[Question]:
        """Every question of one job, oldest first."""
        rows = self.store.query("SELECT * FROM questions WHERE job_id = ? ORDER BY id", (job_id,))
        return [_question(row) for row in rows]

    def answer(self, question_id: int, text: str) -> Question | None:
        """Answer an open question (and note it on its job); None if it was not open."""
        now = self.clock()
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE questions SET status = 'answered', answer = ?, answered_at = ?"
                " WHERE id = ? AND status = 'open'",
                (text, now, question_id),
            )
            if cursor.rowcount:
                db.execute(
                    "INSERT INTO job_events (job_id, at, kind, message)"
                    " SELECT job_id, ?, 'note', ? FROM questions WHERE id = ?",
                    (now, f"answered: {text}", question_id),
                )
        return self.get(question_id) if cursor.rowcount else None

    def close(self, question_id: int) -> bool:
        """Close one open question unanswered; whether it was open."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE questions SET status = 'closed' WHERE id = ? AND status = 'open'",
                (question_id,),
            )
        return bool(cursor.rowcount)

    def close_for_job(self, job_id: int) -> int:
        """Close every open question of a job (it ended or was cancelled); how many."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE questions SET status = 'closed' WHERE job_id = ? AND status = 'open'",
                (job_id,),
            )
        return int(cursor.rowcount)

    async def wait(self, question_id: int, poll_s: float = POLL_S) -> Question:
        """The question once answered; AgentError if it is closed or gone first.

        Cancelling the waiting coroutine (a voice cancel, the job timeout) propagates."""
        while True:
            question = self.get(question_id)
            if question is None:
                raise AgentError(f"question {question_id} is gone from the store")
            if question.status == "answered":
                return question
            if question.status != "open":
                raise AgentError(f"question {question_id} was closed without an answer")
            await asyncio.sleep(poll_s)
