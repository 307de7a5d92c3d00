"""``gradscope verify --target``: the user's own backward checked on a random problem, its report, JSON and errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from cli_helpers import assert_bad_input, invoke

CLIENTS = Path(__file__).resolve().parents[1] / "testing"

PROGRAM = f"""
import sys
sys.path.insert(0, {str(CLIENTS)!r})
import tutorial_clients as clients

def backward(params, inputs, targets, hprev):
    return clients.char_rnn(params, inputs, targets, hprev)

def transposed(params, inputs, targets, hprev):
    return clients.char_rnn(params, inputs, targets, hprev, bug="transpose")

def lstm(params, xs, targets, h0, c0):
    return clients.lstm(params, xs, targets, h0, c0, bug="no_dc_carry")

NOT_A_FUNCTION = 3
"""

CHAR = ("--cell", "rnn", "--params", "Wxh,Whh,bh,Why,by", "--layout", "column", "--input-kind", "indices", "-I", "5")


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "my_rnn.py"
    path.write_text(textwrap.dedent(PROGRAM))
    return path


def test_a_correct_backward_passes(program: Path) -> None:
    result = invoke("verify", "--target", f"{program}:backward", *CHAR)
    assert result.exit_code == 0, result.output
    assert "BPTT gradients match the exact reference (rnn, T=5, H=3, I=5, O=5" in result.stdout
    assert "PASSED" in result.stdout


def test_a_buggy_backward_fails_with_its_step_and_hint(program: Path) -> None:
    result = invoke("verify", "--target", f"{program}:transposed", *CHAR)
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert "first goes wrong at t = 4 of 5 (t = 5 is right)" in out
    assert "right on the first 1 step, wrong on the first 2" in out
    assert "multiplies by the recurrent weight (Whh) untransposed" in out
    assert "FAILED" in out and "verify failed" in result.stderr


def test_json_holds_the_verdict_the_step_and_the_hints(program: Path) -> None:
    result = invoke(
        "verify", "--target", f"{program}:lstm", "--cell", "lstm", "--params", "W,b,Wy,by", "--gates", "ifog",
        "--loss", "mse", "--reduce", "mean", "-H", "4", "-I", "3", "--json", "-",
    )  # fmt: skip
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["schema"] == "gradscope.check_bptt/1" and document["passed"] is False
    assert document["first_wrong_step"] == 4 and document["gates_at_first_wrong_step"] == ["i", "f", "g"]
    assert document["prefix_fail"] == 2
    assert any("the carry of dc back" in hint for hint in document["hints"])
    assert document["settings"]["gates"] == "ifog" and document["target"].endswith(":lstm")


def test_the_target_may_be_a_module_on_the_path(program: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(program.parent)
    monkeypatch.syspath_prepend(str(program.parent))
    assert invoke("verify", "--target", "my_rnn:backward", *CHAR).exit_code == 0


@pytest.mark.parametrize(
    ("target", "extra", "fragments"),
    [
        ("my_rnn", (), ["expected module:function"]),
        ("no_such_module_here:backward", (), ["importing 'no_such_module_here' raised ModuleNotFoundError"]),
        ("{dir}/missing.py:backward", (), ["no such file"]),
        ("{program}:nothing", (), ["has no 'nothing'", "backward"]),
        ("{program}:NOT_A_FUNCTION", (), ["is a int, not a function"]),
        ("{program}:backward", ("--cell", "all"), ["--target checks one cell"]),
        ("{program}:backward", ("--params", "Wxh,Whx"), ["unknown name 'Whx'"]),
        ("{program}:backward", ("--loss", "hinge"), ["unknown loss 'hinge'"]),
    ],
)
def test_bad_targets_are_one_line_errors(
    program: Path, target: str, extra: tuple[str, ...], fragments: list[str]
) -> None:
    spec = target.format(program=program, dir=program.parent)
    args = [*CHAR, *extra]
    result = invoke("verify", "--target", spec, *args)
    assert_bad_input(result, *fragments)


def test_a_module_that_fails_to_import_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no data here')\n")
    assert_bad_input(invoke("verify", "--target", f"{broken}:f", *CHAR), "raised RuntimeError: no data here")


def test_help_says_that_target_runs_the_users_code() -> None:
    result = invoke("verify", "--help", env={"COLUMNS": "200"})
    text = " ".join(result.stdout.split())
    assert "This imports and runs your code, as pytest does; nothing is ever run from a data file." in text
    assert "gradscope verify --target my_rnn:backward --cell rnn" in text
