"""The gallery's views beyond the norm: the singular-value spectra of ``P_k``, and the gradient as T grows."""

from __future__ import annotations

import functools

from gradscope.analysis import Analysis, analyze, make_problem
from gradscope.analysis.spectra import resolved_split, spectrum_table
from gradscope.gallery.ensembles import lstm_variants, lstm_variants_code
from gradscope.gallery.markdown import Section, log10_text, markdown_table, number, python_list
from gradscope.gallery.sizes import GallerySizes
from gradscope.studies import length_study

#: The cells whose spectra are shown, one panel each.
SPECTRUM_CELLS = ("rnn", "lstm", "gru")


@functools.cache
def spectrum_analyses(sizes: GallerySizes) -> tuple[Analysis, ...]:
    """One draw of each of :data:`SPECTRUM_CELLS` at the gallery's sizes and seed, analysed with every singular
    value at ``sizes.spectrum_lags`` (computed once per build: the spectrum and the comparison both read them)."""
    H, I, T, seed = sizes.hidden_size, sizes.input_size, sizes.steps, sizes.seed
    lags = tuple(k for k in sizes.spectrum_lags if k <= T)
    return tuple(
        analyze(make_problem(c, hidden_size=H, input_size=I, steps=T, seed=seed), snapshot_lags=lags)
        for c in SPECTRUM_CELLS
    )


def carousel_text(lstm: Analysis) -> str:
    """The LSTM's spectrum split at index H, measured (:func:`~gradscope.analysis.spectra.resolved_split`), in words."""
    H = lstm.hidden_size
    split = resolved_split(lstm, H)
    if split is None:
        return (
            f"In the LSTM panel the directions beyond index H = {H} fall below float64 resolution at every lag "
            "shown but the first."
        )
    return (
        f"In the LSTM panel the spectrum drops by {split.drop:.1f} decades at index i = H = {H} (lag k = {split.lag}): "
        f"σ_1..σ_H are the H directions the cell-state carousel carries (`∂c_t/∂c_(t-1) = diag(f_t)`), the "
        f"strongest of them at 10^({log10_text(split.upper)}), {split.upper_rate:+.2f} decades per step; "
        f"σ_(H+1)..σ_2H are the H that go through h and `W_hh` (every gate's derivative times `W_hh`), the "
        f"strongest of them at 10^({log10_text(split.lower)}), {split.lower_rate:+.2f} decades per step. The "
        "carousel's directions are the ones left at long lags."
    )


def spectrum_section(sizes: GallerySizes) -> Section:
    """Every singular value of ``P_k`` (``(S,)`` per lag) at ``sizes.spectrum_lags``, for one draw of each cell."""
    from gradscope.figures import spectrum_figure

    H, I, T, seed = sizes.hidden_size, sizes.input_size, sizes.steps, sizes.seed
    lags = tuple(k for k in sizes.spectrum_lags if k <= T)
    analyses = list(spectrum_analyses(sizes))
    lstm = next(a for a in analyses if a.cell == "lstm")
    names = [a.display_name for a in analyses]
    counts = spectrum_table(analyses, names, decades=1.0)
    rows = []
    for v, (name, a) in enumerate(zip(names, analyses, strict=True)):
        cells_text = [
            f"{counts.counts[v, j]} ({log10_text(float(a.singular_values[k][0]))})" for j, k in enumerate(lags)
        ]
        rows.append([f"{name} (S = {counts.state_sizes[v]})", *cells_text])
    code = (
        "import gradscope\nfrom gradscope.figures import spectrum_figure\n"
        f"spectrum_figure([gradscope.analyze(c, hidden_size={H}, input_size={I}, steps={T}, seed={seed}, "
        f"snapshot_lags={lags!r}) for c in {SPECTRUM_CELLS!r}])"
    )
    return Section(
        name="spectrum",
        title="Singular-value spectra of P_k: how many directions survive",
        caption=(
            f"All singular values of `P_k = ∂s_T/∂s_(T-k)` at lags k = {', '.join(map(str, lags))}, divided by the "
            f"largest, for one draw of each cell (H={H}, I={I}, T={T}, PyTorch's default "
            "initialisation). The norm only follows the top direction; the spectrum shows how fast the others die: "
            "after a few tens of steps only a handful of directions remain within a factor 10 of the strongest, "
            "so the gradient forgets not only how much but also which way. The grey band is below float64 "
            f"resolution (about S·ε relative to σ_1): values there are rounding. {carousel_text(lstm)}"
        ),
        figure=spectrum_figure(analyses),
        python=code,
        table=(
            "Directions within a factor 10 of the largest (σ_i ≥ σ_1/10), with log10 σ_1 in brackets:\n\n"
            + markdown_table(["cell (state size S)", *(f"k = {k}" for k in lags)], rows)
        ),
    )


def length_section(sizes: GallerySizes) -> Section:
    """``log10 ‖∂s_T/∂s_0‖`` and the rate of the tanh RNN, the GRU and three LSTMs at each T of ``sizes.lengths``
    (:func:`gradscope.studies.length_study`: arrays ``(V, S, L)``, medians ``(V, L)``)."""
    from gradscope.figures import length_figure

    H, I, seed = sizes.hidden_size, sizes.input_size, sizes.seed
    cells = [make_problem(c, hidden_size=H, input_size=I, steps=sizes.steps, seed=seed) for c in ("rnn", "gru")]
    variants = [(p.spec.display_name, p) for p in cells] + lstm_variants(sizes, sizes.steps)
    lengths = list(sizes.lengths)
    study = length_study(
        [p for _, p in variants], lengths, samples=sizes.length_samples, labels=[label for label, _ in variants]
    )
    finals, rates = study.median_final(), study.median_rate()
    header = ["T", *study.labels]
    rows = [
        [str(T), *(f"{log10_text(finals[v, j])} / {number(rates[v, j], '+.4f')}" for v in range(len(variants)))]
        for j, T in enumerate(study.lengths)
    ]
    code = (
        "import gradscope\nfrom gradscope.figures import length_figure\n"
        "from gradscope.studies import length_study\n"
        f"{lstm_variants_code(sizes, None)}\n"
        f"cells = [gradscope.make_problem(c, hidden_size={H}, input_size={I}, seed={seed}) for c in ('rnn', 'gru')]\n"
        "problems = cells + [p for _, p in variants]\n"
        "labels = [p.spec.display_name for p in cells] + [label for label, _ in variants]\n"
        f"length_figure(length_study(problems, {python_list(lengths)}, samples={sizes.length_samples}, "
        "labels=labels))"
    )
    return Section(
        name="sequence-length",
        title="Sequence length: the end-to-end gradient and the rate as T grows",
        caption=(
            f"`log10 ‖∂s_T/∂s_0‖` (left) and the fitted rate per step (right) for T = {lengths[0]}..{lengths[-1]}, "
            f"median over {sizes.length_samples} seeds (band: min-max). For each seed the weights are fixed and the "
            "shorter input sequences are prefixes of the longer ones, so each line follows one network along a "
            "growing sequence. Exponential decay shows as a straight line on the left and a flat rate on the "
            f"right. At T = {lengths[-1]} the median end-to-end gradient is "
            + ", ".join(f"10^({log10_text(finals[v, -1])}) for {name}" for v, name in enumerate(study.labels))
            + "."
        ),
        figure=length_figure(study),
        python=code,
        table="Median over seeds, `log10 ‖∂s_T/∂s_0‖ / rate per step`:\n\n"
        + markdown_table(header, rows, align="r" * len(header)),
    )
