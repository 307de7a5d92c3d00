"""The ``gradscope`` command line: thin typer commands over the Python API (one function each).

Modules: :mod:`~gradscope.cli.app` (consoles, the error boundary, the app), :mod:`~gradscope.cli.options`
(the shared option aliases), :mod:`~gradscope.cli.output` (``--json``, ``--plot``, progress bars),
:mod:`~gradscope.cli.problems` (options and files to the problem they make),
:mod:`~gradscope.cli.plots` (the figure of each command); the commands:
:mod:`~gradscope.cli.profiles` (analyze, compare), :mod:`~gradscope.cli.cells` (derive, cells),
:mod:`~gradscope.cli.checks` (report, verify), :mod:`~gradscope.cli.research` (sweep, lyapunov),
:mod:`~gradscope.cli.training` (training).
Importing this package registers every command, in that order.

Layout, for whoever adds the next command or option:

* **Options** shared between commands are module-level ``Annotated`` aliases (``HiddenSize``,
  ``Seed``, ``JsonPath``, ...); a new command reuses them, a new shared option is one new alias.
* **Errors** are handled in exactly one place, :func:`~gradscope.cli.app.error_boundary`, which the
  application's group class wraps around every command: a :class:`~gradscope.errors.GradscopeError`
  (bad input, bad files) becomes one line on stderr and exit code 2, anything unexpected one line
  and exit code 1 (``--debug`` or ``GRADSCOPE_DEBUG=1`` re-raises it with its traceback). Usage
  errors are typer's, also exit code 2. Commands just raise.
* **Output** goes through :class:`~gradscope.cli.output.Output`: ``--json PATH`` (atomic write),
  ``--json -`` (only JSON on stdout), ``--plot PATH`` (a figure, atomic write), ``--quiet``, and the
  rich report built by :mod:`gradscope.terminal`. Every output path is checked before any work.
* **Language**: every command takes ``--lang en|zh`` (:data:`~gradscope.cli.options.Language`, parsed
  first), and so does ``gradscope`` itself; the application starts every run in that language or the
  locale's. Reports and figure labels follow it; JSON and error messages do not.
* **Imports**: this package, ``gradscope --help`` and ``gradscope analyze`` never import SymPy,
  matplotlib or torch; ``derive`` imports SymPy when it runs, ``--plot`` and ``report`` matplotlib
  (through :mod:`gradscope.figures`), ``verify`` torch when it is installed. Keep heavy imports
  inside the command that needs them.
"""

import importlib
import sys
from collections.abc import Sequence

from gradscope.cli.app import DEBUG_ENV, EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_INTERNAL, EXIT_OK, app, error_boundary
from gradscope.cli.options import REPORT_QUICK_ENV, DtypeName, InitName, NormName
from gradscope.cli.output import Output, progress_reporter

__all__ = [
    "DEBUG_ENV",
    "EXIT_BAD_INPUT",
    "EXIT_CHECK_FAILED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "REPORT_QUICK_ENV",
    "DtypeName",
    "InitName",
    "NormName",
    "Output",
    "app",
    "error_boundary",
    "main",
    "progress_reporter",
]

# Importing a command module registers its commands on ``app``; ``--help`` lists them in this order.
for _module in ("profiles", "explain", "cells", "checks", "research", "training"):
    importlib.import_module(f"gradscope.cli.{_module}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    0 success, 2 bad usage or bad input, 1 internal error.
    """
    try:
        app(args=list(argv) if argv is not None else None, prog_name="gradscope")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (EXIT_OK if stop.code is None else EXIT_INTERNAL)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
