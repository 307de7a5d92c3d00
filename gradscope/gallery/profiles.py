"""The gallery's single networks: one profile with its fitted rate and Pascanu's bound, and the cells compared."""

from __future__ import annotations

from gradscope.analysis import Problem, analyze, compare, make_problem
from gradscope.analysis.describe import describe_config
from gradscope.gallery.markdown import (
    ANALYSIS_HEADER,
    Section,
    analysis_row,
    cli_sizes,
    markdown_table,
    number,
)
from gradscope.gallery.sizes import GallerySizes

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

    a = analyze(problem)
    bound = a.pascanu_bound
    bound_text = f"Pascanu's bound grows by γσ_max(W_hh) = {bound.factor:.3g} per step" if bound is not None else ""
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
            f"{lead} `log10 ‖∂s_T/∂s_(T-k)‖` against the lag k for one network ({network}; "
            f"T = {a.steps}, seed {sizes.seed}), with the `‖·‖ = 1` line and the least-squares rate line "
            f"({a.rate_per_step:+.3f} per step). {bound_text}: a valid but loose upper bound."
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
    return Section(
        name="compare-cells",
        title="Cell comparison: same sizes, same seed",
        caption=(
            f"Every built-in cell with the same sizes (H = {sizes.hidden_size}, I = {sizes.input_size}), the same "
            f"input sequence and PyTorch's default initialisation drawn from the same seed ({sizes.seed}), over "
            f"T = {sizes.steps} steps. The legend gives each cell's rate per step and verdict."
        ),
        figure=compare_figure(comparison),
        commands=[
            f"gradscope compare --cells {','.join(COMPARED_CELLS)} {cli_sizes(sizes)} --plot reports/compare-cells.png"
        ],
        table=markdown_table(ANALYSIS_HEADER, [analysis_row(a.display_name, a) for a in comparison.analyses]),
    )
