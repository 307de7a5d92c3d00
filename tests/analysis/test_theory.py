"""The theory added for sweeps and Lyapunov spectra, each against a second source.

Special functions against ``math.lgamma`` and known values; Newman's spectrum against closed forms
for N = 1 and its large-N limit; the Gaussian moments and the mean-field fixed point against mpmath's quadrature;
the init-dependent mean-field parameters against sample statistics of drawn networks; the forget
gate and chrono formulas against direct evaluation and chrono's own random draws. (The Lyapunov
measurements these predict are checked in ``tests/analysis/test_lyapunov_spectrum.py``.)
"""

from __future__ import annotations

import math

import mpmath  # a SymPy dependency
import numpy as np
import pytest
from numpy.testing import assert_allclose

from gradscope.analysis.problem import make_problem
from gradscope.analysis.theory import (
    chrono_memory_time_range,
    chrono_slowest_rate,
    digamma,
    forget_gate_efolding_lag,
    forget_gate_memory_time,
    forget_gate_rate,
    mean_field_chi1,
    mean_field_top_exponent,
    mean_field_variance,
    newman_spectrum,
    newman_step_variance,
    tanh_moments,
    tanh_rnn_mean_field_parameters,
    tanh_rnn_mean_field_rate,
    trigamma,
)
from gradscope.params.init import chrono_forget_bias

EULER_GAMMA = 0.5772156649015329
ARGUMENTS = [0.05, 0.5, 1.0, 1.5, 2.0, 3.7, 9.99, 10.0, 25.0, 1e3]


@pytest.mark.parametrize("x", ARGUMENTS)
def test_digamma_is_the_derivative_of_lgamma(x: float) -> None:
    # Central difference of math.lgamma: truncation error h^2 psi''(x)/6 and rounding
    # eps |lgamma| / h; with h = 1e-5 x both stay below 1e-8 relative to the scale of psi.
    h = 1e-5 * x
    reference = (math.lgamma(x + h) - math.lgamma(x - h)) / (2 * h)
    assert digamma(x) == pytest.approx(reference, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("x", ARGUMENTS)
def test_trigamma_is_the_series_sum(x: float) -> None:
    # psi'(x) = sum_k 1/(x + k)^2; the tail beyond K is 1/(x+K) - 1/(2(x+K)^2) + O((x+K)^-3).
    K = 200_000
    k = np.arange(K, dtype=np.float64)
    tail = 1 / (x + K) + 1 / (2 * (x + K) ** 2)
    reference = float(np.sum(1.0 / (x + k) ** 2)) + tail
    assert trigamma(x) == pytest.approx(reference, rel=1e-12)


def test_special_values_and_recurrences() -> None:
    assert digamma(1.0) == pytest.approx(-EULER_GAMMA, abs=1e-14)
    assert digamma(0.5) == pytest.approx(-EULER_GAMMA - 2 * math.log(2), abs=1e-14)
    assert trigamma(1.0) == pytest.approx(math.pi**2 / 6, rel=1e-14)
    assert trigamma(0.5) == pytest.approx(math.pi**2 / 2, rel=1e-14)
    for x in (0.3, 2.2, 7.5, 11.0):
        assert digamma(x + 1) - digamma(x) == pytest.approx(1 / x, rel=1e-12)
        assert trigamma(x) - trigamma(x + 1) == pytest.approx(1 / x**2, rel=1e-11)
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            digamma(bad)
        with pytest.raises(ValueError):
            trigamma(bad)


def test_newman_for_one_by_one_matrices_is_the_mean_log_of_a_gaussian() -> None:
    # N = 1: lambda = E ln|g z| = ln g - (gamma + ln 2) / 2 for z ~ N(0, 1); Var ln|z| = pi^2 / 8.
    for gain in (0.3, 1.0, 2.5):
        (value,) = newman_spectrum(1, gain)
        assert value == pytest.approx(math.log(gain) - (EULER_GAMMA + math.log(2)) / 2, abs=1e-14)
    assert newman_step_variance(1)[0] == pytest.approx(math.pi**2 / 8, rel=1e-14)


def test_newman_spectrum_shape_order_and_large_n_limit() -> None:
    spectrum = newman_spectrum(50, 1.7)
    assert spectrum.shape == (50,)
    assert np.all(np.diff(spectrum) < 0)
    assert_allclose(newman_spectrum(50, 1.7, count=5), spectrum[:5])
    assert_allclose(newman_spectrum(50, 1.0) + math.log(1.7), spectrum, rtol=0, atol=1e-14)
    # psi(N/2) = ln(N/2) - 1/N + O(N^-2), so lambda_1 = ln g - 1/(2N) + O(N^-2).
    for n in (100, 1000, 10_000):
        assert newman_spectrum(n, 2.0, count=1)[0] == pytest.approx(math.log(2.0) - 1 / (2 * n), abs=2 / n**2)
    with pytest.raises(ValueError):
        newman_spectrum(5, 1.0, count=6)
    with pytest.raises(ValueError):
        newman_spectrum(0)
    with pytest.raises(ValueError):
        newman_spectrum(3, 0.0)


def _reference_moments(variance: float) -> tuple[float, float]:
    """E[tanh(a)^2], E[tanh'(a)^2] for a ~ N(0, variance) by mpmath's adaptive quadrature at 30 digits."""
    mpmath.mp.dps = 30
    scale = mpmath.sqrt(variance)
    density = 1 / mpmath.sqrt(2 * mpmath.pi)
    points = [-mpmath.inf, -1, 0, 1, mpmath.inf]
    squared = mpmath.quad(lambda z: mpmath.tanh(scale * z) ** 2 * mpmath.exp(-z * z / 2), points) * density
    derivative = mpmath.quad(lambda z: (1 - mpmath.tanh(scale * z) ** 2) ** 2 * mpmath.exp(-z * z / 2), points)
    return float(squared), float(derivative * density)


@pytest.mark.parametrize("variance", [0.0, 0.01, 0.5, 2.0, 9.0, 50.0, 400.0])
def test_gaussian_moments_match_an_independent_quadrature(variance: float) -> None:
    assert_allclose(tanh_moments(variance), _reference_moments(variance), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("gain", "drive"), [(1.2, 0.0), (1.5, 0.0), (2.0, 0.0), (3.0, 0.0), (0.5, 0.3), (2.0, 0.1)])
def test_mean_field_fixed_point_and_chi1(gain: float, drive: float) -> None:
    q = mean_field_variance(gain, drive)
    mean_tanh2, mean_derivative2 = _reference_moments(q)
    assert q > 0
    assert q == pytest.approx(gain**2 * mean_tanh2 + drive, rel=1e-9)
    assert mean_field_chi1(gain, drive) == pytest.approx(gain**2 * mean_derivative2, rel=1e-9)
    assert mean_field_top_exponent(gain, drive) == pytest.approx(0.5 * math.log(gain**2 * mean_derivative2), rel=1e-9)


def test_mean_field_is_log_g_up_to_the_edge_of_chaos_and_positive_beyond() -> None:
    gains = np.array([0.1, 0.5, 0.9, 1.0])
    assert_allclose(mean_field_top_exponent(gains), np.log(gains), atol=1e-15)
    assert mean_field_variance(0.8) == 0.0
    above = mean_field_top_exponent(np.array([1.01, 1.5, 2.0, 3.0, 5.0]))
    assert np.all(above > 0) and np.all(np.diff(above) > 0)
    # Continuity at g = 1: q* ~ 3(g^2 - 1)/2 ... small, lambda_1 -> 0 from above.
    assert 0 < mean_field_top_exponent(1.0001) < 1e-3
    assert mean_field_top_exponent(0.0) == -math.inf
    # A drive pushes the chaotic boundary above g = 1 and lowers the exponent.
    assert mean_field_top_exponent(1.5, 0.5) < mean_field_top_exponent(1.5)


@pytest.mark.parametrize("init", ["pytorch", "gaussian", "orthogonal", "xavier"])
def test_mean_field_parameters_match_sample_statistics_of_drawn_networks(init: str) -> None:
    H, I, T, gain, scale = 300, 30, 400, 1.7, 2.0
    problem = make_problem("rnn", hidden_size=H, input_size=I, steps=T, seed=4, init=init, gain=gain)
    g, drive = tanh_rnn_mean_field_parameters(init, gain, H, I, scale)
    params = problem.params
    # Entries of W_hh: variance g^2/H; H^2 = 90,000 samples give ~0.5 % relative error (4 sigma < 2 %).
    assert np.mean(params.weight_hh**2) * H == pytest.approx(g**2, rel=0.02)
    # Drive W_ih x + b over units and steps: its variance across units, averaged over time.
    drive_samples = scale * problem.inputs @ params.weight_ih.T + params.bias_ih + params.bias_hh
    assert np.mean(drive_samples**2) == pytest.approx(drive, rel=0.1)
    assert tanh_rnn_mean_field_rate(init, gain, H, I, scale) == pytest.approx(mean_field_top_exponent(g, drive))
    with pytest.raises(ValueError, match="init"):
        tanh_rnn_mean_field_parameters("identity", 1.0, 4, 4)


def test_forget_gate_rate_memory_time_and_efolding_lag() -> None:
    b = np.array([-30.0, -2.0, 0.0, 1.0, 3.0, 40.0])
    f = 1 / (1 + np.exp(-b))
    # ln sigmoid(b) = -ln(1 + e^-b), evaluated one by one with math.log1p (exact also where f rounds to 1).
    assert_allclose(forget_gate_rate(b), [-math.log1p(math.exp(-v)) for v in b], rtol=1e-13)
    assert_allclose(forget_gate_memory_time(b[1:-1]), 1 / (1 - f[1:-1]), rtol=1e-12)
    assert_allclose(forget_gate_efolding_lag(b[:-1]), -1 / np.log(f[:-1]), rtol=1e-12)
    assert isinstance(forget_gate_rate(1.0), float)
    # For large b_f the e-folding lag is the memory time minus 1/2.
    assert forget_gate_efolding_lag(8.0) == pytest.approx(forget_gate_memory_time(8.0) - 0.5, abs=1e-3)


def test_chrono_memory_times_are_uniform_between_2_and_t_max() -> None:
    t_max, n = 200, 20_000
    times = forget_gate_memory_time(chrono_forget_bias(n, t_max, np.random.default_rng(7)))
    low, high = chrono_memory_time_range(t_max)
    assert (low, high) == (2.0, 200.0)
    assert times.min() >= low and times.max() <= high
    # Uniform on (2, T_max): mean (2 + T_max)/2, sd (T_max - 2)/sqrt(12); 5 standard errors.
    assert times.mean() == pytest.approx((low + high) / 2, abs=5 * (high - low) / math.sqrt(12 * n))
    assert chrono_slowest_rate(t_max) == pytest.approx(forget_gate_rate(math.log(t_max - 1)), rel=1e-12)
    with pytest.raises(ValueError):
        chrono_memory_time_range(2)
