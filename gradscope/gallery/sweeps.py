"""The gallery's one-knob sweeps (gain, forget-gate bias, hidden size), drawn as heat maps of their profiles.

Every value of a sweep runs with the same seed (``seeding="paired"``, one sample), so the rows differ in
the swept value and nothing else, in this process (:class:`~gradscope.studies.SerialExecutor`:
the BLAS thread count stays the process's own, which keeps every bit from run to run on one machine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gradscope.analysis import Problem, make_problem
from gradscope.analysis.spectra import carousel_rate
from gradscope.gallery.markdown import Section, log10_text, markdown_table, number, python_list
from gradscope.gallery.sizes import GallerySizes
from gradscope.studies import SerialExecutor, SweepResult, sweep

#: How a swept value reads in a sentence: ``"g = 1.5"``, ``"b_f = 2"``, ``"H = 64"``.
SYMBOLS = {"gain": "g", "forget_bias": "b_f", "hidden_size": "H", "input_size": "I"}


def paired_sweep(problem: Problem, parameter: str, values: Sequence[Any]) -> SweepResult:
    """``problem`` with ``parameter`` set to each of ``values`` (``(P,)``), all on the problem's seed, profiles
    kept (``profiles`` ``(P, T)``)."""
    return sweep(problem, {parameter: values}, seeding="paired", keep_profiles=True, executor=SerialExecutor())


def sweep_code(cell: str, parameter: str, values_code: str, options: str) -> str:
    """The Python of a paired sweep's heat map; ``values_code`` and ``options`` are Python text."""
    imports = "import numpy\n" if "numpy." in values_code else ""
    imports += "from gradscope.figures import sweep_figure\nfrom gradscope.studies import SerialExecutor, sweep\n"
    return imports + (
        f"sweep_figure(sweep({cell!r}, {{{parameter!r}: {values_code}}}, seeding='paired', keep_profiles=True, "
        f"executor=SerialExecutor(), {options}))"
    )


def sweep_table(result: SweepResult, rows: Sequence[int] | None = None) -> str:
    """The rate, end-to-end norm and verdict at each value (or at the values indexed by ``rows``)."""
    indices = range(len(result.values)) if rows is None else rows
    rates, finals, verdicts = result.column("rate_per_step"), result.grid_profiles()[:, -1], result.column("verdict")
    return markdown_table(
        [result.parameter_text, "rate / step", "log10 ‖∂s_T/∂s_0‖", "verdict"],
        [
            [result.labels[p], number(float(rates[p]), "+.4f"), log10_text(float(finals[p])), str(verdicts[p])]
            for p in indices
        ],
    )


def sweep_section(
    result: SweepResult,
    name: str,
    title: str,
    caption: str,
    values_code: str,
    options: str,
    rows: Sequence[int] | None = None,
) -> Section:
    """The section of a paired sweep: its heat map, the Python that draws it, and its table (at ``rows``)."""
    from gradscope.figures import sweep_figure

    return Section(
        name=name,
        title=title,
        caption=caption,
        figure=sweep_figure(result),
        python=sweep_code(result.spec.cell_name, result.parameter, values_code, options),
        table=sweep_table(result, rows),
    )


def value_text(result: SweepResult, p: int) -> str:
    """The ``p``-th swept value in words: ``"g = 1.5"``, ``"chrono initialisation"``."""
    label = result.labels[p]
    if label == "chrono":
        return "chrono initialisation"
    symbol = SYMBOLS.get(result.parameter)
    return f"{symbol} = {label}" if symbol else label


def sweep_summary(result: SweepResult) -> str:
    """One sentence from the numbers: the rate at each end of the sweep and every verdict change."""
    rates, verdicts = result.column("rate_per_step"), [str(v) for v in result.column("verdict")]
    last = len(rates) - 1
    text = (
        f"The rate goes from {rates[0]:+.3f} per step at {value_text(result, 0)} to {rates[last]:+.3f} at "
        f"{value_text(result, last)}"
    )
    changes = [
        f"{verdicts[p]} to {verdicts[p + 1]} between {value_text(result, p)} and {value_text(result, p + 1)}"
        for p in range(last)
        if verdicts[p] != verdicts[p + 1]
    ]
    return text + ("; the verdict changes from " + ", from ".join(changes) if changes else "") + "."


def gain_section(sizes: GallerySizes) -> Section:
    """The tanh RNN with Gaussian recurrent weights against their gain g."""
    H, I, T, seed = sizes.hidden_size, sizes.input_size, sizes.steps, sizes.seed
    problem = make_problem("rnn", hidden_size=H, input_size=I, steps=T, seed=seed, init="gaussian")
    result = paired_sweep(problem, "gain", sizes.gains)
    crossings = result.rate_zero_crossings()
    crossing_text = (
        f"The fitted rate changes sign at g ≈ {', '.join(f'{c:.2f}' for c in crossings)}."
        if crossings
        else "The fitted rate does not change sign in this range."
    )
    start, stop, count = sizes.gain_range
    caption = (
        f"A tanh RNN (H = {H}, I = {I}, T = {T}) whose recurrent matrix "
        f"is Gaussian N(0, g²/H), for g from {start:g} to {stop:g}, driven by N(0, 1) inputs; same seed for every "
        "row. Colour is `log10 ‖∂s_T/∂s_(T-k)‖` (blue: vanishing, red: exploding, white: norm 1); the black "
        f"contour is where the norm crosses 1. {crossing_text} With inputs the transition lies above the "
        "zero-input mean-field value g = 1: the inputs push units into saturation, shrinking tanh'."
    )
    return sweep_section(
        result,
        "sweep-gain",
        "Phase diagram: tanh RNN against the initial gain",
        caption,
        f"numpy.linspace({start!r}, {stop!r}, {count}).tolist()",
        f"hidden_size={H}, input_size={I}, steps={T}, seed={seed}, init='gaussian'",
        rows=range(0, len(result.values), max(1, len(result.values) // 7)),
    )


def forget_bias_section(sizes: GallerySizes) -> Section:
    """The LSTM against its effective forget-gate bias b_f, and chrono initialisation."""
    H, I, T, seed = sizes.hidden_size, sizes.input_size, sizes.long_steps, sizes.seed
    problem = make_problem("lstm", hidden_size=H, input_size=I, steps=T, seed=seed, t_max=T)
    result = paired_sweep(problem, "forget_bias", sizes.forget_biases)
    low, high, count = sizes.forget_bias_range
    carousel = [carousel_rate(problem.redraw(forget_bias=b)) for b in (low, high, "chrono")]
    return sweep_section(
        result,
        "sweep-forget-bias",
        "Phase diagram: LSTM against the forget-gate bias, with chrono initialisation",
        f"An LSTM (H = {H}, I = {I}, T = {T}, PyTorch's default "
        f"weights and inputs from seed {seed}) with the effective forget-gate bias b_f set from {low:g} to "
        f"{high:g} (in `bias_ih`, with `bias_hh` zeroed, because the two add), and a last row with chrono "
        f"initialisation (T_max = {T}), set apart by a white rule. Colour is "
        "`log10 ‖∂s_T/∂s_(T-k)‖`; the contour (numeric rows only) marks norm 1. The bias acts on one path, the "
        "cell-state carousel `∂c_t/∂c_(t-1) = diag(f_t)` with f_t = σ(b_f + ...): a larger forget bias brings "
        f"f_t nearer 1 and keeps the gradient longer. The carousel's path alone (`max_i ∏_t f_t[i]`, measured on "
        f"this draw) decays at {carousel[0]:+.3f} per step at b_f = {low:g}, {carousel[1]:+.3f} at b_f = {high:g} and "
        f"{carousel[2]:+.3f} with chrono initialisation. {sweep_summary(result)}",
        f"[*numpy.linspace({low!r}, {high!r}, {count}).tolist(), 'chrono']",
        f"hidden_size={H}, input_size={I}, steps={T}, t_max={T}, seed={seed}",
    )


def hidden_size_section(sizes: GallerySizes) -> Section:
    """The tanh RNN with Gaussian recurrent weights of gain ``sizes.hidden_gain`` against the hidden size H."""
    I, T, seed, gain = sizes.input_size, sizes.steps, sizes.seed, sizes.hidden_gain
    problem = make_problem("rnn", input_size=I, steps=T, seed=seed, init="gaussian", gain=gain)
    result = paired_sweep(problem, "hidden_size", list(sizes.hidden_sizes))
    return sweep_section(
        result,
        "sweep-hidden-size",
        "Phase diagram: tanh RNN against the hidden size",
        f"A tanh RNN with Gaussian recurrent weights N(0, g²/H), g = {gain:g} (close to this input "
        f"level's transition), I = {I}, T = {T}, for H = "
        f"{', '.join(map(str, sizes.hidden_sizes))} (one draw each, same seed, so expect some scatter from row "
        f"to row). {sweep_summary(result)}",
        python_list(sizes.hidden_sizes),
        f"input_size={I}, steps={T}, seed={seed}, init='gaussian', gain={gain!r}",
    )
