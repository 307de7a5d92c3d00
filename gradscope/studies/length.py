"""Length studies: the end-to-end gradient ``||d s_T / d s_0||`` and the rate as the sequence length T grows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gradscope.analysis.problem import Problem
from gradscope.analysis.profile import analyze
from gradscope.errors import ConfigError
from gradscope.params.arrays import check_size


@dataclass(frozen=True)
class LengthStudy:
    """The end-to-end gradient and the rate of each configuration at each sequence length.

    For a given seed the weights are the same at every T and the inputs of the shorter sequences
    are prefixes of the longer ones (NumPy draws them in order), so each row follows one network
    along one ever longer input sequence.

    Attributes:
        labels: ``(V,)`` the configurations' names.
        problems: ``(V,)`` the configurations, as given.
        lengths: ``(L,)`` the sequence lengths T, increasing.
        seeds: ``(S,)`` the seeds (one network and input sequence per seed).
        final_log10_norm: ``(V, S, L)`` ``log10 ||d s_T / d s_0||``.
        rates: ``(V, S, L)`` rate per step (natural log) fitted over lags ``1..T``.
    """

    labels: tuple[str, ...]
    problems: tuple[Problem, ...]
    lengths: np.ndarray
    seeds: np.ndarray
    final_log10_norm: np.ndarray
    rates: np.ndarray

    def median_final(self) -> np.ndarray:
        """``(V, L)`` median over seeds of ``log10 ||d s_T / d s_0||``."""
        return np.median(self.final_log10_norm, axis=1)

    def median_rate(self) -> np.ndarray:
        """``(V, L)`` median over seeds of the rate per step."""
        return np.median(self.rates, axis=1)


def length_study(
    problems: Sequence[Problem],
    lengths: Sequence[int],
    *,
    samples: int = 1,
    labels: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LengthStudy:
    """Each problem remade at each sequence length, for the seeds ``seed .. seed + samples - 1`` of the first.

    A chrono LSTM needs a fixed ``t_max`` here, or its biases would change with T.

    Args:
        problems: the configurations (their own ``steps`` are replaced by each length).
        lengths: the sequence lengths T, increasing.
        samples: seeds per configuration.
        labels: the configurations' names (default: the cells' display names).
        progress: called as ``progress(runs_done, runs_total)``.
    """
    sizes = [int(T) for T in lengths]
    if not sizes or any(T < 1 for T in sizes) or sizes != sorted(set(sizes)):
        raise ConfigError(f"lengths must be increasing positive integers, got {list(lengths)}")
    check_size("samples", samples)
    if not problems:
        raise ConfigError("a length study needs at least one problem")
    names = tuple(labels) if labels is not None else tuple(p.spec.display_name for p in problems)
    if len(names) != len(problems):
        raise ConfigError(f"{len(problems)} problems but {len(names)} labels")
    seeds = np.arange(problems[0].seed, problems[0].seed + samples)
    final = np.empty((len(problems), samples, len(sizes)))
    rates = np.empty_like(final)
    total, done = final.size, 0
    for v, problem in enumerate(problems):
        for s, seed in enumerate(seeds):
            for j, steps in enumerate(sizes):
                result = analyze(problem.redraw(seed=int(seed), steps=steps, inputs=None))
                final[v, s, j] = result.final_log10_norm
                rates[v, s, j] = result.rate_per_step
                done += 1
                if progress is not None:
                    progress(done, total)
    lengths_array = np.asarray(sizes)
    for array in (lengths_array, seeds, final, rates):
        array.setflags(write=False)
    return LengthStudy(names, tuple(problems), lengths_array, seeds, final, rates)
