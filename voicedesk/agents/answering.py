"""The console's side of agent questions: a spoken task for a waiting agent is its answer.

"frontend, yes, allow it" parses as a dispatch to frontend; when frontend has an open
question, the task answers it (the oldest) instead of queueing a new job. A status of a
waiting job or agent says what it waits for.
"""

from __future__ import annotations

from voicedesk.agents.questions import Questions
from voicedesk.types import Outcome, Question


def _sentence(text: str) -> str:
    """`text` ending in one full stop, unless it already ends a sentence."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def answer_waiting(questions: Questions, agent: str, text: str) -> Outcome | None:
    """Answer `agent`'s oldest open question with `text` and say so; None when none waits."""
    for question in questions.open(agent):
        answered = questions.answer(question.id, text)
        if answered is None:  # answered a moment ago from elsewhere: try the next one
            continue
        reply = f"Told {agent}: {_sentence(text)}"
        still = questions.open(agent)
        if still:
            reply += f" It also asks: {_sentence(still[0].prompt)}"
        return Outcome("answered", reply, job_ids=(question.job_id,), kind="done")
    return None


def waiting_for(questions: Questions, job_id: int) -> Question | None:
    """The oldest open question of a job still queued or running, or None."""
    return next((q for q in questions.open() if q.job_id == job_id), None)


def waiting_suffix(questions: Questions, job_id: int) -> str:
    """', waiting for your answer: may it run: npm test' for a waiting job, else ''."""
    question = waiting_for(questions, job_id)
    if question is None:
        return ""
    return f", waiting for your answer: {question.prompt.strip().rstrip('?.!')}"
