"""How ``gradscope sweep`` runs its tasks: a checkpoint of the finished ones, ``--resume``, interruptions, failures.

* **Checkpoint**: with ``--json PATH`` or ``--csv PATH`` the finished tasks are kept, as they finish, in
  ``PATH.partial.jsonl`` beside the first of them (``--checkpoint FILE`` names another file, and keeps one
  for a run without output files too). It is removed once the outputs are written.
* **Resume**: ``--resume`` reads the checkpoint of an interrupted run of the same sweep and runs only the
  rest; the rows are the same as an uninterrupted run's. Without ``--resume`` an existing checkpoint is
  refused (it holds finished work), and a checkpoint of another sweep always is.
* **Interruptions**: ``SIGINT`` (Ctrl-C) and ``SIGTERM`` stop the workers, keep the finished tasks in the
  checkpoint and exit with 130 and 143 after one line saying how many tasks finished and how to go on.
* **Failures**: a failed task is a row with its error; the command then exits with
  :data:`~gradscope.cli.app.EXIT_TASKS_FAILED` after writing every output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gradscope.cli.app import EXIT_TASKS_FAILED, print_error
from gradscope.cli.interrupts import Terminated, held_off, interrupt_status, interruptible
from gradscope.errors import ConfigError
from gradscope.i18n import _, ngettext

if TYPE_CHECKING:
    from gradscope.files.task_journal import TaskJournal
    from gradscope.studies.executors import Executor
    from gradscope.studies.sweeps import SweepResult, SweepSpec

#: The default checkpoint's name: the output's name and this.
CHECKPOINT_SUFFIX = ".partial.jsonl"


def checkpoint_path(
    explicit: Path | None, resume: bool, outputs: list[Path | None], plot: Path | None = None
) -> Path | None:
    """Where the sweep keeps its finished tasks: ``explicit``, else beside the first output file, else nowhere.

    Raises:
        ConfigError: ``--resume`` with nowhere to resume from, or a checkpoint on an output's path.
    """
    files = [path for path in outputs if path is not None]
    path = explicit if explicit is not None else (Path(f"{files[0]}{CHECKPOINT_SUFFIX}") if files else None)
    if path is None:
        if resume:
            raise ConfigError("--resume needs the checkpoint: give --json PATH, --csv PATH or --checkpoint FILE")
        return None
    for other in [*files, plot]:
        if other is not None and Path(other).absolute() == path.absolute():
            raise ConfigError(f"--checkpoint {path}: is also an output of this run; give it a path of its own")
    return path


def run_sweep_command(
    spec: SweepSpec, executor: Executor, checkpoint: Path | None, resume: bool, progress: Any
) -> tuple[SweepResult, TaskJournal | None]:
    """Run the sweep, keeping finished tasks in ``checkpoint``; an interruption exits here with 130 or 143.

    Returns the result and the open checkpoint, to :meth:`~TaskJournal.remove` once the outputs are written.
    """
    from gradscope.files.task_journal import TaskJournal
    from gradscope.studies.sweeps import run_sweep

    total = len(spec.tasks())
    journal: TaskJournal | None = None
    finished: dict[str, dict[str, Any]] = {}
    done = [0]

    def record(pairs: list[tuple[str, dict[str, Any]]]) -> None:
        with held_off():  # a signal now waits: the checkpoint gets whole lines and ``done`` counts what it holds
            if journal is not None:
                journal.append(pairs)
            done[0] += len(pairs)

    try:
        with interruptible():
            # A signal while the checkpoint is opened waits until it is: the one line below then reports it,
            # and an empty checkpoint is not left behind.
            with held_off():
                if checkpoint is not None and resume:
                    journal, finished = TaskJournal.resume(checkpoint, spec.identity())
                elif checkpoint is not None:
                    journal = TaskJournal.start(checkpoint, spec.identity())
                done[0] = len(finished)
            result = run_sweep(spec, executor=executor, progress=progress, finished=finished, record=record)
    except BaseException as error:  # an error or an interruption: keep what finished, leave no empty file
        kept = journal.path if journal is not None and done[0] > 0 else None
        if journal is not None:
            journal.close() if kept is not None else journal.remove()
        if not isinstance(error, (KeyboardInterrupt, Terminated)):
            raise
        _interrupted(done[0], total, kept, journal is not None)
        raise typer.Exit(interrupt_status(error)) from None
    return result, journal


def _interrupted(done: int, total: int, kept: Path | None, checkpointed: bool) -> None:
    """The one line an interrupted sweep leaves on stderr (``checkpointed``: it had a checkpoint)."""
    if kept is not None:
        message = _(
            "interrupted: {done} of {total} tasks finished, kept in {path}; "
            "rerun the same command with --resume to continue"
        ).format(done=done, total=total, path=kept)
    elif checkpointed:  # nothing had finished: nothing to resume, the empty checkpoint is gone
        message = _("interrupted: {done} of {total} tasks finished").format(done=done, total=total)
    else:
        message = _(
            "interrupted: {done} of {total} tasks finished, not kept "
            "(give --json PATH, --csv PATH or --checkpoint FILE to keep them and --resume later)"
        ).format(done=done, total=total)
    print_error(message, kind=_("stopped"))


def finish_sweep(result: SweepResult, journal: TaskJournal | None) -> None:
    """After the outputs are written: remove the checkpoint; exit with ``EXIT_TASKS_FAILED`` if tasks failed."""
    if journal is not None:
        journal.remove()
    if result.failed:
        message = ngettext(
            "{failed} of {total} task failed (its row holds the error)",
            "{failed} of {total} tasks failed (their rows hold the error)",
            result.failed,
        ).format(failed=result.failed, total=len(result.rows))
        print_error(message, kind=_("warning"))
        raise typer.Exit(EXIT_TASKS_FAILED)
