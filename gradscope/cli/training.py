"""``training``: how the gradient's reach through time moved over a run's checkpoints (or a monitor's log)."""

import dataclasses
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from gradscope import terminal
from gradscope.cli.app import app
from gradscope.cli.options import CELL_PANEL, JsonPath, Language, PlotPath, Quiet, optional
from gradscope.cli.output import Output, progress_reporter
from gradscope.cli.plots import training_plot
from gradscope.cli.problem_options import PRECISION, problem_options
from gradscope.cli.problems import ProblemArguments, cell_spec, file_problem
from gradscope.errors import ConfigError
from gradscope.i18n import _

_RUN_PANEL = "Run and executors"
_LOSS_PANEL = "The loss's gradient through time"


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope training 'runs/ckpt_*.pt'\n"
        "  gradscope training runs/ --cell lstm --prefix encoder.rnn. --inputs x.npy --plot flow.png\n"
        "  gradscope training a.npz b.npz c.npz --order mtime --json - | jq '.checkpoints[].rate_per_step'\n"
        "  gradscope training runs/gradient_flow.jsonl --plot flow.svg\n"
        "  gradscope training 'runs/*.pt' --inputs x.npy --loss softmax_ce --targets y.npy --head head.\n"
        "  gradscope training 'runs/*.safetensors' --steps 500 --seed 3 --scheduler tcp://10.0.0.5:8786"
    )
)
@problem_options("steps", "seed", *PRECISION, "prefix", "inputs", "h0", "c0")
def training(
    *,
    checkpoints: Annotated[
        list[str],
        typer.Argument(
            metavar="CKPT...",
            help="Checkpoints (.npz, .pt/.pth, .safetensors), globs ('runs/ckpt_*.pt'), directories, or the .jsonl "
            "logs of gradscope.torch.GradientFlowMonitor.",
            show_default=False,
        ),
    ],
    cell: Annotated[
        str | None,
        optional(
            "--cell",
            "-c",
            help="The recurrent cell of the checkpoints (default: from weight_hh_l0's shape: rnn, gru or lstm).",
            panel=CELL_PANEL,
        ),
    ] = None,
    order: Annotated[
        str,
        typer.Option(
            "--order",
            metavar="step|name|mtime",
            help="Training order: by step (a 'step' entry of the file, else the last integer in its name), by file "
            "name, or by modification time.",
            rich_help_panel=_RUN_PANEL,
        ),
    ] = "step",
    options: ProblemArguments,
    loss: Annotated[
        str | None,
        optional(
            "--loss",
            metavar="KIND",
            help="Also follow this loss's gradient ||dL/dh_{T-k}|| back through time: softmax_ce, mse, sse or "
            "half_sse (the BPTT checker's losses), read through --head's output layer if given; needs --targets.",
            panel=_LOSS_PANEL,
        ),
    ] = None,
    reduce: Annotated[
        str,
        typer.Option(
            "--reduce",
            metavar="last|sum|mean",
            help="The loss over time: at the last step only (one target), or summed or averaged over every step.",
            rich_help_panel=_LOSS_PANEL,
        ),
    ] = "last",
    targets: Annotated[
        Path | None,
        optional(
            "--targets",
            metavar="FILE.npy",
            help="The loss's targets: class indices (softmax_ce) or values, (O,) for --reduce last, else (T, O).",
            panel=_LOSS_PANEL,
        ),
    ] = None,
    head: Annotated[
        str | None,
        optional(
            "--head",
            metavar="PREFIX",
            help="The linear output layer the loss reads, by its prefix in each checkpoint (e.g. 'head.': head.weight, "
            "head.bias); default: the loss reads h_t itself.",
            panel=_LOSS_PANEL,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        optional(
            "--scheduler",
            metavar="ADDRESS",
            help="Analyse the checkpoints on a Dask distributed cluster (needs gradscope\\[dask]); default: local "
            "processes.",
            panel=_RUN_PANEL,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        optional("--workers", metavar="N", help="Local worker processes (default: all cores).", panel=_RUN_PANEL),
    ] = None,
    json_path: JsonPath = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
    lang: Language = None,
) -> None:
    """How the gradient's reach through time moved over training: each checkpoint analysed as 'analyze --weights' does.

    A table of step, rate, e-folding lag, reach and verdict, with the largest change called out in words.
    --plot: a heat map of the profiles (training step x lag) above the rate and the reach against the step.
    """
    from gradscope.analysis.loss_gradient import LossSpec, loss_gradient
    from gradscope.files import about_file, load_npy
    from gradscope.files.training_run import expand_paths, infer_cell, load_output_layer, order_run, read_json_lines
    from gradscope.studies.executors import make_executor
    from gradscope.studies.training import Checkpoint, TrainingEntry, analyze_checkpoints

    output = Output.create(json_path, quiet, plot)
    run = order_run(expand_paths(checkpoints), order)
    logged = [
        TrainingEntry.from_record(record, f"{item.path}:{number}")
        for item in run
        if item.is_log
        for number, record in read_json_lines(item.path)
    ]
    saved = [item for item in run if not item.is_log]
    if loss is None and (targets is not None or head is not None):
        raise ConfigError("--targets and --head describe a loss: give --loss too (softmax_ce, mse, sse or half_sse)")
    if loss is not None and targets is None:
        raise ConfigError(f"--loss {loss}: give its --targets FILE.npy")
    if loss is not None and not saved:
        raise ConfigError("--loss applies to checkpoints; a monitor's log holds analysed entries")
    goals = load_npy(targets, "targets") if targets is not None else None
    if goals is not None and loss == "softmax_ce" and goals.ndim <= 1 and np.array_equal(goals, np.round(goals)):
        goals = goals.astype(np.int64)  # class indices (np.save of ints is read back as float64)
    problems = []
    if saved:
        spec = cell_spec(cell if cell is not None else infer_cell(saved[0].path, options.prefix))
        for item in saved:
            # Each checkpoint as 'analyze --weights' loads it: the same files, checks and problem.
            with_weights = dataclasses.replace(options, weights=item.path)
            problem = file_problem(spec, with_weights.load_files(spec), with_weights)
            followed = None
            if loss is not None:
                weight, bias = load_output_layer(item.path, head) if head is not None else (None, None)
                followed = LossSpec(loss, reduce, goals, weight, bias)
            problems.append(Checkpoint(str(item.path), item.step, item.step_source, problem, followed))
        if problems and problems[0].loss is not None:
            with about_file(targets):  # a bad loss, target or output layer fails here, before any work
                loss_gradient(problems[0].problem, problems[0].loss)
    elif options.inputs is not None or options.h0 is not None or options.c0 is not None:
        raise ConfigError("--inputs, --h0 and --c0 apply to checkpoints; a monitor's log holds analysed entries")
    executor = make_executor(scheduler=scheduler, workers=workers)
    with progress_reporter(output.shows_progress, _("checkpoints"), unit=_("checkpoints")) as progress:
        series = analyze_checkpoints(problems, logged=logged, order=order, executor=executor, progress=progress)
    output.finish(
        series.to_dict(),
        full=lambda: terminal.training_report(series),
        brief=lambda: terminal.training_summary_line(series),
        figure=lambda: training_plot(series),
    )
