"""The report of ``training``: one line per checkpoint (step, rate, e-folding lag, reach, verdict) and the change
called out in words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.constrain import Constrain
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gradscope.analysis.describe import cell_title, norm_word, verdict_word
from gradscope.i18n import _
from gradscope.terminal.format import REPORT_WIDTH, VERDICT_STYLES, format_rate, format_steps

if TYPE_CHECKING:
    from gradscope.studies.training import TrainingSeries


def _reach_text(reach: float, steps: int) -> str:
    """A reach in steps; the whole sequence (``>= T``) where the gradient does not decay within it."""
    return f">={steps}" if reach >= steps else format_steps(reach)


def training_change(series: TrainingSeries) -> str:
    """How the profile moved, in one sentence: the largest change of reach between consecutive checkpoints
    ("the reach fell from 40 to 9 steps between step 2000 and step 4000"), or that it held."""
    steps = int(series.run["steps"])
    change = series.largest_change()
    if change is None:
        return _("One checkpoint (step {step}): nothing to compare yet.").format(step=series.entries[0].step)
    first, last = series.entries[0], series.entries[-1]
    if not change.notable:
        low, high = float(series.reaches.min()), float(series.reaches.max())
        return _("The reach held between {low} and {high} steps from step {first} to step {last}.").format(
            low=_reach_text(low, steps), high=_reach_text(high, steps), first=first.step, last=last.step
        )
    if change.after > change.before:
        message = _("The reach rose from {before} to {after} steps between step {start} and step {end}.")
    else:
        message = _("The reach fell from {before} to {after} steps between step {start} and step {end}.")
    return message.format(
        before=_reach_text(change.before, steps),
        after=_reach_text(change.after, steps),
        start=change.before_step,
        end=change.after_step,
    )


def training_table(series: TrainingSeries) -> Table:
    """One row per checkpoint: step, rate per step, e-folding lag, reach, verdict, file."""
    steps = int(series.run["steps"])
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column(_("step"), justify="right", no_wrap=True)
    table.add_column(_("rate/step"), justify="right", no_wrap=True)
    table.add_column(_("e-folding lag"), justify="right", no_wrap=True)
    table.add_column(_("reach"), justify="right", no_wrap=True)
    table.add_column(_("verdict"), no_wrap=True)
    followed = any(entry.loss_gradient is not None for entry in series.entries)
    if followed:
        table.add_column(_("dL/dh rate"), justify="right", no_wrap=True)
    table.add_column(_("file"), overflow="fold")
    for entry in series.entries:
        style = VERDICT_STYLES.get(entry.verdict, "").replace("bold ", "")
        cells: list[str | Text] = [
            str(entry.step),
            format_rate(entry.rate_per_step),
            format_steps(entry.efolding_lag),
            _reach_text(entry.reach, steps),
            Text(verdict_word(entry.verdict), style=style),
        ]
        if followed:
            gradient = entry.loss_gradient
            cells.append(format_rate(gradient.rate_per_step) if gradient is not None else "")
        cells.append(entry.path if entry.path is not None else _("(monitor log)"))
        table.add_row(*cells)
    return table


def training_settings(series: TrainingSeries) -> str:
    """What every checkpoint shares, one line."""
    run = series.run
    inputs = _("inputs from a file") if series.config.get("inputs") == "given" else None
    if inputs is None and "seed" in series.config:
        inputs = _("inputs drawn with seed {seed}").format(seed=series.config["seed"])
    parts = [
        _(cell_title(str(run["cell"]))),
        f"H={run['hidden_size']}",
        f"I={run['input_size']}",
        f"T={run['steps']}",
        _("{norm} norm").format(norm=norm_word(str(run["norm"]))),
        str(run["dtype"]),
        *([inputs] if inputs else []),
    ]
    return _("{count} checkpoints: {settings}").format(count=len(series.entries), settings=", ".join(parts))


def _loss_note(series: TrainingSeries) -> list[Text]:
    """What the ``dL/dh rate`` column follows, when it is there."""
    followed = next((entry.loss_gradient for entry in series.entries if entry.loss_gradient is not None), None)
    if followed is None:
        return []
    note = _("dL/dh rate: slope of ln {gradient} against k for the loss {loss} (reduce {reduce})")
    text = note.format(gradient="||dL/dh_{T-k}||", loss=followed.loss, reduce=followed.reduce)
    return [Text(text, style="dim")]


def training_report(series: TrainingSeries) -> RenderableType:
    """The ``training`` report: settings, the table, and the change in words."""
    body = Group(
        Text(training_settings(series), style="dim"),
        Text(""),
        Text(
            _("rate per step of ln ||d s_T / d s_{T-k}|| (natural log); reach: steps to fall by a factor e"),
            style="bold",
        ),
        training_table(series),
        *_loss_note(series),
        Text(""),
        Text(training_change(series)),
    )
    title = Text.assemble(("gradscope training", "bold"), f": {_(cell_title(str(series.run['cell'])))}")
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


def training_summary_line(series: TrainingSeries) -> Text:
    """The result in one line (for ``--quiet``): the last checkpoint's verdict and the change."""
    last = series.entries[-1]
    text = Text(f"{series.run['cell']}: ")
    text.append(verdict_word(last.verdict), style=VERDICT_STYLES.get(last.verdict, "bold"))
    text.append(_(" at step {step}, rate {rate}/step. ").format(step=last.step, rate=format_rate(last.rate_per_step)))
    text.append(training_change(series))
    return text


__all__ = ["training_change", "training_report", "training_settings", "training_summary_line", "training_table"]
