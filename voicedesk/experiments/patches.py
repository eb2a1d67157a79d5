"""What a research agent needs to write an experiment's patch: the training file to change,
and a check that its patch applies before the experiment is queued with it."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from voicedesk.experiments.ledger import Ledger

MAX_FILE_CHARS = 60_000
"""The most of the training file handed to the model."""


def training_file(ledger: Ledger, experiment_id: int) -> tuple[str, bool]:
    """The baseline's training file for an experiment (text, is_error)."""
    experiment = ledger.get(experiment_id)
    if experiment is None or experiment.repo is None:
        return f"experiment {experiment_id} does not exist or has no repo", True
    name = ledger.settings.train_file
    shown = subprocess.run(
        ["git", "-C", experiment.repo, "show", f"{experiment.baseline}:{name}"],
        capture_output=True, text=True, timeout=30,
    )
    if shown.returncode != 0:
        return f"cannot read {name} on {experiment.baseline}: {shown.stderr.strip()}", True
    return f"{name} on {experiment.baseline}:\n{shown.stdout[:MAX_FILE_CHARS]}", False


def submit_patch(ledger: Ledger, experiment_id: int, patch: str) -> tuple[str, bool]:
    """Check that `patch` applies to the baseline, then queue the experiment with it."""
    experiment = ledger.get(experiment_id)
    if experiment is None or experiment.repo is None:
        return f"experiment {experiment_id} does not exist or has no repo", True
    if experiment.status != "needs_change":
        return f"experiment {experiment_id} is {experiment.status}, not waiting for a patch", True
    with tempfile.TemporaryDirectory(prefix="vd-patch-") as tmp:
        tree = Path(tmp) / "tree"
        git = ["git", "-C", experiment.repo]
        added = subprocess.run([*git, "worktree", "add", "--detach", str(tree),
                                experiment.baseline or "HEAD"],
                               capture_output=True, text=True, timeout=60)
        if added.returncode != 0:
            return f"cannot check out {experiment.baseline}: {added.stderr.strip()}", True
        try:
            check = subprocess.run(["git", "-C", str(tree), "apply", "--check", "-"],
                                   input=patch, capture_output=True, text=True, timeout=30)
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(tree)],
                           capture_output=True, timeout=60)
    if check.returncode != 0:
        return f"the patch does not apply: {check.stderr.strip()[:500]}", True
    ledger.attach_patch(experiment_id, patch)
    return f"experiment {experiment_id} queued with the patch", False
