"""``gradscope.analyze``: the gradient-norm profile of a cell through time, as data."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope.analysis.describe import cell_title, describe_config
from gradscope.analysis.document import json_number, json_numbers, sized_header
from gradscope.analysis.problem import Problem, as_problem
from gradscope.analysis.summary import Thresholds, fit_line, summarize
from gradscope.analysis.theory import PascanuBound, pascanu_bound
from gradscope.engine.depth import DepthProfile, check_depth_memory, depth_profiles
from gradscope.engine.products import norm_profile
from gradscope.errors import ConfigError
from gradscope.i18n import _

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gradscope.analysis.problem import ProblemOptions
    from gradscope.cells.cell import Cell

SCHEMA = "gradscope.analysis/1"


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyze`. Arrays are read-only.

    Attributes:
        cell: the cell's name.
        hidden_size, input_size, steps: sizes (``steps`` = T).
        state: the state vector ``s``, ``"h"``, ``"[h; c]"``, or ``"y"`` for a cell that feeds its output back.
        norm: ``"spectral"`` or ``"frobenius"``.
        dtype: working precision of the products.
        lags: ``(T,)`` ints ``1..T``.
        log10_norm: ``(T,)`` ``log10 ||d s_T / d s_{T-k}||`` (``-inf`` where exactly zero).
        rate_per_step: least-squares slope of ``ln ||P_k||`` against ``k``.
        efolding_lag: ``1 / |rate_per_step|``, the steps for the norm to change by a factor e.
        verdict: ``"vanishing"``, ``"stable"`` or ``"exploding"`` (see :class:`Thresholds`).
        thresholds: the thresholds the verdict used.
        config: how the parameters, inputs and initial state were obtained (seed, init, gain, or
            ``"given"``), everything needed to reproduce the result.
        svd_fallbacks: lags where the spectral iteration fell back to a dense eigensolver.
        kept_directions: how many directions of ``P_k`` the products still carried at the last lag:
            ``S`` unless truncation dropped those carrying less than ``1e-12`` of the norm
            (``1e-6`` in float32; see :mod:`gradscope.engine.truncation`).
        singular_values: for each requested snapshot lag k, ``log10`` of every singular value of
            ``P_k`` ``(S,)``, descending.
        num_layers, bidirectional: the network's structure (from the parameter names).
        depth_profiles: for stacked or bidirectional networks (or on request), one
            :class:`~gradscope.engine.depth.DepthProfile` per layer and direction:
            ``log10 ||d y_T / d s^{(l,d)}_t||`` at every position t.
        output_size: O, for a cell that feeds its output back (state ``y``, ``S = O``); else ``None``.
        problem: the :class:`~gradscope.analysis.problem.Problem` it ran on (not part of the document).

    For a stacked network, ``log10_norm`` and the summary describe the top layer's forward
    direction (its own recurrence); ``depth_profiles`` follow the gradient through every layer.
    """

    cell: str
    hidden_size: int
    input_size: int
    steps: int
    state: str
    norm: str
    dtype: str
    lags: np.ndarray
    log10_norm: np.ndarray
    rate_per_step: float
    efolding_lag: float
    verdict: str
    thresholds: Thresholds
    config: Mapping[str, Any] = field(default_factory=dict)
    svd_fallbacks: int = 0
    kept_directions: int = 0
    singular_values: Mapping[int, np.ndarray] = field(default_factory=dict)
    num_layers: int = 1
    bidirectional: bool = False
    depth_profiles: tuple[DepthProfile, ...] = ()
    output_size: int | None = None
    problem: Problem | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, problem: Problem, *, lags: np.ndarray, **measured: Any) -> Analysis:
        """The analysis of ``problem`` from what was measured on it (``lags`` ``(T,)`` and the other fields
        that are not the problem's); the cell, sizes, precision, structure and configuration are the problem's."""
        spec, network = problem.spec, problem.network
        return cls(
            cell=spec.name,
            hidden_size=problem.hidden_size,
            input_size=problem.input_size,
            steps=int(lags.size),
            state=spec.state_layout,
            norm=problem.norm,
            dtype=problem.dtype,
            config=problem.config,
            num_layers=network.num_layers,
            bidirectional=network.bidirectional,
            output_size=problem.output_size,
            problem=problem,
            lags=lags,
            **measured,
        )

    @property
    def final_log10_norm(self) -> float:
        """``log10 ||d s_T / d s_0||``, the end-to-end gradient norm."""
        return float(self.log10_norm[-1])

    @property
    def fitted_log10(self) -> np.ndarray | None:
        """``(T,)`` the least-squares line behind ``rate_per_step``, in log10 (``None`` if the rate is not finite)."""
        if not np.isfinite(self.rate_per_step):
            return None
        _, intercept = fit_line(self.lags, self.log10_norm)
        return (intercept + self.rate_per_step * np.asarray(self.lags, dtype=np.float64)) / np.log(10.0)

    @functools.cached_property
    def pascanu_bound(self) -> PascanuBound | None:
        """Pascanu's upper bound ``(gamma sigma_max(W_hh))^k`` on this profile, where it applies (the plain
        RNN, of the top layer's forward ``W_hh``, whose recurrence the profile follows); else ``None``."""
        if self.problem is None:
            return None
        return pascanu_bound(self.cell, self.problem.network.top.weight_hh, self.lags, self.norm)

    @property
    def display_name(self) -> str:
        """The cell's short name for titles and legends (``"tanh RNN"``, ``"LSTM"``)."""
        return self.problem.spec.display_name if self.problem is not None else cell_title(self.cell)

    def describe(self, *, with_cell: bool = True) -> str:
        """The configuration in one line: ``"LSTM, H=64, I=32, T=200, PyTorch default init, seed 0"``."""
        parts = [_(self.display_name)] if with_cell else []
        parts += [
            f"H={self.hidden_size}",
            *([f"O={self.output_size}"] if self.output_size is not None else []),
            f"I={self.input_size}",
            f"T={self.steps}",
        ]
        if "params" in self.config:
            parts.append(describe_config(self.config))
        if "seed" in self.config:
            parts.append(_("seed {seed}").format(seed=self.config["seed"]))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema ``"gradscope.analysis/1"``); ``-inf`` and ``inf`` become ``null``.

        ``"output_size"`` is present only for a cell that feeds its output back.
        """
        document = {
            **sized_header(SCHEMA, self),
            "norm": self.norm,
            "dtype": self.dtype,
            "config": dict(self.config),
            "rate_per_step": json_number(self.rate_per_step),
            "efolding_lag": json_number(self.efolding_lag),
            "verdict": self.verdict,
            "thresholds": {
                "vanishing_rate": self.thresholds.vanishing_rate,
                "exploding_rate": self.thresholds.exploding_rate,
            },
            "final_log10_norm": json_number(self.final_log10_norm),
            "lags": [int(k) for k in self.lags],
            "log10_norm": json_numbers(self.log10_norm),
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "depth_profiles": [
                {
                    "layer": profile.layer,
                    "direction": profile.direction,
                    "time": [int(t) for t in profile.time],
                    "log10_norm": json_numbers(profile.log10_norm),
                }
                for profile in self.depth_profiles
            ],
            "singular_values": {str(k): json_numbers(values) for k, values in sorted(self.singular_values.items())},
        }
        if self.output_size is not None:
            document["output_size"] = self.output_size
        return document


def analyze(
    cell: Problem | str | Cell,
    *,
    thresholds: Thresholds | None = None,
    snapshot_lags: Iterable[int] = (),
    progress: Callable[[int, int], None] | None = None,
    depth_flow: bool = False,
    **options: Unpack[ProblemOptions],
) -> Analysis:
    """How the gradient norm ``||d s_T / d s_{T-k}||`` changes with the lag ``k = 1..T``.

    Args:
        cell: a :class:`~gradscope.analysis.problem.Problem`, or a cell (``"rnn"``, ``"rnn-relu"``,
            ``"lstm"``, ``"gru"``, ``"jordan"``, a :class:`~gradscope.cells.Cell`) and the keyword
            options of :func:`~gradscope.analysis.problem.make_problem` (``params``, ``inputs``, ``h0``,
            ``c0``, ``hidden_size``, ``steps``, ``seed``, ``init``, ``gain``, ``norm``, ``dtype``, ...)
            to make one. For ``"jordan"`` (state ``y``, the fed-back output) the profile is
            ``||d y_T / d y_{T-k}||``.
        thresholds: verdict thresholds (default :class:`Thresholds()`).
        snapshot_lags: lags k at which to keep all singular values of ``P_k`` (``singular_values``).
        progress: called as ``progress(lags_done, T)`` about a hundred times while the products run.
        depth_flow: also compute ``depth_profiles`` for a single-layer cell (always done for
            stacked or bidirectional parameters, detected from names like ``weight_ih_l1`` and
            ``weight_hh_l0_reverse``; ``h0``/``c0`` then have PyTorch's shape ``(L*D, H)``).

    Returns:
        An :class:`Analysis`; ``to_dict()`` gives the ``gradscope.analysis/1`` JSON document.

    Raises:
        GradscopeError: unknown cell, bad parameter names or shapes, non-finite values, sizes or
            steps below 1, unknown options. The message names the offending thing.
    """
    problem = as_problem(cell, options)
    thresholds = Thresholds() if thresholds is None else thresholds
    spec, network = problem.spec, problem.network
    if spec.feedback and depth_flow:
        raise ConfigError(f"depth_flow: not available for the {spec.name} cell (one layer, state y)")
    lags_wanted = sorted({int(k) for k in snapshot_lags})
    if any(not 1 <= k <= problem.steps for k in lags_wanted):
        raise ConfigError(f"snapshot lags must lie in 1..{problem.steps}, got {lags_wanted}")
    if network.stacked or depth_flow:
        check_depth_memory(network, problem.steps)  # before the forward pass: refused at once, not after it
    runs = problem.forward()
    profile = norm_profile(
        runs[-1][0],
        norm=problem.norm,
        dtype=problem.dtype,
        seed=problem.seed,
        snapshot_lags=lags_wanted,
        progress=progress,
    )
    depth: tuple[DepthProfile, ...] = ()
    if network.stacked or depth_flow:
        depth = tuple(depth_profiles(problem.compiled, network, runs))
    for values in profile.singular_values.values():
        values.setflags(write=False)
    return profile_analysis(
        problem,
        profile.log10_norm,
        thresholds,
        svd_fallbacks=profile.svd_fallbacks,
        kept_directions=profile.directions,
        singular_values=profile.singular_values,
        depth_profiles=depth,
    )


def profile_analysis(problem: Problem, log10_norm: np.ndarray, thresholds: Thresholds, **fields: Any) -> Analysis:
    """The :class:`Analysis` of ``problem`` whose profile is ``log10_norm`` ``(T,)`` (made read-only here): its
    lags and summary, and ``fields`` (the engine's record: ``kept_directions``, ``svd_fallbacks``, ...)."""
    lags = np.arange(1, problem.steps + 1)
    summary = summarize(lags, log10_norm, thresholds)
    lags.setflags(write=False)
    log10_norm.setflags(write=False)
    return Analysis.of(
        problem, lags=lags, log10_norm=log10_norm, thresholds=thresholds, **fields, **dataclasses.asdict(summary)
    )
