"""The grammar parser: Whisper's text of one utterance -> `Intent` (pure, no I/O).

Tokens keep their spelling and whether punctuation follows (a pause). Leading fillers
("um", "okay", "please", "can you", "go ahead and") are dropped; then the first rule that fits:

1. confirm / deny: every word belongs to the yes/no vocabulary; a negation wins.
2. addressing first: ``[the] <agent> [agent][,] <task>``; ``<agent> status`` is a status query.
3. ``tell / ask / get / have [the] <agent> [agent] [to] <task>``.
3b. the stand-up ("stand-up", "standup", "what did I miss", "catch me up", "digest") in up
   to seven words, and "details" ("details", "more details", "tell me more") in up to four.
4. ``cancel / stop / kill / abort [the] (job <n> | <n> | <agent> [agent])``; ``cancel
   experiment <n>`` is a cancel with ``job = n`` and ``task = "experiment"``.
5. experiment: "experiment" in the first five words, no other command word before it (so a
   garbled "queue an", "Q-man experiment ...", still counts), no question word first; the
   task starts after it, minus a leading that / where / which / to.
6. status of a job: "job <n>" in a question, next to a status word, or on its own.
7. results: leaderboard / result(s), or a question about experiments.
8. status of an agent: a question (or "status") that names an agent anywhere.
9. status overview: "status" in a short utterance, a question about what is running /
   happening / busy / going on, or "show / list the jobs". Otherwise ``unknown``.

Names resolve through `names.match_agent`; one below ``min_confidence`` is refused, and if
nothing else fits, the ``unknown`` intent carries that best refused confidence.
Intents naming an agent carry the name's confidence; all others carry 1.0 (unknown: 0.0).
Homophones of digits ("job free") count only as a whole job number that ends its clause
(end, punctuation, or a word like "status" / "doing" follows), so "the job for the backend"
is not job 4.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from voicedesk.intents.names import NameMatch, match_agent
from voicedesk.intents.numbers import parse_number
from voicedesk.intents.tokens import Token, strip_fillers, tokenize
from voicedesk.types import Intent

_CONFIRM = frozenset({"yes", "yeah", "yep", "yup", "confirm", "confirmed", "proceed", "sure",
                      "affirmative"})
_DENY = frozenset({"no", "nope", "nah", "don't", "dont", "nevermind", "negative"})
_YES_NO_VOCAB = _CONFIRM | _DENY | {"go", "ahead", "do", "it", "please", "never", "mind", "not",
                                     "now", "ok", "okay", "thanks", "that", "anyway"}
_TELL = frozenset({"tell", "ask", "get", "have"})
_CANCEL = frozenset({"cancel", "stop", "kill", "abort", "terminate", "halt"})
_EXPERIMENT_VERBS = frozenset({"queue", "run", "new", "start", "launch", "try", "add", "create",
                               "schedule", "kick", "set", "do", "up"})
_QUESTION = frozenset({"what", "what's", "whats", "how", "how's", "hows", "where", "where's",
                       "which", "who", "who's", "is", "are", "any", "anything", "did", "has",
                       "when", "why"})
_LEAD = (_TELL | _CANCEL | _EXPERIMENT_VERBS | _QUESTION | _YES_NO_VOCAB
         | {"status", "show", "give", "list", "job", "jobs"})
_JOB = frozenset({"job", "jobs", "job's"})
_NUMBER_MARKERS = frozenset({"number", "no", "num", "#"})
_JOB_TAIL = frozenset({"status", "doing", "going", "please", "now", "right", "then", "progress"})
_STATUS_WORDS = frozenset({"status", "doing", "going", "progress", "update", "state"})
_STATUS_TAIL = frozenset({"status", "report", "update", "please", "now", "what's", "whats",
                          "what", "is", "your", "give", "me", "a"})
_DESCRIPTION_LEADS = frozenset({"that", "where", "which", "to"})
_RESULTS = frozenset({"leaderboard", "leaderboards", "scoreboard", "result", "results"})
_STANDUP_PHRASES = ("stand-up", "standup", "stand up", "what did i miss", "what have i missed",
                    "catch me up", "digest", "daily summary")
_DETAILS_PHRASES = ("details", "detail", "tell me more", "more about that", "more on that")
_SHORT = 7
_BUSY = frozenset({"running", "happening", "busy", "working", "doing", "going", "progress", "up"})
_AGENT = frozenset({"agent", "agents", "agent's"})
_NAME_FLOOR = 0.5

Agents = Mapping[str, Sequence[str]]


@dataclass
class _Ctx:
    """One utterance being parsed, plus the best agent confidence that was refused."""

    tokens: list[Token]
    agents: Agents
    threshold: float
    near_miss: float = 0.0

    @property
    def words(self) -> list[str]:
        """The bare lower-case words."""
        return [t.word for t in self.tokens]

    @property
    def asks(self) -> bool:
        """Whether the utterance opens with a question word."""
        return self.tokens[0].word in _QUESTION

    @property
    def question(self) -> bool:
        """Whether the utterance is a question (question word first, or a final '?')."""
        return self.asks or self.tokens[-1].raw.endswith("?")

    def clause(self, i: int, limit: int) -> list[str]:
        """Up to limit words from token i, stopping after a pause or before 'agent'."""
        words: list[str] = []
        for token in self.tokens[i : i + limit]:
            if token.word in _AGENT:
                break
            words.append(token.word)
            if token.pause:
                break
        return words

    def agent_at(self, i: int, *, record: bool = True) -> NameMatch | None:
        """The agent named at token i if confident enough; a refused one is remembered."""
        return self.accept(match_agent(self.clause(i, 3), self.agents, floor=_NAME_FLOOR), record)

    def accept(self, match: NameMatch | None, record: bool) -> NameMatch | None:
        """The match if it reaches the threshold, else None (noting it as a near miss)."""
        if match is None or match.confidence >= self.threshold:
            return match
        if record:
            self.near_miss = max(self.near_miss, match.confidence)
        return None

    def after_name(self, i: int, match: NameMatch) -> int:
        """The index after a matched name and an optional following 'agent'."""
        j = i + match.tokens
        return j + 1 if j < len(self.tokens) and self.tokens[j].word in _AGENT else j

    def task_from(self, i: int) -> str:
        """The rest of the utterance from token i, lower-cased, outer punctuation dropped."""
        text = " ".join(t.raw for t in self.tokens[i:]).lower()
        return text.strip(" \t.,;:!?\u2026\u2013\u2014-\"")

    def job_at(self, i: int, *, bare: bool = False) -> int | None:
        """The job number at token i ('job [number] <n>', or just '<n>' when bare)."""
        words = self.words
        keyed = i < len(words) and words[i] in _JOB
        if keyed:
            i += 1
        elif not bare:
            return None
        while i < len(words) and words[i] in _NUMBER_MARKERS:
            keyed, i = True, i + 1
        parsed = parse_number(self.clause(i, 8))
        if parsed is not None:
            return parsed[0]
        sound = parse_number(words[i : i + 1], homophones=True) if keyed else None
        end = i + 1
        if sound and (end >= len(words) or self.tokens[i].pause or words[end] in _JOB_TAIL):
            return sound[0]
        return None

    def find_job(self) -> int | None:
        """The first 'job <n>' anywhere in the utterance."""
        jobs = (self.job_at(i) for i, word in enumerate(self.words) if word in _JOB)
        return next((job for job in jobs if job is not None), None)


def _confirm_deny(ctx: _Ctx) -> Intent | None:
    """Yes / no answers: every word is from the yes/no vocabulary; a negation wins."""
    words = ctx.words
    if not set(words) <= _YES_NO_VOCAB:
        return None
    padded = f" {' '.join(words)} "
    if set(words) & _DENY or " never mind " in padded or " do not " in padded:
        return Intent("deny")
    if set(words) & _CONFIRM or " go ahead " in padded or " do it " in padded:
        return Intent("confirm")
    return None


def _said(ctx: _Ctx, phrases: Sequence[str], limit: int = _SHORT) -> bool:
    """Whether an utterance of at most `limit` words contains one of `phrases` as words."""
    if len(ctx.words) > limit:
        return False
    padded = f" {' '.join(ctx.words)} "
    return any(f" {phrase} " in padded for phrase in phrases)


def _standup(ctx: _Ctx) -> Intent | None:
    """'stand-up', 'what did I miss', 'catch me up': the digest of what happened."""
    return Intent("standup") if _said(ctx, _STANDUP_PHRASES) else None


def _details(ctx: _Ctx) -> Intent | None:
    """'details', 'tell me more': more about the digest item just spoken."""
    if ctx.find_job() is not None:
        return None
    return Intent("details") if _said(ctx, _DETAILS_PHRASES, limit=4) else None


def _dispatch(match: NameMatch, task: str) -> Intent | None:
    """A dispatch to the matched agent, or None when the task is empty."""
    if not task:
        return None
    return Intent("dispatch", agent=match.agent, task=task, confidence=match.confidence)


def _addressed(ctx: _Ctx) -> Intent | None:
    """'<agent>, <task>' or '<agent> status'; a refused name is a near miss if framed."""
    words = ctx.words
    start = 1 if words[0] == "the" and len(words) > 1 else 0
    if words[start] in _LEAD:
        return None
    heard = match_agent(ctx.clause(start, 3), ctx.agents, floor=_NAME_FLOOR)
    if heard is None:
        return None
    j = ctx.after_name(start, heard)
    framed = j > start + heard.tokens or ctx.tokens[start + heard.tokens - 1].pause
    match = ctx.accept(heard, framed)
    if match is None:
        return None
    rest = words[j:]
    if "status" in rest and set(rest) <= _STATUS_TAIL:
        return Intent("status", agent=match.agent, confidence=match.confidence)
    task = ctx.task_from(j)
    return _dispatch(match, task)


def _told(ctx: _Ctx) -> Intent | None:
    """'tell / ask / get / have [the] <agent> [agent] [to] <task>'."""
    words = ctx.words
    if words[0] not in _TELL or len(words) < 2:
        return None
    i = 2 if words[1] == "the" else 1
    match = ctx.agent_at(i)
    if match is None:
        return None
    j = ctx.after_name(i, match)
    if j < len(words) and words[j] == "to":
        j += 1
    task = ctx.task_from(j)
    return _dispatch(match, task)


def _cancel(ctx: _Ctx) -> Intent | None:
    """'cancel / stop / kill [the] job <n>' or '... [the] <agent> [agent]'; else unknown."""
    words = ctx.words
    if words[0] not in _CANCEL:
        return None
    i = 2 if len(words) > 1 and words[1] == "the" else 1
    if i < len(words) and words[i] in ("experiment", "experiments"):
        number = ctx.job_at(i + 1, bare=True)
        return Intent("cancel", job=number, task="experiment") if number is not None else None
    job = ctx.job_at(i, bare=True)
    if job is not None:
        return Intent("cancel", job=job)
    match = ctx.agent_at(i)
    if match is not None:
        return Intent("cancel", agent=match.agent, confidence=match.confidence)
    return Intent("unknown", confidence=ctx.near_miss)


def _experiment(ctx: _Ctx) -> Intent | None:
    """'queue / run / new ... experiment [that|where|which|to] <description>'."""
    words = ctx.words
    if ctx.asks:
        return None
    k = next((n for n, w in enumerate(words[:5]) if w in ("experiment", "experiments")), None)
    if k is None or set(words[:k]) & (_LEAD - _EXPERIMENT_VERBS):
        return None
    j = k + 1
    if j < len(words) and words[j] in _DESCRIPTION_LEADS:
        j += 1
    task = ctx.task_from(j)
    return Intent("experiment", task=task) if task else None


def _job_status(ctx: _Ctx) -> Intent | None:
    """'job <n>' in a question, next to a status word, or on its own."""
    job = ctx.find_job()
    if job is None:
        return None
    if ctx.question or set(ctx.words) & _STATUS_WORDS or len(ctx.words) <= 3:
        return Intent("status", job=job)
    return None


def _results(ctx: _Ctx) -> Intent | None:
    """Leaderboard / results, or a question about the experiments."""
    words = set(ctx.words)
    if words & _RESULTS or "leader board" in " ".join(ctx.words):
        return Intent("results")
    if ctx.question and words & {"experiment", "experiments"}:
        return Intent("results")
    return None


def _agent_status(ctx: _Ctx) -> Intent | None:
    """A question (or a 'status' request) that names an agent anywhere."""
    if not (ctx.question or "status" in ctx.words):
        return None
    found = [m for i in range(len(ctx.tokens)) if (m := ctx.agent_at(i, record=False))]
    if not found:
        return None
    best = max(found, key=lambda m: m.confidence)
    return Intent("status", agent=best.agent, confidence=best.confidence)


_GENERIC_SUBJECTS = frozenset({"it", "everything", "everyone", "things", "stuff", "all", "work",
                               "that", "this", "the", "everybody", "jobs", "agents"})
"""Words that make "how is ... doing" a question about everything, not about one thing."""


def _asks_about_something(ctx: _Ctx) -> bool:
    """"how is/are [the] X doing" where X is a subject that named no agent ("the measure")."""
    words = ctx.words
    if not words or words[0] not in ("how", "how's", "hows"):
        return False
    start = 1 if words[0] != "how" else 2
    subject = []
    for word in words[start:]:
        if word in _BUSY:
            break
        subject.append(word)
    return bool(set(subject) - _GENERIC_SUBJECTS)


def _overview(ctx: _Ctx) -> Intent | None:
    """'status' in a short utterance, 'what's running', or 'show / list the jobs'.

    "How is the measure change doing?" is not an overview: it asks about something that
    named no agent, so it stays unknown (with the name's near miss as its confidence).
    """
    words = set(ctx.words)
    busy = ctx.question and (words & _BUSY or "going on" in " ".join(ctx.words))
    busy = busy and not _asks_about_something(ctx)
    listing = ctx.words[0] in ("show", "list", "give") and words & {"jobs", "agents"}
    if ("status" in words and len(ctx.words) <= 8) or busy or listing:
        return Intent("status")
    return None


_RULES: tuple[Callable[[_Ctx], Intent | None], ...] = (
    _confirm_deny, _addressed, _told, _standup, _details, _cancel, _experiment, _job_status,
    _results, _agent_status, _overview,
)


def parse_command(text: str, agents: Agents, *, min_confidence: float = 0.75) -> Intent:
    """Parse one utterance into an Intent by the command grammar (COMMANDS.md)."""
    tokens = strip_fillers(tokenize(text))
    if not tokens:
        return Intent("unknown", confidence=0.0)
    ctx = _Ctx(tokens, agents, min_confidence)
    for rule in _RULES:
        intent = rule(ctx)
        if intent is not None:
            return intent
    return Intent("unknown", confidence=ctx.near_miss)
