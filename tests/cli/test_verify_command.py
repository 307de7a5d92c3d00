"""``gradscope verify``: the self-check's table, JSON document, options and exit status.

The numbers shown are those of :func:`gradscope.testing.verification.verify` called directly; the failure
path is driven by a verification that reports a failing row (and, end to end, by a derivation that
is broken on purpose).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_bad_input, invoke

import gradscope
import gradscope.analysis.profile
from gradscope import cli
from gradscope.cells.spec import ALL_CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.testing import verification as verification
from gradscope.testing.verification import FINITE_DIFFERENCES, TORCH, Verification, VerificationRow


def prose(stdout: str) -> str:
    """The report's text without the panel's borders, whitespace collapsed (wrapped lines joined)."""
    return " ".join(stdout.replace("│", " ").split())


def table_rows(stdout: str) -> list[list[str]]:
    """The rows of the checks table: the text between the panel's borders, split on runs of spaces."""
    rows = []
    for line in stdout.splitlines():
        if line.count("│") != 2:
            continue
        text = line.split("│")[1]
        if re.search(r"\d\.\d\de[+-]\d\d", text):
            rows.append(re.split(r"\s{1,}(?=\S)", text.strip()))
    return rows


@pytest.fixture(scope="module")
def no_torch() -> Verification:
    return verification.verify("all", use_torch=False)


def test_verify_table_shows_the_librarys_rows(no_torch: Verification) -> None:
    result = invoke("verify", "--no-torch")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "gradscope verify: rnn, rnn-relu, lstm, gru, jordan" in out
    assert "hidden_size 3, input_size 2, steps 5, seed 0" in out
    lines = [line for line in out.splitlines() if re.search(r"\d\.\d\de[+-]\d\d", line)]
    assert len(lines) == len(no_torch.rows) == 37
    cell = None
    for line, row in zip(lines, no_torch.rows, strict=True):
        cell = row.cell if row.cell != cell else cell
        assert f"{row.max_abs_err:.2e}" in line and f"{row.max_rel_err:.2e}" in line
        assert f"{row.tolerance:.0e}" in line and "finite diff." in line and line.rstrip(" │").endswith("ok")
        assert row.check.split()[0] in line
    for name in ALL_CELL_NAMES:  # each cell named once, on its first row
        assert sum(line.split("│")[1].split()[0] == name for line in lines) == 1
    assert "PASSED  all 37 checks within their tolerance" in out
    assert "skipped (--no-torch)" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert result.stderr == ""


def test_verify_json_document(no_torch: Verification, tmp_path: Path) -> None:
    result = invoke("verify", "--no-torch", "--json", "-")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == "gradscope.verify/1"
    assert document["gradscope_version"] == gradscope.__version__
    assert document["passed"] is True and document["torch_version"] is None
    assert document["settings"] == {"hidden_size": 3, "input_size": 2, "steps": 5, "seed": 0}
    assert document["checks"] == 37 and document["failures"] == 0
    assert document["rows"] == [dataclasses.asdict(row) for row in no_torch.rows]
    written = invoke("verify", "--no-torch", "--json", str(tmp_path / "v.json"), "-q")
    assert written.exit_code == 0
    assert json.loads((tmp_path / "v.json").read_text()) == document
    assert written.stdout.strip() == "PASSED  all 37 checks within their tolerance"


def spy_on_verify(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []
    real = verification.verify

    def spy(cell: Any = "all", **kwargs: Any) -> Verification:
        calls.append((cell, kwargs))
        return real(cell, **kwargs)

    monkeypatch.setattr(verification, "verify", spy)
    return calls


@pytest.mark.parametrize(
    ("args", "cell", "kwargs"),
    [
        ([], "all", {"hidden_size": 3, "input_size": 2, "steps": 5, "seed": 0, "use_torch": False}),
        (["--cell", "ALL"], "all", {}),
        (["-c", "lstm", "-H", "2", "-I", "3", "-T", "4", "--seed", "7"], ["lstm"], {"hidden_size": 2, "steps": 4}),
        (["--cell", "gru,elman,gru"], ["gru", "rnn"], {"input_size": 2, "seed": 0}),
    ],
)
def test_verify_options_reach_the_library(
    monkeypatch: pytest.MonkeyPatch, args: list[str], cell: Any, kwargs: dict[str, Any]
) -> None:
    calls = spy_on_verify(monkeypatch)
    result = invoke("verify", *args, "--no-torch", "-q")
    assert result.exit_code == 0, result.stderr
    ((got_cell, got_kwargs),) = calls
    assert got_cell == cell
    assert {k: got_kwargs[k] for k in kwargs} == kwargs
    assert got_kwargs["use_torch"] is False


def test_verify_uses_torch_by_default_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    calls = spy_on_verify(monkeypatch)
    result = invoke("verify", "--cell", "gru")
    assert result.exit_code == 0, result.stderr
    assert calls[0][1]["use_torch"] is None
    rows = table_rows(result.stdout)
    expected = verification.verify("gru")
    assert len(rows) == len(expected.rows) and expected.torch_version == str(torch.__version__)
    assert sum("torch autograd" in " ".join(r) for r in rows) == sum(r.against == TORCH for r in expected.rows) > 0
    assert f"PyTorch {torch.__version__}" in result.stdout


def test_verify_notes_when_torch_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verification, "_torch", lambda use_torch: None)  # as if PyTorch were absent
    result = invoke("verify", "--cell", "rnn")
    assert result.exit_code == 0, result.stderr
    text = prose(result.stdout)
    assert "PyTorch is not installed, so only finite differences were checked" in text
    assert "pip install torch==2.13.0" in text
    assert "torch autograd" not in result.stdout


def failing(cell: Any = "all", **kwargs: Any) -> Verification:
    """A verification with one passing and one failing row (and a NaN error, which JSON carries as null)."""
    rows = (
        VerificationRow("lstm", "weight_hh_l0", FINITE_DIFFERENCES, 1e-12, 2e-12, 1e-6, True),
        VerificationRow("lstm", "J_t (state Jacobians)", TORCH, 0.5, math.nan, 1e-10, False),
    )
    return Verification(rows, "2.13.0", {"hidden_size": 3, "input_size": 2, "steps": 5, "seed": 0})


def test_a_mismatch_exits_1_with_the_failing_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verification, "verify", failing)
    result = invoke("verify")
    assert result.exit_code == cli.EXIT_CHECK_FAILED == 1
    rows = table_rows(result.stdout)
    assert rows[0][-1] == "ok" and rows[1][-1] == "FAIL"
    text = prose(result.stdout)
    assert "FAILED 1 of 2 checks exceed their tolerance: lstm J_t (state Jacobians) vs torch autograd" in text
    assert result.stderr.strip().splitlines() == ["gradscope: verify failed: 1 of 2 checks exceed their tolerance"]
    assert "Traceback" not in result.output


def test_a_mismatch_exits_1_in_json_and_quiet_modes_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(verification, "verify", failing)
    result = invoke("verify", "--json", "-")
    assert result.exit_code == 1
    document = json.loads(result.stdout)  # stdout is the JSON and nothing else
    assert document["passed"] is False and document["failures"] == 1
    assert document["rows"][1] == {
        "cell": "lstm",
        "check": "J_t (state Jacobians)",
        "against": TORCH,
        "max_abs_err": 0.5,
        "max_rel_err": None,
        "tolerance": 1e-10,
        "passed": False,
    }
    quiet = invoke("verify", "-q", "--json", str(tmp_path / "v.json"))
    assert quiet.exit_code == 1 and quiet.stdout.startswith("FAILED  1 of 2 checks")
    assert json.loads((tmp_path / "v.json").read_text())["passed"] is False


def test_a_broken_derivation_fails_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    real = compile_cell("lstm")

    def broken_partials(*args: Any) -> list[Any]:
        values = list(real.state_partials_function(*args))
        values[-1] = values[-1] * 1.01  # d c_t / d c_{t-1} = 1.01 f_t instead of f_t
        return values

    broken = dataclasses.replace(real, state_partials_function=broken_partials)
    monkeypatch.setattr(gradscope.analysis.problem, "compile_cell", lambda cell: broken)
    result = invoke("verify", "--cell", "lstm", "--no-torch")
    assert result.exit_code == 1
    failed = [row for row in table_rows(result.stdout) if row[-1] == "FAIL"]
    assert failed and any(row[1].startswith("J_t") for row in failed)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--cell", "lstn"], ["unknown cell 'lstn'", "did you mean 'lstm'?"]),
        (["--cell", ","], ["--cell: give at least one cell name"]),
        (["--hidden-size", "0"], ["hidden_size must be >= 1, got 0"]),
        (["--steps", "0"], ["steps must be >= 1, got 0"]),
        (["--seed", "-1"], ["seed must be a non-negative integer"]),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: list[str], fragments: list[str]) -> None:
    assert_bad_input(invoke("verify", "--no-torch", *args), *fragments)


def test_a_bad_json_path_fails_before_verifying(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("must not verify")

    monkeypatch.setattr(verification, "verify", never)
    assert_bad_input(invoke("verify", "--json", str(tmp_path / "no" / "v.json")), "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_help() -> None:
    result = invoke("verify", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for fragment in ("--cell", "--hidden-size", "--input-size", "--steps", "--seed", "--no-torch", "--json", "exit"):
        assert fragment in result.stdout


def test_verify_help_imports_nothing_heavy() -> None:
    code = (
        "import sys; from gradscope.cli import main; status = main(['verify', '--help']); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sympy', 'matplotlib', 'torch'}), status)"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert process.stdout.strip().splitlines()[-1] == "[] 0", process.stderr
