"""The checkpoint of finished tasks: what is appended is read back, a torn last line is dropped, a checkpoint of
another run is refused naming the difference, and only regular files are read (symlinks, FIFOs, folders refused)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gradscope.errors import ConfigError
from gradscope.files.arrays import FileError
from gradscope.files.task_journal import JOURNAL_SCHEMA, TaskJournal, read_journal

IDENTITY = {"cell": "lstm", "samples": 3, "vary": [{"name": "gain", "values": [0.5, 1.0]}]}
ROWS = [
    ("a", {"gain": 0.5, "rate_per_step": -0.123456789012345, "error": None, "log10_norm": [0.1, float("nan")]}),
    ("b", {"gain": 1.0, "rate_per_step": None, "error": "FloatingPointError: non-finite", "log10_norm": []}),
    ("c", {"gain": 1.0, "rate_per_step": 1e-300, "error": None, "log10_norm": [float("-inf")]}),
]


def same(a: object, b: object) -> bool:
    """Equality that counts NaN equal to NaN (kept profiles of failed tasks are NaN): compared as JSON text."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_appended_rows_are_read_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "run.partial.jsonl"
    journal = TaskJournal.start(path, IDENTITY)
    journal.append(ROWS[:2])
    journal.append(ROWS[2:])
    journal.close()
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"schema": JOURNAL_SCHEMA, "identity": IDENTITY}
    assert len(lines) == 4
    reopened, rows = TaskJournal.resume(path, IDENTITY)
    reopened.close()
    assert list(rows) == ["a", "b", "c"]
    assert same(rows, dict(ROWS))
    assert rows["a"]["rate_per_step"] == -0.123456789012345  # floats survive to the last bit


def test_a_torn_last_line_is_dropped_and_appending_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    journal = TaskJournal.start(path, IDENTITY)
    journal.append(ROWS[:1])
    journal.close()
    with open(path, "a") as handle:
        handle.write('{"key": "b", "row": {"gain": 1')  # a run killed in the middle of a write
    journal, rows = TaskJournal.resume(path, IDENTITY)
    assert list(rows) == ["a"]
    journal.append(ROWS[1:])
    journal.remove()
    assert not path.exists()


def test_a_resume_without_a_checkpoint_starts_one(tmp_path: Path) -> None:
    journal, rows = TaskJournal.resume(tmp_path / "new.jsonl", IDENTITY)
    journal.close()
    assert rows == {} and read_journal(tmp_path / "new.jsonl", IDENTITY) == {}


def test_a_checkpoint_of_another_run_is_refused_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    TaskJournal.start(path, IDENTITY).close()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"cp.jsonl: the checkpoint of another run \(samples: 3 there, 4 here\)"):
        TaskJournal.resume(path, IDENTITY | {"samples": 4})
    with pytest.raises(ConfigError, match=r"vary: .*0\.5, 1\.0.* there, .*0\.5, 2\.0.* here"):
        TaskJournal.resume(path, IDENTITY | {"vary": [{"name": "gain", "values": [0.5, 2.0]}]})
    assert path.read_bytes() == before


def test_starting_over_an_existing_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    journal = TaskJournal.start(path, IDENTITY)
    journal.append(ROWS[:1])
    journal.close()
    before = path.read_bytes()
    with pytest.raises(FileError, match="give --resume to continue it"):
        TaskJournal.start(path, IDENTITY)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a gradscope checkpoint"),
        ('{"schema": "something/1"}\n', "not a gradscope checkpoint"),
        (f'{{"schema": "{JOURNAL_SCHEMA}", "identity": {{}}}}\nnot json\n', "line 2: not a checkpoint line"),
        (f'{{"schema": "{JOURNAL_SCHEMA}", "identity": {{}}}}\n[1]\n', "line 2: not a checkpoint line"),
        (f'{{"schema": "{JOURNAL_SCHEMA}", "identity": {{}}}}\n{{"key": 1, "row": {{}}}}\n', "line 2"),
        ("\xff\n", "line 1: not a checkpoint line"),
    ],
)
def test_files_that_are_not_checkpoints_are_refused_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cp.jsonl"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(FileError, match=message):
        read_journal(path, {})


def test_symlinks_fifos_and_folders_are_never_read_or_written(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    TaskJournal.start(real, IDENTITY).close()
    before = real.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    with pytest.raises(FileError, match=r"link\.jsonl: .*not a regular file"):
        TaskJournal.resume(link, IDENTITY)
    with pytest.raises(FileError, match=r"link\.jsonl: .*(checkpoint|not a regular file)"):
        TaskJournal.start(link, IDENTITY)
    assert real.read_bytes() == before and link.is_symlink()
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(FileError, match=r"fifo\.jsonl: .*not a regular file"):
        TaskJournal.resume(fifo, IDENTITY)  # refused without opening it (which would block)
    with pytest.raises(FileError, match="is a directory"):
        TaskJournal.start(tmp_path, IDENTITY)
