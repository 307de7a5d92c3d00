"""Cell files on the command line: --cell PATH.toml / --cell-file PATH on every command, --set, cells --file --check.

Second sources: a leaky tanh cell with alpha = 0 is the identity map (every ||P_k|| is exactly 1); the same
file through the CLI and through the Python API give byte-identical JSON; IndRNN's diagonal Jacobian
gives its profile in closed form from the weights the command read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_bad_input, invoke

import gradscope
from gradscope.cells import file_names
from gradscope.cells.spec import ZOO_CELL_NAMES

LEAKY = """name = "leaky-tanh"
title = "Leaky-integrator tanh RNN"
gates = ["a"]
state = ["h"]
reference = "any citation"

[constants]
alpha = 0.3

[equations]
h = "(1 - alpha) * h_prev + alpha * tanh(u_a + m_a)"
"""
SIZES = ("--hidden-size", "4", "--input-size", "3", "--steps", "12")


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no cell file in use (and leaves none for the next)."""
    monkeypatch.setattr(file_names, "_FILES", {})
    monkeypatch.delenv(file_names.ENV, raising=False)


@pytest.fixture
def leaky(tmp_path: Path) -> Path:
    path = tmp_path / "leaky.toml"
    path.write_text(LEAKY, encoding="utf-8")
    return path


def analyze_json(*args: str) -> dict:
    result = invoke("analyze", *args, *SIZES, "--json", "-")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cell_file_and_cell_path_are_the_same_and_match_the_python_api(leaky: Path) -> None:
    by_file = analyze_json("--cell-file", str(leaky))
    by_path = analyze_json("--cell", str(leaky))
    assert by_file == by_path
    assert by_file["cell"] == "leaky-tanh"
    api = gradscope.analyze(gradscope.load_cell(leaky), hidden_size=4, input_size=3, steps=12)
    np.testing.assert_allclose(by_file["log10_norm"], api.log10_norm, rtol=0, atol=1e-12)


def test_set_alpha_zero_makes_the_identity_map(leaky: Path) -> None:
    data = analyze_json("--cell", str(leaky), "--set", "alpha=0")
    np.testing.assert_allclose(data["log10_norm"], 0.0, atol=1e-15)
    default = analyze_json("--cell", str(leaky))
    assert max(default["log10_norm"]) < 0 and min(default["log10_norm"]) < -0.5


def test_set_on_a_zoo_cell_reads_its_file_with_the_constant(tmp_path: Path) -> None:
    small = analyze_json("--cell", "antisymmetric-rnn", "--set", "eps=0.001")
    large = analyze_json("--cell", "antisymmetric-rnn", "--set", "eps=0.5")
    # a smaller step keeps ||P_k|| closer to 1 at every lag
    assert np.max(np.abs(small["log10_norm"])) < np.max(np.abs(large["log10_norm"]))


def test_indrnn_profile_is_its_closed_form_from_the_weights_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    u = rng.uniform(0.8, 1.1, size=4)
    weights = {
        "weight_ih_l0": rng.standard_normal((4, 3)),
        "weight_hh_l0": u,
        "bias_ih_l0": np.full(4, 50.0),  # every unit active: relu' = 1 at every step
        "bias_hh_l0": np.zeros(4),
    }
    np.savez(tmp_path / "w.npz", **weights)
    data = analyze_json("--cell", "indrnn", "--weights", str(tmp_path / "w.npz"))
    lags = np.arange(1, 13)
    np.testing.assert_allclose(data["log10_norm"], lags * np.log10(np.max(np.abs(u))), rtol=0, atol=1e-12)


def test_a_wrong_weight_shape_names_the_parameter(tmp_path: Path) -> None:
    np.savez(
        tmp_path / "w.npz",
        weight_ih_l0=np.ones((4, 3)),
        weight_hh_l0=np.ones((4, 4)),  # IndRNN's is (H,)
        bias_ih_l0=np.zeros(4),
        bias_hh_l0=np.zeros(4),
    )
    result = invoke("analyze", "--cell", "indrnn", "--weights", str(tmp_path / "w.npz"))
    assert_bad_input(result, "weight_hh_l0")


@pytest.mark.parametrize(
    "command",
    [
        ("derive", "--format", "text"),
        ("lyapunov", "--hidden-size", "3", "--input-size", "2", "--steps", "30", "--exponents", "2", "--quiet"),
        ("sweep", "--vary", "gain=0.5,1", "--hidden-size", "3", "--input-size", "2", "--steps", "10", "--quiet"),
        ("verify", "--hidden-size", "2", "--input-size", "2", "--steps", "3", "--quiet"),
    ],
    ids=lambda c: c[0],
)
def test_every_command_with_a_cell_takes_a_file(leaky: Path, command: tuple[str, ...]) -> None:
    result = invoke(command[0], "--cell", str(leaky), *command[1:])
    assert result.exit_code == 0, result.output


def test_compare_takes_names_and_files_and_refuses_two_files_of_one_name(leaky: Path, tmp_path: Path) -> None:
    result = invoke("compare", "--cells", f"lstm,indrnn,{leaky}", *SIZES, "--json", "-")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cells"] == ["lstm", "indrnn", "leaky-tanh"]
    other = tmp_path / "other.toml"
    other.write_text(LEAKY.replace("0.3", "0.4"), encoding="utf-8")
    assert_bad_input(invoke("compare", "--cells", f"{leaky},{other}", *SIZES), "both define a cell named 'leaky-tanh'")


def test_cells_lists_the_zoo_and_shows_a_file_with_its_check(leaky: Path) -> None:
    listing = invoke("cells")
    assert listing.exit_code == 0
    for name in ("lstm", "indrnn", "cornn", "peephole-lstm"):
        assert name in listing.stdout
    shown = invoke("cells", "--file", str(leaky), "--set", "alpha=0.5", "--check")
    assert shown.exit_code == 0, shown.output
    for fragment in ("leaky-tanh", "alpha = 0.5", "(1 - alpha) * h_prev", "dh/dm_a", "dh/dh_prev", "dh/du_a"):
        assert fragment in shown.stdout
    zoo = invoke("cells", "--file", "cornn", "--check")
    assert zoo.exit_code == 0 and "dz/dy_prev" in zoo.stdout and "Rusch" in zoo.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("analyze", "--cell", "lstm", "--set", "alpha=1"), ["--set", "'lstm' has no constants"]),
        (("analyze", "--cell", "{leaky}", "--set", "alpha"), ["--set", "NAME=VALUE"]),
        (("analyze", "--cell", "{leaky}", "--set", "beta=1"), ["--set beta", "no constant 'beta'"]),
        (("analyze", "--cell", "{leaky}", "--set", "alpha=__import__('os')"), ["--set alpha"]),
        (("analyze", "--cell", "{missing}"), ["missing.toml", "cannot open"]),
        (("analyze", "--cell", "{bad}"), ["bad.toml", "equations.h", "zeta"]),
        (("analyze", "--cell-file", "{folder}"), ["not a regular file"]),
        (("cells", "--check"), ["--file"]),
        (("cells", "--file", "{bad}"), ["bad.toml", "zeta"]),
        (("derive", "--cell", "{bad}"), ["bad.toml", "zeta"]),
        (("compare", "--cells", "rnn,{bad}"), ["bad.toml", "zeta"]),
    ],
)
def test_bad_cell_files_and_settings_are_one_line_exit_two(tmp_path: Path, leaky: Path, args, fragments) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(LEAKY.replace("tanh(u_a + m_a)", "tanh(u_a + m_a + zeta)"), encoding="utf-8")
    (tmp_path / "folder.toml").mkdir()
    paths = {"leaky": leaky, "missing": tmp_path / "missing.toml", "bad": bad, "folder": tmp_path / "folder.toml"}
    filled = [a.format(**paths) if "{" in a and "(" not in a else a for a in args]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_bad_input(invoke(*filled), *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_sweep_workers_read_the_file_with_its_constants(leaky: Path) -> None:
    """Worker processes resolve the file's name themselves: alpha = 0 makes every row the identity map."""
    args = ("--vary", "gain=0.5,2", "--samples", "2", "--workers", "2", "--hidden-size", "3", "--steps", "8")
    result = invoke("sweep", "--cell", str(leaky), "--set", "alpha=0", *args, "--json", "-")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert len(rows) == 4
    assert all(row["final_log10_norm"] == pytest.approx(0.0, abs=1e-12) for row in rows)


@pytest.mark.parametrize("name", ZOO_CELL_NAMES)
def test_every_zoo_cell_works_with_every_command(name: str) -> None:
    small = ("--hidden-size", "3", "--input-size", "2", "--steps", "20")
    for command in (
        ("analyze", *small, "--quiet"),
        ("derive", "--format", "text"),
        ("lyapunov", *small, "--exponents", "2", "--quiet"),
        ("sweep", "--vary", "gain=0.5,1.5", *small, "--quiet"),
        ("verify", "--hidden-size", "2", "--input-size", "2", "--steps", "3", "--quiet"),
    ):
        result = invoke(command[0], "--cell", name, *command[1:])
        assert result.exit_code == 0, (command, result.output)


def test_compare_takes_the_whole_zoo() -> None:
    result = invoke("compare", "--cells", ",".join(("lstm", *ZOO_CELL_NAMES)), *SIZES, "--json", "-")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cells"] == ["lstm", *ZOO_CELL_NAMES]
