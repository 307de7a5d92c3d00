"""A run's checkpoint: the finished tasks' results, one JSON line each, behind a header naming the run.

A study of many independent tasks (a sweep) that is interrupted keeps what it finished here, and a later
run of the *same* study reads it back and runs only the rest. The file is JSON Lines:

* line 1, the header: ``{"schema": "gradscope.checkpoint/1", "identity": {...}}``, where ``identity``
  is everything that decides the results (for a sweep, :meth:`~gradscope.studies.SweepSpec.identity`);
* then one line per finished task: ``{"key": TASK_KEY, "row": {...}}``.

The header is written atomically (:func:`~gradscope.files.output.write_text_atomic`); each finished chunk's
lines are appended with one ``write`` and flushed to disk, so a run killed at any moment leaves at worst
one incomplete last line, which a resume drops (and rewrites the file without it). Only a regular file is
read or appended to (never a symlink, FIFO or device), and a checkpoint of another run is refused, naming
the first setting that differs.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gradscope.errors import ConfigError
from gradscope.files.arrays import FileError
from gradscope.files.output import check_output_path, write_text_atomic

#: The checkpoint file's schema (its first line).
JOURNAL_SCHEMA = "gradscope.checkpoint/1"


def _line(record: Mapping[str, Any]) -> str:
    # NaN and infinities may occur in kept profiles; Python's json reads back what it writes.
    return json.dumps(record, separators=(",", ":")) + "\n"


def _first_difference(theirs: Any, ours: Any, where: str = "") -> str:
    """The first place two JSON values differ, as ``"samples: 3 there, 4 here"``."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in [*ours, *(k for k in theirs if k not in ours)]:
            if theirs.get(key, "<absent>") != ours.get(key, "<absent>"):
                return _first_difference(theirs.get(key, "<absent>"), ours.get(key, "<absent>"), f"{where}{key}.")
    return f"{where.rstrip('.') or 'identity'}: {json.dumps(theirs)} there, {json.dumps(ours)} here"


def _open_regular(path: Path) -> int:
    """A descriptor appending to the regular file ``path`` (not followed if a symlink)."""
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise FileError(f"{path}: cannot append to the checkpoint ({error.strerror or error})") from error
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise FileError(f"{path}: the checkpoint is not a regular file")
    return descriptor


class TaskJournal:
    """An open checkpoint: :meth:`append` finished tasks, :meth:`remove` it when the run is complete.

    Make it with :meth:`start` (a new run) or :meth:`resume` (continue the run it holds).
    """

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor
        self.appended = 0

    @classmethod
    def start(cls, path: Path | str, identity: Mapping[str, Any]) -> TaskJournal:
        """A new checkpoint at ``path`` holding ``identity``; an existing one is refused (it holds finished work)."""
        path = check_output_path(path)
        if os.path.lexists(path):
            raise FileError(
                f"{path}: a checkpoint of an interrupted run is there; give --resume to continue it, or remove it"
            )
        write_text_atomic(path, _line({"schema": JOURNAL_SCHEMA, "identity": dict(identity)}))
        return cls(path, _open_regular(path))

    @classmethod
    def resume(cls, path: Path | str, identity: Mapping[str, Any]) -> tuple[TaskJournal, dict[str, dict[str, Any]]]:
        """The checkpoint at ``path`` reopened, and the rows it holds by task key (a new one if there is none).

        Raises:
            FileError: not a regular file, or lines that are not a checkpoint's (the message names the line).
            ConfigError: the checkpoint of another run (the message names the first setting that differs).
        """
        path = check_output_path(path)
        if not os.path.lexists(path):
            return cls.start(path, identity), {}
        rows = read_journal(path, identity)
        # Rewritten without a torn last line, so that appending continues on a line of its own.
        text = _line({"schema": JOURNAL_SCHEMA, "identity": dict(identity)})
        text += "".join(_line({"key": key, "row": row}) for key, row in rows.items())
        write_text_atomic(path, text)
        return cls(path, _open_regular(path)), rows

    def append(self, pairs: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Add finished tasks' ``(key, row)`` pairs: one write, flushed to disk before returning."""
        if self._descriptor is None or not pairs:
            return
        data = "".join(_line({"key": key, "row": dict(row)}) for key, row in pairs).encode("utf-8")
        try:
            written = 0
            while written < len(data):
                written += os.write(self._descriptor, data[written:])
            os.fsync(self._descriptor)
        except OSError as error:
            raise FileError(f"{self.path}: cannot append to the checkpoint ({error.strerror or error})") from error
        self.appended += len(pairs)

    def close(self) -> None:
        """Close the file and keep it (an interrupted run: a later one resumes from it)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def remove(self) -> None:
        """Close and delete the checkpoint (the run is complete, or nothing in it is worth keeping)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def read_journal(path: Path, identity: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows by task key of the checkpoint at ``path``, which must hold ``identity``; a torn last line is dropped."""
    try:
        info = os.lstat(path)
    except OSError as error:
        raise FileError(f"{path}: cannot read the checkpoint ({error.strerror or error})") from error
    if not stat.S_ISREG(info.st_mode):
        raise FileError(f"{path}: the checkpoint is not a regular file")
    try:
        with open(path, "rb") as handle:
            lines = handle.read().split(b"\n")
    except OSError as error:
        raise FileError(f"{path}: cannot read the checkpoint ({error.strerror or error})") from error
    complete = lines[:-1]  # any text after the last newline is a write cut short: dropped
    records = []
    for number, raw in enumerate(complete, start=1):
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise FileError(f"{path}: line {number}: not a checkpoint line ({error})") from None
        if not isinstance(record, dict):
            raise FileError(f"{path}: line {number}: not a checkpoint line (a JSON object expected)")
        records.append(record)
    if not records or records[0].get("schema") != JOURNAL_SCHEMA or not isinstance(records[0].get("identity"), dict):
        raise FileError(f"{path}: not a gradscope checkpoint (its first line must be a {JOURNAL_SCHEMA} header)")
    ours = json.loads(json.dumps(dict(identity)))
    if records[0]["identity"] != ours:
        difference = _first_difference(records[0]["identity"], ours)
        raise ConfigError(f"{path}: the checkpoint of another run ({difference}); remove it to start afresh")
    rows: dict[str, dict[str, Any]] = {}
    for number, record in enumerate(records[1:], start=2):
        key, row = record.get("key"), record.get("row")
        if set(record) != {"key", "row"} or not isinstance(key, str) or not isinstance(row, dict):
            raise FileError(f"{path}: line {number}: not a checkpoint line (keys 'key' and 'row' expected)")
        rows.setdefault(key, row)
    return rows
