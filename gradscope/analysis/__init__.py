"""The analysis layer: the problem value, and the studies of one problem (profile, ensembles, comparisons, Lyapunov).

Everything here returns frozen data: nothing prints, saves, or imports matplotlib or rich.
"""

from gradscope.analysis.comparison import Comparison, EnsembleComparison, compare
from gradscope.analysis.ensemble import Ensemble, analyze_ensemble, band
from gradscope.analysis.explanation import Explanation, explain
from gradscope.analysis.lyapunov_spectrum import LyapunovSpectrum, lyapunov
from gradscope.analysis.problem import Problem, ProblemOptions, make_problem, trajectory
from gradscope.analysis.profile import SCHEMA, Analysis, analyze
from gradscope.analysis.summary import Summary, Thresholds, fit_line, summarize

__all__ = [
    "SCHEMA",
    "Analysis",
    "Comparison",
    "Ensemble",
    "EnsembleComparison",
    "Explanation",
    "LyapunovSpectrum",
    "Problem",
    "ProblemOptions",
    "Summary",
    "Thresholds",
    "analyze",
    "analyze_ensemble",
    "band",
    "compare",
    "explain",
    "fit_line",
    "lyapunov",
    "make_problem",
    "summarize",
    "trajectory",
]
