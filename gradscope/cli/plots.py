"""The figure each command draws for ``--plot``; matplotlib is imported here only when one is asked for."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gradscope.analysis import Analysis, Comparison, Ensemble, EnsembleComparison, LyapunovSpectrum
    from gradscope.studies import SweepResult
    from gradscope.studies.training import TrainingSeries


def analysis_plot(result: "Analysis") -> "Figure":
    """``analyze --plot``: the profile figure, and for stacked or bidirectional weights the profile of
    the top layer's recurrence above the layer-by-time heatmaps of the gradient of the last output."""
    from gradscope import figures

    return figures.profile_depth_figure(result) if result.depth_profiles else figures.profile_figure(result)


def ensemble_plot(ensembles: "Ensemble | EnsembleComparison | Sequence[Ensemble]") -> "Figure":
    """Median and 10-90 % band of each ensemble on one axes."""
    from gradscope import figures

    return figures.ensemble_figure(ensembles)


def compare_plot(comparison: "Comparison") -> "Figure":
    """The cells' profiles on one axes."""
    from gradscope import figures

    return figures.compare_figure(comparison)


def sweep_plot(result: "SweepResult") -> "Figure":
    """Median rate per step against the first swept parameter, with the band and the theory curve."""
    from gradscope import figures

    return figures.sweep_rate_figure(result)


def lyapunov_plot(spectrum: "LyapunovSpectrum", running: bool) -> "Figure":
    """The spectrum (with its theory where it applies) and, with ``running``, the running estimates."""
    from gradscope import figures

    return figures.lyapunov_figure(spectrum, show_running=running)


def training_plot(series: "TrainingSeries") -> "Figure":
    """The profiles over training (heat map of step x lag) above the rate and the reach against the step."""
    from gradscope import figures

    return figures.training_figure(series)
