"""Closed-form results a measured profile is held against.

Four results, each citing its source: the upper bound of Pascanu, Mikolov & Bengio (2013) for the
plain RNN (:func:`pascanu_log10_bound`); Newman's (1986) exact Lyapunov spectrum for products of
re-drawn Gaussian matrices (:func:`newman_spectrum`, :func:`newman_step_variance`); the mean-field
top exponent of the random tanh RNN, ``log g`` below the edge of chaos and ``(1/2) log chi_1``
above (:func:`mean_field_top_exponent`, and :func:`tanh_rnn_mean_field_rate` for gradscope's own
random draws); and the LSTM forget gate's rate and memory time with chrono initialisation's range
(Tallec & Ollivier 2018; :func:`forget_gate_rate`, :func:`chrono_memory_time_range`). They are the
lines drawn under measured profiles, sweeps and Lyapunov spectra.

Pascanu's bound
---------------
For ``h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` the per-step Jacobian (numerator layout,
``J_t[i, j] = d h_t[i] / d h_{t-1}[j]``) is ``J_t = diag(phi'(a_t)) W_hh``, so with
``gamma = sup |phi'|``

    ||J_t||_2 <= gamma * sigma_max(W_hh)   and   ||P_k||_2 <= (gamma * sigma_max(W_hh))^k,

``P_k = J_T ... J_{T-k+1}``, by submultiplicativity of the spectral norm. ``gamma = 1`` for tanh
(``tanh' = 1 - tanh^2 <= 1``, equality at 0) and for ReLU (``relu'`` is 0 or 1), ``1/4`` for the
logistic sigmoid. Source: R. Pascanu, T. Mikolov, Y. Bengio, "On the difficulty of training
recurrent neural networks", ICML 2013 (arXiv:1211.5063), Section 2.1, where the paper writes the
same bound with ``W_rec^T`` because it uses the denominator layout. The bound is sufficient for
vanishing (``gamma * sigma_max < 1``) but loose: for Gaussian ``W_hh`` with variance ``g^2/H``,
``sigma_max -> 2g`` while the gradient already vanishes for ``g < 1``.

The bound is for the spectral norm. For the Frobenius norm it holds after multiplying by
``sqrt(H)`` (``||P||_F <= sqrt(rank P) ||P||_2``), which :func:`pascanu_log10_bound` applies when
asked for ``norm="frobenius"``. There is no such bound for the gated cells (LSTM, GRU): their
Jacobians contain direct, gate-weighted paths (``diag(f_t)`` for the LSTM's ``c``) besides
``W_hh``.
"""

from __future__ import annotations

import math

import numpy as np

#: ``sup |phi'(a)|`` of the elementwise nonlinearities the plain RNN can use.
ACTIVATION_GAMMA: dict[str, float] = {"tanh": 1.0, "relu": 1.0, "sigmoid": 0.25}

#: The nonlinearity of each built-in cell to which Pascanu's bound applies.
CELL_ACTIVATION: dict[str, str] = {"rnn": "tanh", "rnn-relu": "relu"}


def sigma_max(matrix: np.ndarray) -> float:
    """The largest singular value (spectral norm) of a ``(n, m)`` matrix."""
    return float(np.linalg.norm(np.asarray(matrix, dtype=np.float64), 2))


def pascanu_gamma(cell: str) -> float | None:
    """``gamma`` of Pascanu's bound for a built-in cell name, or ``None`` when the bound does not apply."""
    activation = CELL_ACTIVATION.get(cell)
    return None if activation is None else ACTIVATION_GAMMA[activation]


def pascanu_log10_bound(
    weight_hh: np.ndarray, lags: np.ndarray, gamma: float = 1.0, norm: str = "spectral"
) -> np.ndarray:
    """``log10`` of Pascanu's upper bound on ``||d h_T / d h_{T-k}||`` at each lag.

    Args:
        weight_hh: the recurrent matrix ``W_hh`` ``(H, H)``.
        lags: ``(T,)`` lags ``k >= 0``.
        gamma: ``sup |phi'|`` of the cell's nonlinearity (1 for tanh and ReLU).
        norm: ``"spectral"``: ``k * log10(gamma * sigma_max)``; ``"frobenius"``: the same plus
            ``log10(sqrt(H))``.

    Returns:
        ``(T,)`` float64; ``-inf`` at every positive lag when ``gamma * sigma_max == 0``.
    """
    weight = np.asarray(weight_hh, dtype=np.float64)
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"weight_hh: expected a square (H, H) matrix, got shape {weight.shape}")
    if norm not in ("spectral", "frobenius"):
        raise ValueError(f"unknown norm {norm!r} (valid: spectral, frobenius)")
    k = np.asarray(lags, dtype=np.float64)
    factor = gamma * sigma_max(weight)
    per_step = math.log10(factor) if factor > 0 else -math.inf
    with np.errstate(invalid="ignore"):
        bound = np.where(k == 0, 0.0, k * per_step)
    if norm == "frobenius":
        bound = bound + 0.5 * math.log10(weight.shape[0])
    return bound


# ----------------------------------------------------------------------------------------------
# Special functions (no SciPy dependency)
# ----------------------------------------------------------------------------------------------

#: Below this argument :func:`digamma` and :func:`trigamma` step up by their recurrences before
#: using the asymptotic series, whose first omitted term is then below 1e-16 relative.
_ASYMPTOTIC_FROM = 10.0


def _check_positive(name: str, x: float) -> float:
    value = float(x)
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name}: needs a finite argument > 0, got {x!r}")
    return value


def digamma(x: float) -> float:
    """The digamma function ``psi(x) = d/dx ln Gamma(x)`` for ``x > 0``, to about 1e-15.

    Recurrence ``psi(x) = psi(x + 1) - 1/x`` up to ``x >= 10``, then the asymptotic series
    ``ln x - 1/(2x) - sum_n B_{2n} / (2n x^{2n})`` (Abramowitz & Stegun 6.3.5 and 6.3.18).
    """
    x = _check_positive("digamma", x)
    shift = 0.0
    while x < _ASYMPTOTIC_FROM:
        shift -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f * (1 / 132 - f * 691 / 32760)))))
    return shift + math.log(x) - 0.5 / x - series


def trigamma(x: float) -> float:
    """The trigamma function ``psi'(x)`` for ``x > 0``, to about 1e-15.

    Recurrence ``psi'(x) = psi'(x + 1) + 1/x^2`` up to ``x >= 10``, then the asymptotic series
    ``1/x + 1/(2x^2) + sum_n B_{2n} / x^{2n+1}`` (Abramowitz & Stegun 6.4.6 and 6.4.12).
    """
    x = _check_positive("trigamma", x)
    shift = 0.0
    while x < _ASYMPTOTIC_FROM:
        shift += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f * (1 / 30 - f * (5 / 66 - f * (691 / 2730 - f * 7 / 6)))))) / x
    return shift + 1.0 / x + 0.5 * f + series


# ----------------------------------------------------------------------------------------------
# Newman's Lyapunov spectrum of products of Gaussian matrices
# ----------------------------------------------------------------------------------------------
#
# For i.i.d. ``W_t`` with entries ``N(0, g^2/N)`` (a linear RNN, or the tanh RNN at zero state and
# zero input, whose weights are re-drawn every step), the Lyapunov exponents of
# ``W_t ... W_1`` are exactly
#
#     lambda_i = log g + (1/2) [log(2/N) + psi((N - i + 1)/2)],   i = 1..N,
#
# natural log per step. Source: C. M. Newman, "The distribution of Lyapunov exponents: exact
# results for random matrices", Commun. Math. Phys. 103, 121-126 (1986). Why: by rotation
# invariance the QR (Benettin) method sees, at every step, independent ``R_ii^2 ~ (g^2/N)
# chi^2_{N-i+1}``, and ``E ln chi^2_k = ln 2 + psi(k/2)``. The same argument gives the variance of
# one step's ``ln R_ii``, ``psi'((N-i+1)/2) / 4``, so an n-step estimate has standard error
# ``sqrt(psi'((N-i+1)/2) / (4n))`` (:func:`newman_step_variance`).


def newman_spectrum(size: int, gain: float = 1.0, count: int | None = None) -> np.ndarray:
    """Newman's (1986) Lyapunov exponents of products of i.i.d. ``N(0, gain^2/size)`` matrices.

    Args:
        size: N, the matrices are ``(N, N)``.
        gain: g, the entries' standard deviation times ``sqrt(N)``.
        count: how many exponents, the largest first (default all N).

    Returns:
        ``(count,)`` float64, natural log per step, descending.
    """
    n, k = _check_count(size, count)
    if not gain > 0 or not math.isfinite(gain):
        raise ValueError(f"gain must be a finite number > 0, got {gain!r}")
    return np.array([math.log(gain) + 0.5 * (math.log(2.0 / n) + digamma((n - i + 1) / 2)) for i in range(1, k + 1)])


def newman_step_variance(size: int, count: int | None = None) -> np.ndarray:
    """Variance of one step's ``ln R_ii`` in the QR method for Gaussian products, ``(count,)``.

    ``psi'((N - i + 1)/2) / 4``, independent of the gain; divide by the number of steps for the
    variance of the estimated exponent (the steps are independent).
    """
    n, k = _check_count(size, count)
    return np.array([0.25 * trigamma((n - i + 1) / 2) for i in range(1, k + 1)])


def _check_count(size: int, count: int | None) -> tuple[int, int]:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    k = int(size) if count is None else int(count)
    if not 1 <= k <= size:
        raise ValueError(f"count must lie in 1..{size}, got {count!r}")
    return int(size), k


# ----------------------------------------------------------------------------------------------
# Mean-field theory of the random tanh RNN
# ----------------------------------------------------------------------------------------------
#
# ``h_t = tanh(W h_{t-1} + u_t)`` with ``W_ij ~ N(0, g^2/N)`` and, optionally, an i.i.d. Gaussian
# drive ``u_t`` of variance ``sigma^2`` per unit (input projection plus bias). For large N the
# pre-activations are Gaussian with a variance ``q`` that settles at the fixed point
#
#     q* = g^2 E[tanh(sqrt(q*) z)^2] + sigma^2,   z ~ N(0, 1),
#
# and a small perturbation grows per step by ``chi_1 = g^2 E[tanh'(sqrt(q*) z)^2]`` in squared
# norm, so the largest Lyapunov exponent is
#
#     lambda_1 = (1/2) log chi_1.
#
# With no drive, ``q* = 0`` for ``g <= 1`` and ``lambda_1 = (1/2) log g^2 = log g``: the zero state is
# stable and gradients vanish at the rate ``log g`` (the spectral radius of W tends to g, Girko's
# circular law). For ``g > 1`` the zero state is unstable, ``q* > 0`` and ``lambda_1 > 0``: chaos,
# exploding gradients. Sources: H. Sompolinsky, A. Crisanti, H. J. Sommers, "Chaos in random neural
# networks", Phys. Rev. Lett. 61, 259 (1988) (the transition at g = 1); L. Molgedey, J. Schuchhardt,
# H. G. Schuster, "Suppressing chaos in neural networks by noise", Phys. Rev. Lett. 69, 3717 (1992)
# (this discrete-time map with a drive, and ``lambda_1 = (1/2) ln chi_1``); B. Poole et al.,
# "Exponential expressivity in deep neural networks through transient chaos", NeurIPS 2016 (the
# same ``q*`` and ``chi_1`` for depth instead of time). The Gaussian expectations are computed by
# :func:`tanh_moments`. The theory is the large-N limit of an annealed average; at finite N one
# fixed W lies below it by about (2-3)/N in the chaotic regime (measured for g = 1.5-3, N = 100-400)
# and networks scatter around that (by up to 0.02 at N = 200 near g = 1.5).

#: Half-width of the integration range in units of the standard deviation: the Gaussian weight
#: beyond it is below 1e-19.
_RANGE = 9.0
#: Steps per distance from the real axis to tanh's nearest pole (see :func:`tanh_moments`).
_STEPS_PER_POLE_DISTANCE = 10


def tanh_moments(variance: float) -> tuple[float, float]:
    """``(E[tanh(a)^2], E[tanh'(a)^2])`` for ``a ~ N(0, variance)``, to about 1e-13.

    The trapezoid rule in ``z = a / sqrt(variance)`` on ``[-9, 9]``, which converges exponentially for
    integrands analytic in a strip around the real axis (Trefethen & Weideman, "The exponentially
    convergent trapezoidal rule", SIAM Review 56, 2014): the error is about ``exp(-2 pi d / h)`` for
    a strip of half-width ``d``. Here ``d = pi / (2 sqrt(variance))`` (the poles of ``tanh``), so the
    step is ``h = d / 10``. Gauss-Hermite quadrature, the textbook choice, converges slowly for the
    same reason: with 200 nodes it is off by 1e-4 at variance 9 and by 2e-2 at variance 50, and
    NumPy's ``hermegauss`` overflows beyond about 300 nodes.
    """
    variance = max(float(variance), 0.0)
    scale = math.sqrt(variance)
    step = 0.1 if scale == 0.0 else min(0.1, math.pi / (2.0 * scale) / _STEPS_PER_POLE_DISTANCE)
    count = 2 * math.ceil(_RANGE / step) + 1
    z = np.linspace(-_RANGE, _RANGE, count)
    weights = np.exp(-0.5 * z * z)
    weights /= weights.sum()  # = h / sqrt(2 pi) up to 1e-15; normalised so that E[1] = 1 exactly
    squared = np.tanh(scale * z) ** 2
    return float(np.dot(weights, squared)), float(np.dot(weights, (1.0 - squared) ** 2))


def mean_field_variance(gain: float, drive_variance: float = 0.0) -> float:
    """``q*``, the fixed point of ``q = g^2 E[tanh(sqrt(q) z)^2] + sigma^2`` (see the notes above).

    Found by bisection on ``[sigma^2, g^2 + sigma^2]`` (the map sends that interval into itself and
    ``q - map(q)`` changes sign on it once). Returns 0 when ``sigma^2 = 0`` and ``g <= 1``.
    """
    g2, s2 = _check_gain(gain) ** 2, float(drive_variance)
    if not s2 >= 0 or not math.isfinite(s2):
        raise ValueError(f"drive_variance must be a finite number >= 0, got {drive_variance!r}")
    if s2 == 0.0 and g2 <= 1.0:
        return 0.0

    def excess(q: float) -> float:
        return g2 * tanh_moments(q)[0] + s2 - q

    low, high = s2, g2 + s2
    if s2 == 0.0:
        # q = 0 is always a (here unstable) fixed point: start above it, where excess > 0.
        low = 1e-12 * g2
        while excess(low) <= 0.0:
            low *= 10.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if excess(middle) > 0.0:
            low = middle
        else:
            high = middle
        if high - low <= 1e-15 * high:
            break
    return 0.5 * (low + high)


def mean_field_chi1(gain: float, drive_variance: float = 0.0) -> float:
    """``chi_1 = g^2 E[tanh'(sqrt(q*) z)^2]``, the mean squared gain of a perturbation per step."""
    q = mean_field_variance(gain, drive_variance)
    return float(gain) ** 2 * tanh_moments(q)[1]


def mean_field_top_exponent(gain: float | np.ndarray, drive_variance: float = 0.0) -> float | np.ndarray:
    """The mean-field largest Lyapunov exponent ``(1/2) log chi_1`` of the random tanh RNN.

    Also the predicted gradient rate per step (natural log): ``log g`` for ``g <= 1`` without a
    drive, positive (chaos, exploding gradients) above.

    Args:
        gain: g, scalar or any array of gains ``>= 0``.
        drive_variance: ``sigma^2``, the variance per unit of the input projection plus bias.

    Returns:
        A float for a scalar gain, else an array of ``gain``'s shape (``-inf`` at ``g = 0``).
    """
    gains = np.asarray(gain, dtype=np.float64)
    out = np.empty(gains.shape)
    for index, g in np.ndenumerate(gains):
        chi = mean_field_chi1(float(g), drive_variance) if g > 0 else 0.0
        out[index] = 0.5 * math.log(chi) if chi > 0 else -math.inf
    return float(out) if out.ndim == 0 else out


def _check_gain(gain: float) -> float:
    value = float(gain)
    if not value >= 0 or not math.isfinite(value):
        raise ValueError(f"gain must be a finite number >= 0, got {gain!r}")
    return value


# ----------------------------------------------------------------------------------------------
# LSTM forget gate and chrono initialisation
# ----------------------------------------------------------------------------------------------
#
# The LSTM's cell state carries ``d c_t / d c_{t-1} = diag(f_t)`` (the constant error carousel,
# Hochreiter & Schmidhuber 1997; the forget gate is from Gers, Schmidhuber & Cummins 2000). With a
# forget gate held at ``f = sigmoid(b_f)`` the carousel alone multiplies the gradient by ``f`` per
# step: rate ``ln f`` per step, and the *memory time* of the unit, in the sense of Tallec &
# Ollivier, is ``T = 1 / (1 - f) = 1 + exp(b_f)``. Chrono initialisation (C. Tallec, Y. Ollivier,
# "Can recurrent neural networks warp time?", ICLR 2018, Section 5) draws ``b_f = log(U(1,
# T_max - 1))`` and ``b_i = -b_f``, which makes the memory times ``1 + U(1, T_max - 1)``: uniform on
# ``(2, T_max)``.


def forget_gate_rate(forget_bias: float | np.ndarray) -> float | np.ndarray:
    """``ln sigmoid(b_f) = -ln(1 + exp(-b_f))``: the carousel's rate per step (natural log, < 0)."""
    b = np.asarray(forget_bias, dtype=np.float64)
    rate = -np.logaddexp(0.0, -b)
    return float(rate) if rate.ndim == 0 else rate


def forget_gate_memory_time(forget_bias: float | np.ndarray) -> float | np.ndarray:
    """Tallec & Ollivier's memory time ``1 / (1 - sigmoid(b_f)) = 1 + exp(b_f)`` (steps)."""
    b = np.asarray(forget_bias, dtype=np.float64)
    time = 1.0 + np.exp(b)
    return float(time) if time.ndim == 0 else time


def forget_gate_efolding_lag(forget_bias: float | np.ndarray) -> float | np.ndarray:
    """``-1 / ln sigmoid(b_f)``: steps for the carousel to shrink a gradient by a factor e.

    About :func:`forget_gate_memory_time` minus 1/2 for large ``b_f`` (``-1/ln(1 - 1/T) = T - 1/2 + O(1/T)``).
    """
    lag = -1.0 / np.asarray(forget_gate_rate(forget_bias))
    return float(lag) if lag.ndim == 0 else lag


def chrono_memory_time_range(t_max: int) -> tuple[float, float]:
    """The interval ``(2, T_max)`` over which chrono initialisation spreads the memory times uniformly."""
    if isinstance(t_max, bool) or not isinstance(t_max, (int, np.integer)) or t_max < 3:
        raise ValueError(f"chrono initialisation needs an integer t_max >= 3, got {t_max!r}")
    return 2.0, float(t_max)


def chrono_slowest_rate(t_max: int) -> float:
    """``ln(1 - 1/T_max)``: the carousel rate of chrono's longest-lived unit (``b_f -> log(T_max - 1)``)."""
    return math.log1p(-1.0 / chrono_memory_time_range(t_max)[1])


def tanh_rnn_mean_field_parameters(
    init: str, gain: float, hidden_size: int, input_size: int, input_scale: float = 1.0
) -> tuple[float, float]:
    """``(g, sigma^2)`` of the mean-field theory for gradscope's random tanh RNN (``init_params``).

    The theory needs the variance ``g^2 / H`` of the entries of ``W_hh`` and the variance
    ``sigma^2`` per unit of the drive ``W_ih x_t + b_ih + b_hh`` for inputs ``x_t ~ N(0,
    input_scale^2)``. PyTorch's law ``U(-k, k)``, ``k = 1/sqrt(H)``, has variance ``1 / (3H)``, so:

    * ``"pytorch"`` (everything ``gain * U(-k, k)``): ``g = gain / sqrt(3)``,
      ``sigma^2 = gain^2 (I * input_scale^2 + 2) / (3H)``;
    * ``"gaussian"`` (``W_hh ~ N(0, gain^2 / H)``, the rest PyTorch's unscaled law): ``g = gain``,
      ``sigma^2 = (I * input_scale^2 + 2) / (3H)``;
    * ``"orthogonal"`` (``W_hh = gain * Q``): as ``"gaussian"``. Each row of ``Q`` has norm 1, so the
      variance map is the same; the annealed ``chi_1`` is too, since ``Q v`` is uniform on the sphere.

    The drive is constant in time for the bias part; the theory treats all of it as a Gaussian
    variance across units, which is what enters ``q*`` at large H.
    """
    H, I = int(hidden_size), int(input_size)
    if H < 1 or I < 1:
        raise ValueError(f"hidden_size and input_size must be >= 1, got {hidden_size!r}, {input_size!r}")
    gain, scale = _check_gain(gain), float(input_scale)
    drive = (I * scale * scale + 2.0) / (3.0 * H)
    if init == "pytorch":
        return gain / math.sqrt(3.0), gain * gain * drive
    if init in ("gaussian", "orthogonal"):
        return gain, drive
    raise ValueError(f"unknown init {init!r} (valid: pytorch, gaussian, orthogonal)")


def tanh_rnn_mean_field_rate(
    init: str, gain: float, hidden_size: int, input_size: int, input_scale: float = 1.0
) -> float:
    """The mean-field top Lyapunov exponent (the gradient's rate per step, natural log) of a random
    tanh RNN drawn as :func:`gradscope.params.layer.init_params` draws it and driven by ``N(0, input_scale^2)``
    inputs: :func:`mean_field_top_exponent` at :func:`tanh_rnn_mean_field_parameters`."""
    g, drive = tanh_rnn_mean_field_parameters(init, gain, hidden_size, input_size, input_scale)
    return float(mean_field_top_exponent(g, drive))
