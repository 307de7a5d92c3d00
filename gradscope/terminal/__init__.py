"""Terminal reports as rich renderables: built here, printed by the command line.

Every public function takes results (an :class:`~gradscope.analysis.profile.Analysis`, a cell's
:class:`~gradscope.cells.spec.CellSpec`, ...) and returns a rich renderable or a string; nothing
here prints, reads files or computes gradients. The reports fit an 80-column terminal, adapt to a
wider one up to :data:`REPORT_WIDTH`, use ASCII characters when the console cannot encode
Unicode, and carry no meaning in colour alone (the verdict is also a word).

Only :func:`derivation_pretty`, :func:`derivation_latex` and :func:`derivation_markdown` use
SymPy, imported inside them, so that the ``analyze`` report starts without it.

The modules, by job (every public name is re-exported here, so ``report.X`` is the way to use them):

* :mod:`~gradscope.terminal.format`: the width, the verdicts' colours, number formatting, the charts;
* :mod:`~gradscope.terminal.profiles`: ``analyze``;
* :mod:`~gradscope.terminal.compare`: ``compare`` and ``cells``;
* :mod:`~gradscope.terminal.cell_files`: ``cells --file`` (and ``--check``);
* :mod:`~gradscope.terminal.derivation`: ``derive`` (pretty, LaTeX, Markdown);
* :mod:`~gradscope.terminal.explanation`: ``explain``;
* :mod:`~gradscope.terminal.ensembles`: ``analyze --samples`` and ``compare --samples``;
* :mod:`~gradscope.terminal.checks`: ``verify`` (and ``verify --target``) and the ``report`` gallery's summary;
* :mod:`~gradscope.terminal.research`: ``sweep`` and ``lyapunov``;
* :mod:`~gradscope.terminal.training`: ``training`` (a run's checkpoints);
* :mod:`~gradscope.terminal.export`: a report as HTML or plain text (what a notebook shows).
"""

from gradscope.terminal import (
    cell_files,
    checks,
    compare,
    derivation,
    ensembles,
    explanation,
    export,
    format,
    profiles,
    research,
    training,
)
from gradscope.terminal.cell_files import *  # noqa: F403
from gradscope.terminal.checks import *  # noqa: F403
from gradscope.terminal.compare import *  # noqa: F403
from gradscope.terminal.derivation import *  # noqa: F403
from gradscope.terminal.ensembles import *  # noqa: F403
from gradscope.terminal.explanation import *  # noqa: F403
from gradscope.terminal.export import *  # noqa: F403
from gradscope.terminal.format import *  # noqa: F403
from gradscope.terminal.profiles import *  # noqa: F403
from gradscope.terminal.research import *  # noqa: F403
from gradscope.terminal.training import *  # noqa: F403

__all__ = [
    *cell_files.__all__,
    *checks.__all__,
    *compare.__all__,
    *derivation.__all__,
    *ensembles.__all__,
    *explanation.__all__,
    *export.__all__,
    *format.__all__,
    *profiles.__all__,
    *research.__all__,
    *training.__all__,
]
