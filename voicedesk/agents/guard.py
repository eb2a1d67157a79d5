"""The coding agent's tool-use policy: which tool calls are denied, and why. Pure.

A guard against slips, not a sandbox: file-editing tools must stay inside the job's worktree;
Bash commands may not `rm -rf`, force-push, `cd` or redirect (`>`, `>>`, `tee`) out of the
worktree, nor match a configured deny pattern (case-insensitive substring, or a regex after
`re:`). Commands are read conservatively: a pattern quoted inside a string (`bash -c "rm -rf
x"`, or even `echo "rm -rf x"`) counts, and a path the guard cannot work out (`$VAR`, `~`)
counts as outside.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EDIT_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path",
              "NotebookEdit": "notebook_path"}
"""Tools that write files, and the input key holding the path they write."""

_OPERATOR_CHARS = frozenset(";&|()<>")
_SEPARATORS = frozenset({";", "&", "&&", "|", "||", "|&", "(", ")", ";;", ");", "((", "))"})
_SAFE_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_MAX_DEPTH = 3


def check_tool_use(
    tool_name: str, tool_input: dict[str, Any], worktree: Path, deny: Sequence[str]
) -> str | None:
    """The reason to deny this tool call, or None to let it through."""
    root = Path(os.path.realpath(worktree))
    if tool_name in EDIT_TOOLS:
        return _check_edit(tool_name, tool_input.get(EDIT_TOOLS[tool_name]), root)
    if tool_name == "Bash":
        command = tool_input.get("command")
        if not isinstance(command, str):
            return "Bash without a command string"
        return _check_patterns(command, deny) or check_command(command, root)
    return None


def inside(path: Path, root: Path) -> bool:
    """True when `path` (already resolved) is `root` or below it."""
    return path == root or path.is_relative_to(root)


def resolve(raw: str, base: Path) -> Path | None:
    """`raw` resolved against `base` (symlinks and `..` too); None if it needs the shell."""
    if not raw or "$" in raw or "`" in raw or raw.startswith("~"):
        return None
    return Path(os.path.realpath(base / raw))


def _check_edit(tool_name: str, raw: object, root: Path) -> str | None:
    """Deny an edit tool whose path is missing or resolves outside the worktree."""
    if not isinstance(raw, str) or not raw.strip():
        return f"{tool_name} without a file path"
    target = Path(os.path.realpath(root / Path(raw).expanduser()))
    if not inside(target, root):
        return f"{tool_name} to {raw} is outside the worktree {root}"
    if ".git" in target.relative_to(root).parts:
        return f"{tool_name} to {raw} would change git's own files"
    return None


def _check_patterns(command: str, deny: Sequence[str]) -> str | None:
    """Deny a command matching a configured pattern (substring, or regex after `re:`)."""
    for pattern in deny:
        if pattern.startswith("re:"):
            try:
                matched = re.search(pattern[3:], command, re.IGNORECASE) is not None
            except re.error as exc:
                return f"deny pattern {pattern!r} is not a valid regex ({exc})"
        else:
            matched = bool(pattern) and pattern.lower() in command.lower()
        if matched:
            return f"command matches the deny pattern {pattern!r}"
    return None


def tokens(command: str) -> list[str]:
    """Shell-ish tokens of a command: words with quotes removed, operators on their own."""
    text = command.replace("\n", " ; ")
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes (a heredoc, say): split without quoting rules
        words = re.findall(r"[;&|()<>]+|[^\s;&|()<>]+", text)
        return [word.strip("'\"") for word in words]


def _is_operator(token: str) -> bool:
    """True for a token made only of shell operator characters."""
    return bool(token) and all(char in _OPERATOR_CHARS for char in token)


def _is_separator(word: str) -> bool:
    """True for an operator between commands (not a redirection like `>` or `2>&`)."""
    if not _is_operator(word):
        return False
    return word in _SEPARATORS or not any(char in "<>" for char in word)


def segments(words: list[str]) -> list[list[str]]:
    """Simple commands: the tokens between separators (`;`, `&&`, `|`, parentheses...)."""
    found: list[list[str]] = [[]]
    for word in words:
        if _is_separator(word):
            found.append([])
        else:
            found[-1].append(word)
    return [segment for segment in found if segment]


def _name(word: str) -> str:
    """The command a word names: `/bin/rm`, `\\rm` and a backquoted `rm` all name rm."""
    return word.lstrip("`\\'\"").rsplit("/", 1)[-1]


def check_command(command: str, root: Path, depth: int = 0) -> str | None:
    """Deny a Bash command that deletes recursively, force-pushes or leaves the worktree."""
    parts = segments(tokens(command))
    cwd = root
    for part in parts:
        reason = _check_rm(part) or _check_push(part) or _check_writes(part, cwd, root)
        if reason:
            return reason
        words = _strip_prefix(part)
        if words and _name(words[0]) in ("cd", "pushd"):
            args = [word for word in words[1:] if word == "-" or not word.startswith("-")]
            target = args[0] if args else "~"
            moved = resolve(target, cwd) if target != "-" else None
            if moved is None or not inside(moved, root):
                return f"cd to {target} leaves the worktree {root}"
            cwd = moved
    if depth < _MAX_DEPTH:
        for part in parts:
            for word in part:
                if any(char.isspace() for char in word.strip()):
                    reason = check_command(word, root, depth + 1)
                    if reason:
                        return reason
    return None


def _strip_prefix(words: list[str]) -> list[str]:
    """The words from the command name on: leading VAR=value assignments dropped."""
    index = 0
    while index < len(words) and _ASSIGNMENT.match(words[index]):
        index += 1
    return words[index:]


def _check_rm(words: list[str]) -> str | None:
    """Deny `rm` with both recursive and force flags, in any spelling or order."""
    for index, word in enumerate(words):
        if _name(word) != "rm":
            continue
        recursive = force = False
        for flag in words[index + 1:]:
            if flag == "--":
                break
            if flag.startswith("--") and len(flag) > 2:
                recursive |= "recursive".startswith(flag[2:])
                force |= "force".startswith(flag[2:])
            elif flag.startswith("-") and len(flag) > 1:
                recursive |= "r" in flag or "R" in flag
                force |= "f" in flag
        if recursive and force:
            return "rm -rf is not allowed"
    return None


def _git_subcommand(words: list[str]) -> tuple[str | None, list[str]]:
    """The subcommand after `git` (skipping global options) and its arguments."""
    index = 0
    while index < len(words):
        word = words[index]
        if word in ("-C", "-c", "--git-dir", "--work-tree", "--namespace"):
            index += 2
        elif word.startswith("-"):
            index += 1
        else:
            return word, words[index + 1:]
    return None, []


def _forces(arg: str) -> bool:
    """True for a `git push` option that forces: -f (alone or bundled), --force* or --forc."""
    if arg.startswith("--"):
        name = arg[2:].split("=", 1)[0]
        return name.startswith("force") or (len(name) >= 3 and "force".startswith(name))
    return arg.startswith("-") and "f" in arg


def _check_push(words: list[str]) -> str | None:
    """Deny `git push` with --force, -f, --force-with-lease or a +refspec."""
    for index, word in enumerate(words):
        if _name(word) != "git":
            continue
        subcommand, args = _git_subcommand(words[index + 1:])
        if subcommand != "push":
            continue
        for arg in args:
            if _forces(arg):
                return f"git push {arg} is not allowed"
            if arg.startswith("+"):
                return f"git push with a forcing refspec ({arg}) is not allowed"
    return None


def _redirect_targets(words: list[str]) -> list[str]:
    """The files a command writes through `>`, `>>`, `&>`, `>|` or `tee`."""
    targets = []
    for index, word in enumerate(words[:-1]):
        if _is_operator(word) and ">" in word:
            target = words[index + 1]
            if not (word.endswith("&") and (target.isdigit() or target == "-")):
                targets.append(target)
    for index, word in enumerate(words):
        if _name(word) == "tee":
            for arg in words[index + 1:]:
                if _is_operator(arg):
                    break
                if not arg.startswith("-"):
                    targets.append(arg)
    return targets


def _check_writes(words: list[str], cwd: Path, root: Path) -> str | None:
    """Deny a redirection or `tee` to a file outside the worktree."""
    for target in _redirect_targets(words):
        if target in _SAFE_TARGETS or target.startswith("/dev/fd/"):
            continue
        path = resolve(target, cwd)
        if path is None or not inside(path, root):
            return f"writing to {target} is outside the worktree {root}"
    return None
