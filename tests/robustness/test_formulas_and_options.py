"""Formulas have cost limits (nesting, size, exact numbers) and the parser never evaluates user text; option
values and cell names outside what is allowed are refused naming the option or the name; the suggestion for
an unknown cell always resolves; ``report --out ''`` is refused. Generated cases: formula strings from the
language's tokens, option values from the edges of every numeric option, near-miss cell names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fault_helpers import CASES, expect_clean, expect_refused, expect_usage_error, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradscope.cells.spec import ALIASES, ALL_CELL_NAMES, ZOO_CELL_NAMES, resolve_name

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(formula: str) -> tuple[str, ...]:
    return ("derive", "--cell", "rnn", "--check", f"h/h = {formula}")


@pytest.mark.parametrize(
    ("formula", "culprit"),
    [
        ("tanh(" * 39 + "h_t" + ")" * 39, "nested more than"),
        ("1e300**16", "beyond 1e300"),
        ("(" * 200 + "W_hh" + ")" * 200, "nested more than"),
        ("W_hh" + " * W_hh" * 2000, "characters, more than"),
        ("__import__('os').system('touch ran')", "__import__"),
        ("exec('x')", "exec"),
        ("lambda: 0", "lambda"),
        ("W_hh.T", "'.'"),
        ("diag(1 - h_t**2) * W_hh; x", "';'"),
    ],
)
def test_formulas_that_would_burn_the_cpu_or_run_code(tmp_path: Path, formula: str, culprit: str) -> None:
    """A formula error is the message, and the formula with a caret under the culprit where it has a place."""
    start = time.perf_counter()
    expect_refused("formulas", tmp_path, *check(formula), culprit=("invalid formula", culprit), lines=(1, 3))
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "ran").exists()


TOKENS = ["h_t", "W_hh", "a_t", "1", "2", "0.5", "1e300", "+", "-", "*", "/", "**", "(", ")", "tanh(", "diag(",
          "sigmoid(", "exp(", "log(", ",", "x", "9" * 40, " "]  # fmt: skip


@SETTINGS
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=30))
def test_any_formula_is_checked_or_refused(tmp_path: Path, tokens: list[str]) -> None:
    """From the language's own tokens: right (exit 0), wrong (exit 1, the WRONG verdict) or refused (exit 2,
    the message with its caret); never an internal error, and within a few seconds."""
    start = time.perf_counter()
    before = {path.name for path in tmp_path.iterdir()}
    result, caught = run(tmp_path, *check("".join(tokens)))
    assert result.exit_code in (0, 1, 2), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output and not caught
    if result.exit_code == 1:
        assert result.stdout.startswith("WRONG"), result.output
    if result.exit_code == 2:
        assert result.stderr.startswith("gradscope: error: ") and len(result.stderr.splitlines()) <= 3
    assert {path.name for path in tmp_path.iterdir()} == before
    assert time.perf_counter() - start < 10
    CASES["formulas"] += 1


BASE = ("analyze", "--cell", "lstm", "-H", "3", "-T", "5")
#: Every numeric option of analyze (and lyapunov's own), with its edges.
NUMERIC = {
    "--hidden-size": ("analyze",),
    "--input-size": ("analyze",),
    "--steps": ("analyze",),
    "--num-layers": ("analyze",),
    "--samples": ("analyze",),
    "--seed": ("analyze",),
    "--gain": ("analyze",),
    "--forget-bias": ("analyze",),
    "--t-max": ("analyze",),
    "--exponents": ("lyapunov",),
    "--transient": ("lyapunov",),
}
EDGES = ["0", "-1", "-0", "nan", "inf", "-inf", "1e999", "-1e999", "abc", "", "1.5", "0x10", "1_0", "  ", "١"]


@pytest.mark.parametrize("option", sorted(NUMERIC))
@pytest.mark.parametrize("value", EDGES)
def test_edge_values_of_every_numeric_option(tmp_path: Path, option: str, value: str) -> None:
    """Each is a result (a value the option allows: --gain 0, --seed 0, --forget-bias -1, ...), our one-line
    refusal naming the option, or the parser's usage error naming it; never an internal error."""
    command = NUMERIC[option][0]
    args = (command, "--cell", "lstm", "-H", "3", "-T", "5", option, value, "--json", "-")
    result, _ = run(tmp_path, *args)
    name = option.removeprefix("--")
    if result.exit_code == 0:
        expect_clean("options", tmp_path, *args)
    elif "Usage:" in result.stderr:
        expect_usage_error("options", tmp_path, *args, option=option)
    else:
        message = expect_refused("options", tmp_path, *args)
        spelled = {name, name.replace("-", "_"), name.replace("-", " "), option}
        assert any(word in message for word in spelled), (option, message)


#: Integers at the edges (small, negative, huge: not sizes that would run long), any float, any short text.
VALUES = st.one_of(
    st.one_of(st.integers(-(10**30), 3), st.integers(10**7, 10**30)).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)


@SETTINGS
@given(option=st.sampled_from(sorted(NUMERIC)), value=VALUES)
def test_any_value_of_a_numeric_option(tmp_path: Path, option: str, value: str) -> None:
    command = NUMERIC[option][0]
    args = (command, "--cell", "lstm", "-H", "3", "-T", "5", option, value, "--json", "-")
    result, caught = run(tmp_path, *args)
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output and not caught
    CASES["options"] += 1


def mutations(name: str) -> st.SearchStrategy[str]:
    """A name with one letter dropped, doubled, swapped with the next, or replaced."""
    changes = st.tuples(
        st.integers(0, len(name) - 1),
        st.sampled_from(["drop", "double", "swap", "replace"]),
        st.sampled_from("abcdefghijklmnopqrstuvwxyz-_"),
    )
    return changes.map(
        lambda change: {
            "drop": name[: change[0]] + name[change[0] + 1 :],
            "double": name[: change[0]] + name[change[0]] + name[change[0] :],
            "swap": name[: change[0]] + name[change[0] + 1 : change[0] + 2] + name[change[0]] + name[change[0] + 2 :],
            "replace": name[: change[0]] + change[2] + name[change[0] + 1 :],
        }[change[1]]
    )


NAMES = sorted({*ALL_CELL_NAMES, *ZOO_CELL_NAMES, *ALIASES})


@SETTINGS
@given(data=st.data())
def test_the_suggestion_for_an_unknown_cell_resolves(tmp_path: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(NAMES).flatmap(mutations))
    try:
        resolve_name(name)
        return  # the mutation made another valid name
    except Exception:
        pass
    message = expect_refused("cells", tmp_path, "analyze", "--cell", name, "-H", "3", "-T", "5", culprit=repr(name))
    if "did you mean" in message:
        suggested = message.split("did you mean ")[1].split("?")[0].split(" ")[0].strip("'")
        assert resolve_name(suggested)  # a name that exists (the second source: the registry itself)


def test_report_out_empty_and_small_ones(tmp_path: Path) -> None:
    expect_refused("small", tmp_path, "report", "--out", "", culprit="empty folder name")
    expect_refused("small", tmp_path, "analyze", "--cell", "lsmt", culprit=("'lsmt'", "did you mean 'lstm'"))
    expect_refused("small", tmp_path, "analyze", "--cell", "", culprit="cell")
