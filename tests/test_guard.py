"""The coding agent's tool-use guard: a table of tool calls and what it says about each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voicedesk.agents.guard import check_tool_use, segments, tokens


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    """A worktree folder with a subfolder, a symlink out of it, and a `.git` file."""
    root = tmp_path / "repo-job-1"
    (root / "src").mkdir(parents=True)
    (root / ".git").write_text("gitdir: elsewhere\n")
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    return root


EDITS: list[tuple[str, dict[str, Any], str | None]] = [
    ("Write", {"file_path": "{wt}/hello.txt", "content": "hi"}, None),
    ("Write", {"file_path": "hello.txt", "content": "hi"}, None),
    ("Write", {"file_path": "src/new/deep.py"}, None),
    ("Edit", {"file_path": "{wt}/src/../src/a.py"}, None),
    ("MultiEdit", {"file_path": "{wt}/src/a.py", "edits": []}, None),
    ("NotebookEdit", {"notebook_path": "{wt}/nb.ipynb"}, None),
    ("Write", {"file_path": "{tmp}/outside.txt"}, "outside the worktree"),
    ("Write", {"file_path": "../outside.txt"}, "outside the worktree"),
    ("Write", {"file_path": "{wt}/src/../../x.txt"}, "outside the worktree"),
    ("Edit", {"file_path": "/etc/passwd"}, "outside the worktree"),
    ("Write", {"file_path": "escape/x.txt"}, "outside the worktree"),
    ("Write", {"file_path": "{tmp}/repo-job-1-evil/x.txt"}, "outside the worktree"),
    ("Write", {"file_path": "~/x.txt"}, "outside the worktree"),
    ("NotebookEdit", {"notebook_path": "/tmp/nb.ipynb"}, "outside the worktree"),
    ("Write", {"file_path": ".git"}, "git's own files"),
    ("Write", {"content": "no path"}, "without a file path"),
    ("Edit", {"file_path": ""}, "without a file path"),
    ("Read", {"file_path": "/etc/passwd"}, None),
    ("Glob", {"pattern": "**/*"}, None),
]


@pytest.mark.parametrize(("tool", "tool_input", "expected"), EDITS)
def test_edit_tools(
    worktree: Path, tool: str, tool_input: dict[str, Any], expected: str | None
) -> None:
    """File-writing tools may write inside the worktree only (symlinks and `..` resolved)."""
    filled = {key: value.format(wt=worktree, tmp=worktree.parent) if isinstance(value, str)
              else value for key, value in tool_input.items()}
    reason = check_tool_use(tool, filled, worktree, [])
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


BASH: list[tuple[str, str | None]] = [
    ("ls -la", None),
    ("pytest -q && git status", None),
    ("rm -r build", None),
    ("rm -f stale.txt", None),
    ("rm -rf ..", "rm -rf"),
    ("rm -fr /", "rm -rf"),
    ("rm -Rf dist", "rm -rf"),
    ("rm -r -f dist", "rm -rf"),
    ("rm -f -r dist", "rm -rf"),
    ("rm -vfr dist", "rm -rf"),
    ("rm --recursive --force dist", "rm -rf"),
    ("rm --force --recursive dist", "rm -rf"),
    ("rm -r dist --force", "rm -rf"),
    ("rm --rec --forc dist", "rm -rf"),
    ("/bin/rm -rf dist", "rm -rf"),
    ("sudo rm -rf /", "rm -rf"),
    ("FOO=1 rm -rf x", "rm -rf"),
    ("ls; rm -rf x", "rm -rf"),
    ("ls\nrm -rf x", "rm -rf"),
    ("echo a#b; rm -rf x", "rm -rf"),
    ("find . -name '*.pyc' -exec rm -rf {} +", "rm -rf"),
    ("echo $(rm -rf x)", "rm -rf"),
    ("echo `rm -rf x`", "rm -rf"),
    ("bash -c 'rm -rf ~'", "rm -rf"),
    ("sh -c \"make && rm -r -f x\"", "rm -rf"),
    ("sh -c \"cd / && ls\"", "leaves the worktree"),
    ("rm -rf \"unbalanced", "rm -rf"),
    ("rm -r -- -f", None),
    ("git push", None),
    ("git push -u origin voicedesk/job-1", None),
    ("git push --follow-tags origin main", None),
    ("git push --force", "git push --force"),
    ("git push -f origin main", "git push -f"),
    ("git push -uf origin main", "git push -uf"),
    ("git push --force-with-lease", "--force-with-lease"),
    ("git push --force-with-lease=main:abc origin", "--force-with-lease"),
    ("git push --forc", "git push --forc"),
    ("git push origin +main", "refspec"),
    ("git push origin +HEAD:refs/heads/main", "refspec"),
    ("git -C . push --force", "git push --force"),
    ("git -c push.default=current push -f", "git push -f"),
    ("git fetch -f origin", None),
    ("git commit -m 'push -f later'", None),
    ("cd src && make", None),
    ("cd src; cd ..; ls", None),
    ("cd ..", "leaves the worktree"),
    ("cd src && cd ../..", "leaves the worktree"),
    ("cd /", "leaves the worktree"),
    ("cd", "leaves the worktree"),
    ("cd ~/code", "leaves the worktree"),
    ("cd -", "leaves the worktree"),
    ("cd \"$HOME\"", "leaves the worktree"),
    ("cd escape", "leaves the worktree"),
    ("(cd /tmp; ls)", "leaves the worktree"),
    ("echo hi > out.txt", None),
    ("echo hi >> src/log.txt", None),
    ("make 2>&1 | tee build.log", None),
    ("make > /dev/null 2>&1", None),
    ("ls >&2", None),
    ("echo hi > /tmp/x", "outside the worktree"),
    ("echo hi>/tmp/x", "outside the worktree"),
    ("echo hi >> ~/.bashrc", "outside the worktree"),
    ("echo hi 2>/tmp/err", "outside the worktree"),
    ("echo hi &> /tmp/both", "outside the worktree"),
    ("echo hi >| ../clobber", "outside the worktree"),
    ("echo hi > $HOME/x", "outside the worktree"),
    ("echo hi | tee /etc/motd", "outside the worktree"),
    ("echo hi | tee -a out.txt /tmp/copy", "outside the worktree"),
    ("cd src && echo hi > ../../x", "outside the worktree"),
    ("echo hi > escape/x", "outside the worktree"),
]


@pytest.mark.parametrize(("command", "expected"), BASH)
def test_bash_commands(worktree: Path, command: str, expected: str | None) -> None:
    """Bash may not delete recursively by force, force-push, or leave the worktree."""
    reason = check_tool_use("Bash", {"command": command, "description": "x"}, worktree, [])
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


DENY: list[tuple[str, list[str], str | None]] = [
    ("curl https://example.com", ["curl"], "'curl'"),
    ("CURL https://example.com", ["curl"], "'curl'"),
    ("pip install requests", ["curl", "wget"], None),
    ("npm publish", ["re:^npm\\s+publish"], "re:"),
    ("NPM   Publish --tag x", ["re:^npm\\s+publish"], "re:"),
    ("echo npm publish", ["re:^npm\\s+publish"], None),
    ("ls", ["re:("], "not a valid regex"),
    ("ls", [""], None),
]


@pytest.mark.parametrize(("command", "deny", "expected"), DENY)
def test_deny_patterns(
    worktree: Path, command: str, deny: list[str], expected: str | None
) -> None:
    """Configured patterns: case-insensitive substrings, or regexes after `re:`."""
    reason = check_tool_use("Bash", {"command": command}, worktree, deny)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


def test_deny_patterns_apply_to_bash_only(worktree: Path) -> None:
    """A deny pattern is about commands, not file contents."""
    tool_input = {"file_path": "notes.md", "content": "curl"}
    assert check_tool_use("Write", tool_input, worktree, ["curl"]) is None


def test_bash_without_a_command_is_denied(worktree: Path) -> None:
    """A Bash call the guard cannot read is not let through."""
    assert check_tool_use("Bash", {}, worktree, []) == "Bash without a command string"


def test_tokens_and_segments() -> None:
    """Quotes are removed, comments are not special, separators split simple commands."""
    assert tokens("echo 'a b' # c") == ["echo", "a b", "#", "c"]
    assert segments(tokens("a -x && b | c; d 2>&1 > f")) == [
        ["a", "-x"], ["b"], ["c"], ["d", "2", ">&", "1", ">", "f"]
    ]
