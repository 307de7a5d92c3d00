"""The ``reports/`` gallery: every figure for sensible defaults, as PNG and SVG, with a README.

:func:`build_gallery` computes and renders everything in memory and returns the files as
``(relative path, bytes)`` pairs; :func:`write_artifacts` is the one place that writes them to disk
(``gradscope report --out DIR`` calls both). The build is deterministic: fixed seeds, no dates or
version strings in the figures, no timestamps in the README, so running it twice gives identical
bytes. (On another machine, or with another BLAS thread count, the last bits of the smallest
resolved singular values can differ, and with them a few pixels of ``spectrum.png``; every other
file and every number in the README came out identical in our checks.)

Matplotlib is imported only inside :func:`build_gallery` (through :mod:`gradscope.figures.all`).
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope._version import __version__
from gradscope.analysis.analyze import Analysis, analyze
from gradscope.analysis.ensemble import Ensemble
from gradscope.analysis.summary import fit_line
from gradscope.compile.compiled import compile_cell
from gradscope.engine.depth import init_stacked_params
from gradscope.errors import ConfigError
from gradscope.studies.experiments import (
    LengthStudy,
    ProfileView,
    Setup,
    Sweep,
    cell_title,
    length_study,
    profile_view,
    run_all,
    spectrum_table,
    sweep,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: ``(relative POSIX path inside the output folder, file contents)``.
Artifact = tuple[str, bytes]
#: ``progress(done, total, description)``: ``done`` of ``total`` steps finished, ``description`` says
#: what runs next ("" at the end).
GalleryProgress = Callable[[int, int, str], None]

REPORT_COMMAND = "gradscope report --out reports/"
FIGURE_FORMATS = ("png", "svg")


@dataclass(frozen=True)
class GallerySizes:
    """The sizes of everything the gallery computes.

    The defaults are the published gallery (about a minute or two on two cores); :data:`QUICK` is a
    tiny configuration for tests.

    Attributes:
        hidden_size, input_size: H and I of every network except in the hidden-size sweep.
        steps: T of the profiles, comparisons, ensembles, spectra, gain and hidden-size sweeps.
        long_steps: T of the forget-gate-bias sweep and the LSTM ensembles, and chrono's T_max.
        samples: draws per ensemble of the cell ensembles.
        lstm_samples: draws per ensemble of the LSTM forget-bias ensembles.
        gain_range: ``(start, stop, count)`` of the gain sweep, as ``numpy.linspace`` takes it.
        forget_bias_range: ``(start, stop, count)`` of the forget-bias sweep (chrono is added).
        hidden_sizes: the hidden sizes swept.
        hidden_gain: the Gaussian init gain of the hidden-size sweep.
        exploding_gain: the Gaussian init gain of the exploding profile.
        lengths: the sequence lengths T of the length study.
        length_samples: seeds per configuration in the length study.
        spectrum_lags: the lags whose singular values are shown.
        phase_gain_range: ``(start, stop, count)`` of the rate-against-gain phase diagram (``gradscope sweep``).
        phase_samples: random networks per gain in the phase diagram.
        lyapunov_gain, lyapunov_steps, lyapunov_transient: the Gaussian gain, T and transient of the
            Lyapunov-spectrum figure (``gradscope lyapunov``, tanh RNN, all H exponents).
        depth_layers: layers of the bidirectional LSTM of the depth-by-time heatmap (H, I and T as above).
        seed: the (first) seed of everything.
    """

    hidden_size: int = 64
    input_size: int = 32
    steps: int = 200
    long_steps: int = 1000
    samples: int = 32
    lstm_samples: int = 8
    gain_range: tuple[float, float, int] = (0.5, 2.0, 31)
    forget_bias_range: tuple[float, float, int] = (-2.0, 5.0, 15)
    hidden_sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    hidden_gain: float = 1.5
    exploding_gain: float = 2.0
    lengths: tuple[int, ...] = (200, 400, 600, 800, 1000)
    length_samples: int = 3
    spectrum_lags: tuple[int, ...] = (1, 10, 50, 200)
    phase_gain_range: tuple[float, float, int] = (0.25, 3.0, 12)
    phase_samples: int = 6
    lyapunov_gain: float = 2.0
    lyapunov_steps: int = 2000
    lyapunov_transient: int = 500
    depth_layers: int = 3
    seed: int = 0

    @property
    def gains(self) -> list[float]:
        start, stop, count = self.gain_range
        return np.linspace(start, stop, count).tolist()

    @property
    def forget_biases(self) -> list[float | str]:
        start, stop, count = self.forget_bias_range
        return [*np.linspace(start, stop, count).tolist(), "chrono"]


#: A tiny gallery for tests: every figure and table, in a second or two.
QUICK = GallerySizes(
    hidden_size=6,
    input_size=3,
    steps=24,
    long_steps=40,
    samples=3,
    lstm_samples=2,
    gain_range=(0.5, 2.0, 3),
    forget_bias_range=(0.0, 3.0, 2),
    hidden_sizes=(4, 8),
    lengths=(12, 24),
    length_samples=2,
    spectrum_lags=(1, 6, 24),
    phase_gain_range=(0.5, 2.0, 3),
    phase_samples=2,
    lyapunov_steps=60,
    lyapunov_transient=10,
)


@dataclass
class Section:
    """One figure of the gallery and its README entry."""

    name: str  # file stem, e.g. "profile-rnn"
    title: str
    caption: str
    figure: Figure
    commands: list[str] = field(default_factory=list)  # shell commands that reproduce the figure exactly
    python: str = ""  # Python that reproduces it, where no command exists
    table: str = ""  # markdown


# ----------------------------------------------------------------------------------------------
# Markdown helpers
# ----------------------------------------------------------------------------------------------


def number(value: float, spec: str) -> str:
    """``value`` formatted with ``spec``, or ``-inf``/``inf``/``n/a`` when not finite."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return format(value, spec)


def log10_text(value: float) -> str:
    """A log10 value for tables: one decimal from 10 on, two below (``-218.4``, ``-4.85``, ``-0.01``)."""
    if not math.isfinite(value):
        return number(value, "")
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None) -> str:
    """A GitHub markdown table; ``align`` is one character per column (``l`` or ``r``, default right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def analysis_row(name: str, a: Analysis) -> list[str]:
    return [
        name,
        number(a.rate_per_step, "+.4f"),
        number(a.efolding_lag, ".3g"),
        log10_text(a.final_log10_norm),
        a.verdict,
    ]


ANALYSIS_HEADER = ["configuration", "rate / step", "e-folding lag (steps)", "log10 ‖∂s_T/∂s_0‖", "verdict"]


def python_list(values: Sequence[Any]) -> str:
    return "[" + ", ".join(repr(v) for v in values) + "]"


# ----------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------


def _profile_section(name: str, setup: Setup, sizes: GallerySizes, lead: str) -> Section:
    from gradscope.figures import all as figures

    view: ProfileView = profile_view(setup.run(sizes.steps, sizes.seed))
    a = view.analysis
    flags = setup.cli_flags()
    bound = (
        f"Pascanu's bound grows by γσ_max(W_hh) = {view.gamma * view.sigma_max:.3g} per step"
        if view.bound_log10 is not None
        else ""
    )
    table = markdown_table(
        [*ANALYSIS_HEADER, "γ σ_max(W_hh)"],
        [[*analysis_row(setup.describe(), a), number(view.gamma * view.sigma_max, ".3g")]],
    )
    return Section(
        name=name,
        title=f"Profile: {setup.name}, {a.verdict}",
        caption=(
            f"{lead} `log10 ‖∂s_T/∂s_(T-k)‖` against the lag k for one network ({setup.describe()}; "
            f"T = {a.steps}, seed {sizes.seed}), with the `‖·‖ = 1` line and the least-squares rate line "
            f"({a.rate_per_step:+.3f} per step). {bound}: a valid but loose upper bound."
        ),
        figure=figures.profile_figure(view),
        commands=[f"gradscope analyze {flags} --steps {sizes.steps} --seed {sizes.seed} --plot reports/{name}.png"],
        table=table,
    )


def _ensemble_table(ensembles: Sequence[Ensemble]) -> str:
    rows = []
    for e in ensembles:
        counts = e.verdict_counts()
        q_low, q_high = np.quantile(e.rates, e.quantiles)
        rows.append(
            [
                e.label,
                str(e.samples),
                number(e.median_rate, "+.4f"),
                f"{number(float(q_low), '+.4f')} .. {number(float(q_high), '+.4f')}",
                log10_text(float(e.median[-1])),
                f"{counts['vanishing']} / {counts['stable']} / {counts['exploding']}",
            ]
        )
    return markdown_table(
        [
            "configuration",
            "draws",
            "median rate / step",
            "rate, 10-90 %",
            "median log10 ‖∂s_T/∂s_0‖",
            "vanishing / stable / exploding",
        ],
        rows,
    )


def _ensemble_summary(ensembles: Sequence[Ensemble]) -> str:
    """One sentence from the numbers: each configuration's median rate and how many draws vanish."""
    parts = [
        f"{e.label} {e.median_rate:+.3f} per step ({e.verdict_counts()['vanishing']} of {e.samples} draws vanishing)"
        for e in ensembles
    ]
    return "Median rates: " + "; ".join(parts) + "."


def _cell_ensemble_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures

    cells = ("rnn", "lstm", "gru")
    setups = [Setup(c, sizes.hidden_size, sizes.input_size) for c in cells]
    ensembles = [s.ensemble(sizes.steps, sizes.samples, sizes.seed) for s in setups]
    last = sizes.seed + sizes.samples - 1
    return Section(
        name="ensemble-cells",
        title="Ensemble: median and 10-90 % band over random draws",
        caption=(
            f"The profile of {sizes.samples} independent draws of weights and inputs per cell "
            f"(seeds {sizes.seed}-{last}; "
            f"H = {sizes.hidden_size}, I = {sizes.input_size}, T = {sizes.steps}, PyTorch's default initialisation): "
            "the line is the pointwise median of `log10 ‖∂s_T/∂s_(T-k)‖`, the shading the pointwise 10-90 % range. "
            f"{_ensemble_summary(ensembles)}"
        ),
        figure=figures.ensemble_figure(ensembles),
        commands=[
            f"gradscope compare --cells {','.join(cells)} --samples {sizes.samples} {_cli_sizes(sizes)} "
            "--plot reports/ensemble-cells.png",
            f"# one cell's band alone: gradscope analyze --cell lstm --samples {sizes.samples} {_cli_sizes(sizes)} "
            "--plot lstm-band.png",
        ],
        table=_ensemble_table(ensembles),
    )


def _lstm_setups(sizes: GallerySizes) -> list[Setup]:
    return [
        Setup("lstm", sizes.hidden_size, sizes.input_size, label="LSTM, PyTorch default biases"),
        Setup("lstm", sizes.hidden_size, sizes.input_size, forget_bias=1.0),
        Setup("lstm", sizes.hidden_size, sizes.input_size, forget_bias="chrono", t_max=sizes.long_steps),
    ]


def _lstm_ensemble_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures

    setups = _lstm_setups(sizes)
    ensembles = [s.ensemble(sizes.long_steps, sizes.lstm_samples, sizes.seed) for s in setups]
    last = sizes.seed + sizes.lstm_samples - 1
    title = (
        "LSTM: how the forget-gate bias keeps the gradient (median and 10-90 % band)\n"
        f"H={sizes.hidden_size}, I={sizes.input_size}, T={sizes.long_steps}, PyTorch default weights, "
        f"seeds {sizes.seed}-{last}"
    )
    code = (
        "from gradscope.studies.experiments import Setup\nfrom gradscope.figures.all import ensemble_figure\n"
        f"setups = [Setup('lstm', {sizes.hidden_size}, {sizes.input_size}, label='LSTM, PyTorch default biases'),\n"
        f"          Setup('lstm', {sizes.hidden_size}, {sizes.input_size}, forget_bias=1.0),\n"
        f"          Setup('lstm', {sizes.hidden_size}, {sizes.input_size}, forget_bias='chrono', "
        f"t_max={sizes.long_steps})]\n"
        f"title = {title!r}\n"
        f"ensemble_figure([s.ensemble({sizes.long_steps}, {sizes.lstm_samples}, {sizes.seed}) for s in setups], "
        "title=title)"
    )
    return Section(
        name="ensemble-lstm-forget-bias",
        title="Why an LSTM keeps its gradient: the forget-gate bias",
        caption=(
            f"{sizes.lstm_samples} draws per configuration of an LSTM "
            f"(H = {sizes.hidden_size}, T = {sizes.long_steps}) "
            "whose weights and inputs are exactly PyTorch's default draws and whose only difference is the "
            "forget-gate bias: PyTorch's small random biases, an effective bias b_f = 1 (in `bias_ih`; `bias_hh` "
            f"zeroed: the two vectors add), and chrono initialisation with T_max = {sizes.long_steps} "
            "(Tallec & Ollivier 2018: b_f ~ log U(1, T_max - 1), b_i = -b_f). The forget gate multiplies the "
            "cell state's gradient by f_t each step (the constant error carousel): with f_t near 1 the gradient "
            f"survives hundreds of steps. {_ensemble_summary(ensembles)}"
        ),
        figure=figures.ensemble_figure(ensembles, title=title),
        python=code,
        table=_ensemble_table(ensembles),
    )


def _cli_sizes(sizes: GallerySizes) -> str:
    """The size and seed options shared by the gallery's commands."""
    return (
        f"--hidden-size {sizes.hidden_size} --input-size {sizes.input_size} --steps {sizes.steps} --seed {sizes.seed}"
    )


def _compare_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures

    cells = ("rnn", "rnn-relu", "lstm", "gru")
    analyses = run_all([Setup(c, sizes.hidden_size, sizes.input_size) for c in cells], sizes.steps, sizes.seed)
    return Section(
        name="compare-cells",
        title="Cell comparison: same sizes, same seed",
        caption=(
            f"Every built-in cell with the same sizes (H = {sizes.hidden_size}, I = {sizes.input_size}), the same "
            f"input sequence and PyTorch's default initialisation drawn from the same seed ({sizes.seed}), over "
            f"T = {sizes.steps} steps. The legend gives each cell's rate per step and verdict."
        ),
        figure=figures.compare_figure(analyses),
        commands=[f"gradscope compare --cells {','.join(cells)} {_cli_sizes(sizes)} --plot reports/compare-cells.png"],
        table=markdown_table(ANALYSIS_HEADER, [analysis_row(cell_title(a.cell), a) for a in analyses]),
    )


def _sweep_table(result: Sweep, rows: Sequence[int] | None = None) -> str:
    indices = range(len(result.values)) if rows is None else rows
    return markdown_table(
        [result.parameter_text, "rate / step", "log10 ‖∂s_T/∂s_0‖", "verdict"],
        [
            [
                result.labels[p],
                number(float(result.rates[p]), "+.4f"),
                log10_text(float(result.final_log10_norm[p])),
                result.verdicts[p],
            ]
            for p in indices
        ],
    )


#: How a swept value reads in a sentence: ``"g = 1.5"``, ``"b_f = 2"``, ``"H = 64"``.
SYMBOLS = {"gain": "g", "forget_bias": "b_f", "hidden_size": "H", "input_size": "I"}


def _value_text(result: Sweep, p: int) -> str:
    label = result.labels[p]
    if label == "chrono":
        return "chrono initialisation"
    symbol = SYMBOLS.get(result.parameter)
    return f"{symbol} = {label}" if symbol else label


def _sweep_summary(result: Sweep) -> str:
    """One sentence from the numbers: the rate at each end of the sweep and every verdict change."""
    rates, verdicts = result.rates, result.verdicts
    last = len(rates) - 1
    text = (
        f"The rate goes from {rates[0]:+.3f} per step at {_value_text(result, 0)} to {rates[last]:+.3f} at "
        f"{_value_text(result, last)}"
    )
    changes = [
        f"{verdicts[p]} to {verdicts[p + 1]} between {_value_text(result, p)} and {_value_text(result, p + 1)}"
        for p in range(last)
        if verdicts[p] != verdicts[p + 1]
    ]
    return text + ("; the verdict changes from " + ", from ".join(changes) if changes else "") + "."


def _sweep_code(setup_code: str, parameter: str, values_code: str, steps: int, seed: int) -> str:
    return (
        "from gradscope.studies.experiments import Setup, sweep\nfrom gradscope.figures.all import sweep_figure\n"
        f"sweep_figure(sweep({setup_code}, {parameter!r}, {values_code}, steps={steps}, seed={seed}))"
    )


def _gain_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures

    setup = Setup("rnn", sizes.hidden_size, sizes.input_size, init="gaussian")
    result = sweep(setup, "gain", sizes.gains, steps=sizes.steps, seed=sizes.seed)
    crossings = result.rate_zero_crossings()
    crossing_text = (
        f"The fitted rate changes sign at g ≈ {', '.join(f'{c:.2f}' for c in crossings)}."
        if crossings
        else "The fitted rate does not change sign in this range."
    )
    stride = max(1, len(result.values) // 7)
    start, stop, count = sizes.gain_range
    return Section(
        name="sweep-gain",
        title="Phase diagram: tanh RNN against the initial gain",
        caption=(
            f"A tanh RNN (H = {sizes.hidden_size}, I = {sizes.input_size}, T = {sizes.steps}) whose recurrent matrix "
            f"is Gaussian N(0, g²/H), for g from {start:g} to {stop:g}, driven by N(0, 1) inputs; same seed for every "
            "row. Colour is `log10 ‖∂s_T/∂s_(T-k)‖` (blue: vanishing, red: exploding, white: norm 1); the black "
            f"contour is where the norm crosses 1. {crossing_text} With inputs the transition lies above the "
            "zero-input mean-field value g = 1: the inputs push units into saturation, shrinking tanh'."
        ),
        figure=figures.sweep_figure(result),
        python=_sweep_code(
            f"Setup('rnn', {sizes.hidden_size}, {sizes.input_size}, init='gaussian')",
            "gain",
            f"numpy.linspace({start!r}, {stop!r}, {count}).tolist()",
            sizes.steps,
            sizes.seed,
        ).replace("from gradscope", "import numpy\nfrom gradscope", 1),
        table=_sweep_table(result, range(0, len(result.values), stride)),
    )


def _forget_bias_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures

    setup = Setup("lstm", sizes.hidden_size, sizes.input_size, t_max=sizes.long_steps)
    result = sweep(setup, "forget_bias", sizes.forget_biases, steps=sizes.long_steps, seed=sizes.seed)
    start, stop, count = sizes.forget_bias_range
    return Section(
        name="sweep-forget-bias",
        title="Phase diagram: LSTM against the forget-gate bias, with chrono initialisation",
        caption=(
            f"An LSTM (H = {sizes.hidden_size}, I = {sizes.input_size}, T = {sizes.long_steps}, PyTorch's default "
            f"weights and inputs from seed {sizes.seed}) with the effective forget-gate bias b_f set from {start:g} to "
            f"{stop:g} (in `bias_ih`, with `bias_hh` zeroed, because the two add), and a last row with chrono "
            f"initialisation (T_max = {sizes.long_steps}), set apart by a white rule. Colour is "
            "`log10 ‖∂s_T/∂s_(T-k)‖`; the contour (numeric rows only) marks norm 1. A larger forget bias keeps the "
            f"gradient longer. {_sweep_summary(result)}"
        ),
        figure=figures.sweep_figure(result),
        python=_sweep_code(
            f"Setup('lstm', {sizes.hidden_size}, {sizes.input_size}, t_max={sizes.long_steps})",
            "forget_bias",
            f"[*numpy.linspace({start!r}, {stop!r}, {count}).tolist(), 'chrono']",
            sizes.long_steps,
            sizes.seed,
        ).replace("from gradscope", "import numpy\nfrom gradscope", 1),
        table=_sweep_table(result),
    )


def _hidden_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures

    setup = Setup("rnn", sizes.hidden_size, sizes.input_size, init="gaussian", gain=sizes.hidden_gain)
    result = sweep(setup, "hidden_size", list(sizes.hidden_sizes), steps=sizes.steps, seed=sizes.seed)
    return Section(
        name="sweep-hidden-size",
        title="Phase diagram: tanh RNN against the hidden size",
        caption=(
            f"A tanh RNN with Gaussian recurrent weights N(0, g²/H), g = {sizes.hidden_gain:g} (close to this input "
            f"level's transition), I = {sizes.input_size}, T = {sizes.steps}, for H = "
            f"{', '.join(map(str, sizes.hidden_sizes))} (one draw each, same seed, so expect some scatter from row "
            f"to row). {_sweep_summary(result)}"
        ),
        figure=figures.sweep_figure(result),
        python=_sweep_code(
            f"Setup('rnn', input_size={sizes.input_size}, init='gaussian', gain={sizes.hidden_gain!r})",
            "hidden_size",
            python_list(sizes.hidden_sizes),
            sizes.steps,
            sizes.seed,
        ),
        table=_sweep_table(result),
    )


def _spectrum_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures

    cells = ("rnn", "lstm", "gru")
    lags = tuple(k for k in sizes.spectrum_lags if k <= sizes.steps)
    analyses = run_all(
        [Setup(c, sizes.hidden_size, sizes.input_size) for c in cells], sizes.steps, sizes.seed, snapshot_lags=lags
    )
    names = [cell_title(c) for c in cells]
    counts = spectrum_table(analyses, names, decades=1.0)
    rows = []
    for v, (name, a) in enumerate(zip(names, analyses, strict=True)):
        cells_text = [
            f"{counts.counts[v, j]} ({log10_text(float(a.singular_values[k][0]))})" for j, k in enumerate(lags)
        ]
        rows.append([f"{name} (S = {counts.state_sizes[v]})", *cells_text])
    code = (
        "from gradscope.studies.experiments import Setup, run_all\nfrom gradscope.figures.all import spectrum_figure\n"
        f"spectrum_figure(run_all([Setup(c, {sizes.hidden_size}, {sizes.input_size}) for c in {cells!r}], "
        f"{sizes.steps}, {sizes.seed}, snapshot_lags={lags!r}))"
    )
    return Section(
        name="spectrum",
        title="Singular-value spectra of P_k: how many directions survive",
        caption=(
            f"All singular values of `P_k = ∂s_T/∂s_(T-k)` at lags k = {', '.join(map(str, lags))}, divided by the "
            f"largest, for one draw of each cell (H = {sizes.hidden_size}, T = {sizes.steps}, PyTorch's default "
            "initialisation). The norm only follows the top direction; the spectrum shows how fast the others die: "
            "after a few tens of steps only a handful of directions remain within a factor 10 of the strongest, "
            "so the gradient forgets not only how much but also which way. The grey band is below float64 "
            "resolution (about S·ε relative to σ_1): values there are rounding."
        ),
        figure=figures.spectrum_figure(analyses),
        python=code,
        table=(
            "Directions within a factor 10 of the largest (σ_i ≥ σ_1/10), with log10 σ_1 in brackets:\n\n"
            + markdown_table(["cell (state size S)", *(f"k = {k}" for k in lags)], rows)
        ),
    )


def _length_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures

    setups = [
        Setup("rnn", sizes.hidden_size, sizes.input_size),
        Setup("gru", sizes.hidden_size, sizes.input_size),
        *_lstm_setups(sizes),
    ]
    lengths = list(sizes.lengths)
    study: LengthStudy = length_study(setups, lengths, samples=sizes.length_samples, seed=sizes.seed)
    finals, rates = study.median_final(), study.median_rate()
    header = ["T", *study.labels]
    rows = [
        [str(T), *(f"{log10_text(finals[v, j])} / {number(rates[v, j], '+.4f')}" for v in range(len(setups)))]
        for j, T in enumerate(study.lengths)
    ]
    code = (
        "from gradscope.studies.experiments import Setup, length_study\n"
        "from gradscope.figures.all import length_figure\n"
        f"H, I = {sizes.hidden_size}, {sizes.input_size}\n"
        "setups = [Setup('rnn', H, I), Setup('gru', H, I), Setup('lstm', H, I, label='LSTM, PyTorch default biases'),\n"
        "          Setup('lstm', H, I, forget_bias=1.0),\n"
        f"          Setup('lstm', H, I, forget_bias='chrono', t_max={sizes.long_steps})]\n"
        f"length_figure(length_study(setups, {python_list(lengths)}, samples={sizes.length_samples}, "
        f"seed={sizes.seed}))"
    )
    return Section(
        name="sequence-length",
        title="Sequence length: the end-to-end gradient and the rate as T grows",
        caption=(
            f"`log10 ‖∂s_T/∂s_0‖` (left) and the fitted rate per step (right) for T = {lengths[0]}..{lengths[-1]}, "
            f"median over {sizes.length_samples} seeds (band: min-max). For each seed the weights are fixed and the "
            "shorter input sequences are prefixes of the longer ones, so each line follows one network along a "
            "growing sequence. Exponential decay shows as a straight line on the left and a flat rate on the "
            f"right. At T = {lengths[-1]} the median end-to-end gradient is "
            + ", ".join(f"10^({log10_text(finals[v, -1])}) for {name}" for v, name in enumerate(study.labels))
            + "."
        ),
        figure=figures.length_figure(study),
        python=code,
        table="Median over seeds, `log10 ‖∂s_T/∂s_0‖ / rate per step`:\n\n"
        + markdown_table(header, rows, align="r" * len(header)),
    )


PHASE_CELLS = ("rnn", "lstm", "gru")


def _zero_crossings(x: Sequence[float], y: Sequence[float]) -> list[float]:
    """Where the piecewise-linear curve through ``(x, y)`` crosses zero (NaN points skipped)."""
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if math.isfinite(b)]
    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(pairs):
        if (y0 < 0) != (y1 < 0) and y0 != y1:
            out.append(x0 + (x1 - x0) * (-y0) / (y1 - y0))
    return out


def _crossing_text(name: str, crossings: Sequence[float]) -> str:
    if not crossings:
        return f"{name} does not cross zero in this range"
    return f"{name} crosses zero at g ≈ {', '.join(f'{c:.2f}' for c in crossings)}"


def _sentence(text: str) -> str:
    """``text`` with its first letter capitalised and the rest untouched (``str.capitalize`` lowers "RNN")."""
    return text[:1].upper() + text[1:]


def _phase_vary(sizes: GallerySizes) -> str:
    start, stop, count = sizes.phase_gain_range
    return f"gain={start:g}:{stop:g}:{count}"


def _phase_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures
    from gradscope.studies.sweep import SweepSpec, parse_axes, run_sweep

    vary = _phase_vary(sizes)
    options = {
        "samples": sizes.phase_samples,
        "hidden_size": sizes.hidden_size,
        "input_size": sizes.input_size,
        "steps": sizes.steps,
        "seed": sizes.seed,
        "init": "gaussian",
    }
    results = [run_sweep(SweepSpec(cell, parse_axes([vary]), **options)) for cell in PHASE_CELLS]
    gains = [float(point["gain"]) for point in results[0].grid()]
    with np.errstate(invalid="ignore"):
        medians = [np.nanmedian(r.by_grid("rate_per_step"), axis=1) for r in results]
    theory = results[0].theory_rate()
    assert theory is not None  # the tanh RNN has a mean-field rate
    theory_points = np.asarray(theory)[:: sizes.phase_samples]
    found = [
        _crossing_text(f"the {cell_title(c)}'s median rate", _zero_crossings(gains, m))
        for c, m in zip(PHASE_CELLS, medians, strict=True)
    ]
    theory_crossing = _crossing_text("the mean-field rate", _zero_crossings(gains, theory_points))
    ends = ", ".join(f"{float(m[-1]):+.3f} ({cell_title(c)})" for c, m in zip(PHASE_CELLS, medians, strict=True))
    gap = float(np.nanmax(np.abs(medians[0] - theory_points)))
    start, stop, count = sizes.phase_gain_range
    cli = (
        f"--init gaussian --vary {vary} --samples {sizes.phase_samples} --hidden-size {sizes.hidden_size} "
        f"--input-size {sizes.input_size} --steps {sizes.steps} --seed {sizes.seed}"
    )
    code = (
        "from gradscope.figures.all import sweep_rate_figure\n"
        "from gradscope.studies.sweep import SweepSpec, parse_axes, run_sweep\n"
        f"sweep_rate_figure([run_sweep(SweepSpec(c, parse_axes([{vary!r}]), samples={sizes.phase_samples}, "
        f"hidden_size={sizes.hidden_size}, input_size={sizes.input_size}, steps={sizes.steps}, seed={sizes.seed}, "
        f"init='gaussian')) for c in {PHASE_CELLS!r}])"
    )
    rows = [
        [f"{g:g}", *(number(float(m[p]), "+.4f") for m in medians), number(float(theory_points[p]), "+.4f")]
        for p, g in enumerate(gains)
    ]
    return Section(
        name="phase-gain",
        title="Phase diagram: rate per step against the gain for RNN, LSTM and GRU, with mean-field theory",
        caption=(
            f"The median over {sizes.phase_samples} random networks (shaded: 10-90 %) of the gradient's rate per step "
            f"(slope of `ln ‖∂s_T/∂s_(T-k)‖`) for g from {start:g} to {stop:g} ({count} gains), every recurrent block "
            f"Gaussian N(0, g²/H), H = {sizes.hidden_size}, I = {sizes.input_size}, T = {sizes.steps}, N(0, 1) inputs; "
            "each task's seed is a hash of its gain and sample. The dashed line is the mean-field top Lyapunov "
            "exponent of the random tanh RNN with this input drive "
            "(`gradscope.analysis.theory.tanh_rnn_mean_field_rate`: "
            "`log g` without drive below g = 1, `(1/2) log χ_1` above). "
            f"{_sentence(found[0])}; {theory_crossing}; the largest gap between the tanh RNN's median and the "
            f"theory is {gap:.3f} per step. {_sentence(found[1])}; {found[2]}. At g = {gains[-1]:g} the medians "
            f"are {ends}: "
            "the gates' direct paths keep the gated cells far from the plain RNN's chaotic explosion."
        ),
        figure=figures.sweep_rate_figure(results),
        commands=[
            "# each cell alone, with its rows as JSON/CSV (the figure above draws the three on one axes):",
            *(
                f"gradscope sweep --cell {c} {cli} --csv phase-{c}.csv --plot reports/phase-gain-{c}.png"
                for c in PHASE_CELLS
            ),
        ],
        python=code,
        table=markdown_table(["g", *(f"{cell_title(c)} median rate" for c in PHASE_CELLS), "mean-field theory"], rows),
    )


def _lyapunov_section(sizes: GallerySizes) -> Section:
    from gradscope.analysis import theory as theory
    from gradscope.analysis.lyapunov import lyapunov
    from gradscope.figures import all as figures

    H, I, g = sizes.hidden_size, sizes.input_size, sizes.lyapunov_gain
    spectrum = lyapunov(
        "rnn",
        hidden_size=H,
        input_size=I,
        steps=sizes.lyapunov_steps,
        transient=sizes.lyapunov_transient,
        seed=sizes.seed,
        init="gaussian",
        gain=g,
    )
    values, errors = spectrum.exponents, spectrum.standard_error
    positive = values[values > 0]
    predicted = theory.tanh_rnn_mean_field_rate("gaussian", g, H, I)
    command = (
        f"gradscope lyapunov --cell rnn --init gaussian --gain {g:g} --hidden-size {H} --input-size {I} "
        f"--steps {sizes.lyapunov_steps} --transient {sizes.lyapunov_transient} --seed {sizes.seed} "
        "--plot reports/lyapunov-spectrum.png"
    )
    shown = sorted({*range(min(8, values.size)), values.size - 1})
    rows = [
        [
            str(i + 1),
            number(float(values[i]), "+.4f"),
            number(float(errors[i]), ".2g"),
            number(float(spectrum.drift[i]), "+.2g"),
        ]
        for i in shown
    ]
    return Section(
        name="lyapunov-spectrum",
        title="Lyapunov spectrum of a chaotic tanh RNN",
        caption=(
            f"All {values.size} Lyapunov exponents (natural log per step, descending) of a tanh RNN with Gaussian "
            f"recurrent weights N(0, g²/H), g = {g:g}, H = {H}, driven by N(0, 1) inputs (I = {I}), by the QR "
            f"(Benettin) method on the derived Jacobians over T = {sizes.lyapunov_steps} steps, the first "
            f"{sizes.lyapunov_transient} discarded; error bars are batch-means standard errors, the right panel "
            f"the running estimates of the top 8. The top exponent is λ_1 = {values[0]:+.4f} ± {errors[0]:.2g} "
            "per step; the "
            f"mean-field prediction for this drive (dashed green line) is {predicted:+.4f}. "
            f"{positive.size} of {values.size} exponents "
            f"are positive (sum {float(positive.sum()):.3f} per step): the gradient explodes along "
            f"{'those directions' if positive.size > 1 else 'that direction' if positive.size else 'no direction'} "
            f"and vanishes along the others, down to λ_{values.size} = {values[-1]:+.3f}."
        ),
        figure=figures.lyapunov_figure(spectrum, top_theory=predicted),
        commands=[command],
        table=markdown_table(["i", "λ_i / step", "std. error", "drift"], rows),
    )


def random_stacked_params(
    cell: str, hidden_size: int, input_size: int, num_layers: int, bidirectional: bool, seed: int
) -> dict[str, np.ndarray]:
    """PyTorch-named parameters of a stacked (and bidirectional) network at PyTorch's default initialisation.

    :func:`gradscope.analyze` draws random parameters for one layer only, so the stacked network of
    the gallery is drawn with :func:`gradscope.engine.depth.init_stacked_params` (no PyTorch needed),
    from one generator seeded with ``seed``.
    """
    return init_stacked_params(
        compile_cell(cell).spec, hidden_size, input_size, num_layers, bidirectional, np.random.default_rng(seed)
    )


def _decades_per_step(log10_norm: np.ndarray) -> float:
    """How many decades ``(T,)`` ``log10_norm`` (indexed by position t) loses per step back from t = T:
    the least-squares slope against the distance ``T + 1 - t`` (:func:`gradscope.analysis.summary.fit_line`)."""
    distance = np.arange(log10_norm.size, 0, -1)
    rate, _ = fit_line(distance, log10_norm)
    return -rate / math.log(10.0)


def _depth_section(sizes: GallerySizes) -> Section:
    from gradscope.figures import all as figures

    H, I, T, L, seed = sizes.hidden_size, sizes.input_size, sizes.steps, sizes.depth_layers, sizes.seed
    params = random_stacked_params("lstm", H, I, L, bidirectional=True, seed=seed)
    a = analyze("lstm", params=params, steps=T, seed=seed)
    forward = figures.depth_grid(a.depth_profiles, "forward")  # (L, T)
    reverse = figures.depth_grid(a.depth_profiles, "reverse")
    per_step = _decades_per_step(forward[0])
    # At the last position the top forward state gives y_T's forward half itself (norm 1, log10 0).
    per_layer = float(forward[-1, -1] - forward[0, -1]) / (L - 1)
    title = (
        f"LSTM, {L} layers, bidirectional: gradient of the last output $y_T$ through depth and time\n"
        f"H={H}, I={I}, T={T}, PyTorch default init drawn by gradscope, seed {seed}"
    )
    code = (
        "import gradscope\nfrom gradscope.figures.all import depth_figure\n"
        "from gradscope.gallery.build import random_stacked_params\n"
        f"params = random_stacked_params('lstm', {H}, {I}, num_layers={L}, bidirectional=True, seed={seed})\n"
        f"title = {title!r}\n"
        f"depth_figure(gradscope.analyze('lstm', params=params, steps={T}, seed={seed}), title=title)"
    )
    middle = (T + 1) // 2
    rows = [
        [
            f"{p.layer} {p.direction}",
            *(log10_text(float(p.log10_norm[t - 1])) for t in (T, middle, 1)),
            number(_decades_per_step(p.log10_norm), ".3f") if np.isfinite(p.log10_norm).sum() > 1 else "n/a",
        ]
        for p in sorted(a.depth_profiles, key=lambda p: (-p.layer, p.direction))
    ]
    unreached = int(np.isneginf(reverse[-1]).sum())
    return Section(
        name="depth-lstm-bidirectional",
        title="Depth and time: the gradient through a stacked bidirectional LSTM",
        caption=(
            f"A {L}-layer bidirectional LSTM (H = {H}, I = {I}, T = {T}) at PyTorch's default initialisation, every "
            f"layer and direction drawn by gradscope from seed {seed} (`random_stacked_params`, no PyTorch needed), "
            "driven by N(0, 1) inputs. Each cell is `log10 ‖∂y_T/∂s_t^(l)‖` for the last output y_T = output[-1] "
            "(the top layer's forward and reverse h at position T) and the state s = [h; c] of layer l right after "
            "it read position t; layer 0 reads the input. Back through time the gradient loses "
            f"{per_step:.3f} decades per step (least-squares slope along layer 0, forward); down through depth it "
            f"loses {per_layer:.2f} decades per layer (at t = T, from 0 at the top to {log10_text(forward[0, -1])} "
            f"at layer 0): one layer costs as much as {per_layer / per_step:.1f} steps. By t = 1 it is "
            f"10^({log10_text(forward[0, 0])}) at layer 0: in this network the gradient vanishes through time, not "
            f"through depth. The top reverse direction is grey at {unreached} of {T} positions: y_T holds its state "
            "after its first step, which read x_T; its states at earlier positions come later in its own order, so "
            "y_T does not depend on them and the gradient is exactly zero."
        ),
        figure=figures.depth_figure(a, title=title),
        python=code,
        table=(
            "`log10 ‖∂y_T/∂s_t^(l)‖` at three positions, and the decades lost per step back from t = T "
            "(least-squares slope):\n\n"
            + markdown_table(["layer, direction", f"t = {T}", f"t = {middle}", "t = 1", "decades / step"], rows)
        ),
    )


# ----------------------------------------------------------------------------------------------
# The gallery
# ----------------------------------------------------------------------------------------------


def _plan(sizes: GallerySizes) -> list[tuple[str, Callable[[], Section]]]:
    return [
        (
            "profile: tanh RNN",
            lambda: _profile_section(
                "profile-rnn",
                Setup("rnn", sizes.hidden_size, sizes.input_size),
                sizes,
                "At PyTorch's default initialisation the gradient of a tanh RNN vanishes exponentially:",
            ),
        ),
        (
            "profile: exploding tanh RNN",
            lambda: _profile_section(
                "profile-rnn-exploding",
                Setup("rnn", sizes.hidden_size, sizes.input_size, init="gaussian", gain=sizes.exploding_gain),
                sizes,
                f"With Gaussian recurrent weights of gain {sizes.exploding_gain:g} the tanh RNN's gradient explodes:",
            ),
        ),
        ("cell comparison", lambda: _compare_section(sizes)),
        ("ensembles: cells", lambda: _cell_ensemble_section(sizes)),
        ("ensembles: LSTM forget bias", lambda: _lstm_ensemble_section(sizes)),
        ("sweep: gain", lambda: _gain_section(sizes)),
        ("sweep: forget-gate bias", lambda: _forget_bias_section(sizes)),
        ("sweep: hidden size", lambda: _hidden_section(sizes)),
        ("singular-value spectra", lambda: _spectrum_section(sizes)),
        ("sequence length", lambda: _length_section(sizes)),
        ("phase diagram: rate against gain", lambda: _phase_section(sizes)),
        ("Lyapunov spectrum", lambda: _lyapunov_section(sizes)),
        ("depth by time: stacked bidirectional LSTM", lambda: _depth_section(sizes)),
    ]


def readme(sections: Sequence[Section], sizes: GallerySizes) -> str:
    """The text of the gallery's ``README.md``: every figure with caption, commands and numbers."""
    lines = [
        "# gradscope gallery",
        "",
        "How the gradient of a recurrent network changes as it travels back through time, for RNN, LSTM and GRU "
        "cells at sensible defaults. Every curve is `log10 ‖∂s_T/∂s_(T-k)‖` computed exactly: SymPy derives the "
        "cell's per-step Jacobian `J_t = ∂s_t/∂s_(t-1)` (numerator layout; the state `s` is `h` for RNN and GRU, "
        "`[h; c]` for the LSTM), NumPy multiplies `P_k = J_T ⋯ J_(T-k+1)` without overflow and takes its spectral "
        "norm. Rates are least-squares slopes of `ln ‖P_k‖` per step; the verdict is *vanishing* below -0.01, "
        "*exploding* above +0.01 per step.",
        "",
        f"Generated by gradscope {__version__}; regenerate the whole folder (identical files) with",
        "",
        "```bash",
        REPORT_COMMAND,
        "```",
        "",
        "Each figure is also saved as SVG next to its PNG. Contents:",
        "",
    ]
    lines += [f"{i}. [{s.title}](#{_anchor(i, s.title)})" for i, s in enumerate(sections, start=1)]
    for i, s in enumerate(sections, start=1):
        lines += ["", f"## {i}. {s.title}", "", f"![{s.title}]({s.name}.png)", "", s.caption, ""]
        lines += [f"Files: [`{s.name}.png`]({s.name}.png), [`{s.name}.svg`]({s.name}.svg).", ""]
        if s.commands:
            lines += ["Reproduce this figure:", "", "```bash", *s.commands, "```", ""]
        if s.python:
            lines += [
                "Reproduce this figure with the Python API:",
                "",
                "```python",
                s.python,
                "```",
                "",
            ]
        if s.table:
            lines += ["Key numbers:", "", s.table, ""]
    lines += [
        "## Sizes",
        "",
        markdown_table(
            ["setting", "value"],
            [[f"`{k}`", f"`{v}`"] for k, v in vars(sizes).items()],
            align="ll",
        ),
        "",
    ]
    return "\n".join(lines)


def _anchor(index: int, title: str) -> str:
    """GitHub's heading anchor for ``## {index}. {title}``."""
    text = f"{index}. {title}".lower()
    kept = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def build_gallery(sizes: GallerySizes = GallerySizes(), progress: GalleryProgress | None = None) -> list[Artifact]:
    """Compute and render the whole gallery in memory.

    Args:
        sizes: what to compute; the default is the published gallery, :data:`QUICK` a tiny one.
        progress: called as ``progress(done, total, description)`` before each figure (``description``
            names it) and once at the end with ``done == total`` and ``description == ""``.

    Returns:
        ``(relative path, bytes)`` for every figure as ``.png`` and ``.svg``, then ``README.md``;
        identical from run to run.
    """
    from gradscope.figures import all as figures

    plan = _plan(sizes)
    total = len(plan)
    artifacts: list[Artifact] = []
    sections: list[Section] = []
    for done, (description, make) in enumerate(plan):
        if progress is not None:
            progress(done, total, description)
        section = make()
        for fmt in FIGURE_FORMATS:
            artifacts.append((f"{section.name}.{fmt}", figures.render(section.figure, fmt)))
        section.figure = None  # type: ignore[assignment]  # free the figure once rendered
        sections.append(section)
    artifacts.append(("README.md", readme(sections, sizes).encode("utf-8")))
    if progress is not None:
        progress(total, total, "")
    return artifacts


# ----------------------------------------------------------------------------------------------
# Writing (the only function here that touches the file system)
# ----------------------------------------------------------------------------------------------


def write_artifacts(artifacts: Iterable[Artifact], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``artifacts`` under ``out_dir``: the one place that writes gallery files, for the CLI.

    Every path is checked before anything is written: it must be relative, use no ``..`` and resolve
    inside ``out_dir`` (a symbolic link inside ``out_dir`` that points outside is rejected). Each file
    is written to a temporary file next to it and renamed into place, so a failure leaves no partial
    file. ``out_dir`` is created if needed; files already there that are not in ``artifacts`` stay.

    Returns:
        The paths written, in order.

    Raises:
        ConfigError: a path that is absolute, empty, uses ``..`` or escapes ``out_dir``, or appears twice.
    """
    root = Path(out_dir)
    items = list(artifacts)
    root_resolved = root.resolve()
    targets: list[tuple[Path, bytes]] = []
    seen: set[str] = set()
    for relative, data in items:
        pure = PurePosixPath(relative)
        if not relative or pure.is_absolute() or Path(relative).is_absolute() or ".." in pure.parts or "\\" in relative:
            raise ConfigError(f"refusing to write {relative!r}: gallery paths must be relative and stay inside {root}")
        target = root.joinpath(*pure.parts)
        if not target.resolve().is_relative_to(root_resolved) or target.resolve() == root_resolved:
            raise ConfigError(f"refusing to write {relative!r}: it resolves outside {root}")
        if str(pure) in seen:
            raise ConfigError(f"refusing to write {relative!r} twice")
        seen.add(str(pure))
        targets.append((target, bytes(data)))
    umask = os.umask(0)
    os.umask(umask)
    written = []
    for target, data in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(root_resolved):
            raise ConfigError(f"refusing to write {target}: its folder resolves outside {root}")
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600 files; give them the usual permissions
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(target)
    return written
