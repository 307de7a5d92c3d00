"""Results in Jupyter: every result shows the report the terminal prints and the figure ``--plot`` draws.

``import gradscope`` inside a running IPython (a Jupyter kernel) registers the display formatters by
itself; ``%load_ext gradscope`` does the same by hand. Outside IPython nothing here runs and IPython is
never imported. The report speaks the language chosen with :func:`gradscope.i18n.set_language` (else the
locale's), as ``--lang`` does on the command line.

* :mod:`~gradscope.notebook.reports`: what each result type shows (:data:`VIEWS`), :func:`result_html`,
  :func:`result_text`, :func:`figure_png`;
* :mod:`~gradscope.notebook.ipython`: :func:`register` with IPython's formatters, :func:`activate`, the
  extension's ``load_ipython_extension``.

This layer sits above ``terminal`` and ``figures``, whose renderers it calls; nothing below imports it.
"""

from gradscope.notebook import ipython, reports
from gradscope.notebook.ipython import *  # noqa: F403
from gradscope.notebook.reports import *  # noqa: F403

__all__ = [*ipython.__all__, *reports.__all__]
