"""check_formula reads the blocks derive prints for coRNN (columns W_ya, W_za), Cho's GRU and MGU (products of
weight blocks), the Jordan cell (its two stages, W_hy ... W_yh) and a cell file with every feature, and refutes
wrong ones with numbers.

Second sources: torch autograd in float64 of independent twins (``tests/zoo_reference.py`` and ones written
here) for the printed blocks evaluated as dense matrices, and counter-examples rebuilt here with NumPy from
the values they report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gradscope import derive
from gradscope.cells import get_cell
from gradscope.cells.file import load_cell
from gradscope.cells.spec import CELL_NAMES, ZOO_CELL_NAMES
from gradscope.params import init_params
from gradscope.symbolic.formula_parser import parse
from gradscope.symbolic.linear_forms import matrix_value
from gradscope.testing import check_equation, check_formula
from gradscope.testing.formula_check_values import derived_matrix
from tests.cli_helpers import invoke

#: A cell file with every feature of the format: two state components, a constant, a per-unit vector, a
#: structured recurrent matrix, a gate that projects a quantity of the step, and a ReLU.
EVERY = """
name = "every"
title = "A test cell with every feature of the format"
gates = ["a", "b", "n"]
state = ["h", "c"]

[constants]
k = 0.6

[vectors]
p = "weight_peep"

[recurrent]
matrix = "W - 0.5 * transpose(W)"

[projections]
n = "b * h_prev"

[equations]
a = "sigmoid(u_a + m_a + p * c_prev)"
b = "sigmoid(u_b + m_b)"
n = "tanh(u_n + m_n)"
c = "a * c_prev + (1 - a) * n"
h = "k * h_prev + b * relu(c)"
"""

HIDDEN = 3


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def chunks(array: np.ndarray, count: int) -> list[np.ndarray]:
    return np.split(np.asarray(array, dtype=float), count)


# Each: (params, x, s) -> (per-unit values by the names derive prints, weight blocks by name), written from the
# cell's equations here, not from gradscope.


def gru_cho_values(params: dict, x: np.ndarray, s: np.ndarray) -> tuple[dict, dict]:
    u_r, u_z, u_n = chunks(params["weight_ih_l0"] @ x + params["bias_ih_l0"], 3)
    b_r, b_z, b_n = chunks(params["bias_hh_l0"], 3)
    w_r, w_z, w_n = chunks(params["weight_hh_l0"], 3)
    r, z = sigmoid(u_r + w_r @ s + b_r), sigmoid(u_z + w_z @ s + b_z)
    m_n = w_n @ (r * s) + b_n
    n = np.tanh(u_n + m_n)
    values = {"u_r": u_r, "u_z": u_z, "u_n": u_n, "m_r": w_r @ s + b_r, "m_z": w_z @ s + b_z, "m_n": m_n}
    values |= {"h_{t-1}": s, "r_t": r, "z_t": z, "n_t": n, "h_t": z * s + (1 - z) * n}
    return values, {"W_hr": w_r, "W_hz": w_z, "W_hn": w_n}


def mgu_values(params: dict, x: np.ndarray, s: np.ndarray) -> tuple[dict, dict]:
    u_f, u_n = chunks(params["weight_ih_l0"] @ x + params["bias_ih_l0"], 2)
    b_f, b_n = chunks(params["bias_hh_l0"], 2)
    w_f, w_n = chunks(params["weight_hh_l0"], 2)
    f = sigmoid(u_f + w_f @ s + b_f)
    m_n = w_n @ (f * s) + b_n
    n = np.tanh(u_n + m_n)
    values = {"u_f": u_f, "u_n": u_n, "m_f": w_f @ s + b_f, "m_n": m_n, "h_{t-1}": s, "f_t": f, "n_t": n}
    return values | {"h_t": (1 - f) * s + f * n}, {"W_hf": w_f, "W_hn": w_n}


def cornn_values(params: dict, x: np.ndarray, s: np.ndarray) -> tuple[dict, dict]:
    dt, gamma, eps = 0.042, 2.7, 4.7
    y, z = chunks(s, 2)
    u_a = params["weight_ih_l0"] @ x + params["bias_ih_l0"]
    m_a = params["weight_hh_l0"] @ s + params["bias_hh_l0"]
    z_new = (z + dt * (np.tanh(u_a + m_a) - gamma * y)) / (1 + dt * eps)
    values = {"u_a": u_a, "m_a": m_a, "y_{t-1}": y, "z_{t-1}": z, "z_t": z_new, "y_t": y + dt * z_new}
    w = np.asarray(params["weight_hh_l0"], dtype=float)
    return values, {"W_ya": w[:, :HIDDEN], "W_za": w[:, HIDDEN:]}


def every_values(params: dict, x: np.ndarray, s: np.ndarray) -> tuple[dict, dict]:
    h, c = chunks(s, 2)
    u_a, u_b, u_n = chunks(params["weight_ih_l0"] @ x + params["bias_ih_l0"], 3)
    b_a, b_b, b_n = chunks(params["bias_hh_l0"], 3)
    w_a, w_b, w_n = (w - 0.5 * w.T for w in chunks(params["weight_hh_l0"], 3))
    p = np.asarray(params["weight_peep_l0"], dtype=float)
    m_a, m_b = w_a @ h + b_a, w_b @ h + b_b
    b = sigmoid(u_b + m_b)
    m_n = w_n @ (b * h) + b_n
    a, n = sigmoid(u_a + m_a + p * c), np.tanh(u_n + m_n)
    c_new = a * c + (1 - a) * n
    values = {"u_a": u_a, "u_b": u_b, "u_n": u_n, "m_a": m_a, "m_b": m_b, "m_n": m_n, "p": p}
    values |= {"h_{t-1}": h, "c_{t-1}": c, "a_t": a, "b_t": b, "n_t": n, "c_t": c_new}
    values |= {"h_t": 0.6 * h + b * np.maximum(c_new, 0.0)}
    return values, {"W_ha": w_a, "W_hb": w_b, "W_hn": w_n}


def every_step(params, x, s, constants):
    """The every-feature cell by hand, in torch."""
    import torch

    h, c = torch.chunk(s, 2)
    u_a, u_b, u_n = torch.chunk(params["weight_ih_l0"] @ x + params["bias_ih_l0"], 3)
    b_a, b_b, b_n = torch.chunk(params["bias_hh_l0"], 3)
    w_a, w_b, w_n = (w - 0.5 * w.T for w in torch.chunk(params["weight_hh_l0"], 3))
    b = torch.sigmoid(u_b + w_b @ h + b_b)
    a = torch.sigmoid(u_a + w_a @ h + b_a + params["weight_peep_l0"] * c)
    n = torch.tanh(u_n + w_n @ (b * h) + b_n)
    c_new = a * c + (1 - a) * n
    return torch.cat([0.6 * h + b * torch.relu(c_new), c_new])


@pytest.fixture(scope="module")
def every_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cells") / "every.toml"
    path.write_text(EVERY, encoding="utf-8")
    return path


def printed_blocks(cell: str) -> list[str]:
    """The block lines of ``gradscope derive --cell CELL --format text``, as printed."""
    result = invoke("derive", "--cell", cell, "--format", "text")
    assert result.exit_code == 0, result.stderr
    return result.stdout.partition("\n\n")[2].splitlines()


CASES: dict[str, Callable[..., tuple[dict, dict]]] = {
    "gru-cho": gru_cho_values,
    "mgu": mgu_values,
    "cornn": cornn_values,
    "every": every_values,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_printed_blocks_evaluated_by_the_parser_equal_autograds_jacobian(name: str, every_file: Path) -> None:
    torch = pytest.importorskip("torch")
    import zoo_reference as reference

    cell = load_cell(every_file) if name == "every" else get_cell(name)
    step = every_step if name == "every" else reference.STEPS[name]
    spec = cell.spec
    rng = np.random.default_rng(5)
    params = init_params(spec, HIDDEN, 2, rng, gain=1.5)
    x, s = rng.standard_normal(2), rng.standard_normal(HIDDEN * len(spec.state))
    if name == "every":
        s[HIDDEN:] += 1.0  # c_t away from the ReLU's kink
    as_torch = {k: torch.tensor(np.asarray(v, dtype=float)) for k, v in params.items()}
    constants = reference.CONSTANTS.get(name, {})
    jacobian = torch.autograd.functional.jacobian(
        lambda state: step(as_torch, torch.tensor(x), state, constants), torch.tensor(s)
    ).numpy()
    values, weights = CASES[name](params, x, s if len(spec.state) > 1 else s[:HIDDEN])
    lines = printed_blocks(str(every_file) if name == "every" else name)
    blocks = derive(cell).blocks
    assert lines == [block.text() for block in blocks]
    for line, block in zip(lines, blocks, strict=True):
        rows = slice(spec.state.index(block.row) * HIDDEN, (spec.state.index(block.row) + 1) * HIDDEN)
        cols = slice(spec.state.index(block.col) * HIDDEN, (spec.state.index(block.col) + 1) * HIDDEN)
        expected = jacobian[rows, cols]
        printed = matrix_value(parse(line.partition(" = ")[2], cell), values, weights)
        np.testing.assert_allclose(printed, expected, rtol=1e-10, atol=1e-12, err_msg=line)
        # and the check's own numeric side, from the compiled partials
        derived = derived_matrix(cell, block.row, block.col, values, weights)
        np.testing.assert_allclose(derived, expected, rtol=1e-10, atol=1e-12, err_msg=line)
        assert check_equation(cell, line).method == "symbolic"


ALL = [*CELL_NAMES, "jordan", *ZOO_CELL_NAMES]


@pytest.mark.parametrize("cell", [*ALL, "every"])
def test_derive_block_check_accepts_each_printed_block(cell: str, every_file: Path) -> None:
    name = str(every_file) if cell == "every" else cell
    for line in printed_blocks(name):
        block, _, formula = line.partition(" = ")
        short = block.replace("_t", "").replace("_{t-1}", "")  # dh_t/dh_{t-1} -> dh/dh
        result = invoke("derive", "--cell", name, "--block", short, "--check", formula)
        assert result.exit_code == 0 and result.stdout.startswith("CORRECT"), (line, result.stdout, result.stderr)
        whole = invoke("derive", "--cell", name, "--check", line)
        assert whole.exit_code == 0 and whole.stdout.startswith("CORRECT"), (line, whole.stdout)


GRU_CHO = derive("gru-cho").blocks[0].text().partition(" = ")[2]
MGU = derive("mgu").blocks[0].text().partition(" = ")[2]


def test_a_dropped_factor_in_a_product_of_weight_blocks_is_refuted_with_a_dense_counterexample() -> None:
    wrong = GRU_CHO.replace(" + diag(r_t))", ")")  # d(r*h)/dh without its diag(r_t)
    assert wrong != GRU_CHO
    result = check_formula("gru-cho", "dh/dh", wrong)
    assert not result.correct and result.method == "counter-example"
    assert "no term diag(.) W_hn" in result.message and "entry [" in result.message
    v, example = result.counterexample.values, result.counterexample
    # Rebuild both 2 x 2 matrices from the reported values, with the GRU (Cho) equations written here.
    r, z, n, h = (np.array([v[f"{q}[{k}]"] for k in range(2)]) for q in ("r_t", "z_t", "n_t", "h_{t-1}"))
    w = {g: np.array([[v[f"W_h{g}[{a}, {b}]"] for b in range(2)] for a in range(2)]) for g in "rzn"}
    outer = np.diag((1 - n**2) * (1 - z)) @ w["n"]
    common = np.diag(z * (1 - z) * (h - n)) @ w["z"] + np.diag(z) + outer @ np.diag(h * r * (1 - r)) @ w["r"]
    i, j = (int(k) for k in example.term.removeprefix("entry [").removesuffix("]").split(","))
    assert example.expected == pytest.approx((common + outer @ np.diag(r))[i, j], rel=1e-12)
    assert example.actual == pytest.approx(common[i, j], rel=1e-12)
    assert abs(example.actual - example.expected) > 1e-6


@pytest.mark.parametrize(
    ("cell", "block", "expression", "reason"),
    [
        ("gru-cho", "dh/dh", GRU_CHO.replace(") W_hr", ") transpose(W_hr)"), "a transposed weight matrix"),
        ("mgu", "dh/dh", MGU.replace("W_hn (diag(f_t*h_{t-1}*(1 - f_t)) W_hf + diag(f_t))", "W_hf W_hn"), "W_hf"),
        (  # the product in the wrong order: (d q/d h) W_hn
            "mgu",
            "dh/dh",
            MGU.replace(
                "diag(f_t*(1 - n_t**2)) W_hn (diag(f_t*h_{t-1}*(1 - f_t)) W_hf + diag(f_t))",
                "diag(f_t*(1 - n_t**2)) (diag(f_t*h_{t-1}*(1 - f_t)) W_hf + diag(f_t)) W_hn",
            ),
            "a term diag(.) W_hf diag(.) W_hn that the derived block does not have",
        ),
        (
            "gru-cho",
            "dh/dh",
            GRU_CHO.replace("diag(z_t*(1 - z_t)*(h_{t-1} - n_t)) W_hz", "W_hz diag(z_t*(1 - z_t)*(h_{t-1} - n_t))"),
            "multiplied on the right by a per-unit factor",
        ),
    ],
    ids=["transposed-inner", "inner-product-collapsed", "wrong-order", "columns-scaled"],
)
def test_wrong_products_of_weight_blocks_are_refuted(cell: str, block: str, expression: str, reason: str) -> None:
    derived = derive(cell).blocks[0].text().partition(" = ")[2]
    assert expression != derived
    result = check_formula(cell, block, expression)
    assert not result.correct and reason in result.message, result.message
    example = result.counterexample
    assert example.term.startswith("entry [") and abs(example.actual - example.expected) > 1e-6
    cli = invoke("derive", "-c", cell, "--block", block, "--check", expression)
    assert cli.exit_code == 1 and cli.stdout.startswith(f"WRONG  {cell}: dh_t/dh_{{t-1}}")


def test_cornn_blocks_name_their_column_block() -> None:
    right = "diag(441*(1 - tanh(m_a + u_a)**2)/299350) W_za + diag(210/5987)"
    assert check_formula("cornn", "dy/dz", right).method == "symbolic"
    swapped = check_formula("cornn", "dy/dz", right.replace("W_za", "W_ya"))  # the y-columns for the z-block
    assert not swapped.correct and swapped.counterexample.term in ("diag(.) W_ya", "diag(.) W_za")
    assert swapped.counterexample.expected == 0.0 or swapped.counterexample.actual == 0.0
    dropped = check_formula("cornn", "dy/dz", right.replace("441*", "").replace("/299350", ""))  # dt^2/(1+dt eps)
    assert not dropped.correct and dropped.counterexample.term == "diag(.) W_za"
    v = dropped.counterexample.values
    tanh_prime = 1 - np.tanh(v["u_a"] + v["m_a"]) ** 2
    dt, eps = 0.042, 4.7
    assert dropped.counterexample.expected == pytest.approx(dt * dt / (1 + dt * eps) * tanh_prime, rel=1e-12)
    assert dropped.counterexample.actual == pytest.approx(tanh_prime, rel=1e-12)


@pytest.mark.parametrize(
    ("cell", "expression"),
    [
        # the product distributed, the read's factors split, the whole written by hand
        (
            "gru-cho",
            GRU_CHO.replace(
                " W_hn (diag(h_{t-1}*r_t*(1 - r_t)) W_hr + diag(r_t))",
                " W_hn diag(h_{t-1}) diag(r_t*(1 - r_t)) W_hr + diag((1 - n_t**2)*(1 - z_t)) W_hn diag(r_t)",
            ),
        ),
        ("gru-cho", "z_t + z_t*(1-z_t)*(h_prev - n_t) W_hz + (1-z_t)*(1-n_t^2) W_hn (r_t + h_prev*r_t*(1-r_t) W_hr)"),
        (
            "mgu",
            "1 - f_t + f_t*(1-f_t)*(n_t - h_prev) W_hf + f_t*(1 - n_t**2) * W_hn @ (f_t + f_t*(1-f_t)*h_prev*W_hf)",
        ),
    ],
)
def test_hand_derived_products_of_weight_blocks_are_accepted(cell: str, expression: str) -> None:
    result = check_formula(cell, "dh/dh", expression)
    assert result.correct and result.method.startswith("symbolic"), result.message


def test_a_differing_term_is_also_reported_unit_by_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no dense 2 x 2 counter-example turns up, the word's coefficients at the random points are the numbers."""
    import gradscope.testing.formula_check as formula_check

    def no_dense_counterexample(*args: object, **kwargs: object) -> formula_check.FormulaCheck:
        return formula_check.FormulaCheck("gru-cho", "", "", "", "", True, "numeric")

    monkeypatch.setattr(formula_check, "_check_matrix", no_dense_counterexample)
    result = check_formula("gru-cho", "dh/dh", GRU_CHO.replace(" + diag(r_t))", ")"))
    example = result.counterexample
    assert not result.correct and example.term == "diag(.) W_hn" and example.actual == 0.0
    v = example.values  # the row unit's quantities, and r_t@1: r_t at the unit W_hn reads
    assert v["n_t"] == pytest.approx(np.tanh(v["u_n"] + v["m_n"]), rel=1e-12)
    assert v["r_t@1"] == pytest.approx(sigmoid(v["u_r@1"] + v["m_r@1"]), rel=1e-12)
    assert example.expected == pytest.approx((1 - v["n_t"] ** 2) * (1 - v["z_t"]) * v["r_t@1"], rel=1e-12)
    assert "r_t@1 = " in result.message and "x@k: x at the k-th unit" in result.message


def test_the_jordan_block_evaluated_by_the_parser_equals_autograds_with_output_size_apart_from_hidden() -> None:
    torch = pytest.importorskip("torch")
    output = 2
    rng = np.random.default_rng(9)
    params = init_params(get_cell("jordan").spec, HIDDEN, 2, rng, gain=1.5, output_size=output)
    x, y = rng.standard_normal(2), rng.standard_normal(output)
    t = {k: torch.tensor(np.asarray(v, dtype=float)) for k, v in params.items()}

    def step(state: torch.Tensor) -> torch.Tensor:  # Jordan 1986: the sigmoid output is the state
        hidden = torch.tanh(t["weight_ih_l0"] @ torch.tensor(x) + t["bias_ih_l0"] + t["weight_yh_l0"] @ state)
        return torch.sigmoid(t["weight_hy_l0"] @ hidden + t["bias_hy_l0"])

    expected = torch.autograd.functional.jacobian(step, torch.tensor(y)).numpy()
    u_h = params["weight_ih_l0"] @ x + params["bias_ih_l0"]
    m_h = params["weight_yh_l0"] @ y
    h = np.tanh(u_h + m_h)
    r = params["weight_hy_l0"] @ h + params["bias_hy_l0"]
    values = {"u_h": u_h, "m_h": m_h, "h_t": h, "r": r, "y_t": sigmoid(r), "y_{t-1}": y}
    weights = {"W_hy": params["weight_hy_l0"], "W_yh": params["weight_yh_l0"]}
    (line,) = printed_blocks("jordan")
    printed = matrix_value(parse(line.partition(" = ")[2], "jordan"), values, weights)
    assert printed.shape == (output, output)
    np.testing.assert_allclose(printed, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(derived_matrix(get_cell("jordan"), "y", "y", values, weights), expected, rtol=1e-10)


def test_a_product_past_the_word_limits_is_compared_as_a_dense_matrix() -> None:
    long = check_formula("rnn", "dh/dh", "W_hh**7")  # 7 weight blocks in a row: no word form, a dense 2 x 2 check
    assert not long.correct and "a product of more than 6 weight matrices" in long.message and "entry [" in long.message
    many = check_formula("gru-cho", "dh/dh", "(W_hr + W_hz + W_hn)**4")  # 81 words
    assert not many.correct and "more than 64 products" in many.message
