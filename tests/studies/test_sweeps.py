"""Sweeps: axis parsing, the task grid and its seeds, rows against independent runs, JSON and CSV.

Every row is checked against a second computation of the same configuration: ``gradscope.analyze``
called directly (with ``forget_bias`` and ``t_max`` for forget-gate biases and chrono), and
:func:`gradscope.analysis.lyapunov_spectrum.lyapunov` for the Lyapunov columns. Executors are compared in
``test_executors.py``; here everything runs in this process.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json

import numpy as np
import pytest
from row_checks import NUMBER_COLUMNS, analysis_row, assert_number, assert_row, is_batched

import gradscope
from gradscope.analysis.lyapunov_spectrum import lyapunov
from gradscope.analysis.problem import make_problem
from gradscope.analysis.summary import Thresholds
from gradscope.analysis.theory import tanh_rnn_mean_field_rate
from gradscope.errors import ConfigError
from gradscope.studies import SweepResult
from gradscope.studies.axes import SWEEP_SCHEMA, Axis, parse_axes, parse_axis, task_seed
from gradscope.studies.executors import SerialExecutor
from gradscope.studies.sweeps import SweepSpec, SweepTask, run_sweep, run_task, task_problem

SMALL = {"hidden_size": 6, "input_size": 3, "steps": 30}


def serial(spec: SweepSpec) -> SweepResult:
    return run_sweep(spec, executor=SerialExecutor())


# ----------------------------------------------------------------------------------------------
# Axes
# ----------------------------------------------------------------------------------------------


def test_linear_log_and_list_axes() -> None:
    assert parse_axis("gain=0.5:2:4") == Axis("gain", (0.5, 1.0, 1.5, 2.0))
    assert parse_axis("gain=1:1:1").values == (1.0,)
    log = parse_axis("input-scale=0.1:10:3:log")
    assert log.name == "input_scale"
    np.testing.assert_allclose(log.values, [0.1, 1.0, 10.0], rtol=1e-12)
    assert parse_axis("hidden_size=16:64:4") == Axis("hidden_size", (16, 32, 48, 64))
    assert parse_axis("steps=10:20:4").values == (10, 13, 17, 20)  # rounded to integers
    assert parse_axis("init=pytorch,orthogonal") == Axis("init", ("pytorch", "orthogonal"))
    assert parse_axis("forget-bias=chrono,0,1.5") == Axis("forget_bias", ("chrono", 0.0, 1.5))
    assert parse_axis(" GAIN = 2 ").values == (2.0,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("temperature=1:2:3", "cannot sweep 'temperature'.*gain"),
        ("gain", "NAME=START:STOP:COUNT"),
        ("gain=1:2", "START:STOP:COUNT"),
        ("gain=1:2:zero", "COUNT"),
        ("gain=1:2:0", "COUNT"),
        ("gain=-1:2:3", ">= 0"),
        ("gain=a,b", "not a number"),
        ("gain=1:nan:3", "finite"),
        ("init=1:2:3", "categorical"),
        ("init=pytorch,he", "unknown init 'he'"),
        ("hidden_size=1:2:5", "repeated"),
        ("hidden_size=0:4:3", ">= 1"),
        ("gain=0:1:3:log", "log-spaced"),
        ("forget_bias=chrono,chrono", "repeated"),
    ],
)
def test_bad_axes_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_axis(text)


def test_spec_validation() -> None:
    with pytest.raises(ConfigError, match="repeated: gain"):
        parse_axes(["gain=1,2", "gain=3"])
    with pytest.raises(ConfigError, match="LSTM only"):
        SweepSpec.create("gru", parse_axes(["forget_bias=0,1"]))
    with pytest.raises(ConfigError, match="LSTM only"):
        SweepSpec.create("rnn", parse_axes(["gain=1,2"]), forget_bias=1.0)
    with pytest.raises(ConfigError, match="at least one axis"):
        SweepSpec.create("rnn", ())
    with pytest.raises(ConfigError, match="samples"):
        SweepSpec.create("rnn", parse_axes(["gain=1"]), samples=0)
    with pytest.raises(gradscope.UnknownCellError, match="unknown cell"):
        SweepSpec.create("rnm", parse_axes(["gain=1"]))
    with pytest.raises(ConfigError, match="norm"):
        SweepSpec.create("rnn", parse_axes(["gain=1"]), norm="nuclear")
    with pytest.raises(ConfigError, match="transient"):
        SweepSpec.create("rnn", parse_axes(["gain=1"]), steps=10, exponents=1, transient=10)
    # Axes built by hand are checked and canonicalised like parsed ones.
    spec = SweepSpec.create("LSTM", (Axis("forget-bias", (1, "chrono")),))
    assert spec.cell_name == "lstm" and spec.axes == (Axis("forget_bias", (1.0, "chrono")),)


# ----------------------------------------------------------------------------------------------
# Tasks and seeds
# ----------------------------------------------------------------------------------------------


def test_task_grid_order_and_seeds() -> None:
    spec = SweepSpec.create("rnn", parse_axes(["gain=1,2,3", "init=pytorch,gaussian"]), samples=2, seed=5)
    tasks = spec.tasks()
    assert len(tasks) == 3 * 2 * 2
    assert [t.index for t in tasks] == list(range(12))
    assert [dict(t.values) for t in tasks[:4:2]] == [
        {"gain": 1.0, "init": "pytorch"},
        {"gain": 1.0, "init": "gaussian"},
    ]
    assert [t.sample for t in tasks[:4]] == [0, 1, 0, 1]
    assert len({t.seed for t in tasks}) == 12
    # The documented hash, recomputed here: SHA-256 of the base seed, the values sorted by name and
    # the sample; the first 8 bytes big-endian, shifted right by 11 (53 bits).
    task = tasks[7]
    key = f"{SWEEP_SCHEMA};seed=5;gain={float(dict(task.values)['gain'])!r};init={dict(task.values)['init']};sample=1"
    assert task.seed == int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 11
    assert 0 <= task.seed < 2**53
    # Independent of the order of the axes and of the other grid points.
    swapped = SweepSpec.create("rnn", parse_axes(["init=gaussian,pytorch", "gain=3,2,1"]), samples=2, seed=5)
    by_key = {(dict(t.values)["gain"], dict(t.values)["init"], t.sample): t.seed for t in swapped.tasks()}
    assert all(by_key[(dict(t.values)["gain"], dict(t.values)["init"], t.sample)] == t.seed for t in tasks)
    # A different base seed gives different seeds; the integer 2 and the float 2.0 are the same value.
    assert task_seed(6, {"gain": 2.0}, 0) != task_seed(5, {"gain": 2.0}, 0)
    assert task_seed(5, {"gain": 2}, 0) == task_seed(5, {"gain": 2.0}, 0)


# ----------------------------------------------------------------------------------------------
# Rows against independent runs
# ----------------------------------------------------------------------------------------------


def test_rows_equal_analyze_with_the_task_seed() -> None:
    spec = SweepSpec.create("gru", parse_axes(["gain=0.5,2", "init=gaussian,orthogonal"]), samples=2, **SMALL)
    result = serial(spec)
    assert len(result.rows) == 8
    for row in result.rows:
        direct = gradscope.analyze(
            "gru", seed=row["seed"], init=row["init"], gain=row["gain"], **SMALL, thresholds=Thresholds()
        )
        # batched (float64, GRU of H=6): the one-at-a-time numbers to 1e-12
        assert {name: row[name] for name in (*NUMBER_COLUMNS, "verdict")}.keys() == analysis_row(direct).keys()
        for name, value in analysis_row(direct).items():
            if name == "verdict":
                assert row[name] == value
            else:
                assert_number(row[name], value, batched=True, what=name)
    assert {row["verdict"] for row in result.rows} >= {"vanishing"}


def test_hidden_size_and_steps_axes() -> None:
    spec = SweepSpec.create("rnn", parse_axes(["hidden_size=3,5", "steps=10,25"]), input_size=2, gain=1.3)
    for row in serial(spec).rows:
        problem = make_problem(
            "rnn", seed=row["seed"], hidden_size=row["hidden_size"], input_size=2, steps=row["steps"], gain=1.3
        )
        direct = gradscope.analyze(problem)
        # a batched task (float64 RNN): the one-at-a-time number to 1e-12, not to the last bit (BLAS kernels vary)
        assert_number(row["final_log10_norm"], direct.final_log10_norm, batched=is_batched(problem))


def test_input_scale_multiplies_the_drawn_inputs() -> None:
    spec = SweepSpec.create("rnn", parse_axes(["input_scale=0,3"]), **SMALL)
    for row in serial(spec).rows:
        problem = make_problem("rnn", seed=row["seed"], **SMALL)
        direct = gradscope.analyze(
            "rnn", params=problem.params.as_dict(), inputs=row["input_scale"] * problem.inputs, seed=row["seed"]
        )
        assert_number(row["rate_per_step"], direct.rate_per_step, batched=is_batched(problem))


def test_forget_bias_and_chrono_rows_equal_analyze_with_the_same_bias() -> None:
    spec = SweepSpec.create("lstm", parse_axes(["forget_bias=-1,2,chrono"]), samples=2, t_max=12, **SMALL)
    rows = serial(spec).rows
    assert [row["forget_bias"] for row in rows] == [-1.0, -1.0, 2.0, 2.0, "chrono", "chrono"]
    for row in rows:
        direct = gradscope.analyze(
            "lstm",
            hidden_size=6,
            input_size=3,
            steps=SMALL["steps"],
            seed=row["seed"],
            forget_bias=row["forget_bias"],
            t_max=12,
        )
        assert_number(row["rate_per_step"], direct.rate_per_step, batched=True)
        assert_number(row["final_log10_norm"], direct.final_log10_norm, batched=True)
    # A higher forget-gate bias keeps the gradient alive longer (the carousel's diag(f)).
    finals = {row["forget_bias"]: row["final_log10_norm"] for row in rows if row["sample"] == 0}
    assert finals[2.0] > finals[-1.0]


def test_lyapunov_columns_equal_lyapunov() -> None:
    spec = SweepSpec.create("lstm", parse_axes(["gain=0.5,1.5"]), exponents=3, transient=5, **SMALL)
    result = serial(spec)
    assert result.columns[-4:] == ("lyapunov_1", "lyapunov_2", "lyapunov_3", "error")
    for row in result.rows:
        direct = lyapunov("lstm", seed=row["seed"], gain=row["gain"], exponents=3, transient=5, **SMALL)
        assert [row[f"lyapunov_{i}"] for i in (1, 2, 3)] == [float(v) for v in direct.exponents]
    wide = serial(SweepSpec.create("rnn", parse_axes(["gain=1"]), hidden_size=2, input_size=2, steps=10, exponents=3))
    assert wide.rows[0]["lyapunov_3"] is None and wide.rows[0]["lyapunov_2"] is not None


def test_run_task_alone_reproduces_a_row() -> None:
    spec = SweepSpec.create("rnn", parse_axes(["gain=0.7,1.9"]), samples=3, **SMALL)
    result = serial(spec)
    task = spec.tasks()[4]
    alone = run_task(spec, task)  # the one-at-a-time path; the sweep's chunk batched it
    assert_row(result.rows[4], alone, batched=is_batched(task_problem(spec, task)))
    assert is_batched(task_problem(spec, task))
    assert isinstance(task, SweepTask)


# ----------------------------------------------------------------------------------------------
# Documents
# ----------------------------------------------------------------------------------------------


def test_json_and_csv_hold_the_same_table() -> None:
    spec = SweepSpec.create("lstm", parse_axes(["gain=0.5,1", "forget_bias=1,chrono"]), samples=2, **SMALL)
    seen: list[tuple[int, int]] = []
    result = run_sweep(spec, executor=SerialExecutor(), progress=lambda *a: seen.append(a))
    assert seen[0] == (0, 8) and seen[-1] == (8, 8)
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert document["schema"] == SWEEP_SCHEMA and document["cell"] == "lstm"
    assert document["vary"] == [
        {"name": "gain", "values": [0.5, 1.0]},
        {"name": "forget_bias", "values": [1.0, "chrono"]},
    ]
    assert document["fixed"]["hidden_size"] == 6 and "gain" not in document["fixed"]
    assert document["columns"] == list(result.columns)
    assert document["columns"] == [
        *("gain", "forget_bias", "sample", "seed"),
        *("rate_per_step", "efolding_lag", "verdict", "final_log10_norm", "error"),
    ]
    assert document["rows"] == [dict(row) for row in result.rows]

    table = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert len(table) == len(result.rows)
    for line, row in zip(table, result.rows, strict=True):
        assert list(line) == list(result.columns)
        for name in result.columns:
            value = row[name]
            if isinstance(value, float):
                assert float(line[name]) == value  # repr round-trips exactly
            else:
                assert line[name] == ("" if value is None else str(value))


def test_columns_and_theory_rate() -> None:
    spec = SweepSpec.create("rnn", parse_axes(["gain=0.5,2", "init=pytorch,gaussian"]), input_scale=0.5, **SMALL)
    result = serial(spec)
    assert np.array_equal(result.column("gain"), [0.5, 0.5, 2.0, 2.0])
    assert list(result.column("verdict")) == [row["verdict"] for row in result.rows]
    theory = result.theory_rate()
    assert theory is not None
    expected = [tanh_rnn_mean_field_rate(row["init"], row["gain"], 6, 3, 0.5) for row in result.rows]
    np.testing.assert_allclose(theory, expected, rtol=1e-14)
    assert serial(SweepSpec.create("gru", parse_axes(["gain=1"]), **SMALL)).theory_rate() is None
    assert result.grid() == [{"gain": g, "init": i} for g in (0.5, 2.0) for i in ("pytorch", "gaussian")]
    assert np.array_equal(result.by_grid("final_log10_norm")[:, 0], result.column("final_log10_norm"))
    twice = serial(SweepSpec.create("rnn", parse_axes(["gain=0.5,2"]), samples=2, **SMALL))
    assert np.array_equal(twice.by_grid("rate_per_step").ravel(), twice.column("rate_per_step"))
    assert twice.by_grid("sample").tolist() == [[0, 1], [0, 1]]
    with pytest.raises(ValueError, match="not numeric"):
        result.by_grid("verdict")
    with pytest.raises(KeyError, match="no column"):
        result.column("loss")


def test_non_finite_results_are_null() -> None:
    # A zero gain with zero inputs: the ReLU RNN's Jacobian is exactly zero, the norm -inf.
    spec = SweepSpec.create("rnn-relu", parse_axes(["gain=0"]), input_scale=0.0, hidden_size=3, input_size=2, steps=5)
    row = serial(spec).rows[0]
    assert row["final_log10_norm"] is None and row["verdict"] == "vanishing"
    assert row["rate_per_step"] is None  # -inf
    json.dumps(serial(spec).to_dict(), allow_nan=False)
