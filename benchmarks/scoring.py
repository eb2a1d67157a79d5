"""Scoring, as pure functions: word error rates, and heard commands against a labelled set.

The rules are those of the shared scorer (../shared/tools/eval_commands.py): each labelled
command is matched to the output utterance overlapping its span in stream.wav the most; it
is right when type, agent and job are equal and, for dispatch and experiment, the task's
word error rate against the label is at most TASK_WER.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASK_WER = 0.35
"""The most word error a dispatch or experiment task may have and still count as right."""

_TASK_TYPES = ("dispatch", "experiment")


def words(text: str | None) -> list[str]:
    """Lower-cased words, hyphens split, punctuation other than apostrophes dropped."""
    text = (text or "").lower().replace("-", " ")
    return re.sub(r"[^a-z0-9' ]", " ", text).split()


def word_errors(ref: str | None, hyp: str | None) -> int:
    """Word-level Levenshtein distance: substitutions, insertions and deletions."""
    r, h = words(ref), words(hyp)
    row = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, row[0] = row[0], i
        for j in range(1, len(h) + 1):
            cur = min(row[j] + 1, row[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, row[j] = row[j], cur
    return row[len(h)]


def wer(ref: str | None, hyp: str | None) -> float:
    """Word error rate of `hyp` against `ref` (errors over reference words, at least one)."""
    return word_errors(ref, hyp) / max(len(words(ref)), 1)


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Word errors summed over (reference, hypothesis) pairs, over reference words summed."""
    errors = total = 0
    for ref, hyp in pairs:
        errors += word_errors(ref, hyp)
        total += len(words(ref))
    return errors / max(total, 1)


@dataclass(frozen=True)
class Label:
    """One labelled command: what was said, the intent it must become, its span in the stream."""

    id: str
    text: str
    type: str
    agent: str | None
    job: int | None
    task: str
    file: str
    start: float
    end: float

    def wanted(self) -> dict[str, Any]:
        """The fields that must match: type, agent and job."""
        return {"type": self.type, "agent": self.agent, "job": self.job}


def load_labels(path: Path) -> list[Label]:
    """Read labels.tsv (id text type agent job task file ... start end, tab-separated)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        Label(
            id=row["id"], text=row.get("text") or "", type=row["type"],
            agent=row.get("agent") or None,
            job=int(row["job"]) if row.get("job") else None,
            task=row.get("task") or "", file=row.get("file") or "",
            start=float(row["start"]), end=float(row["end"]),
        )
        for row in rows
    ]


def best_match(label: Label, outputs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The output utterance overlapping the label's span the most; None when none overlaps."""
    best, overlap = None, 0.0
    for output in outputs:
        shared = min(label.end, float(output.get("end", 0))) - max(
            label.start, float(output.get("start", 0))
        )
        if shared > overlap:
            best, overlap = output, shared
    return best


@dataclass(frozen=True)
class Miss:
    """A labelled command heard wrong: what was wanted, what was heard, the intent it became."""

    id: str
    wanted: dict[str, Any]
    task: str
    heard: str
    got: dict[str, Any]

    def line(self) -> str:
        """The shared scorer's MISS line."""
        return (
            f"MISS {self.id} want {self.wanted} task={self.task!r} | heard {self.heard!r} -> "
            f"{self.got}"
        )


@dataclass(frozen=True)
class Score:
    """A run scored against its labels."""

    right: int
    labels: int
    utterances: int
    misses: tuple[Miss, ...]
    word_errors: int
    reference_words: int

    @property
    def accuracy(self) -> float:
        """Commands right over commands labelled."""
        return self.right / max(self.labels, 1)

    @property
    def transcript_wer(self) -> float:
        """Word errors of the matched transcripts over the labels' words (unmatched: all lost)."""
        return self.word_errors / max(self.reference_words, 1)

    @property
    def extra(self) -> int:
        """Utterances out minus commands labelled (positive: split or phantom utterances)."""
        return self.utterances - self.labels


def judge(label: Label, output: dict[str, Any] | None) -> Miss | None:
    """None when the output gets the label's command right; else the miss."""
    got = (output or {}).get("intent") or {}
    right = output is not None and all(got.get(k) == v for k, v in label.wanted().items())
    if right and label.type in _TASK_TYPES:
        right = wer(label.task, got.get("task")) <= TASK_WER
    if right:
        return None
    heard = (output or {}).get("transcript", "<no utterance>")
    return Miss(
        label.id, label.wanted(), label.task, heard,
        {k: got.get(k) for k in ("type", "agent", "job", "task")},
    )


def score(labels: Sequence[Label], outputs: Sequence[dict[str, Any]]) -> Score:
    """Match each label to its utterance and count what was right, with the transcripts' WER."""
    misses: list[Miss] = []
    errors = reference = 0
    for label in labels:
        output = best_match(label, outputs)
        miss = judge(label, output)
        if miss is not None:
            misses.append(miss)
        errors += word_errors(label.text, (output or {}).get("transcript") or "")
        reference += len(words(label.text))
    return Score(
        right=len(labels) - len(misses), labels=len(labels), utterances=len(outputs),
        misses=tuple(misses), word_errors=errors, reference_words=reference,
    )


def speech_pairs(folder: Path) -> list[tuple[Path, str]]:
    """A folder's (WAV, transcript) pairs: transcripts.tsv (file<TAB>text...) or NAME.txt files."""
    table = folder / "transcripts.tsv"
    if table.is_file():
        pairs = []
        for line in table.read_text().splitlines():
            cells = line.split("\t")
            if len(cells) >= 2 and cells[0].strip() and not line.startswith("#"):
                if cells[0].strip() == "file" and cells[1].strip() == "text":
                    continue  # a header row
                pairs.append((folder / cells[0].strip(), cells[1].strip()))
        return pairs
    return [
        (wav, wav.with_suffix(".txt").read_text().strip())
        for wav in sorted(folder.glob("*.wav"))
        if wav.with_suffix(".txt").is_file()
    ]
