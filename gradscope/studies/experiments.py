"""The computations behind gradscope's figures: configurations, sweeps, length studies, spectra.

Everything here returns frozen data and draws nothing; :mod:`gradscope.figures.all` draws it.

A :class:`Setup` is one network configuration (cell, sizes, initialisation and, for the LSTM, the
forget-gate bias). It runs :func:`gradscope.analyze` with exactly the random weights and inputs
that ``analyze(cell, seed=seed, ...)`` would draw, changing only the forget-gate bias when one is
asked for, so that configurations differing in one knob differ in nothing else.

Forget-gate bias (LSTM, gate order ``i, f, g, o``; chunk ``f`` is rows ``H:2H``)
-------------------------------------------------------------------------------
PyTorch has two bias vectors, ``bias_ih_l0`` and ``bias_hh_l0``, and they *add*: the forget gate
sees ``b_f = bias_ih[H:2H] + bias_hh[H:2H]``. ``forget_bias`` here is always that effective sum:
it is written into ``bias_ih[H:2H]`` and ``bias_hh[H:2H]`` is set to zero. (Filling both vectors
with 1, a common PyTorch recipe, gives an effective bias of 2.)

Chrono initialisation (C. Tallec, Y. Ollivier, "Can recurrent neural networks warp time?", ICLR
2018, arXiv:1804.11188): ``b_f ~ log(U(1, T_max - 1))`` per unit and ``b_i = -b_f``, so that unit ``j``
forgets on a time scale of about ``exp(b_f[j])`` steps, spread up to ``T_max``. Here: effective
``b_f`` in ``bias_ih[H:2H]``, effective ``b_i = -b_f`` in ``bias_ih[0:H]``, and
``bias_hh[0:2H] = 0``. The uniform draws come from their own stream,
``numpy.random.default_rng([seed, CHRONO_STREAM])``, so they do not depend on ``T``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradscope.analysis.analyze import Analysis, analyze, prepare
from gradscope.analysis.ensemble import Ensemble, analyze_ensemble
from gradscope.analysis.summary import fit_line
from gradscope.analysis.theory import pascanu_gamma, pascanu_log10_bound, sigma_max
from gradscope.cells.spec import resolve_name
from gradscope.errors import ConfigError

#: LSTM gate chunks in PyTorch's order ``i, f, g, o``.
LSTM_INPUT_GATE = 0
LSTM_FORGET_GATE = 1
#: Second seed word of the independent stream chrono initialisation draws from.
CHRONO_STREAM = 0xC4
#: Display names of the built-in cells.
CELL_TITLES = {"rnn": "tanh RNN", "rnn-relu": "ReLU RNN", "lstm": "LSTM", "gru": "GRU", "jordan": "Jordan network"}
#: Axis text for the parameters a :class:`Setup` can sweep.
PARAMETER_TEXT = {
    "gain": "init gain g",
    "forget_bias": "effective forget-gate bias b_f",
    "hidden_size": "hidden size H",
    "input_size": "input size I",
    "init": "initialisation",
}

ForgetBias = float | str | None
Progress = Callable[[int, int], None]


#: How each random initialisation is named in titles.
INIT_TITLES = {"pytorch": "PyTorch default init", "gaussian": "Gaussian init", "orthogonal": "orthogonal init"}


def init_text(init: str, gain: float = 1.0) -> str:
    """``"PyTorch default init"``, ``"Gaussian init, gain 1.5"``, ..."""
    return INIT_TITLES.get(init, f"{init} init") + ("" if float(gain) == 1.0 else f", gain {float(gain):g}")


def config_text(config: Mapping[str, Any]) -> str:
    """How an analysis got its parameters: the init (and gain) of random ones, or ``"given weights"``."""
    if config.get("params") == "random":
        return init_text(str(config.get("init", "pytorch")), float(config.get("gain", 1.0)))
    return "given weights"


def cell_title(cell: str) -> str:
    """``"tanh RNN"``, ``"LSTM"``, ... for a built-in cell name; the name itself otherwise."""
    return CELL_TITLES.get(cell, cell)


def format_value(parameter: str, value: object) -> str:
    """A swept value as text: ``"chrono"``, ``"1.5"``, ``"64"``."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


# ----------------------------------------------------------------------------------------------
# Forget-gate bias and chrono initialisation
# ----------------------------------------------------------------------------------------------


def chrono_forget_bias(hidden_size: int, t_max: int, rng: np.random.Generator) -> np.ndarray:
    """Chrono initialisation's forget-gate bias ``b_f = log(U(1, T_max - 1))``, ``(H,)``.

    Tallec & Ollivier (2018); the input-gate bias is then ``b_i = -b_f``.
    """
    if isinstance(t_max, bool) or not isinstance(t_max, (int, np.integer)) or t_max < 3:
        raise ConfigError(f"chrono initialisation needs an integer t_max >= 3, got {t_max!r}")
    return np.log(rng.uniform(1.0, t_max - 1.0, size=hidden_size))


def set_forget_bias(
    params: Mapping[str, np.ndarray],
    forget_bias: float | str,
    *,
    t_max: int | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """A copy of LSTM ``params`` with the effective forget-gate bias set (see the module docstring).

    Args:
        params: PyTorch-named LSTM parameters with ``bias_ih_l0`` and ``bias_hh_l0`` ``(4H,)``.
        forget_bias: the effective bias ``b_f`` (a number, the same for every unit) or ``"chrono"``.
        t_max: chrono's ``T_max`` (required for ``"chrono"``).
        rng: chrono's random stream (required for ``"chrono"``).

    Returns:
        New arrays: ``bias_ih[H:2H] = b_f``, ``bias_hh[H:2H] = 0``; for chrono also
        ``bias_ih[0:H] = -b_f``, ``bias_hh[0:H] = 0``. Everything else is unchanged.
    """
    out = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    if "bias_ih_l0" not in out or "bias_hh_l0" not in out:
        raise ConfigError("a forget-gate bias needs an LSTM with biases (bias_ih_l0 and bias_hh_l0)")
    hidden = out["weight_hh_l0"].shape[1]
    if out["bias_ih_l0"].shape != (4 * hidden,):
        shape = out["bias_ih_l0"].shape
        raise ConfigError(f"forget_bias applies to the LSTM (4 gates), got bias_ih_l0 of shape {shape}")
    f = slice(LSTM_FORGET_GATE * hidden, (LSTM_FORGET_GATE + 1) * hidden)
    i = slice(LSTM_INPUT_GATE * hidden, (LSTM_INPUT_GATE + 1) * hidden)
    if forget_bias == "chrono":
        if t_max is None or rng is None:
            raise ConfigError("chrono initialisation needs t_max and a random generator")
        b_f = chrono_forget_bias(hidden, t_max, rng)
        out["bias_ih_l0"][f], out["bias_hh_l0"][f] = b_f, 0.0
        out["bias_ih_l0"][i], out["bias_hh_l0"][i] = -b_f, 0.0
        return out
    if isinstance(forget_bias, str) or not math.isfinite(float(forget_bias)):
        raise ConfigError(f"forget_bias must be a finite number or 'chrono', got {forget_bias!r}")
    out["bias_ih_l0"][f], out["bias_hh_l0"][f] = float(forget_bias), 0.0
    return out


# ----------------------------------------------------------------------------------------------
# One configuration
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """One network configuration, runnable at any length and seed.

    Attributes:
        cell: built-in cell name.
        hidden_size, input_size: H and I.
        init, gain: random initialisation, as in :func:`gradscope.analyze`.
        forget_bias: LSTM only: ``None`` (PyTorch's random biases), a number (the effective
            forget-gate bias, see the module docstring) or ``"chrono"``.
        t_max: chrono's ``T_max``; ``None`` means the run's ``steps``.
        label: legend text; built from the configuration when ``None``.
    """

    cell: str = "rnn"
    hidden_size: int = 64
    input_size: int = 32
    init: str = "pytorch"
    gain: float = 1.0
    forget_bias: ForgetBias = None
    t_max: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cell", resolve_name(self.cell))
        if self.forget_bias is not None:
            if self.cell != "lstm":
                raise ConfigError(f"forget_bias applies to the LSTM only, not to {self.cell!r}")
            if isinstance(self.forget_bias, str) and self.forget_bias != "chrono":
                raise ConfigError(f"forget_bias must be a number or 'chrono', got {self.forget_bias!r}")

    @property
    def name(self) -> str:
        """Legend text: ``label``, else e.g. ``"LSTM, b_f = 1"`` or ``"tanh RNN"``."""
        if self.label:
            return self.label
        text = cell_title(self.cell)
        if self.forget_bias == "chrono":
            return text + (", chrono" if self.t_max is None else f", chrono (T_max = {self.t_max})")
        if self.forget_bias is not None:
            return text + f", b_f = {float(self.forget_bias):g}"
        return text

    def describe(self) -> str:
        """The configuration in one line, e.g. ``"tanh RNN, H=64, I=32, gaussian init, gain 1.5"``."""
        parts = [cell_title(self.cell), f"H={self.hidden_size}", f"I={self.input_size}"]
        parts.append(init_text(self.init, self.gain))
        if self.forget_bias == "chrono":
            parts.append("chrono init" + ("" if self.t_max is None else f" (T_max = {self.t_max})"))
        elif self.forget_bias is not None:
            parts.append(f"forget bias b_f = {float(self.forget_bias):g}")
        return ", ".join(parts)

    def cli_flags(self) -> str | None:
        """The ``gradscope analyze`` options for this configuration, or ``None`` when it has none
        (a chosen forget-gate bias is not a command-line option)."""
        if self.forget_bias is not None:
            return None
        return (
            f"--cell {self.cell} --hidden-size {self.hidden_size} --input-size {self.input_size} "
            f"--init {self.init} --gain {self.gain:g}"
        )

    def draw(self, steps: int, seed: int) -> tuple[dict[str, np.ndarray] | None, np.ndarray | None]:
        """``(params, inputs)`` to pass to :func:`gradscope.analyze`, or ``(None, None)`` to let it draw.

        With a forget-gate bias: the weights and the ``(steps, I)`` inputs that
        ``analyze(cell, seed=seed, ...)`` draws (taken from :func:`gradscope.analysis.analyze.prepare`), with
        the forget-gate bias then set.
        """
        if self.forget_bias is None:
            return None, None
        problem = prepare(
            self.cell,
            hidden_size=self.hidden_size,
            input_size=self.input_size,
            steps=steps,
            seed=seed,
            init=self.init,
            gain=self.gain,
        )
        t_max = steps if self.t_max is None else self.t_max
        chrono_rng = np.random.default_rng([seed, CHRONO_STREAM]) if self.forget_bias == "chrono" else None
        params = set_forget_bias(problem.params.as_dict(), self.forget_bias, t_max=t_max, rng=chrono_rng)
        return params, np.array(problem.inputs)

    def run(
        self,
        steps: int,
        seed: int = 0,
        *,
        norm: str = "spectral",
        snapshot_lags: Iterable[int] = (),
        progress: Progress | None = None,
    ) -> Analysis:
        """:func:`gradscope.analyze` of this configuration over ``steps`` steps."""
        params, inputs = self.draw(steps, seed)
        return analyze(
            self.cell,
            params=params,
            inputs=inputs,
            hidden_size=None if params is not None else self.hidden_size,
            input_size=None if params is not None else self.input_size,
            steps=None if inputs is not None else steps,
            seed=seed,
            init=self.init,
            gain=self.gain,
            norm=norm,
            snapshot_lags=snapshot_lags,
            progress=progress,
        )

    def ensemble(self, steps: int, samples: int, seed: int = 0, progress: Progress | None = None) -> Ensemble:
        """:func:`~gradscope.analysis.ensemble.analyze_ensemble` of this setup (draw i uses seed ``seed + i``)."""
        factories: dict[str, Any] = {}
        if self.forget_bias is not None:
            factories = {
                "params_factory": lambda s: self.draw(steps, s)[0],
                "inputs_factory": lambda s: self.draw(steps, s)[1],
            }
        else:
            factories = {"hidden_size": self.hidden_size, "input_size": self.input_size, "steps": steps}
        return analyze_ensemble(
            self.cell,
            samples=samples,
            seed=seed,
            init=self.init,
            gain=self.gain,
            label=self.name,
            progress=progress,
            **factories,
        )


def run_all(
    setups: Sequence[Setup],
    steps: int,
    seed: int = 0,
    *,
    snapshot_lags: Iterable[int] = (),
    progress: Progress | None = None,
) -> tuple[Analysis, ...]:
    """Each configuration at the same length and seed (a cell comparison), in order."""
    lags = tuple(snapshot_lags)
    out = []
    for done, setup in enumerate(setups, start=1):
        out.append(setup.run(steps, seed, snapshot_lags=lags))
        if progress is not None:
            progress(done, len(setups))
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# The profile figure's overlays
# ----------------------------------------------------------------------------------------------


def fitted_log10_line(lags: np.ndarray, log10_norm: np.ndarray, rate: float) -> np.ndarray | None:
    """The least-squares line behind ``rate_per_step``, in log10 units, ``(T,)``.

    The intercept comes from the same fit as the rate (:func:`gradscope.analysis.summary.fit_line`).
    ``None`` if ``rate`` is not finite.
    """
    if not math.isfinite(rate):
        return None
    _, intercept = fit_line(lags, log10_norm)
    return (intercept + rate * np.asarray(lags, dtype=np.float64)) / math.log(10.0)


@dataclass(frozen=True)
class ProfileView:
    """What the profile figure draws: an analysis and its overlays.

    Attributes:
        analysis: the profile.
        fit_log10: ``(T,)`` the fitted rate line (log10), or ``None``.
        bound_log10: ``(T,)`` Pascanu's bound (log10), or ``None`` where it does not apply.
        sigma_max: ``sigma_max(W_hh)`` used by the bound (``nan`` without a bound).
        gamma: the bound's ``gamma`` (``nan`` without a bound).
        label: legend text of the profile.
        title: the configuration, for the figure's title (the cell is named by ``label``).
    """

    analysis: Analysis
    fit_log10: np.ndarray | None
    bound_log10: np.ndarray | None
    sigma_max: float
    gamma: float
    label: str
    title: str


def describe_analysis(analysis: Analysis, *, with_cell: bool = True) -> str:
    """The configuration of an analysis in one line (cell, sizes, init, gain, seed)."""
    config = analysis.config
    parts = [cell_title(analysis.cell)] if with_cell else []
    parts += [
        f"H={analysis.hidden_size}",
        *([f"O={analysis.output_size}"] if analysis.output_size is not None else []),
        f"I={analysis.input_size}",
        f"T={analysis.steps}",
    ]
    if "params" in config:
        parts.append(config_text(config))
    if "seed" in config:
        parts.append(f"seed {config['seed']}")
    return ", ".join(parts)


def recurrent_matrix(analysis: Analysis, params: Mapping[str, object] | None = None) -> np.ndarray | None:
    """``W_hh`` ``(H, H)`` of the recurrence a single-gate cell's profile follows, or ``None``.

    From ``params`` when given (for a stacked network the top layer's forward ``weight_hh_l{L-1}``,
    whose own recurrence ``log10_norm`` describes), else re-drawn from the seed when the analysis
    drew its own parameters.
    """
    if params is not None:
        name = f"weight_hh_l{analysis.num_layers - 1}"
        if name not in params:
            return None
        weight = np.asarray(params[name], dtype=np.float64)
    elif analysis.config.get("params") == "random":
        problem = prepare(
            analysis.cell,
            hidden_size=analysis.hidden_size,
            input_size=analysis.input_size,
            steps=analysis.steps,
            seed=int(analysis.config["seed"]),
            init=str(analysis.config["init"]),
            gain=float(analysis.config["gain"]),
        )
        weight = problem.params.weight_hh
    else:
        return None
    return weight if weight.ndim == 2 and weight.shape[0] == weight.shape[1] else None


def profile_view(
    analysis: Analysis,
    params: Mapping[str, object] | None = None,
    *,
    label: str | None = None,
    title: str | None = None,
) -> ProfileView:
    """The profile with its fitted rate line and, for the plain RNN, Pascanu's bound.

    Args:
        analysis: the result of :func:`gradscope.analyze`.
        params: the parameters it ran on, when they were given (``analysis.config["params"] ==
            "given"``); random parameters are re-drawn from the recorded seed.
        label, title: override the legend text and the title.
    """
    fit = fitted_log10_line(analysis.lags, analysis.log10_norm, analysis.rate_per_step)
    gamma = pascanu_gamma(analysis.cell)
    bound, top = None, math.nan
    weight = recurrent_matrix(analysis, params) if gamma is not None else None
    if weight is not None and gamma is not None:
        bound = pascanu_log10_bound(weight, analysis.lags, gamma, analysis.norm)
        top = sigma_max(weight)
    return ProfileView(
        analysis=analysis,
        fit_log10=fit,
        bound_log10=bound,
        sigma_max=top,
        gamma=math.nan if bound is None else float(gamma),
        label=label or cell_title(analysis.cell),
        title=title or describe_analysis(analysis, with_cell=False),
    )


# ----------------------------------------------------------------------------------------------
# Sweeps (the phase diagrams)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """Profiles of one configuration with one parameter varied.

    Attributes:
        setup: the base configuration.
        parameter: the :class:`Setup` field varied (``"gain"``, ``"forget_bias"``, ``"hidden_size"``, ...).
        values: ``(P,)`` its values, in order.
        labels: ``(P,)`` the values as text.
        steps, seed: T and the seed of every run.
        lags: ``(T,)`` ints ``1..T``.
        log10_norm: ``(P, T)``; row p is ``log10 ||d s_T / d s_{T-k}||`` at ``values[p]``.
        rates: ``(P,)`` rate per step (natural log) of each row.
        verdicts: ``(P,)``.
        norm: the norm measured (``"spectral"``).
    """

    setup: Setup
    parameter: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    steps: int
    seed: int
    lags: np.ndarray
    log10_norm: np.ndarray
    rates: np.ndarray
    verdicts: tuple[str, ...]
    norm: str = "spectral"

    @property
    def parameter_text(self) -> str:
        """Axis text for the parameter, e.g. ``"init gain g"``."""
        return PARAMETER_TEXT.get(self.parameter, self.parameter)

    @property
    def final_log10_norm(self) -> np.ndarray:
        """``(P,)`` ``log10 ||d s_T / d s_0||`` of each row."""
        return self.log10_norm[:, -1]

    def numeric_values(self) -> np.ndarray | None:
        """``(P,)`` the values as floats, or ``None`` when some are not numbers (``"chrono"``)."""
        if any(isinstance(v, str) for v in self.values):
            return None
        return np.asarray(self.values, dtype=np.float64)

    def rate_zero_crossings(self) -> tuple[float, ...]:
        """Parameter values where the rate changes sign, linearly interpolated (numeric sweeps only)."""
        x = self.numeric_values()
        if x is None:
            return ()
        out = []
        for p in range(len(x) - 1):
            a, b = self.rates[p], self.rates[p + 1]
            if np.isfinite(a) and np.isfinite(b) and (a < 0) != (b < 0):
                out.append(float(x[p] + (x[p + 1] - x[p]) * (-a) / (b - a)))
        return tuple(out)


def sweep(
    setup: Setup,
    parameter: str,
    values: Sequence[Any],
    *,
    steps: int,
    seed: int = 0,
    progress: Progress | None = None,
) -> Sweep:
    """Run ``setup`` with ``parameter`` set to each of ``values`` (same seed, same length).

    Args:
        setup: the base configuration.
        parameter: a :class:`Setup` field: ``"gain"``, ``"forget_bias"`` (numbers and/or
            ``"chrono"``), ``"hidden_size"``, ``"input_size"``, ``"init"``, ``"t_max"``.
        values: ``(P,)`` the values, P >= 1.
        steps, seed: T and the seed of every run.
        progress: called as ``progress(runs_done, P)``.
    """
    names = {f.name for f in dataclasses.fields(Setup)} - {"cell", "label"}
    if parameter not in names:
        raise ConfigError(f"cannot sweep {parameter!r} (valid: {', '.join(sorted(names))})")
    if len(values) < 1:
        raise ConfigError("a sweep needs at least one value")
    runs = []
    for done, value in enumerate(values, start=1):
        runs.append(dataclasses.replace(setup, **{parameter: value}).run(steps, seed))
        if progress is not None:
            progress(done, len(values))
    log10_norm = np.stack([r.log10_norm for r in runs])
    rates = np.array([r.rate_per_step for r in runs])
    for array in (log10_norm, rates):
        array.setflags(write=False)
    return Sweep(
        setup=setup,
        parameter=parameter,
        values=tuple(values),
        labels=tuple(format_value(parameter, v) for v in values),
        steps=runs[0].steps,
        seed=seed,
        lags=runs[0].lags,
        log10_norm=log10_norm,
        rates=rates,
        verdicts=tuple(r.verdict for r in runs),
        norm=runs[0].norm,
    )


# ----------------------------------------------------------------------------------------------
# Sequence length
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LengthStudy:
    """The end-to-end gradient ``||d s_T / d s_0||`` and the rate as the sequence length T grows.

    For a given seed the weights are the same at every T and the inputs of the shorter sequences
    are prefixes of the longer ones (NumPy draws them in order), so each row follows one network
    along one ever longer input sequence.

    Attributes:
        setups: ``(V,)`` the configurations.
        lengths: ``(L,)`` the sequence lengths T, increasing.
        seeds: ``(S,)`` the seeds (one network and input sequence per seed).
        final_log10_norm: ``(V, S, L)`` ``log10 ||d s_T / d s_0||``.
        rates: ``(V, S, L)`` rate per step (natural log) fitted over lags ``1..T``.
    """

    setups: tuple[Setup, ...]
    lengths: np.ndarray
    seeds: np.ndarray
    final_log10_norm: np.ndarray
    rates: np.ndarray

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.setups)

    def median_final(self) -> np.ndarray:
        """``(V, L)`` median over seeds of ``log10 ||d s_T / d s_0||``."""
        return np.median(self.final_log10_norm, axis=1)

    def median_rate(self) -> np.ndarray:
        """``(V, L)`` median over seeds of the rate per step."""
        return np.median(self.rates, axis=1)


def length_study(
    setups: Sequence[Setup],
    lengths: Sequence[int],
    *,
    samples: int = 1,
    seed: int = 0,
    progress: Progress | None = None,
) -> LengthStudy:
    """Each configuration at each sequence length, for seeds ``seed .. seed + samples - 1``.

    A chrono LSTM needs a fixed ``t_max`` here, or its biases would change with T.
    """
    sizes = [int(T) for T in lengths]
    if not sizes or any(T < 1 for T in sizes) or sizes != sorted(set(sizes)):
        raise ConfigError(f"lengths must be increasing positive integers, got {list(lengths)}")
    if samples < 1:
        raise ConfigError(f"samples must be >= 1, got {samples}")
    seeds = np.arange(seed, seed + samples)
    final = np.empty((len(setups), samples, len(sizes)))
    rates = np.empty_like(final)
    total, done = final.size, 0
    for v, setup in enumerate(setups):
        for s, member in enumerate(seeds):
            for j, T in enumerate(sizes):
                result = setup.run(T, int(member))
                final[v, s, j] = result.final_log10_norm
                rates[v, s, j] = result.rate_per_step
                done += 1
                if progress is not None:
                    progress(done, total)
    lengths_array = np.asarray(sizes)
    for array in (lengths_array, seeds, final, rates):
        array.setflags(write=False)
    return LengthStudy(tuple(setups), lengths_array, seeds, final, rates)


# ----------------------------------------------------------------------------------------------
# Singular-value spectra of P_k
# ----------------------------------------------------------------------------------------------

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
