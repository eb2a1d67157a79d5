"""The research agent's `ask_user` tool: put one question to the user by voice, wait, answer.

The question is asked through `Questions` (the job event `needs_input` makes it heard); the
user's spoken answer ("research, use the small model") comes back as the tool result.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from anthropic.types import ToolParam

from voicedesk.agents.protocol import JobContext
from voicedesk.agents.questions import POLL_S, Questions
from voicedesk.errors import AgentError, StoreError

ASK_USER_TOOL: ToolParam = {
    "name": "ask_user",
    "description": "Ask the user one short question, spoken aloud, and wait for the spoken "
                   "answer. Only for a decision the user must make; the answer is the result.",
    "input_schema": {
        "type": "object",
        "properties": {"question": {"type": "string", "description": "One short question."}},
        "required": ["question"],
    },
}
"""The tool's definition for the Messages API."""

QUESTION_CHARS = 300
"""The longest question asked; longer ones are refused so the model asks a shorter one."""


async def ask_user(context: JobContext, args: dict[str, Any], poll_s: float = POLL_S
                   ) -> tuple[str, bool]:
    """Ask the user `args['question']` and wait: (the answer, False), or (why not, True)."""
    question = args.get("question")
    if not isinstance(question, str) or not question.strip():
        return "ask_user needs a non-empty question", True
    prompt = " ".join(question.split())
    if len(prompt) > QUESTION_CHARS:
        return f"ask_user's question is over {QUESTION_CHARS} characters: ask a shorter one", True
    questions = Questions(context.store)
    asked = questions.ask(context.job.id, context.agent, "question", prompt)
    context.emit("note", f"waiting for the user's answer (question {asked.id})")
    timeout = context.settings.answer_timeout_s
    try:
        async with asyncio.timeout(timeout):
            answered = await questions.wait(asked.id, poll_s)
    except TimeoutError:
        questions.close(asked.id)
        return f"the user did not answer within {timeout:g} s: carry on without it", True
    except AgentError as exc:
        return str(exc), True
    except BaseException:
        questions.close(asked.id)
        raise
    return answered.answer or "", False


def close_questions(context: JobContext) -> None:
    """Close the job's open questions as it ends (a store error never masks how it ended)."""
    with contextlib.suppress(StoreError):
        Questions(context.store).close_for_job(context.job.id)
