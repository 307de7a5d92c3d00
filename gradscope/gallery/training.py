"""The gallery's training figure: a tanh RNN and an LSTM trained on the adding problem, drawn from a committed
small run (``gallery/data/adding-*.jsonl``, the logs of ``examples/train_adding_problem.py`` with its defaults;
nothing is trained here)."""

from __future__ import annotations

from pathlib import Path

from gradscope.files.training_run import read_json_lines
from gradscope.gallery.markdown import Section, markdown_table
from gradscope.gallery.sizes import GallerySizes
from gradscope.studies.training import TrainingSeries

#: The committed run: one monitor log per model.
DATA = Path(__file__).resolve().parent / "data"
RUNS = (("tanh RNN", "adding-rnn.jsonl"), ("LSTM", "adding-lstm.jsonl"))


def adding_runs() -> list[TrainingSeries]:
    """The committed adding-problem runs, RNN then LSTM."""
    return [
        TrainingSeries.from_records([(f"{path}:{n}", record) for n, record in read_json_lines(path)])
        for path in (DATA / name for _, name in RUNS)
    ]


def training_section(sizes: GallerySizes) -> Section:
    """Gradient flow over training: the RNN's reach collapses while the LSTM learns and reaches the whole sequence."""
    from gradscope.figures import training_figure

    runs = adding_runs()
    labels = [label for label, _ in RUNS]
    rows = []
    for label, run in zip(labels, runs, strict=True):
        reaches, steps = run.reaches, run.steps
        low = int(reaches.argmin())
        rows.append(
            [label, f"{reaches[0]:.1f}", f"{reaches[low]:.1f} (step {steps[low]})", f"{reaches[-1]:.1f}",
             run.entries[-1].verdict]
        )  # fmt: skip
    length = int(runs[0].run["steps"])
    first_steps, last_step = int(runs[0].steps[0]), int(runs[0].steps[-1])
    return Section(
        name="training-adding",
        title="Gradient flow over training: the adding problem",
        caption=(
            f"A tanh RNN and an LSTM (H = {runs[0].run['hidden_size']}) trained alike on the adding problem "
            f"(T = {length}, Adam, steps {first_steps} to {last_step}), each watched by "
            "`gradscope.torch.GradientFlowMonitor` on one fixed probe sequence. Top: `log10 ‖∂s_T/∂s_(T-k)‖` of "
            "every snapshot (training step across, lag up) with the reach (steps for the norm to fall by a factor "
            f"e, at most T = {length}). The RNN's reach collapses to under one step and the RNN never learns the "
            "task; the LSTM learns it and its reach grows to the whole sequence. Drawn from the committed run "
            "`gradscope/gallery/data/adding-*.jsonl`: regenerating the gallery trains nothing."
        ),
        figure=training_figure(runs, labels=labels),
        commands=[
            "gradscope training gradscope/gallery/data/adding-rnn.jsonl --plot training-adding-rnn.png",
            "gradscope training gradscope/gallery/data/adding-lstm.jsonl --plot training-adding-lstm.png",
            "python examples/train_adding_problem.py --out runs/adding   # trains both again (under a minute, CPU)",
        ],
        table=markdown_table(["model", "reach at start", "smallest reach", "final reach", "final verdict"], rows),
    )
