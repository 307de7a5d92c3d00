"""``gradscope.analyze``: the gradient-norm profile of a cell through time, as data."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope._version import __version__
from gradscope.analysis.summary import Summary, Thresholds, summarize
from gradscope.cells.spec import CellSpec
from gradscope.compile.compiled import CompiledCell, compile_cell
from gradscope.engine.depth import (
    DepthProfile,
    StackedParams,
    depth_profiles,
    initial_states,
    is_stacked,
    stacked_forward,
    validate_stacked,
)
from gradscope.engine.feedback import FeedbackTrajectory, run_feedback_forward
from gradscope.engine.products import DTYPES, NORMS, norm_profile
from gradscope.engine.trajectory import Trajectory, run_forward
from gradscope.errors import ConfigError
from gradscope.params.layer import (
    INITS,
    CellParams,
    as_float_array,
    check_shape,
    check_size,
    init_params,
    validate_params,
)
from gradscope.params.readout import FeedbackParams, init_feedback_params, validate_feedback_params

if TYPE_CHECKING:
    from gradscope.cells.builtin import Cell

SCHEMA = "gradscope.analysis/1"
DEFAULT_HIDDEN_SIZE = 64
DEFAULT_INPUT_SIZE = 32
DEFAULT_STEPS = 200


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

    @property
    def final_log10_norm(self) -> float:
        """``log10 ||d s_T / d s_0||``, the end-to-end gradient norm."""
        return float(self.log10_norm[-1])

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema ``"gradscope.analysis/1"``); ``-inf`` and ``inf`` become ``null``.

        ``"output_size"`` is present only for a cell that feeds its output back.
        """
        document = {
            "schema": SCHEMA,
            "gradscope_version": __version__,
            "cell": self.cell,
            "state": self.state,
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "steps": self.steps,
            "norm": self.norm,
            "dtype": self.dtype,
            "config": dict(self.config),
            "rate_per_step": _json_float(self.rate_per_step),
            "efolding_lag": _json_float(self.efolding_lag),
            "verdict": self.verdict,
            "thresholds": {
                "vanishing_rate": self.thresholds.vanishing_rate,
                "exploding_rate": self.thresholds.exploding_rate,
            },
            "final_log10_norm": _json_float(self.final_log10_norm),
            "lags": [int(k) for k in self.lags],
            "log10_norm": [_json_float(v) for v in self.log10_norm],
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "depth_profiles": [profile.to_dict() for profile in self.depth_profiles],
            "singular_values": {
                str(k): [_json_float(v) for v in values] for k, values in sorted(self.singular_values.items())
            },
        }
        if self.output_size is not None:
            document["output_size"] = self.output_size
        return document


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Problem:
    """A fully specified problem: the compiled cell, validated parameters, inputs and initial state."""

    compiled: CompiledCell
    params: CellParams | FeedbackParams  # layer 0, forward direction
    inputs: np.ndarray  # (T, input_size)
    initial_state: np.ndarray  # (C, H); (L*D, C, H) for a stacked network; y_0 (O,) for a feedback cell
    config: Mapping[str, Any]
    stacked: StackedParams | None = None


def prepare(
    cell: str | Cell,
    *,
    params: Mapping[str, object] | None = None,
    inputs: object | None = None,
    h0: object | None = None,
    c0: object | None = None,
    hidden_size: int | None = None,
    input_size: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    init: str = "pytorch",
    gain: float = 1.0,
    y0: object | None = None,
    output_size: int | None = None,
) -> Problem:
    """Validate everything :func:`analyze` takes and draw what is not given (see there)."""
    compiled = compile_cell(cell)
    spec = compiled.spec
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if init not in INITS:
        raise ConfigError(f"unknown init {init!r} (valid: {', '.join(INITS)})")
    if not isinstance(gain, (int, float, np.number)) or not math.isfinite(gain) or gain < 0:
        raise ConfigError(f"gain must be a finite number >= 0, got {gain!r}")
    if not spec.feedback:
        for name, value in (("y0", y0), ("output_size", output_size)):
            if value is not None:
                raise ConfigError(
                    f"{name} given, but the {spec.name} cell does not feed its output back (state: {spec.state_layout})"
                )
    # Independent streams for parameters and inputs: cells of different sizes compared with the
    # same seed then see the same input sequence.
    params_seed, inputs_seed = np.random.SeedSequence(int(seed)).spawn(2)
    config: dict[str, Any] = {"seed": int(seed)}
    sizes = {"hidden_size": hidden_size, "input_size": input_size, "output_size": output_size}
    if params is None:
        checked = _drawn_params(spec, sizes, np.random.default_rng(params_seed), init, gain)
        config |= {"params": "random", "init": init, "gain": float(gain)}
        stacked = None
    else:
        checked, stacked = _given_params(spec, params, sizes, config)
        config["params"] = "given"
    x = _inputs(inputs, steps, checked.input_size, inputs_seed, config)
    if spec.feedback:
        return Problem(compiled, checked, x, _initial_output(spec, checked, y0, h0, c0, config), config)
    if stacked is not None:
        initial = initial_states(spec, stacked, h0, c0)
        config |= {name: "given" for name, value in (("h0", h0), ("c0", c0)) if value is not None}
        return Problem(compiled, checked, x, initial, config, stacked)
    return Problem(compiled, checked, x, _initial_state(spec, checked.hidden_size, h0, c0, config), config)


def _drawn_params(
    spec: CellSpec, sizes: Mapping[str, int | None], rng: np.random.Generator, init: str, gain: float
) -> CellParams | FeedbackParams:
    """Parameters drawn for ``init`` at the requested (or default) sizes."""
    given_hidden, given_width = sizes["hidden_size"], sizes["input_size"]
    hidden = check_size("hidden_size", DEFAULT_HIDDEN_SIZE if given_hidden is None else given_hidden)
    width = check_size("input_size", DEFAULT_INPUT_SIZE if given_width is None else given_width)
    if spec.feedback:
        given_output = sizes["output_size"]
        output = check_size("output_size", hidden if given_output is None else given_output)
        return validate_feedback_params(spec, init_feedback_params(spec, hidden, width, output, rng, init, gain))
    return validate_params(spec, init_params(spec, hidden, width, rng, init, gain))


def _given_params(
    spec: CellSpec, params: Mapping[str, object], sizes: Mapping[str, int | None], config: dict[str, Any]
) -> tuple[CellParams | FeedbackParams, StackedParams | None]:
    """Validated given parameters (layer 0's forward direction, and the whole stack if stacked);
    sizes that were also given must agree with their shapes."""
    stacked = None
    checked: CellParams | FeedbackParams
    if spec.feedback:
        checked = validate_feedback_params(spec, params)
    elif isinstance(params, Mapping) and is_stacked(params):
        stacked = validate_stacked(spec, params)
        checked = stacked.layers[0][0]
        config |= {"num_layers": stacked.num_layers, "bidirectional": stacked.bidirectional}
    else:
        checked = validate_params(spec, params)
    actual = {"hidden_size": checked.hidden_size, "input_size": checked.input_size}
    if spec.feedback:
        actual["output_size"] = checked.output_size
    for name, size in actual.items():
        given = sizes[name]
        if given is not None and check_size(name, given) != size:
            raise ConfigError(f"{name}={given} contradicts the parameters, whose shapes give {name}={size}")
    return checked, stacked


def _inputs(
    inputs: object | None, steps: int | None, width: int, seed: np.random.SeedSequence, config: dict[str, Any]
) -> np.ndarray:
    """The given inputs ``(T, width)``, checked, or ``N(0, 1)`` draws for ``steps`` (or the default)."""
    if inputs is None:
        count = check_size("steps", DEFAULT_STEPS if steps is None else steps)
        config["inputs"] = "normal(0, 1)"
        return np.random.default_rng(seed).standard_normal((count, width))
    x = as_float_array("inputs", inputs)
    if x.ndim != 2 or x.shape[1] != width:
        raise ConfigError(f"inputs: expected shape (T, {width}) (T steps of input_size {width}), got {x.shape}")
    if x.shape[0] < 1:
        raise ConfigError("inputs: need at least one time step, got 0")
    if steps is not None and check_size("steps", steps) != x.shape[0]:
        raise ConfigError(f"steps={steps} contradicts the inputs, which have {x.shape[0]} time steps")
    config["inputs"] = "given"
    return x


def _initial_state(
    spec: CellSpec, hidden: int, h0: object | None, c0: object | None, config: dict[str, Any]
) -> np.ndarray:
    """``(C, H)``: zeros, with ``h0`` / ``c0`` where given (refused, naming the cell, where it has no such state)."""
    initial = np.zeros((len(spec.state), hidden))
    for name, value in (("h0", h0), ("c0", c0)):
        if value is None:
            continue
        component = name[0]
        if component not in spec.state:
            raise ConfigError(
                f"{name} given, but the {spec.name} cell has no {component!r} state (state: {spec.state_layout})"
            )
        initial[spec.state.index(component)] = _state_vector(name, value, hidden)
        config[name] = "given"
    return initial


def _initial_output(
    cell: CellSpec,
    params: FeedbackParams,
    y0: object | None,
    h0: object | None,
    c0: object | None,
    config: dict[str, Any],
) -> np.ndarray:
    """``y_0`` ``(O,)`` of a feedback cell (zeros by default); ``h0``/``c0`` are refused, naming ``y0``."""
    for name, value in (("h0", h0), ("c0", c0)):
        if value is not None:
            raise ConfigError(
                f"{name} given, but the {cell.name} cell's state is its output y: "
                f"pass y0 ({params.output_size},) instead"
            )
    if y0 is None:
        return np.zeros(params.output_size)
    initial = _state_vector("y0", y0, params.output_size)
    config["y0"] = "given"
    return initial


def _state_vector(name: str, value: object, size: int) -> np.ndarray:
    """An initial state component ``(size,)``, also accepted as PyTorch's ``(1, size)``."""
    array = as_float_array(name, value)
    check_shape(name, array.reshape(-1) if array.ndim == 2 and array.shape[0] == 1 else array, (size,))
    return array.reshape(-1)


def trajectory(problem: Problem) -> Trajectory | FeedbackTrajectory:
    """The forward pass of a prepared problem."""
    if isinstance(problem.params, FeedbackParams):
        return run_feedback_forward(problem.compiled, problem.params, problem.inputs, problem.initial_state)
    if problem.stacked is not None:
        return stacked_forward(problem.compiled, problem.stacked, problem.inputs, problem.initial_state)[-1][0]
    return run_forward(problem.compiled, problem.params, problem.inputs, problem.initial_state)


def analyze(
    cell: str | Cell,
    *,
    params: Mapping[str, object] | None = None,
    inputs: object | None = None,
    h0: object | None = None,
    c0: object | None = None,
    hidden_size: int | None = None,
    input_size: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    init: str = "pytorch",
    gain: float = 1.0,
    norm: str = "spectral",
    dtype: str = "float64",
    thresholds: Thresholds | None = None,
    snapshot_lags: Iterable[int] = (),
    progress: Callable[[int, int], None] | None = None,
    depth_flow: bool = False,
    y0: object | None = None,
    output_size: int | None = None,
) -> Analysis:
    """How the gradient norm ``||d s_T / d s_{T-k}||`` changes with the lag ``k = 1..T``.

    Args:
        cell: ``"rnn"``, ``"rnn-relu"``, ``"lstm"``, ``"gru"``, ``"jordan"`` or a
            :class:`~gradscope.cells.builtin.Cell`. For ``"jordan"`` (state ``y``, the fed-back output) the
            profile is ``||d y_T / d y_{T-k}||``.
        params: PyTorch-named parameters (``weight_ih_l0`` ``(G*H, I)``, ``weight_hh_l0``
            ``(G*H, H)``, optional ``bias_ih_l0``/``bias_hh_l0`` ``(G*H,)``), e.g. a
            ``state_dict``; the sizes come from the shapes. Drawn from ``seed`` when not given.
            Jordan: ``weight_ih_l0`` ``(H, I)``, ``weight_yh_l0`` ``(H, O)``, ``weight_hy_l0``
            ``(O, H)``, optional ``bias_ih_l0`` ``(H,)`` and ``bias_hy_l0`` ``(O,)`` (see
            :mod:`gradscope.params.readout`).
        inputs: ``(T, input_size)`` input sequence; ``N(0, 1)`` from ``seed`` when not given.
        h0, c0: initial hidden (and, for the LSTM, cell) state ``(H,)``; zeros by default.
        hidden_size, input_size: sizes of random parameters (default 64 and 32).
        steps: T, when ``inputs`` is not given (default 200).
        seed: seeds every random draw; parameters and inputs come from independent streams, so
            different cells with the same seed and input size see the same inputs.
        init: random parameters: ``"pytorch"`` (``U(-1/sqrt(H), 1/sqrt(H))`` for every weight and
            bias, times ``gain``), ``"gaussian"`` (recurrent blocks ``N(0, gain^2/H)``) or
            ``"orthogonal"`` (recurrent blocks ``gain`` times a random orthogonal matrix); see
            :func:`gradscope.params.layer.init_params`.
        gain: scale of the random parameters (see ``init``).
        norm: ``"spectral"`` (default) or ``"frobenius"``.
        dtype: ``"float64"`` (default) or ``"float32"`` (faster; 1e-5 .. 1e-3 relative over hundreds of lags).
        thresholds: verdict thresholds (default :class:`Thresholds()`).
        snapshot_lags: lags k at which to keep all singular values of ``P_k`` (``singular_values``).
        progress: called as ``progress(lags_done, T)`` about a hundred times while the products run.
        depth_flow: also compute ``depth_profiles`` for a single-layer cell (always done for
            stacked or bidirectional parameters, detected from names like ``weight_ih_l1`` and
            ``weight_hh_l0_reverse``; ``h0``/``c0`` then have PyTorch's shape ``(L*D, H)``).
        y0: initial output ``y_0`` ``(O,)`` of the Jordan cell (zeros by default; it takes no ``h0``/``c0``).
        output_size: O of random Jordan parameters (default ``hidden_size``).

    Returns:
        An :class:`Analysis`; ``to_dict()`` gives the ``gradscope.analysis/1`` JSON document.

    Raises:
        GradscopeError: unknown cell, bad parameter names or shapes, non-finite values, sizes or
            steps below 1, unknown options. The message names the offending thing.
    """
    if norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r} (valid: {', '.join(NORMS)})")
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r} (valid: {', '.join(DTYPES)})")
    thresholds = Thresholds() if thresholds is None else thresholds
    problem = prepare(
        cell,
        params=params,
        inputs=inputs,
        h0=h0,
        c0=c0,
        hidden_size=hidden_size,
        input_size=input_size,
        steps=steps,
        seed=seed,
        init=init,
        gain=gain,
        y0=y0,
        output_size=output_size,
    )
    feedback = isinstance(problem.params, FeedbackParams)
    if feedback and depth_flow:
        raise ConfigError(f"depth_flow: not available for the {problem.compiled.spec.name} cell (one layer, state y)")
    lags_wanted = sorted({int(k) for k in snapshot_lags})
    steps_total = problem.inputs.shape[0]
    if any(not 1 <= k <= steps_total for k in lags_wanted):
        raise ConfigError(f"snapshot lags must lie in 1..{steps_total}, got {lags_wanted}")
    if problem.stacked is not None:
        runs = stacked_forward(problem.compiled, problem.stacked, problem.inputs, problem.initial_state)
        top = runs[-1][0]
    else:
        top = trajectory(problem)
    profile = norm_profile(top, norm=norm, dtype=dtype, seed=seed, snapshot_lags=lags_wanted, progress=progress)
    depth: tuple[DepthProfile, ...] = ()
    if problem.stacked is not None or depth_flow:
        structure = problem.stacked or StackedParams(((problem.params,),), bidirectional=False)
        depth = tuple(depth_profiles(problem.compiled, structure, runs if problem.stacked is not None else [[top]]))
    for values in profile.singular_values.values():
        values.setflags(write=False)
    lags = np.arange(1, problem.inputs.shape[0] + 1)
    summary: Summary = summarize(lags, profile.log10_norm, thresholds)
    lags.setflags(write=False)
    profile.log10_norm.setflags(write=False)
    return Analysis(
        cell=problem.compiled.spec.name,
        hidden_size=problem.params.hidden_size,
        input_size=problem.params.input_size,
        steps=int(lags.size),
        state=problem.compiled.spec.state_layout,
        norm=norm,
        dtype=dtype,
        lags=lags,
        log10_norm=profile.log10_norm,
        rate_per_step=summary.rate_per_step,
        efolding_lag=summary.efolding_lag,
        verdict=summary.verdict,
        thresholds=thresholds,
        config=problem.config,
        svd_fallbacks=profile.svd_fallbacks,
        kept_directions=profile.directions,
        singular_values=profile.singular_values,
        num_layers=problem.stacked.num_layers if problem.stacked is not None else 1,
        bidirectional=problem.stacked.bidirectional if problem.stacked is not None else False,
        depth_profiles=depth,
        output_size=problem.params.output_size if feedback else None,
    )
