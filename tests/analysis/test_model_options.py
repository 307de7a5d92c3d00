"""The model options (``init``, ``forget_bias``, ``update_bias``, ``num_layers``, ``bidirectional``) against
second sources: closed forms (IRNN's ``gain * I``, Glorot's bound, chrono's law, a saturated keep gate), and
real ``torch.nn`` modules holding the drawn weights, whose autograd gives the same profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradscope.analysis.problem import make_problem
from gradscope.analysis.profile import analyze
from gradscope.compile import compile_cell
from gradscope.engine.depth import model_output
from gradscope.errors import ConfigError
from gradscope.params.init import CHRONO_STREAM, chrono_forget_bias, init_params


def drawn(cell: str, hidden: int = 6, width: int = 3, **options: object) -> dict[str, np.ndarray]:
    problem = make_problem(cell, hidden_size=hidden, input_size=width, steps=5, **options)
    return problem.network.first.as_dict()


@pytest.mark.parametrize("cell", ["rnn-relu", "rnn", "lstm", "gru"])
def test_identity_init_is_gain_times_the_identity_with_zero_biases(cell: str) -> None:
    gain, hidden = 0.9, 5
    params = drawn(cell, hidden, init="identity", gain=gain)
    gates = compile_cell(cell).spec.num_gates
    blocks = params["weight_hh_l0"].reshape(gates, hidden, hidden)
    for block in blocks:  # exactly gain * I (Le, Jaitly & Hinton 2015), no rounding
        np.testing.assert_array_equal(block, gain * np.eye(hidden))
    np.testing.assert_array_equal(params["bias_ih_l0"], 0.0)
    np.testing.assert_array_equal(params["bias_hh_l0"], 0.0)
    default = drawn(cell, hidden)  # the input weights stay PyTorch's U(-1/sqrt(H), 1/sqrt(H))
    np.testing.assert_array_equal(params["weight_ih_l0"], default["weight_ih_l0"])


def test_identity_init_of_per_unit_weights_is_all_gain() -> None:
    params = drawn("indrnn", 4, init="identity", gain=0.5)
    np.testing.assert_array_equal(params["weight_hh_l0"], 0.5)


def test_irnn_at_zero_input_keeps_the_gradient_exactly() -> None:
    # ReLU RNN, W_hh = I, no bias, zero input, positive state: h_t = h_0 for every t and every J_t = I.
    problem = make_problem(
        "rnn-relu", init="identity", hidden_size=4, input_size=2, inputs=np.zeros((9, 2)), h0=np.ones(4)
    )
    np.testing.assert_allclose(analyze(problem).log10_norm, 0.0, atol=1e-14)


@pytest.mark.parametrize(("cell", "gain"), [("lstm", 1.0), ("gru", 1.7), ("rnn", 0.6)])
def test_xavier_init_is_torch_xavier_uniform_of_the_recurrent_weight(cell: str, gain: float) -> None:
    torch = pytest.importorskip("torch")
    hidden = 64
    weight = drawn(cell, hidden, 8, init="xavier", gain=gain)["weight_hh_l0"]
    reference = torch.empty(weight.shape, dtype=torch.float64)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(reference)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))  # Glorot & Bengio 2010, as torch documents it
    torch.manual_seed(0)
    torch.nn.init.xavier_uniform_(reference, gain=gain)
    theirs = reference.numpy()
    assert np.abs(weight).max() <= bound
    assert np.abs(weight).max() > 0.99 * bound
    # U(-a, a) has standard deviation a / sqrt(3); torch's own draw of the same shape agrees within sampling error.
    np.testing.assert_allclose(weight.std(), bound / math.sqrt(3), rtol=0.03)
    np.testing.assert_allclose(weight.std(), theirs.std(), rtol=0.05)
    assert abs(weight.mean()) < 0.05 * bound


def test_chrono_bias_follows_the_paper() -> None:
    # Tallec & Ollivier 2018: b_f = log(U(1, T_max - 1)), b_i = -b_f; exp(b_f) is uniform on (1, T_max - 1).
    t_max, hidden = 40, 2000
    values = np.sort(np.exp(chrono_forget_bias(hidden, t_max, np.random.default_rng(3))))
    assert values.min() >= 1.0 and values.max() <= t_max - 1
    uniform_cdf = (values - 1.0) / (t_max - 2.0)
    empirical = np.arange(1, hidden + 1) / hidden
    assert np.max(np.abs(empirical - uniform_cdf)) < 1.63 / math.sqrt(hidden)  # Kolmogorov-Smirnov, 1 %


def test_init_chrono_is_forget_bias_chrono_for_the_lstm() -> None:
    hidden, t_max = 8, 30
    params = drawn("lstm", hidden, init="chrono", t_max=t_max)
    same = drawn("lstm", hidden, forget_bias="chrono", t_max=t_max)
    for name, value in params.items():
        np.testing.assert_array_equal(value, same[name])
    b = params["bias_ih_l0"] + params["bias_hh_l0"]
    f, i = b[hidden : 2 * hidden], b[:hidden]
    expected = np.log(np.random.default_rng([0, CHRONO_STREAM]).uniform(1.0, t_max - 1.0, size=hidden))
    np.testing.assert_array_equal(f, expected)
    np.testing.assert_array_equal(i, -f)
    default = drawn("lstm", hidden)  # g and o chunks keep PyTorch's draw
    np.testing.assert_array_equal(params["bias_ih_l0"][2 * hidden :], default["bias_ih_l0"][2 * hidden :])


def test_init_chrono_for_the_gru_sets_the_update_gate_only() -> None:
    hidden, t_max = 8, 30
    params = drawn("gru", hidden, init="chrono", t_max=t_max)
    default = drawn("gru", hidden)
    b_z = (params["bias_ih_l0"] + params["bias_hh_l0"])[hidden : 2 * hidden]
    assert np.all((b_z >= 0.0) & (b_z <= math.log(t_max - 1)))
    for chunk in (slice(0, hidden), slice(2 * hidden, 3 * hidden)):
        np.testing.assert_array_equal(params["bias_ih_l0"][chunk], default["bias_ih_l0"][chunk])
        np.testing.assert_array_equal(params["bias_hh_l0"][chunk], default["bias_hh_l0"][chunk])


@pytest.mark.parametrize(
    ("cell", "option", "value", "chunk"),
    [("lstm", "forget_bias", 2.0, 1), ("gru", "update_bias", 1.5, 1), ("gru", "update_bias", -2.0, 1)],
)
def test_gate_bias_profiles_match_torch_modules_with_the_same_weights(
    cell: str, option: str, value: float, chunk: int
) -> None:
    pytest.importorskip("torch")
    import torch_reference

    hidden, width, steps = 4, 3, 10
    problem = make_problem(cell, hidden_size=hidden, input_size=width, steps=steps, seed=2, **{option: value})
    params = problem.network.first.as_dict()
    module = torch_reference.module_for(cell, params)
    rows = slice(chunk * hidden, (chunk + 1) * hidden)
    effective = (module.bias_ih_l0 + module.bias_hh_l0).detach().numpy()[rows]
    np.testing.assert_array_equal(effective, value)  # the effective bias, as PyTorch adds the two vectors
    products = torch_reference.lag_products(cell, params, np.asarray(problem.inputs), problem.initial_state[0])
    expected = np.log10(np.linalg.norm(products, ord=2, axis=(1, 2)))
    np.testing.assert_allclose(analyze(problem).log10_norm, expected, rtol=0, atol=1e-9)


def test_a_larger_update_bias_keeps_more_of_the_previous_state() -> None:
    # PyTorch's GRU: h' = (1 - z) n + z h. With b_z = 40, z = 1 - 4e-18 and h' = h: every ||P_k|| is 1.
    kept = analyze(make_problem("gru", hidden_size=6, input_size=3, steps=30, update_bias=40.0))
    np.testing.assert_allclose(kept.log10_norm, 0.0, atol=1e-12)
    rates = [
        analyze(make_problem("gru", hidden_size=6, input_size=3, steps=30, update_bias=b)).rate_per_step
        for b in (-2.0, 0.0, 2.0)
    ]
    assert rates[0] < rates[1] < rates[2] < 0


def test_random_stacked_bidirectional_models_are_torch_modules() -> None:
    torch = pytest.importorskip("torch")
    import torch_reference

    hidden, width, steps = 4, 3, 9
    problem = make_problem(
        "lstm", hidden_size=hidden, input_size=width, steps=steps, num_layers=2, bidirectional=True, forget_bias=1.0
    )
    params = {
        name + suffix: value
        for (layer, row) in enumerate(problem.network.layers)
        for (direction, layer_params) in enumerate(row)
        for suffix in [f"_l{layer}" + ("_reverse" if direction else "")]
        for name, value in ((k.removesuffix("_l0"), v) for k, v in layer_params.as_dict().items())
    }
    reference = torch.nn.LSTM(width, hidden, num_layers=2, bidirectional=True).double()
    assert {k: tuple(v.shape) for k, v in reference.state_dict().items()} == {k: v.shape for k, v in params.items()}
    module = torch_reference.stacked_module("lstm", params, 2, True)
    xs = torch.tensor(np.asarray(problem.inputs))
    with torch.no_grad():
        output, _ = module(xs)
        lower = torch_reference.stacked_module("lstm", {k: v for k, v in params.items() if "_l0" in k}, 1, True)
        layer_input, _ = lower(xs)
    np.testing.assert_allclose(model_output(problem.forward()), output.numpy(), rtol=0, atol=1e-13)
    top_forward = {k.replace("_l1", "_l0"): v for k, v in params.items() if "_l1" in k and "reverse" not in k}
    products = torch_reference.lag_products("lstm", top_forward, layer_input.numpy(), np.zeros(2 * hidden))
    expected = np.log10(np.linalg.norm(products, ord=2, axis=(1, 2)))
    np.testing.assert_allclose(analyze(problem).log10_norm, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("cell", "options", "fragment"),
    [
        ("gru", {"forget_bias": 1.0}, "forget_bias sets the LSTM's forget gate"),
        ("lstm", {"update_bias": 1.0}, "update_bias sets the GRU's update gate"),
        ("rnn", {"init": "chrono"}, "init chrono"),
        ("indrnn", {"init": "xavier"}, "init xavier needs a recurrent weight matrix"),
        ("lstm", {"init": "chrono", "forget_bias": 1.0}, "init chrono sets forget_bias itself"),
        ("jordan", {"num_layers": 2}, "one layer, one direction"),
        ("gru", {"update_bias": "often"}, "update_bias must be a number or 'chrono'"),
    ],
)
def test_options_that_do_not_fit_the_cell_are_refused(cell: str, options: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        make_problem(cell, hidden_size=4, input_size=2, steps=5, **options)


def test_init_params_draws_the_same_for_the_old_inits() -> None:
    # The reproducibility contract: adding inits changed nothing for pytorch, gaussian and orthogonal.
    spec = compile_cell("lstm").spec
    for init in ("pytorch", "gaussian", "orthogonal"):
        rng = np.random.default_rng(5)
        bound = 1.0 / math.sqrt(4)
        first = {
            name: rng.uniform(-bound, bound, size=shape)
            for name, shape in {
                "weight_ih_l0": (16, 3),
                "weight_hh_l0": (16, 4),
                "bias_ih_l0": (16,),
                "bias_hh_l0": (16,),
            }.items()
        }
        params = init_params(spec, 4, 3, np.random.default_rng(5), init)
        np.testing.assert_array_equal(params["weight_ih_l0"], first["weight_ih_l0"])
        np.testing.assert_array_equal(params["bias_hh_l0"], first["bias_hh_l0"])
