"""Configurations, forget-gate biases, one-knob sweeps, length studies, bounds and spectra, against second sources."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from row_checks import assert_number, assert_profile

import gradscope
from gradscope.analysis.describe import describe_config, init_text
from gradscope.analysis.problem import make_problem
from gradscope.analysis.spectra import relative_spectrum, resolution_floor, spectrum_table, surviving_directions
from gradscope.cells.spec import CellSpec
from gradscope.errors import ConfigError, UnknownCellError
from gradscope.params import init_params
from gradscope.params.init import chrono_forget_bias, set_forget_bias
from gradscope.studies import SerialExecutor, length_study, sweep

H, I = 5, 3


def one_knob(cell: str, parameter: str, values: list, steps: int, seed: int = 0, **options: object):
    """A sweep of one option with the same seed for every value, keeping the profiles."""
    return sweep(
        cell,
        {parameter: values},
        seeding="paired",
        keep_profiles=True,
        executor=SerialExecutor(),
        steps=steps,
        seed=seed,
        **options,
    )


def bias_arrays(steps: int, seed: int, **options: object) -> dict[str, np.ndarray]:
    """The LSTM's parameters as the problem draws them, with the given forget-bias options."""
    return make_problem("lstm", hidden_size=H, input_size=I, steps=steps, seed=seed, **options).params.as_dict()


@pytest.mark.parametrize("cell", ["rnn", "rnn-relu", "lstm", "gru"])
def test_a_problem_made_first_is_plain_analyze(cell: str) -> None:
    ours = gradscope.analyze(
        make_problem(cell, hidden_size=H, input_size=I, steps=20, seed=2, init="gaussian", gain=1.3)
    )
    reference = gradscope.analyze(cell, hidden_size=H, input_size=I, steps=20, seed=2, init="gaussian", gain=1.3)
    assert_array_equal(ours.log10_norm, reference.log10_norm)
    assert ours.config == reference.config


def test_forget_bias_changes_only_the_forget_chunk() -> None:
    biased = make_problem("lstm", hidden_size=H, input_size=I, steps=20, seed=4, forget_bias=1.5)
    params, inputs = biased.params.as_dict(), biased.inputs
    assert biased.config["forget_bias"] == 1.5
    reference = make_problem("lstm", hidden_size=H, input_size=I, steps=20, seed=4)
    assert_array_equal(inputs, reference.inputs)
    assert_array_equal(params["weight_ih_l0"], reference.params.weight_ih)
    assert_array_equal(params["weight_hh_l0"], reference.params.weight_hh)
    f = slice(H, 2 * H)
    assert_array_equal(params["bias_ih_l0"][f], 1.5)
    assert_array_equal(params["bias_hh_l0"][f], 0.0)
    for name, original in (("bias_ih_l0", reference.params.bias_ih), ("bias_hh_l0", reference.params.bias_hh)):
        assert_array_equal(np.delete(params[name], np.r_[f]), np.delete(original, np.r_[f]))


def test_effective_forget_bias_in_pytorch() -> None:
    """Loaded into a real torch.nn.LSTM, the forget gate sees sigmoid(forget_bias): the two vectors add."""
    torch = pytest.importorskip("torch")
    from tests.torch_reference import module_for

    rng = np.random.default_rng(0)
    params = init_params(CellSpec("lstm", "LSTM", ("i", "f", "g", "o"), ("h", "c")), H, I, rng)
    params["bias_hh_l0"][H : 2 * H] = 0.7  # overwritten: the effective bias is what counts
    params = set_forget_bias(params, 2.5)
    params["weight_ih_l0"][:] = 0.0
    params["weight_hh_l0"][:] = 0.0
    module = module_for("lstm", params)
    c0 = torch.ones(1, 1, H, dtype=torch.float64)
    h0 = torch.zeros(1, 1, H, dtype=torch.float64)
    with torch.no_grad():
        _, (_, c1) = module(torch.zeros(1, 1, I, dtype=torch.float64), (h0, c0))
    bias = params["bias_ih_l0"] + params["bias_hh_l0"]
    i, f, g = (bias[k * H : (k + 1) * H] for k in range(3))
    sigmoid = 1 / (1 + np.exp(-np.array([i, f])))
    assert_array_equal(f, 2.5)
    assert_allclose(c1.numpy().ravel(), sigmoid[1] * 1.0 + sigmoid[0] * np.tanh(g), rtol=1e-12)


def test_chrono_initialisation() -> None:
    params = bias_arrays(20, 1, forget_bias="chrono", t_max=50)
    longer = bias_arrays(70, 1, forget_bias="chrono", t_max=50)
    other = bias_arrays(20, 2, forget_bias="chrono", t_max=50)
    b_f = params["bias_ih_l0"][H : 2 * H]
    assert np.all((b_f >= 0.0) & (b_f <= math.log(49)))
    assert_array_equal(params["bias_ih_l0"][:H], -b_f)
    assert_array_equal(params["bias_hh_l0"][: 2 * H], 0.0)
    assert_array_equal(longer["bias_ih_l0"], params["bias_ih_l0"])  # independent of T
    assert not np.array_equal(other["bias_ih_l0"][H : 2 * H], b_f)


def test_chrono_distribution() -> None:
    """exp(b_f) ~ U(1, T_max - 1): mean (T_max)/2 and variance (T_max - 2)^2 / 12."""
    t_max = 100
    samples = np.exp(chrono_forget_bias(200_000, t_max, np.random.default_rng(5)))
    assert samples.min() >= 1.0 and samples.max() <= t_max - 1
    assert samples.mean() == pytest.approx(t_max / 2, rel=5e-3)
    assert samples.var() == pytest.approx((t_max - 2) ** 2 / 12, rel=1e-2)


def test_chrono_t_max_defaults_to_steps() -> None:
    params = bias_arrays(10, 0, forget_bias="chrono")
    assert np.all(params["bias_ih_l0"][H : 2 * H] <= math.log(9))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"cell": "gru", "forget_bias": 1.0}, ConfigError),
        ({"cell": "lstm", "forget_bias": "chronos"}, ConfigError),
        ({"cell": "lstmm"}, UnknownCellError),
    ],
)
def test_forget_bias_validation(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_problem(**kwargs)  # type: ignore[arg-type]


def test_chrono_needs_t_max_of_three() -> None:
    with pytest.raises(ConfigError, match="t_max"):
        gradscope.analyze("lstm", hidden_size=H, input_size=I, steps=10, forget_bias="chrono", t_max=2)


def test_larger_forget_bias_keeps_the_gradient_longer() -> None:
    rates = [
        gradscope.analyze("lstm", hidden_size=16, input_size=4, steps=80, forget_bias=b).rate_per_step
        for b in (-2.0, 0.0, 2.0)
    ]
    assert rates[0] < rates[1] < rates[2]


def test_configuration_text() -> None:
    problem = make_problem("rnn", hidden_size=64, input_size=32, init="gaussian", gain=1.5)
    assert describe_config(problem.config) == "Gaussian init, gain 1.5" == init_text("gaussian", 1.5)
    assert describe_config(make_problem("rnn", params=problem.params.as_dict()).config) == "given weights"
    described = gradscope.analyze(problem).describe()
    assert described == "tanh RNN, H=64, I=32, T=200, Gaussian init, gain 1.5, seed 0"


def test_ensemble_members_are_redrawn_problems() -> None:
    problem = make_problem("lstm", hidden_size=H, input_size=I, steps=15, seed=3, forget_bias=1.0)
    ensemble = gradscope.analyze_ensemble(problem, samples=2, label="LSTM, b_f = 1")
    for row, seed in zip(ensemble.profiles, (3, 4), strict=True):  # batched: the single numbers to rounding
        assert_allclose(row, gradscope.analyze(problem.redraw(seed=seed)).log10_norm, rtol=1e-12, atol=1e-12)
    assert ensemble.label == "LSTM, b_f = 1"


def test_sweep_rows_are_independent_runs() -> None:
    gains = [0.5, 1.0, 2.0]
    result = one_knob("rnn", "gain", gains, steps=25, seed=1, hidden_size=H, input_size=I, init="gaussian")
    for row, rate, gain in zip(result.profiles, result.column("rate_per_step"), gains, strict=True):
        reference = gradscope.analyze("rnn", hidden_size=H, input_size=I, steps=25, seed=1, init="gaussian", gain=gain)
        assert_profile(row, reference.log10_norm, batched=True)  # a sweep batches its float64 RNNs: to 1e-12
        assert_number(rate, reference.rate_per_step, batched=True)
    assert result.labels == ("0.5", "1", "2")
    assert_array_equal(result.numeric_values(), gains)
    assert result.profiles.shape == (3, 25)
    assert_array_equal(result.column("final_log10_norm"), result.profiles[:, -1])
    assert result.parameter_text == "init gain g"


def test_forget_bias_sweep_with_chrono_is_categorical() -> None:
    result = one_knob("lstm", "forget_bias", [0.0, 1.0, "chrono"], steps=15, hidden_size=H, input_size=I, t_max=20)
    assert result.labels == ("0", "1", "chrono")
    assert result.numeric_values() is None
    assert result.rate_zero_crossings() == ()
    chrono = gradscope.analyze("lstm", hidden_size=H, input_size=I, steps=15, forget_bias="chrono", t_max=20)
    assert_profile(result.profiles[2], chrono.log10_norm, batched=True)


def test_rate_zero_crossings_interpolate() -> None:
    result = one_knob("rnn", "gain", [0.0, 1.0, 2.0], steps=5, hidden_size=H, input_size=I)
    rows = tuple(row | {"rate_per_step": rate} for row, rate in zip(result.rows, (-1.0, 1.0, 3.0), strict=True))
    fake = dataclasses.replace(result, rows=rows)
    assert fake.rate_zero_crossings() == (0.5,)
    with pytest.raises(ConfigError, match="cannot sweep"):
        sweep("rnn", {"cell": ["lstm"]}, steps=5)


def test_length_study_matches_runs_and_nests_inputs() -> None:
    setups = [
        make_problem("rnn", hidden_size=H, input_size=I, seed=3),
        make_problem("lstm", hidden_size=H, input_size=I, seed=3, forget_bias="chrono", t_max=40),
    ]
    study = length_study(setups, [10, 20], samples=2)
    assert study.final_log10_norm.shape == (2, 2, 2)
    for v, setup in enumerate(setups):
        for s, seed in enumerate((3, 4)):
            for j, T in enumerate((10, 20)):
                result = gradscope.analyze(setup.redraw(steps=T, seed=seed))
                assert study.final_log10_norm[v, s, j] == result.final_log10_norm
                assert study.rates[v, s, j] == result.rate_per_step
    short = make_problem("rnn", hidden_size=H, input_size=I, steps=10, seed=3).inputs
    long = make_problem("rnn", hidden_size=H, input_size=I, steps=20, seed=3).inputs
    assert_array_equal(long[:10], short)
    assert_array_equal(study.median_final(), np.median(study.final_log10_norm, axis=1))
    with pytest.raises(ConfigError):
        length_study(setups, [20, 10])


def test_fitted_line_is_the_least_squares_line() -> None:
    result = gradscope.analyze("gru", hidden_size=H, input_size=I, steps=40, seed=5)
    slope, intercept = np.polyfit(result.lags, result.log10_norm, 1)
    assert result.fitted_log10 is not None
    assert_allclose(result.fitted_log10, intercept + slope * result.lags, rtol=1e-9, atol=1e-9)
    assert slope * math.log(10) == pytest.approx(result.rate_per_step, rel=1e-9)
    assert result.pascanu_bound is None  # no Pascanu bound for gated cells
    assert dataclasses.replace(result, rate_per_step=-math.inf).fitted_log10 is None


def test_pascanu_bound_uses_the_drawn_or_given_weights() -> None:
    result = gradscope.analyze("rnn", hidden_size=H, input_size=I, steps=30, seed=6, init="gaussian", gain=1.7)
    weight = make_problem(
        "rnn", hidden_size=H, input_size=I, steps=30, seed=6, init="gaussian", gain=1.7
    ).params.weight_hh
    top = np.linalg.svd(weight, compute_uv=False)[0]
    bound = result.pascanu_bound
    assert bound is not None
    assert bound.sigma_max == pytest.approx(top, rel=1e-12)
    assert_allclose(bound.log10, result.lags * np.log10(top), rtol=1e-12)
    params = {"weight_ih_l0": np.ones((H, I)), "weight_hh_l0": 0.5 * np.eye(H)}
    given = gradscope.analyze("rnn", params=params, steps=10)
    assert given.pascanu_bound is not None  # the analysis holds its problem: given weights are known too
    assert_allclose(given.pascanu_bound.log10, given.lags * np.log10(0.5), rtol=1e-12)
    assert "H=5" in result.describe(with_cell=False) and "seed 6" in result.describe(with_cell=False)


def test_pascanu_bound_of_a_stacked_rnn_uses_the_top_layer() -> None:
    rng = np.random.default_rng(9)
    params = {
        "weight_ih_l0": rng.standard_normal((H, I)),
        "weight_hh_l0": 3.0 * np.eye(H),  # a bottom-layer bound would be far too loose
        "weight_ih_l1": rng.standard_normal((H, H)),
        "weight_hh_l1": 0.4 * rng.standard_normal((H, H)),
    }
    result = gradscope.analyze("rnn", params=params, steps=20)
    assert result.num_layers == 2
    bound = result.pascanu_bound
    assert bound is not None
    assert bound.sigma_max == pytest.approx(np.linalg.svd(params["weight_hh_l1"], compute_uv=False)[0])
    assert np.all(result.log10_norm <= bound.log10 + 1e-9)


def test_spectra_helpers() -> None:
    analyses = [
        gradscope.analyze(c, hidden_size=H, input_size=I, steps=30, snapshot_lags=(1, 10)) for c in ("rnn", "lstm")
    ]
    rnn = analyses[0]
    relative = relative_spectrum(rnn, 10)
    assert relative[0] == 0.0 and np.all(np.diff(relative) <= 0)
    assert resolution_floor(rnn) == pytest.approx(math.log10(H * np.finfo(float).eps))
    assert resolution_floor(analyses[1]) == pytest.approx(math.log10(2 * H * np.finfo(float).eps))
    table = spectrum_table(analyses, ["rnn", "lstm"])
    assert table.lags == (1, 10)
    assert table.state_sizes == (H, 2 * H)
    for v, a in enumerate(analyses):
        for j, k in enumerate((1, 10)):
            values = 10.0 ** a.singular_values[k]
            assert table.counts[v, j] == np.count_nonzero(values >= values[0] / 10)


def test_surviving_directions() -> None:
    assert surviving_directions(np.array([0.0, -0.5, -1.0, -1.5])) == 3
    assert surviving_directions(np.array([0.0, -0.5, -1.0, -1.5]), decades=2.0) == 4
    assert surviving_directions(np.array([-np.inf, -np.inf])) == 0
    assert surviving_directions(np.array([])) == 0
