"""The gallery's ensembles: median and 10-90 % band over random draws, of each cell and of LSTM forget-gate biases."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gradscope.analysis import Ensemble, Problem, analyze_ensemble, compare, make_problem
from gradscope.analysis.spectra import carousel_rate
from gradscope.gallery.markdown import Section, cli_sizes, log10_text, markdown_table, number
from gradscope.gallery.sizes import GallerySizes

#: The cells of the cell ensembles, in legend order.
ENSEMBLE_CELLS = ("rnn", "lstm", "gru")
#: The legend of the LSTM with PyTorch's own random biases.
DEFAULT_BIASES_LABEL = "LSTM, PyTorch default biases"


def carousel_summary(variants: list[tuple[str, Problem]]) -> str:
    """The carousel's path alone (``max_i prod_t f_t[i]``, measured on each variant's first draw), in words."""
    rates = "; ".join(f"{label} {carousel_rate(problem):+.3f}" for label, problem in variants)
    return (
        "The carousel's path alone (`∂c_t/∂c_(t-1) = diag(f_t)`, its norm `max_i ∏_t f_t[i]`, measured on the "
        f"first draw) decays per step at: {rates}; the rest of the gradient goes through h and `W_hh`."
    )


def lstm_variants(sizes: GallerySizes, steps: int) -> list[tuple[str, Problem]]:
    """``(label, problem)`` of the three LSTMs that differ only in their forget-gate bias: PyTorch's random
    biases, an effective ``b_f = 1``, and chrono initialisation with ``T_max = sizes.long_steps``."""
    lstm = make_problem("lstm", **(sizes.problem_options() | {"steps": steps}))
    return [
        (DEFAULT_BIASES_LABEL, lstm),
        ("LSTM, b_f = 1", lstm.redraw(forget_bias=1.0)),
        (f"LSTM, chrono (T_max = {sizes.long_steps})", lstm.redraw(forget_bias="chrono", t_max=sizes.long_steps)),
    ]


def lstm_variants_code(sizes: GallerySizes, steps: int | None) -> str:
    """Python that makes ``lstm`` and ``variants``, the ``(label, problem)`` pairs of :func:`lstm_variants`."""
    steps_text = "" if steps is None else f", steps={steps}"
    return (
        f"lstm = gradscope.make_problem('lstm', hidden_size={sizes.hidden_size}, input_size={sizes.input_size}"
        f"{steps_text}, seed={sizes.seed})\n"
        f"variants = [({DEFAULT_BIASES_LABEL!r}, lstm), ('LSTM, b_f = 1', lstm.redraw(forget_bias=1.0)),\n"
        f"            ('LSTM, chrono (T_max = {sizes.long_steps})', "
        f"lstm.redraw(forget_bias='chrono', t_max={sizes.long_steps}))]"
    )


def ensemble_table(ensembles: Sequence[Ensemble]) -> str:
    """One row per ensemble: draws, median rate, its 10-90 % range, median end-to-end norm, verdict counts."""
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


def ensemble_summary(ensembles: Sequence[Ensemble]) -> str:
    """One sentence from the numbers: each configuration's median rate and how many draws vanish."""
    parts = [
        f"{e.label} {e.median_rate:+.3f} per step ({e.verdict_counts()['vanishing']} of {e.samples} draws vanishing)"
        for e in ensembles
    ]
    return "Median rates: " + "; ".join(parts) + "."


def cell_ensemble_section(sizes: GallerySizes) -> Section:
    """Each cell's band over ``sizes.samples`` draws (:func:`gradscope.compare` with ``samples``)."""
    from gradscope.figures import ensemble_figure

    comparison = compare(ENSEMBLE_CELLS, samples=sizes.samples, **sizes.problem_options())
    ensembles = comparison.ensembles
    last = sizes.seed + sizes.samples - 1
    return Section(
        name="ensemble-cells",
        title="Ensemble: median and 10-90 % band over random draws",
        caption=(
            f"The profile of {sizes.samples} independent draws of weights and inputs per cell "
            f"(seeds {sizes.seed}-{last}; "
            f"H = {sizes.hidden_size}, I = {sizes.input_size}, T = {sizes.steps}, PyTorch's default initialisation): "
            "the line is the pointwise median of `log10 ‖∂s_T/∂s_(T-k)‖`, the shading the pointwise 10-90 % range. "
            f"{ensemble_summary(ensembles)}"
        ),
        figure=ensemble_figure(comparison),
        commands=[
            f"gradscope compare --cells {','.join(ENSEMBLE_CELLS)} --samples {sizes.samples} {cli_sizes(sizes)} "
            "--plot reports/ensemble-cells.png",
            f"# one cell's band alone: gradscope analyze --cell lstm --samples {sizes.samples} {cli_sizes(sizes)} "
            "--plot lstm-band.png",
        ],
        table=ensemble_table(ensembles),
    )


def lstm_ensemble_section(sizes: GallerySizes) -> Section:
    """The LSTM's band over ``sizes.lstm_samples`` draws for each forget-gate bias of :func:`lstm_variants`."""
    from gradscope.figures import ensemble_figure

    T, samples = sizes.long_steps, sizes.lstm_samples
    variants = lstm_variants(sizes, T)
    ensembles = [analyze_ensemble(problem, samples=samples, label=label) for label, problem in variants]
    last = sizes.seed + samples - 1
    title = (
        "LSTM: how the forget-gate bias keeps the gradient (median and 10-90 % band)\n"
        f"H={sizes.hidden_size}, I={sizes.input_size}, T={T}, PyTorch default weights, "
        f"seeds {sizes.seed}-{last}"
    )
    code = (
        "import gradscope\nfrom gradscope.figures import ensemble_figure\n"
        f"{lstm_variants_code(sizes, T)}\n"
        f"title = {title!r}\n"
        f"ensemble_figure([gradscope.analyze_ensemble(p, samples={samples}, label=label) for label, p in variants], "
        "title=title)"
    )
    return Section(
        name="ensemble-lstm-forget-bias",
        title="Why an LSTM keeps its gradient: the forget-gate bias",
        caption=(
            f"{samples} draws per configuration of an LSTM "
            f"(H = {sizes.hidden_size}, T = {T}) "
            "whose weights and inputs are exactly PyTorch's default draws and whose only difference is the "
            "forget-gate bias: PyTorch's small random biases, an effective bias b_f = 1 (in `bias_ih`; `bias_hh` "
            f"zeroed: the two vectors add), and chrono initialisation with T_max = {sizes.long_steps} "
            "(Tallec & Ollivier 2018: b_f ~ log U(1, T_max - 1), b_i = -b_f). The forget gate multiplies the "
            "cell state's gradient by f_t each step (the constant error carousel): with f_t near 1 the gradient "
            f"survives hundreds of steps. {carousel_summary(variants)} {ensemble_summary(ensembles)}"
        ),
        figure=ensemble_figure(ensembles, title=title),
        python=code,
        table=ensemble_table(ensembles),
    )
