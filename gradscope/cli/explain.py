"""The ``explain`` command: why the gradient vanishes or survives, path by path."""

from typing import TYPE_CHECKING

from gradscope import terminal
from gradscope.analysis import explanation
from gradscope.cli.app import app
from gradscope.cli.options import CellConstants, CellName, JsonPath, Language, PlotPath, Quiet
from gradscope.cli.output import Output
from gradscope.cli.problem_options import DRAW, FILES, MODEL, PRECISION, problem_options
from gradscope.cli.problems import ProblemArguments, cell_spec, file_problem

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope explain --cell lstm\n"
        "  gradscope explain --cell gru --lang zh\n"
        "  gradscope explain --cell rnn --init orthogonal --json -\n"
        "  gradscope explain --cell lstm --forget-bias 2\n"
        "  gradscope explain --cell gru --update-bias chrono --t-max 400 --steps 400\n"
        "  gradscope explain --cell lstm --num-layers 2 --bidirectional\n"
        "  gradscope explain --cell lstm --plot lstm-paths.png\n"
        "  gradscope explain --cell indrnn --steps 100"
    )
)
@problem_options("hidden_size", "input_size", "output_size", "steps", *DRAW, *MODEL, *PRECISION, *FILES)
def explain(
    *,
    cell: CellName,
    constants: CellConstants = None,
    options: ProblemArguments,
    json_path: JsonPath = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
    lang: Language = None,
) -> None:
    """Why ||d s_T / d s_{T-k}|| vanishes or survives: each path of the step Jacobian measured, the gates,
    the reasons in words, and changes that were rerun.

    A path's share is 1 - ||P_T without the path|| / ||P_T|| at the longest lag T.
    """
    spec = cell_spec(cell)
    options.check_fits([spec], "explain")
    output = Output.create(json_path, quiet, plot)
    files = options.load_files(spec)
    problem = file_problem(spec, files, options)
    result = explanation.explain(problem)
    output.finish(
        result.to_dict(),
        full=lambda: terminal.explanation_report(result),
        brief=lambda: terminal.explanation_summary_line(result),
        figure=lambda: _figure(result),
    )


def _figure(result: explanation.Explanation) -> "Figure":
    from gradscope import figures  # matplotlib only when --plot asks

    return figures.explanation_figure(result)
