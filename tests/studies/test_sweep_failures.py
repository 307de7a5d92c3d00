"""Sweeps that do not simply run through: failed tasks, resumed runs, interrupted workers, unreachable schedulers.

Second sources: a failed row's error is the exception ``gradscope.analyze`` raises for the same task, and its
neighbours equal ``gradscope.analyze`` run directly; a resumed sweep's document equals an uninterrupted
serial run's (every float to the last bit); processes are looked up in ``/proc``, not in the executor.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from row_checks import assert_number

import gradscope
from gradscope.errors import ConfigError
from gradscope.studies.axes import parse_axes
from gradscope.studies.executors import DaskExecutor, LocalExecutor, SerialExecutor
from gradscope.studies.sweeps import SweepSpec, error_message, run_sweep

TINY = {"hidden_size": 4, "input_size": 2, "steps": 12}
#: A ReLU RNN whose weights are scaled by 1e200 overflows float64 in its first steps.
DIVERGING = SweepSpec.create("rnn_relu", parse_axes(["gain=1,1e200"]), samples=2, **TINY)


def test_a_diverging_grid_point_is_a_row_with_the_engines_error_and_the_rest_finish() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warning reaches the user either
        result = run_sweep(DIVERGING, executor=SerialExecutor())
    assert result.failed == 2 and [row["gain"] for row in result.failures] == [1e200, 1e200]
    for row in result.rows:
        kwargs = dict(TINY, seed=row["seed"], gain=row["gain"])
        if row["gain"] == 1e200:
            with pytest.raises(Exception) as raised, np.errstate(all="ignore"):
                gradscope.analyze("rnn_relu", **kwargs)
            assert row["error"] == error_message(raised.value)
            assert "the forward pass overflows at step" in row["error"]
            assert [row[c] for c in ("rate_per_step", "efolding_lag", "verdict", "final_log10_norm")] == [None] * 4
        else:
            direct = gradscope.analyze("rnn_relu", **kwargs)
            assert row["error"] is None
            assert_number(row["rate_per_step"], direct.rate_per_step, batched=True)  # batched: to 1e-12
            assert_number(row["final_log10_norm"], direct.final_log10_norm, batched=True)
    document = json.loads(json.dumps(result.to_dict()))
    assert document["columns"][-1] == "error"
    assert [r["error"] is None for r in document["rows"]] == [True, True, False, False]


def test_failed_rows_keep_a_nan_profile_and_the_report_columns_stay_numbers() -> None:
    spec = SweepSpec.create("rnn_relu", parse_axes(["gain=1,1e200"]), keep_profiles=True, **TINY)
    result = run_sweep(spec, executor=SerialExecutor())
    assert result.profiles is not None and result.profiles.shape == (2, TINY["steps"])
    assert np.all(np.isfinite(result.profiles[0])) and np.all(np.isnan(result.profiles[1]))
    assert np.isnan(result.column("rate_per_step")[1])


PROFILED = SweepSpec.create("gru", parse_axes(["gain=0.5,1.5,3"]), samples=3, keep_profiles=True, **TINY)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resuming_from_any_split_gives_the_rows_of_one_run(seed: int) -> None:
    reference = run_sweep(PROFILED, executor=SerialExecutor())
    assert reference.profiles is not None
    tasks = PROFILED.tasks()
    chosen = np.random.default_rng(seed).random(len(tasks)) < 0.5  # the tasks an interrupted run finished
    # What a checkpoint gives back: rows with their profile, through JSON.
    finished = {
        task.key: json.loads(json.dumps(dict(row) | {"log10_norm": profile.tolist()}))
        for task, row, profile, keep in zip(tasks, reference.rows, reference.profiles, chosen, strict=True)
        if keep
    }
    recorded: list[str] = []
    resumed = run_sweep(
        PROFILED,
        executor=SerialExecutor(chunk_size=2),
        finished=finished,
        record=lambda pairs: recorded.extend(key for key, _ in pairs),
    )
    assert resumed.to_dict() == reference.to_dict()
    np.testing.assert_array_equal(resumed.profiles, reference.profiles)
    assert sorted(recorded) == sorted(t.key for t, keep in zip(tasks, chosen, strict=True) if not keep)


def test_finished_rows_of_another_sweep_are_refused() -> None:
    reference = run_sweep(DIVERGING, executor=SerialExecutor())
    first = DIVERGING.tasks()[0]
    with pytest.raises(ConfigError, match="does not have: nonsense"):
        run_sweep(DIVERGING, executor=SerialExecutor(), finished={"nonsense": dict(reference.rows[0])})
    with pytest.raises(ConfigError, match="other values, sample or seed"):
        run_sweep(DIVERGING, executor=SerialExecutor(), finished={first.key: dict(reference.rows[1])})
    with pytest.raises(ConfigError, match="columns"):
        run_sweep(DIVERGING, executor=SerialExecutor(), finished={first.key: {"gain": 1.0}})


def worker_pid_or_sleep(items: list[float]) -> list[int]:
    """The first chunk answers at once with its worker's pid; the others sleep far longer than the test runs."""
    if items[0] > 0:
        time.sleep(60.0)
    return [os.getpid()] * len(items)


def spawned_workers() -> set[int]:
    """Live ``multiprocessing`` spawn workers whose parent is this process (read from ``/proc``)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_an_interruption_kills_the_local_workers_at_once() -> None:
    before = spawned_workers()
    seen: list[int] = []

    def interrupt(chunk: list[float], results: list[int]) -> None:
        seen.extend(results)
        raise KeyboardInterrupt  # what Ctrl-C raises in the main thread while it waits for chunks

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        LocalExecutor(workers=2, chunk_size=1).map(worker_pid_or_sleep, [0.0, 1.0, 2.0, 3.0], collect=interrupt)
    assert time.monotonic() - start < 30.0  # not the 60 s a sleeping worker would take to finish
    assert seen and seen[0] not in before
    assert spawned_workers() - before == set()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_fails_in_bounded_time_naming_it() -> None:
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(ConfigError, match=f"--scheduler '{address}': cannot reach a Dask scheduler within 1 s"):
        DaskExecutor(address, timeout=1.0).map(worker_pid_or_sleep, [0.0])
    assert time.monotonic() - start < 10.0
    with pytest.raises(ConfigError, match="'nonsense://x'"):
        DaskExecutor("nonsense://x", timeout=1.0).map(worker_pid_or_sleep, [0.0])


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf"), float("nan"), True, "5"])
def test_the_scheduler_timeout_must_be_a_positive_finite_number(timeout: object) -> None:
    with pytest.raises(ConfigError, match="timeout"):
        DaskExecutor("tcp://127.0.0.1:1", timeout=timeout)  # type: ignore[arg-type]
