"""The gallery's single networks: one profile with its fitted rate and Pascanu's bound, and the cells compared."""

from __future__ import annotations

import math

from gradscope.analysis import Problem, analyze, compare, make_problem
from gradscope.analysis.describe import describe_config
from gradscope.analysis.spectra import resolved_split
from gradscope.gallery.markdown import (
    ANALYSIS_HEADER,
    Section,
    analysis_row,
    cli_sizes,
    markdown_table,
    number,
)
from gradscope.gallery.sizes import GallerySizes
from gradscope.gallery.spectra import spectrum_analyses

#: The cells of the comparison, in legend order.
COMPARED_CELLS = ("rnn", "rnn-relu", "lstm", "gru")


def describe_network(problem: Problem) -> str:
    """The network of a problem with random parameters, without T and seed: ``"tanh RNN, H=64, I=32, Gaussian
    init, gain 2"``."""
    return (
        f"{problem.spec.display_name}, H={problem.hidden_size}, I={problem.input_size}, "
        f"{describe_config(problem.config)}"
    )


def analyze_flags(problem: Problem) -> str:
    """The ``gradscope analyze`` options that draw a problem's random network (cell, sizes, init, gain)."""
    config = problem.config
    return (
        f"--cell {problem.spec.name} --hidden-size {problem.hidden_size} --input-size {problem.input_size} "
        f"--init {config['init']} --gain {float(config['gain']):g}"
    )


def profile_problem(sizes: GallerySizes, init: str = "pytorch", gain: float = 1.0) -> Problem:
    """The tanh RNN of the profile figures at the gallery's sizes and seed."""
    return make_problem("rnn", init=init, gain=gain, **sizes.problem_options())


def profile_section(name: str, problem: Problem, sizes: GallerySizes, lead: str) -> Section:
    """One network's profile (``log10 ‖∂s_T/∂s_(T-k)‖`` against k, ``(T,)``), its rate line and, for the plain
    RNN, Pascanu's bound; ``lead`` opens the caption."""
    from gradscope.figures import profile_figure
    from gradscope.figures.profile import needs_inset

    a = analyze(problem)
    bound = a.pascanu_bound
    decades = a.rate_per_step / math.log(10.0)
    path = (
        f"A tanh RNN has one path from step to step, `diag(tanh'(a_t)) W_hh`, so the measured rate is that path's: "
        f"{a.rate_per_step:+.3f} per step (natural log; {decades:+.3f} decades per step)."
    )
    bound_text = ""
    if bound is not None:
        bound_text = (
            f"Pascanu's bound grows by γσ_max(W_hh) = {bound.factor:.3g} per step ({math.log10(bound.factor):+.3f} "
            "decades per step): a valid but loose upper bound"
        )
        if needs_inset(a):
            steeper = f" ({math.log10(bound.factor) / decades:.0f} times)" if decades > 0 else ""
            bound_text += f", far steeper than the measured curve{steeper}, which the inset shows on its own scale"
        bound_text += "."
    factor = bound.factor if bound is not None else float("nan")
    network = describe_network(problem)
    table = markdown_table(
        [*ANALYSIS_HEADER, "γ σ_max(W_hh)"],
        [[*analysis_row(network, a), number(factor, ".3g")]],
    )
    return Section(
        name=name,
        title=f"Profile: {a.display_name}, {a.verdict}",
        caption=(
            f"{lead} `log10 ‖∂s_T/∂s_(T-k)‖` against the lag k for one network ({network}, "
            f"T={a.steps}, seed {sizes.seed}), with the `‖·‖ = 1` line and the least-squares rate line. "
            f"{path} {bound_text}"
        ),
        figure=profile_figure(a),
        commands=[
            f"gradscope analyze {analyze_flags(problem)} --steps {sizes.steps} --seed {sizes.seed} "
            f"--plot reports/{name}.png"
        ],
        table=table,
    )


def vanishing_profile_section(sizes: GallerySizes) -> Section:
    """The tanh RNN at PyTorch's default initialisation: a vanishing profile."""
    return profile_section(
        "profile-rnn",
        profile_problem(sizes),
        sizes,
        "At PyTorch's default initialisation the gradient of a tanh RNN vanishes exponentially:",
    )


def exploding_profile_section(sizes: GallerySizes) -> Section:
    """The tanh RNN with Gaussian recurrent weights of gain ``sizes.exploding_gain``: an exploding profile."""
    return profile_section(
        "profile-rnn-exploding",
        profile_problem(sizes, init="gaussian", gain=sizes.exploding_gain),
        sizes,
        f"With Gaussian recurrent weights of gain {sizes.exploding_gain:g} the tanh RNN's gradient explodes:",
    )


def compare_section(sizes: GallerySizes) -> Section:
    """Every built-in cell at the same sizes, seed and inputs (:func:`gradscope.compare`), one profile each."""
    from gradscope.figures import compare_figure

    comparison = compare(COMPARED_CELLS, **sizes.problem_options())
    rates = {a.cell: a.rate_per_step for a in comparison.analyses}
    lstm = next(a for a in spectrum_analyses(sizes) if a.cell == "lstm")  # the same network, with its spectrum
    split = resolved_split(lstm, lstm.hidden_size)
    carousel = (
        f"(at lag {split.lag} its strongest carousel direction falls {split.upper_rate:+.2f} decades per step, the "
        f"strongest through h {split.lower_rate:+.2f}: see the spectrum figure)"
        if split is not None
        else ""
    )
    paths = (
        f"Each cell's gradient has its own paths between steps. The two RNNs have one, `diag(φ'(a_t)) W_hh`, and "
        f"their rates ({rates['rnn']:+.3f} tanh, {rates['rnn-relu']:+.3f} ReLU, per step) are that path's. The "
        "LSTM's cell state adds the carousel `∂c_t/∂c_(t-1) = diag(f_t)` beside the paths through h and `W_hh` "
        f"{carousel}; its rate is {rates['lstm']:+.3f}. The GRU's leak `diag(z_t)` keeps a share z_t of "
        f"h_(t-1) each step, beside the paths through `W_hr`, `W_hz`, `W_hn`; its rate is {rates['gru']:+.3f}."
    )
    return Section(
        name="compare-cells",
        title="Cell comparison: same sizes, same seed",
        caption=(
            f"Every built-in cell with the same sizes (H = {sizes.hidden_size}, I = {sizes.input_size}), the same "
            f"input sequence and PyTorch's default initialisation drawn from the same seed ({sizes.seed}), over "
            f"T = {sizes.steps} steps. The legend gives each cell's rate per step and verdict. {paths}"
        ),
        figure=compare_figure(comparison),
        commands=[
            f"gradscope compare --cells {','.join(COMPARED_CELLS)} {cli_sizes(sizes)} --plot reports/compare-cells.png"
        ],
        table=markdown_table(ANALYSIS_HEADER, [analysis_row(a.display_name, a) for a in comparison.analyses]),
    )
