"""``gradscope sweep`` when tasks fail, when it is killed, when it resumes, when the scheduler is away.

Second sources: the rows of a resumed run are compared with those of an uninterrupted run of the same
command (the JSON documents, every number exactly); failed rows with ``run_sweep``'s own serial run;
left-over processes are looked up in ``/proc`` by process group, not asked of gradscope.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_bad_input
from cli_helpers import invoke as invoke_80

from gradscope.cli.sweep_run import CHECKPOINT_SUFFIX
from gradscope.files.task_journal import TaskJournal
from gradscope.studies.axes import parse_axes
from gradscope.studies.executors import SerialExecutor
from gradscope.studies.sweeps import SweepSpec, run_sweep

TINY = ["--hidden-size", "4", "--input-size", "2", "--steps", "12"]
DIVERGING = ["sweep", "--cell", "rnn_relu", "--vary", "gain=1,1e200", "--samples", "2", *TINY]


def invoke(*args: str) -> Any:
    return invoke_80(*args, env={"COLUMNS": "100"})


def test_failed_tasks_are_rows_with_their_error_and_the_exit_status_is_3(serial: None, tmp_path: Path) -> None:
    out_json, out_csv = tmp_path / "s.json", tmp_path / "s.csv"
    result = invoke(*DIVERGING, "--json", str(out_json), "--csv", str(out_csv))
    assert result.exit_code == 3, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last == "gradscope: warning: 2 of 4 tasks failed (their rows hold the error)"
    assert "Warning:" not in result.stderr and "Traceback" not in result.output
    assert "gain 1e+200, sample 0: rnn-relu: the forward pass overflows at step" in result.stdout
    spec = SweepSpec.create("rnn_relu", parse_axes(["gain=1,1e200"]), samples=2, hidden_size=4, input_size=2, steps=12)
    direct = run_sweep(spec, executor=SerialExecutor())
    assert json.loads(out_json.read_text()) == json.loads(json.dumps(direct.to_dict()))
    assert out_csv.read_text() == direct.to_csv()
    assert not Path(f"{out_json}{CHECKPOINT_SUFFIX}").exists()
    quiet = invoke(*DIVERGING, "-q")
    assert quiet.exit_code == 3 and quiet.stdout.strip().endswith("2 vanishing, 2 failed")


def test_resume_runs_only_what_the_checkpoint_lacks(serial: None, tmp_path: Path) -> None:
    vary = ["--vary", "gain=0.5,1.5", "--samples", "3"]
    complete = invoke("sweep", "--cell", "gru", *vary, *TINY, "--json", "-")
    assert complete.exit_code == 0, complete.stderr
    # A checkpoint holding the first three tasks, as an interrupted run leaves it; its rows are marked so that
    # the resumed document shows they were taken from the checkpoint, not run again.
    spec = SweepSpec.create("gru", parse_axes(["gain=0.5,1.5"]), samples=3, hidden_size=4, input_size=2, steps=12)
    rows = json.loads(complete.stdout)["rows"]
    out = tmp_path / "g.json"
    journal = TaskJournal.start(Path(f"{out}{CHECKPOINT_SUFFIX}"), spec.identity())
    journal.append([(task.key, row) for task, row in zip(spec.tasks()[:3], rows[:3], strict=True)])
    journal.close()
    resumed = invoke("sweep", "--cell", "gru", *vary, *TINY, "--json", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(out.read_text()) == json.loads(complete.stdout)
    assert not Path(f"{out}{CHECKPOINT_SUFFIX}").exists()  # removed once the outputs are written


def test_checkpoints_that_do_not_fit_exit_2_and_stay_untouched(serial: None, tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    kept = Path(f"{out}{CHECKPOINT_SUFFIX}")
    other = SweepSpec.create("rnn_relu", parse_axes(["gain=1,1e200"]), samples=3, hidden_size=4, input_size=2, steps=12)
    TaskJournal.start(kept, other.identity()).close()
    before = kept.read_bytes()
    assert_bad_input(invoke(*DIVERGING, "--json", str(out)), str(kept), "give --resume to continue it")
    assert_bad_input(invoke(*DIVERGING, "--json", str(out), "--resume"), "checkpoint of another run", "samples: 3")
    assert kept.read_bytes() == before and not out.exists()
    assert_bad_input(invoke(*DIVERGING, "--resume"), "--resume needs the checkpoint")
    assert_bad_input(invoke(*DIVERGING, "--json", str(out), "--checkpoint", str(out)), "is also an output")


@pytest.mark.parametrize("resume", [False, True])
def test_an_interruption_as_the_checkpoint_is_opened_is_reported_and_leaves_no_empty_one(
    serial: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resume: bool
) -> None:
    # A Ctrl-C the moment the checkpoint appears (what the killed-at-random test below does at 0 tasks) waits
    # until it is open, then stops the run like any other: one line, exit 130, no empty checkpoint left.
    out = tmp_path / "s.json"
    kept = Path(f"{out}{CHECKPOINT_SUFFIX}")
    name = "resume" if resume else "start"
    opened = getattr(TaskJournal, name).__func__

    def then_interrupted(cls: type, *args: Any) -> Any:
        journal = opened(cls, *args)
        signal.raise_signal(signal.SIGINT)
        return journal

    if resume:
        spec = SweepSpec.create(
            "rnn_relu", parse_axes(["gain=1,1e200"]), samples=2, hidden_size=4, input_size=2, steps=12
        )
        TaskJournal.start(kept, spec.identity()).close()
    monkeypatch.setattr(TaskJournal, name, classmethod(then_interrupted))
    result = invoke(*DIVERGING, "--json", str(out), *(["--resume"] if resume else []))
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().splitlines() == ["gradscope: stopped: interrupted: 0 of 4 tasks finished"]
    assert list(tmp_path.iterdir()) == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_exits_2_in_bounded_time_naming_it(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{closed_port()}"
    out = tmp_path / "s.json"
    start = time.monotonic()
    result = invoke(*DIVERGING, "--scheduler", address, "--scheduler-timeout", "1", "--json", str(out))
    assert time.monotonic() - start < 15.0
    assert_bad_input(result, f"--scheduler '{address}': cannot reach a Dask scheduler within 1 s")
    assert list(tmp_path.iterdir()) == []  # neither output nor checkpoint


# ----------------------------------------------------------------------------------------------
# Killed for real: a subprocess, two worker processes, signals at random points
# ----------------------------------------------------------------------------------------------

#: 64 tasks in 8 chunks of 8 over two spawned workers.
KILLED = [
    *("sweep", "--cell", "lstm", "--vary", "gain=0.5:2:8", "--samples", "8"),
    *("--hidden-size", "8", "--input-size", "3", "--steps", "20", "--workers", "2", "-q"),
]


def gradscope(*args: str, cwd: Path, **kwargs: Any) -> subprocess.Popen:
    env = os.environ | {"LANGUAGE": "en", "GRADSCOPE_DEBUG": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "gradscope", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the workers are found (and signalled) by it
        **kwargs,
    )


def group_members(group: int) -> list[int]:
    """Live (not zombie) processes of process group ``group``, read from ``/proc``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def rows_kept(path: Path) -> int:
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("uninterrupted")
    process = gradscope(*KILLED, "--json", "s.json", cwd=folder)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads((folder / "s.json").read_text())


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL", "SIGINT to the group"])
def test_killed_at_a_random_point_then_resumed_gives_the_rows_of_one_run(
    uninterrupted: dict, tmp_path: Path, how: str
) -> None:
    # A new point each run (it is in every failure's message): the rows must not depend on where the kill came.
    after = random.randrange(8) * 8  # kill once this many tasks are kept (0: before any finished)
    kept = tmp_path / f"s.json{CHECKPOINT_SUFFIX}"
    process = gradscope(*KILLED, "--json", "s.json", cwd=tmp_path)
    deadline = time.monotonic() + 60

    def reached() -> bool:  # at 0: as soon as the checkpoint is there, before any task finished (mostly)
        return rows_kept(kept) >= after if after else kept.exists()

    while process.poll() is None and not reached() and time.monotonic() < deadline:
        time.sleep(0.002)
    if how == "SIGTERM":
        os.kill(process.pid, signal.SIGTERM)
    elif how == "SIGKILL":
        os.kill(process.pid, signal.SIGKILL)
    else:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = process.communicate(timeout=60)
    at = f"{how} after {after} tasks: {err}"
    deadline = time.monotonic() + 10  # orphaned workers notice within a fraction of a second
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(process.pid) == [], at
    if process.returncode != 0:  # else the run had finished before the signal came
        assert process.returncode == {"SIGTERM": 143, "SIGKILL": -9, "SIGINT to the group": 130}[how], at
        assert not (tmp_path / "s.json").exists(), at  # nothing half-written
        if how != "SIGKILL":
            (line,) = err.strip().splitlines()
            assert line.startswith("gradscope: stopped: interrupted: ") and "of 64 tasks finished" in line, at
            assert ("--resume" in line) == kept.exists(), at
            assert f"interrupted: {rows_kept(kept)} of 64 tasks finished" in line, at  # the count it holds
    resumed = gradscope(*KILLED, "--json", "s.json", "--resume", cwd=tmp_path)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, f"{at}; resumed: {err}"
    assert json.loads((tmp_path / "s.json").read_text()) == uninterrupted, at
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"], at
