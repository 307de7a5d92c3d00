"""The singular values of ``P_k`` at snapshot lags: relative spectra, the float64 resolution, surviving directions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gradscope.analysis.problem import Problem
from gradscope.analysis.profile import Analysis
from gradscope.errors import ConfigError

#: Relative resolution of a float64 singular value next to the largest one (about S * eps).
FLOAT64_EPS = float(np.finfo(np.float64).eps)


def relative_spectrum(analysis: Analysis, lag: int, *, resolved_only: bool = False) -> np.ndarray:
    """``log10(sigma_i(P_k) / sigma_1(P_k))`` ``(S,)``, descending, for a snapshot lag ``k``.

    With ``resolved_only``, values below :func:`resolution_floor` (float64 rounding, which also
    changes with the BLAS thread count) are NaN.
    """
    values = analysis.singular_values[lag]
    relative = values - values[0]
    if resolved_only:
        relative = np.where(relative >= resolution_floor(analysis), relative, np.nan)
    return relative


def resolution_floor(analysis: Analysis) -> float:
    """``log10(S * eps)``: relative singular values below this are float64 rounding, not signal.

    The product is kept normalised to ``||P_k|| ~ 1``, so its entries carry absolute errors of about
    ``eps * sigma_1`` and the SVD cannot resolve ``sigma_i`` much below ``S * eps * sigma_1``.
    """
    size = len(next(iter(analysis.singular_values.values()))) if analysis.singular_values else 1
    return math.log10(size * FLOAT64_EPS)


def surviving_directions(log10_singular_values: np.ndarray, decades: float = 1.0) -> int:
    """How many singular values lie within ``decades`` orders of magnitude of the largest one."""
    values = np.asarray(log10_singular_values, dtype=np.float64)
    if values.size == 0 or not np.isfinite(values[0]):
        return 0
    return int(np.count_nonzero(values >= values[0] - decades))


@dataclass(frozen=True)
class SpectrumTable:
    """Surviving directions per configuration and lag, for tables.

    Attributes:
        labels: ``(V,)`` configuration names.
        lags: ``(K,)`` snapshot lags.
        counts: ``(V, K)`` singular values within ``decades`` of the largest.
        decades: the threshold.
    """

    labels: tuple[str, ...]
    lags: tuple[int, ...]
    counts: np.ndarray
    decades: float = 1.0
    state_sizes: tuple[int, ...] = field(default_factory=tuple)


def spectrum_table(analyses: Sequence[Analysis], labels: Sequence[str], decades: float = 1.0) -> SpectrumTable:
    """Count the surviving directions of every analysis at each of its snapshot lags."""
    lags = tuple(sorted(analyses[0].singular_values))
    counts = np.array(
        [[surviving_directions(a.singular_values[k], decades) for k in lags] for a in analyses], dtype=int
    )
    sizes = tuple(len(a.singular_values[lags[0]]) for a in analyses) if lags else ()
    return SpectrumTable(tuple(labels), lags, counts, decades, sizes)


@dataclass(frozen=True)
class SpectrumSplit:
    """The singular values of ``P_k`` on either side of index ``split`` at one snapshot lag.

    For the LSTM (``S = 2H``, ``split = H``) the first H directions are those the cell-state carousel
    ``dc_t/dc_{t-1} = diag(f_t)`` carries, the other H those that go through ``h`` and ``W_hh``: at
    moderate lags the spectrum drops by many decades between ``sigma_H`` and ``sigma_(H+1)``.

    Attributes:
        lag: the snapshot lag k.
        split: how many singular values are in the upper group.
        upper, lower: ``log10`` of each group's largest singular value, ``sigma_1`` and ``sigma_(split+1)``.
        upper_rate, lower_rate: those divided by k, in decades per step (``P_0 = I``: every ``sigma_i`` starts at 1).
        drop: ``log10 sigma_split - log10 sigma_(split+1)``, the step in the spectrum at the split (decades).
        resolved: whether ``sigma_(split+1)`` lies above the float64 resolution floor relative to ``sigma_1``
            (:func:`resolution_floor`), i.e. whether ``lower`` is a measurement and not rounding.
    """

    lag: int
    split: int
    upper: float
    lower: float
    upper_rate: float
    lower_rate: float
    drop: float
    resolved: bool


def spectrum_split(analysis: Analysis, lag: int, split: int) -> SpectrumSplit:
    """Split the spectrum of ``P_k`` (snapshot lag ``lag``, ``(S,)`` descending) after its ``split`` largest values."""
    values = analysis.singular_values[lag]
    if not 0 < split < len(values):
        raise ValueError(f"split must be between 1 and {len(values) - 1}, got {split}")
    upper, lower = float(values[0]), float(values[split])
    resolved = lower - upper >= resolution_floor(analysis)
    drop = float(values[split - 1] - values[split])
    return SpectrumSplit(lag, split, upper, lower, upper / lag, lower / lag, drop, bool(resolved))


def resolved_split(analysis: Analysis, split: int) -> SpectrumSplit | None:
    """:func:`spectrum_split` at the longest snapshot lag above 1 whose lower group is resolved (else ``None``)."""
    for lag in sorted((k for k in analysis.singular_values if k > 1), reverse=True):
        result = spectrum_split(analysis, lag, split)
        if result.resolved:
            return result
    return None


def carousel_log10(problem: Problem) -> np.ndarray:
    """``(T,)`` ``log10 max_i prod_{t=T-k+1..T} f_t[i]`` for ``k = 1..T``: the norm of the LSTM carousel's path
    ``dc_T/dc_{T-k}`` alone (the product of the diagonal blocks ``diag(f_t)``: exact, no iteration).

    ``f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)`` (gate order ``i, f, g, o``) along the problem's own
    forward pass (one layer, one direction).
    """
    if problem.spec.name != "lstm":
        raise ConfigError(f"the carousel is the LSTM's path; the {problem.spec.name} cell has none")
    trajectory = problem.trajectory()
    params = trajectory.params
    H = params.hidden_size
    h_prev = trajectory.states[:-1, :H]  # (T, H): h_{t-1} for step t
    bias = params.bias_hh[H : 2 * H]
    a_f = trajectory.input_projection[:, 1, :] + h_prev @ params.recurrent_blocks()[1].T + bias
    log10_f = -np.logaddexp(0.0, -a_f) / math.log(10.0)  # log10 sigmoid(a), exact also where f rounds to 1
    kept = np.cumsum(log10_f[::-1], axis=0)  # row k-1: sum over the last k steps
    return kept.max(axis=1)


def carousel_rate(problem: Problem) -> float:
    """The carousel's rate per step over the whole run, natural log as ``Analysis.rate_per_step``:
    ``ln(10) * carousel_log10(problem)[-1] / T``."""
    profile = carousel_log10(problem)
    return float(math.log(10.0) * profile[-1] / profile.shape[0])
