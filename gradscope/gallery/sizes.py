"""The sizes of everything the gallery computes: :class:`GallerySizes`, and :data:`QUICK` for tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GallerySizes:
    """The sizes of everything the gallery computes.

    The defaults are the published gallery (about a minute or two on two cores); :data:`QUICK` is a
    tiny configuration for tests.

    Attributes:
        hidden_size, input_size: H and I of every network except in the hidden-size sweep.
        steps: T of the profiles, comparisons, ensembles, spectra, gain and hidden-size sweeps.
        seed: the (first) seed of everything.
        exploding_gain: the Gaussian init gain of the exploding profile.
        samples: draws per ensemble of the cell ensembles.
        long_steps: T of the forget-gate-bias sweep and the LSTM ensembles, and chrono's T_max.
        lstm_samples: draws per ensemble of the LSTM forget-bias ensembles.
        gain_range: ``(start, stop, count)`` of the gain sweep, as ``numpy.linspace`` takes it.
        forget_bias_range: ``(start, stop, count)`` of the forget-bias sweep (chrono is added).
        hidden_sizes: ``(P,)`` the hidden sizes swept.
        hidden_gain: the Gaussian init gain of the hidden-size sweep.
        lengths: ``(L,)`` the sequence lengths T of the length study.
        length_samples: seeds per configuration in the length study.
        spectrum_lags: ``(K,)`` the lags whose singular values are shown.
        phase_gain_range: ``(start, stop, count)`` of the rate-against-gain phase diagram (``gradscope sweep``).
        phase_samples: random networks per gain in the phase diagram.
        lyapunov_gain, lyapunov_steps, lyapunov_transient: the Gaussian gain, T and transient of the
            Lyapunov-spectrum figure (``gradscope lyapunov``, tanh RNN, all H exponents).
        depth_layers: layers of the bidirectional LSTM of the depth-by-time heatmap (H, I and T as above).
    """

    hidden_size: int = 64
    input_size: int = 32
    steps: int = 200
    seed: int = 0
    exploding_gain: float = 2.0
    samples: int = 32
    long_steps: int = 1000
    lstm_samples: int = 8
    gain_range: tuple[float, float, int] = (0.5, 2.0, 31)
    forget_bias_range: tuple[float, float, int] = (-2.0, 5.0, 15)
    hidden_sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    hidden_gain: float = 1.5
    lengths: tuple[int, ...] = (200, 400, 600, 800, 1000)
    length_samples: int = 3
    spectrum_lags: tuple[int, ...] = (1, 10, 50, 200)
    phase_gain_range: tuple[float, float, int] = (0.25, 3.0, 12)
    phase_samples: int = 6
    lyapunov_gain: float = 2.0
    lyapunov_steps: int = 2000
    lyapunov_transient: int = 500
    depth_layers: int = 3

    def problem_options(self) -> dict[str, int]:
        """The sizes and seed of the gallery's networks, as keyword options of ``make_problem``/``compare``."""
        return {
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "steps": self.steps,
            "seed": self.seed,
        }

    @property
    def gains(self) -> list[float]:
        """``(P,)`` the gains of the gain sweep: ``numpy.linspace(*gain_range)``."""
        start, stop, count = self.gain_range
        return np.linspace(start, stop, count).tolist()

    @property
    def forget_biases(self) -> list[float | str]:
        """``(P + 1,)`` the forget-gate biases of the forget-bias sweep, then ``"chrono"``."""
        start, stop, count = self.forget_bias_range
        return [*np.linspace(start, stop, count).tolist(), "chrono"]


#: The published gallery (``reports/``): the default sizes.
PUBLISHED = GallerySizes()

#: A tiny gallery for tests: every figure and table, in a second or two.
QUICK = GallerySizes(
    hidden_size=6,
    input_size=3,
    steps=24,
    long_steps=40,
    samples=3,
    lstm_samples=2,
    gain_range=(0.5, 2.0, 3),
    forget_bias_range=(0.0, 3.0, 2),
    hidden_sizes=(4, 8),
    lengths=(12, 24),
    length_samples=2,
    spectrum_lags=(1, 6, 24),
    phase_gain_range=(0.5, 2.0, 3),
    phase_samples=2,
    lyapunov_steps=60,
    lyapunov_transient=10,
)
