"""The mean-field theory of the random tanh RNN: its top Lyapunov exponent, the rate its gradients follow."""

from __future__ import annotations

import math

import numpy as np

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


#: The inits of random tanh RNNs the mean-field theory describes.
MEAN_FIELD_INITS = ("pytorch", "gaussian", "orthogonal", "xavier")


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
    * ``"xavier"`` (``W_hh ~ U(-a, a)``, ``a = gain * sqrt(6 / (H + H))``): variance ``a^2 / 3 = gain^2 / H``,
      as ``"gaussian"`` (the theory sees only the variance).

    ``"identity"`` (IRNN) and ``"chrono"`` (gated cells) are not random matrices of this kind: no theory.

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
    if init in ("gaussian", "orthogonal", "xavier"):
        return gain, drive
    raise ValueError(f"no mean-field theory for init {init!r} (valid: {', '.join(MEAN_FIELD_INITS)})")


def tanh_rnn_mean_field_rate(
    init: str, gain: float, hidden_size: int, input_size: int, input_scale: float = 1.0
) -> float:
    """The mean-field top Lyapunov exponent (the gradient's rate per step, natural log) of a random
    tanh RNN drawn as :func:`gradscope.params.layer.init_params` draws it and driven by ``N(0, input_scale^2)``
    inputs: :func:`mean_field_top_exponent` at :func:`tanh_rnn_mean_field_parameters`."""
    g, drive = tanh_rnn_mean_field_parameters(init, gain, hidden_size, input_size, input_scale)
    return float(mean_field_top_exponent(g, drive))
