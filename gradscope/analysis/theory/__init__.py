"""Closed-form results a measured profile is held against.

Four results, each citing its source: the upper bound of Pascanu, Mikolov & Bengio (2013) for the
plain RNN (:mod:`~gradscope.analysis.theory.bounds`); Newman's (1986) exact Lyapunov spectrum for products of
re-drawn Gaussian matrices (:func:`newman_spectrum`, :func:`newman_step_variance`); the mean-field
top exponent of the random tanh RNN, ``log g`` below the edge of chaos and ``(1/2) log chi_1``
above (:func:`mean_field_top_exponent`, and :func:`tanh_rnn_mean_field_rate` for gradscope's own
random draws); and the LSTM forget gate's rate and memory time with chrono initialisation's range
(Tallec & Ollivier 2018; :func:`forget_gate_rate`, :func:`chrono_memory_time_range`). They are the
lines drawn under measured profiles, sweeps and Lyapunov spectra.
"""

from gradscope.analysis.theory.bounds import (
    ACTIVATION_GAMMA,
    CELL_ACTIVATION,
    PascanuBound,
    pascanu_bound,
    pascanu_gamma,
    pascanu_log10_bound,
    sigma_max,
)
from gradscope.analysis.theory.forget_gate import (
    chrono_memory_time_range,
    chrono_slowest_rate,
    forget_gate_efolding_lag,
    forget_gate_memory_time,
    forget_gate_rate,
)
from gradscope.analysis.theory.mean_field import (
    MEAN_FIELD_INITS,
    mean_field_chi1,
    mean_field_top_exponent,
    mean_field_variance,
    tanh_moments,
    tanh_rnn_mean_field_parameters,
    tanh_rnn_mean_field_rate,
)
from gradscope.analysis.theory.random_matrices import digamma, newman_spectrum, newman_step_variance, trigamma

__all__ = [
    "ACTIVATION_GAMMA",
    "CELL_ACTIVATION",
    "MEAN_FIELD_INITS",
    "PascanuBound",
    "chrono_memory_time_range",
    "chrono_slowest_rate",
    "digamma",
    "forget_gate_efolding_lag",
    "forget_gate_memory_time",
    "forget_gate_rate",
    "mean_field_chi1",
    "mean_field_top_exponent",
    "mean_field_variance",
    "newman_spectrum",
    "newman_step_variance",
    "pascanu_bound",
    "pascanu_gamma",
    "pascanu_log10_bound",
    "sigma_max",
    "tanh_moments",
    "tanh_rnn_mean_field_parameters",
    "tanh_rnn_mean_field_rate",
    "trigamma",
]
