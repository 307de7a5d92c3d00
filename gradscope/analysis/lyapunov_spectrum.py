"""Lyapunov spectra of a cell's forward dynamics by the QR (Benettin) method on the derived Jacobians.

The Lyapunov exponents ``lambda_1 >= lambda_2 >= ...`` of a trajectory are the asymptotic growth
rates (natural log per step) of the singular values of ``J_t J_{t-1} ... J_1``, where
``J_t = d s_t / d s_{t-1}`` (numerator layout, ``s = h`` or ``[h; c]``). The top one is the rate
at which ``||P_k||`` grows or shrinks with the lag, i.e. what ``analyze`` calls ``rate_per_step``,
asymptotically; the rest say how many directions survive and how fast the others die.

The method (QR, Benettin et al. 1980) is :mod:`gradscope.engine.benettin`; this module runs it on a
problem and keeps the theory a spectrum is held against where it applies (Newman's spectrum, the
mean-field top exponent; :mod:`gradscope.analysis.theory`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope.analysis import theory
from gradscope.analysis.document import json_numbers, sized_header
from gradscope.analysis.problem import Problem, as_problem
from gradscope.engine.benettin import DEFAULT_CHECKPOINTS, TangentMap, benettin
from gradscope.errors import ConfigError, DivergenceError
from gradscope.params.arrays import check_count

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gradscope.analysis.problem import ProblemOptions
    from gradscope.cells.cell import Cell

LYAPUNOV_SCHEMA = "gradscope.lyapunov/1"
#: Default T: exponents converge like ``1/sqrt(T)`` (chaotic) or ``1/T`` (regular), so longer than analyze's 200.
DEFAULT_LYAPUNOV_STEPS = 1000
#: Second seed word of the stream the initial frame is drawn from (independent of parameters and inputs).
FRAME_STREAM = 0x4C59
#: The legend of Newman's spectrum.
NEWMAN_LABEL = "Newman (1986), re-drawn Gaussian matrices"


@dataclass(frozen=True)
class LyapunovSpectrum:
    """The result of :func:`lyapunov`. Arrays are read-only.

    Attributes:
        cell: the cell's name.
        hidden_size, input_size: sizes.
        steps: T, the length of the trajectory (transient included).
        transient: steps discarded before averaging.
        state: ``"h"`` or ``"[h; c]"``; the exponents are those of the full state ``s``.
        exponents: ``(K,)`` the top K exponents, natural log per step, descending.
        standard_error: ``(K,)`` batch-means standard error of each exponent.
        drift: ``(K,)`` estimate over the second half of the averaged steps minus the first half.
        running_steps: ``(M,)`` averaged-step counts of the running estimates.
        running: ``(M, K)`` running estimates, columns as ``exponents``.
        config: how the parameters, inputs and initial state were obtained (as in ``analyze``).
        theory: ``(K,)`` Newman's spectrum where it applies (:func:`newman_prediction`), else ``None``.
        theory_label: the legend of ``theory``.
        top_theory: the mean-field ``lambda_1`` where it applies (:func:`mean_field_prediction`), else ``None``.
    """

    cell: str
    hidden_size: int
    input_size: int
    steps: int
    transient: int
    state: str
    exponents: np.ndarray
    standard_error: np.ndarray
    drift: np.ndarray
    running_steps: np.ndarray
    running: np.ndarray
    config: Mapping[str, Any] = field(default_factory=dict)
    theory: np.ndarray | None = field(default=None, compare=False)
    theory_label: str = NEWMAN_LABEL
    top_theory: float | None = field(default=None, compare=False)

    @property
    def top(self) -> float:
        """``lambda_1``, the largest exponent."""
        return float(self.exponents[0])

    @property
    def averaged_steps(self) -> int:
        """``steps - transient``, the steps the estimates average over."""
        return self.steps - self.transient

    @property
    def convergence(self) -> float:
        """The largest standard error over the exponents (NaN when none could be estimated)."""
        finite = self.standard_error[np.isfinite(self.standard_error)]
        return float(finite.max()) if finite.size else math.nan

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema ``"gradscope.lyapunov/1"``); non-finite numbers become ``null``."""
        return {
            **sized_header(LYAPUNOV_SCHEMA, self),
            "transient": self.transient,
            "averaged_steps": self.averaged_steps,
            "units": "natural log per step",
            "config": dict(self.config),
            "exponents": json_numbers(self.exponents),
            "standard_error": json_numbers(self.standard_error),
            "drift": json_numbers(self.drift),
            "running": {
                "steps": [int(n) for n in self.running_steps],
                "exponents": [json_numbers(row) for row in self.running],
            },
        }


def lyapunov(
    cell: Problem | str | Cell,
    *,
    exponents: int | None = None,
    transient: int = 0,
    checkpoints: int = DEFAULT_CHECKPOINTS,
    progress: Callable[[int, int], None] | None = None,
    **options: Unpack[ProblemOptions],
) -> LyapunovSpectrum:
    """The top Lyapunov exponents of a cell driven by an input sequence, by the QR method.

    Args:
        cell: a :class:`~gradscope.analysis.problem.Problem`, or a cell and the keyword options of
            :func:`~gradscope.analysis.problem.make_problem` (the same ``seed`` gives the same network
            and inputs as :func:`gradscope.analyze`; ``steps``, T including the transient, defaults
            to 1000 here). Stacked or bidirectional parameters are refused.
        exponents: K, how many exponents (default: all S, the state size: H, or 2H for the LSTM).
        transient: steps run before averaging starts (default 0); needs ``steps > transient``.
        checkpoints: how many running estimates to keep.
        progress: called as ``progress(steps_done, T)`` about a hundred times.

    Returns:
        A :class:`LyapunovSpectrum`; ``to_dict()`` gives the ``gradscope.lyapunov/1`` document.

    Raises:
        GradscopeError: anything ``analyze`` refuses; ``exponents`` outside ``1..S``; ``transient``
            negative or not below T.
    """
    if not isinstance(cell, Problem) and options.get("steps") is None and options.get("inputs") is None:
        options["steps"] = DEFAULT_LYAPUNOV_STEPS
    problem = as_problem(cell, options)
    if problem.network.stacked:
        raise ConfigError("lyapunov: stacked or bidirectional parameters are not supported (one layer, one direction)")
    spec = problem.spec
    if spec.feedback:
        raise ConfigError(
            f"lyapunov: the {spec.name} cell (state y, its fed-back output) is not supported; "
            "'analyze' gives its gradient-norm profile"
        )
    H = problem.hidden_size
    size = spec.state_size(H)
    count = size if exponents is None else exponents
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
        raise ConfigError(f"exponents must be a positive integer, got {exponents!r}")
    transient = check_count("transient", transient)
    total = problem.steps
    if transient >= total:
        raise ConfigError(f"transient={transient} leaves no steps to average (T={total}); use transient < T")
    try:
        run = benettin(
            TangentMap(problem.trajectory()),
            size,
            total,
            exponents=int(count),
            transient=transient,
            rng=np.random.default_rng([problem.seed, FRAME_STREAM]),
            checkpoints=checkpoints,
            progress=progress,
        )
    except DivergenceError as error:
        if str(error).startswith(f"{spec.name}: "):
            raise
        raise DivergenceError(f"{spec.name}: {error}") from error
    order = np.argsort(-run.exponents, kind="stable")
    sorted_arrays = [run.exponents[order], run.standard_error[order], run.drift[order], run.running[:, order]]
    for array in sorted_arrays:
        array.setflags(write=False)
    config = dict(problem.config) | {"frame_seed": [problem.seed, FRAME_STREAM]}
    top = mean_field_prediction(spec.name, config, H, problem.input_size)
    return LyapunovSpectrum(
        cell=spec.name,
        hidden_size=H,
        input_size=problem.input_size,
        steps=int(total),
        transient=transient,
        state=spec.state_layout,
        exponents=sorted_arrays[0],
        standard_error=sorted_arrays[1],
        drift=sorted_arrays[2],
        running_steps=run.running_steps,
        running=sorted_arrays[3],
        config=config,
        theory=newman_prediction(spec.name, config, H, problem.inputs, int(count)),
        top_theory=top,
    )


def mean_field_prediction(cell: str, config: Mapping[str, Any], hidden_size: int, input_size: int) -> float | None:
    """The mean-field ``lambda_1`` of the random tanh RNN (:func:`gradscope.analysis.theory.tanh_rnn_mean_field_rate`)
    when the run is what that theory describes: random parameters and random N(0, 1) inputs; else ``None``."""
    if cell != "rnn" or config.get("params") != "random" or config.get("inputs") == "given":
        return None
    if config["init"] not in theory.MEAN_FIELD_INITS:
        return None  # IRNN's gain * I is no random matrix
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            rate = theory.tanh_rnn_mean_field_rate(config["init"], config["gain"], hidden_size, input_size)
    except (OverflowError, FloatingPointError):  # a gain beyond float64's range: the theory gives no number
        return None
    return rate if rate is None or np.isfinite(rate) else None


def newman_prediction(
    cell: str, config: Mapping[str, Any], hidden_size: int, inputs: np.ndarray, count: int
) -> np.ndarray | None:
    """Newman's spectrum for the top ``count`` exponents when it applies, else ``None``.

    It applies to the tanh RNN with random Gaussian ``W_hh`` (``init="gaussian"``, parameters not
    given) in the linear regime: all-zero ``inputs`` and a gain below the edge of chaos (< 1), so
    the state settles near its fixed point. (Newman's law is for matrices re-drawn every step; for
    one fixed matrix it is the reference scale, not an exact prediction.) Driven by random inputs,
    tanh saturates and the law does not apply.
    """
    if cell != "rnn" or config.get("params") != "random" or config.get("init") != "gaussian":
        return None
    if not config["gain"] < 1 or np.any(np.asarray(inputs) != 0):
        return None
    return theory.newman_spectrum(hidden_size, config["gain"], count=count)
