"""The adapter: tutorial layouts mapped to PyTorch's parameters and back, and the errors for what does not fit."""

from __future__ import annotations

import numpy as np
import pytest

from gradscope.errors import ConfigError, ParameterError, ShapeError
from gradscope.testing import from_arrays

H, I, O = 3, 2, 4
RNG = np.random.default_rng(0)


def arr(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape)


def test_tutorial_rnn_names_and_column_vectors() -> None:
    Wxh, Whh, bh, Why, by = arr(H, I), arr(H, H), arr(H, 1), arr(O, H), arr(O, 1)
    mapped = from_arrays("rnn", Wxh=Wxh, Whh=Whh, bh=bh, Why=Why, by=by, layout="column")
    torch, head = mapped.torch()
    np.testing.assert_array_equal(torch["weight_ih_l0"], Wxh)
    np.testing.assert_array_equal(torch["weight_hh_l0"], Whh)
    np.testing.assert_array_equal(torch["bias_ih_l0"], bh[:, 0])
    np.testing.assert_array_equal(torch["bias_hh_l0"], np.zeros(H))  # one bias: PyTorch's second is zero
    np.testing.assert_array_equal(head.weight, Why)
    np.testing.assert_array_equal(head.bias, by[:, 0])
    layout = mapped.layout
    assert (layout.hidden_size, layout.input_size, layout.output_size, layout.single_bias) == (H, I, O, True)


@pytest.mark.parametrize(
    "names",
    [
        ("W_xh", "W_hh", "b_h", "W_hy", "b_y"),
        ("weight_ih_l0", "weight_hh_l0", "b", "weight_out", "bias_out"),
        ("Wx", "Wh", "bias", "Wy", "b_out"),
    ],
)
def test_the_common_spellings_are_one_name(names: tuple[str, ...]) -> None:
    shapes = [(H, I), (H, H), (H,), (O, H), (O,)]
    mapped = from_arrays("rnn", **{n: arr(*s) for n, s in zip(names, shapes, strict=True)})
    assert [str(r) for r in mapped.layout.roles.values()] == [
        "weight_ih",
        "weight_hh",
        "bias",
        "weight_out",
        "bias_out",
    ]


def lstm_torch() -> dict[str, np.ndarray]:
    return {
        "weight_ih_l0": arr(4 * H, I),
        "weight_hh_l0": arr(4 * H, H),
        "bias_ih_l0": arr(4 * H),
        "bias_hh_l0": arr(4 * H),
    }


def reorder(rows: np.ndarray, order: str) -> np.ndarray:
    """PyTorch's i, f, g, o row blocks in another order."""
    blocks = dict(zip("ifgo", np.split(rows, 4), strict=True))
    return np.concatenate([blocks[g] for g in order])


@pytest.mark.parametrize("concat", ["hx", "xh"])
def test_a_concatenated_weight_in_another_gate_order(concat: str) -> None:
    p = lstm_torch()
    w_ih, w_hh = reorder(p["weight_ih_l0"], "ifog"), reorder(p["weight_hh_l0"], "ifog")
    W = np.concatenate([w_hh, w_ih] if concat == "hx" else [w_ih, w_hh], axis=1)
    b = reorder(p["bias_ih_l0"], "ifog")
    mapped = from_arrays("lstm", W=W, b=b, gates="ifog", concat=concat)
    torch, head = mapped.torch()
    assert head is None
    for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"):
        np.testing.assert_array_equal(torch[key], p[key])
    # and back: PyTorch-named gradients in the user's layout, then to PyTorch's again
    user = mapped.layout.to_user(p, None)
    np.testing.assert_array_equal(user["W"], W)
    np.testing.assert_array_equal(user["b"], b)
    again = mapped.layout.to_torch(user)
    for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"):
        np.testing.assert_array_equal(again[key], p[key])
    # the user's entry W[row, col] in words: row blocks i, f, o, g; columns h first for "hx"
    row = 2 * H + 1  # block 2 of i, f, o, g is the output gate
    assert mapped.layout.locate("W", (row, 0)).startswith("gate 'o', unit 1, ")
    assert ("column h_{t-1}[0]" in mapped.layout.locate("W", (row, 0))) == (concat == "hx")
    assert mapped.layout.locate("W", (row, H + I - 1)) == (
        f"gate 'o', unit 1, input x_t[{I - 1}]" if concat == "hx" else f"gate 'o', unit 1, column h_{{t-1}}[{H - 1}]"
    )


def test_per_gate_arrays_lstm_with_the_candidate_named_c() -> None:
    p = lstm_torch()
    blocks = {k: dict(zip("ifgo", np.split(v, 4), strict=True)) for k, v in p.items()}
    arrays = {}
    for gate, letter in zip("ifgo", "ifco", strict=True):
        arrays[f"Wx{letter}"] = blocks["weight_ih_l0"][gate]
        arrays[f"Wh{letter}"] = blocks["weight_hh_l0"][gate]
        arrays[f"b{letter}"] = blocks["bias_ih_l0"][gate]
    mapped = from_arrays("lstm", **arrays)
    torch, _ = mapped.torch()
    for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"):
        np.testing.assert_array_equal(torch[key], p[key])
    assert str(mapped.layout.roles["Whc"]) == "weight_hh:g"
    assert mapped.layout.locate("Whc", (1, 2)) == "gate 'g', unit 1, column h_{t-1}[2]"


def test_per_gate_gru_with_u_for_the_recurrent_weights() -> None:
    arrays = (
        {f"W{g}": arr(H, I) for g in "zrh"} | {f"U{g}": arr(H, H) for g in "zrh"} | {f"b{g}": arr(H) for g in "zrh"}
    )
    mapped = from_arrays("gru", **arrays)
    torch, _ = mapped.torch()
    np.testing.assert_array_equal(torch["weight_ih_l0"], np.concatenate([arrays["Wr"], arrays["Wz"], arrays["Wh"]]))
    np.testing.assert_array_equal(torch["weight_hh_l0"], np.concatenate([arrays["Ur"], arrays["Uz"], arrays["Uh"]]))
    assert str(mapped.layout.roles["bh"]) == "bias:n"  # next to bz and br, bh is the candidate's bias


def test_row_convention_weights_are_transposed() -> None:
    p = lstm_torch()
    mapped = from_arrays("lstm", Wx=p["weight_ih_l0"].T, Wh=p["weight_hh_l0"].T, b=p["bias_ih_l0"], layout="row")
    torch, _ = mapped.torch()
    np.testing.assert_array_equal(torch["weight_ih_l0"], p["weight_ih_l0"])
    assert mapped.layout.locate("Wx", (1, 2 * H)) == "gate 'g', unit 0, input x_t[1]"


def test_explicit_names_for_other_spellings() -> None:
    U, W, V = arr(H, I), arr(H, H), arr(O, H)
    mapped = from_arrays("rnn", U=U, W=W, V=V, names={"U": "weight_ih", "W": "weight_hh", "V": "weight_out"})
    np.testing.assert_array_equal(mapped.torch()[0]["weight_hh_l0"], W)


@pytest.mark.parametrize(
    ("arrays", "options", "error", "match"),
    [
        (
            {"Wxh": (H, I), "Whx": (H, H)},
            {},
            ParameterError,
            r"unknown name 'Whx' \(did you mean 'Wxh' or 'Why' or 'Whh'\?\)",
        ),
        ({"Wxh": (H, I), "bh": (H,)}, {}, ParameterError, "no recurrent weight"),
        ({"Whh": (H, H), "bh": (H,)}, {}, ParameterError, "no input weight"),
        ({"Wxh": (H, I), "Whh": (H, H), "W_hh": (H, H)}, {}, ParameterError, "more than one array for weight_hh"),
        ({"Wxh": (H, I), "Whh": (H, H), "b_ih": (H,)}, {}, ParameterError, "bias_ih without bias_hh"),
        (
            {"Wxh": (I, H), "Whh": (H, H)},
            {},
            ShapeError,
            r"Wxh: expected shape \(3, I\).*got \(2, 3\); its transpose fits: pass layout='row'",
        ),
        ({"Wxh": (H, I), "Whh": (H, H), "bh": (H + 1,)}, {}, ShapeError, r"bh: expected shape \(3,\)"),
        ({"Wxh": (H, I), "Whh": (H, H), "by": (O,)}, {}, ParameterError, "an output bias without output weights"),
        ({"Wxh": (H, I), "Whh": (H, H)}, {"layout": "diagonal"}, ConfigError, "unknown layout 'diagonal'"),
        ({"Wxh": (H, I), "Whh": (H, H)}, {"names": {"V": "weight_out"}}, ParameterError, "'V' not among"),
        ({"U": (H, I), "Whh": (H, H)}, {"names": {"U": "weight_in"}}, ParameterError, "unknown role 'weight_in'"),
    ],
)
def test_what_does_not_fit_is_named(arrays: dict, options: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        from_arrays("rnn", **{k: arr(*s) for k, s in arrays.items()}, **options)


def test_gate_orders_are_checked() -> None:
    p = lstm_torch()
    with pytest.raises(ConfigError, match="'ifgx' is not an order of the lstm gates i, f, g, o"):
        from_arrays("lstm", W_ih=p["weight_ih_l0"], W_hh=p["weight_hh_l0"], gates="ifgx")
    with pytest.raises(ParameterError, match="missing gate"):
        from_arrays("lstm", Wxi=arr(H, I), Whi=arr(H, H), Wxf=arr(H, I), Whf=arr(H, H))
