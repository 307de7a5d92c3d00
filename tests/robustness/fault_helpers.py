"""The fault-injection contract, shared by every case of ``tests/robustness``.

A hostile or broken input must give exit code 2, one ``gradscope: error:`` line on stderr naming the culprit,
no traceback, no warning (numpy's included: every warning raised in-process is recorded and none may be),
nothing on stdout, and no change at all in the case's folder: every entry's kind, link target and content
checksum are compared before and after (so no output, partial file or temporary may appear, and no input
may be touched). Each clean case is counted by kind; ``tests/conftest.py`` prints the counts after the run.
"""

from __future__ import annotations

import collections
import hashlib
import os
import stat
import warnings
from pathlib import Path
from typing import Any

from cli_helpers import ENV, invoke

#: Clean cases per kind, filled by :func:`expect_refused` and friends, printed by ``tests/conftest.py``.
CASES: collections.Counter[str] = collections.Counter()

#: A small budget for every case unless it sets its own: nothing generated may take real memory.
SMALL_BUDGET = {"GRADSCOPE_MEMORY_BUDGET": "256M"}


def snapshot(folder: Path) -> dict[str, tuple[str, str]]:
    """Every entry under ``folder`` (links not followed): relative path -> (kind, sha256 / link target / '')."""
    tree: dict[str, tuple[str, str]] = {}
    for root, directories, names in os.walk(folder, followlinks=False):
        for name in [*directories, *names]:
            path = Path(root, name)
            mode = os.lstat(path).st_mode
            key = str(path.relative_to(folder))
            if stat.S_ISLNK(mode):
                tree[key] = ("link", os.readlink(path))
            elif stat.S_ISREG(mode):
                tree[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            elif stat.S_ISDIR(mode):
                tree[key] = ("dir", "")
            else:
                tree[key] = (f"special {stat.S_IFMT(mode):o}", "")
    return tree


def run(folder: Path, *args: str, env: dict[str, str | None] | None = None) -> tuple[Any, list[str]]:
    """``gradscope ARGS`` in-process with ``folder`` as the current directory; the result and the text of every
    warning raised meanwhile (recorded, so that pytest's own capture cannot hide one)."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = invoke(*args, env=SMALL_BUDGET | (env or {}))
    finally:
        os.chdir(previous)
    return result, [f"{w.category.__name__}: {w.message}" for w in caught]


def assert_clean_output(result: Any, caught: list[str], lines: int = 1) -> list[str]:
    """No traceback, no warning of any kind, no internal error; the stderr lines."""
    assert "Traceback" not in result.output, result.output
    assert "internal error" not in result.output, result.output
    assert not caught, caught
    for word in ("RuntimeWarning", "Warning:", "overflow encountered", "invalid value encountered"):
        assert word not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.stderr.strip().splitlines()


def expect_refused(
    kind: str,
    folder: Path,
    *args: str,
    culprit: str | tuple[str, ...] = (),
    env: dict[str, str | None] | None = None,
    lines: int | tuple[int, ...] = 1,
) -> str:
    """Run a case that must be refused: exit 2, ``lines`` stderr lines (1, or a formula's 3 with its caret),
    the first naming every ``culprit``, nothing on stdout, the folder unchanged. Returns the message."""
    before = snapshot(folder)
    result, caught = run(folder, *args, env=env)
    assert result.exit_code == 2, (args, result.exit_code, result.output)
    messages = assert_clean_output(result, caught)
    assert len(messages) in ((lines,) if isinstance(lines, int) else lines), messages
    assert messages[0].startswith("gradscope: error: "), messages
    for fragment in (culprit,) if isinstance(culprit, str) else culprit:
        assert fragment in messages[0], (fragment, messages[0])
    assert result.stdout == "", result.stdout
    assert snapshot(folder) == before, "the folder changed"
    CASES[kind] += 1
    return messages[0].removeprefix("gradscope: error: ")


def expect_usage_error(kind: str, folder: Path, *args: str, option: str) -> None:
    """A value the option parser itself refuses: exit 2, its usage box naming ``option``, no traceback, nothing
    written (click's own format, several lines: the one place the message is not ours)."""
    before = snapshot(folder)
    result, caught = run(folder, *args)
    assert result.exit_code == 2, (args, result.output)
    assert_clean_output(result, caught)
    assert option in result.stderr, result.stderr
    assert snapshot(folder) == before
    CASES[kind] += 1


def expect_clean(kind: str, folder: Path, *args: str, env: dict[str, str | None] | None = None) -> Any:
    """A generated case that may be valid: exit 0, or a clean refusal (exit 2, one line, folder unchanged)."""
    before = snapshot(folder)
    result, caught = run(folder, *args, env=env)
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
    messages = assert_clean_output(result, caught)
    if result.exit_code == 2:
        assert len(messages) == 1 and messages[0].startswith("gradscope: error: "), messages
        assert snapshot(folder) == before
    CASES[kind] += 1
    return result


__all__ = ["CASES", "ENV", "expect_clean", "expect_refused", "expect_usage_error", "run", "snapshot"]
