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
* :mod:`~gradscope.terminal.profiles`: ``analyze``, ``compare`` and ``cells``;
* :mod:`~gradscope.terminal.derivation`: ``derive`` (pretty, LaTeX, Markdown);
* :mod:`~gradscope.terminal.ensembles`: ``analyze --samples`` and ``compare --samples``;
* :mod:`~gradscope.terminal.checks`: ``verify`` and the ``report`` gallery's summary;
* :mod:`~gradscope.terminal.research`: ``sweep`` and ``lyapunov``.
"""

from gradscope.terminal.checks import (
    format_error,
    gallery_summary,
    gallery_summary_line,
    verification_report,
    verification_summary,
    verification_table,
)
from gradscope.terminal.derivation import derivation_pretty
from gradscope.terminal.ensembles import (
    band_text,
    ensemble_report,
    ensemble_summary_line,
    ensemble_summary_table,
    ensemble_table,
    quantile_text,
    rate_band_text,
    verdict_counts_text,
)
from gradscope.terminal.format import (
    CHART_HEIGHT,
    REPORT_WIDTH,
    VERDICT_STYLES,
    ProfileChart,
    Sparkline,
    block_legend,
    chart_range,
    chart_rows,
    column_levels,
    format_axis,
    format_log10,
    format_power,
    format_rate,
    format_steps,
    profile_columns,
    report_lags,
    sparkline,
)
from gradscope.terminal.profiles import (
    analysis_report,
    cells_table,
    comparison_report,
    comparison_table,
    configuration_panel,
    depth_panel,
    first_lag,
    interpretation,
    jacobian_panel,
    lag_table,
    profile_panel,
    split_terms,
    summary_line,
    verdict_panel,
    verdict_text,
)
from gradscope.terminal.research import (
    lyapunov_report,
    lyapunov_summary_line,
    lyapunov_table,
    sweep_report,
    sweep_settings,
    sweep_summary_line,
    sweep_table,
)

__all__ = [
    "CHART_HEIGHT",
    "REPORT_WIDTH",
    "VERDICT_STYLES",
    "ProfileChart",
    "Sparkline",
    "analysis_report",
    "band_text",
    "block_legend",
    "cells_table",
    "chart_range",
    "chart_rows",
    "column_levels",
    "comparison_report",
    "comparison_table",
    "configuration_panel",
    "depth_panel",
    "derivation_pretty",
    "ensemble_report",
    "ensemble_summary_line",
    "ensemble_summary_table",
    "ensemble_table",
    "first_lag",
    "format_axis",
    "format_error",
    "format_log10",
    "format_power",
    "format_rate",
    "format_steps",
    "gallery_summary",
    "gallery_summary_line",
    "interpretation",
    "jacobian_panel",
    "lag_table",
    "lyapunov_report",
    "lyapunov_summary_line",
    "lyapunov_table",
    "profile_columns",
    "profile_panel",
    "quantile_text",
    "rate_band_text",
    "report_lags",
    "sparkline",
    "split_terms",
    "summary_line",
    "sweep_report",
    "sweep_settings",
    "sweep_summary_line",
    "sweep_table",
    "verdict_counts_text",
    "verdict_panel",
    "verdict_text",
    "verification_report",
    "verification_summary",
    "verification_table",
]
