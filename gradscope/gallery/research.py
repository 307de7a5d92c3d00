"""The gallery's research figures: the rate-against-gain phase diagram with mean-field theory, a Lyapunov
spectrum, and the gradient through depth and time of a stacked bidirectional LSTM."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from gradscope.analysis import analyze, fit_line, lyapunov
from gradscope.analysis.describe import cell_title
from gradscope.compile import compile_cell
from gradscope.gallery.markdown import Section, log10_text, markdown_table, number, sentence
from gradscope.gallery.sizes import GallerySizes
from gradscope.params import init_params
from gradscope.studies import sweep

#: The cells of the phase diagram, in legend order.
PHASE_CELLS = ("rnn", "lstm", "gru")


def zero_crossings(x: Sequence[float], y: Sequence[float]) -> list[float]:
    """Where the piecewise-linear curve through ``(x, y)`` (both ``(P,)``) crosses zero (NaN points skipped)."""
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if math.isfinite(b)]
    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(pairs):
        if (y0 < 0) != (y1 < 0) and y0 != y1:
            out.append(x0 + (x1 - x0) * (-y0) / (y1 - y0))
    return out


def crossing_text(name: str, crossings: Sequence[float]) -> str:
    """``"NAME crosses zero at g ≈ 1.59"``, or that it does not."""
    if not crossings:
        return f"{name} does not cross zero in this range"
    return f"{name} crosses zero at g ≈ {', '.join(f'{c:.2f}' for c in crossings)}"


def phase_vary(sizes: GallerySizes) -> str:
    """The ``--vary`` text of the phase diagram: ``"gain=0.25:3:12"``."""
    start, stop, count = sizes.phase_gain_range
    return f"gain={start:g}:{stop:g}:{count}"


def phase_section(sizes: GallerySizes) -> Section:
    """The median rate (``(P,)`` per cell) over ``sizes.phase_samples`` networks per gain, as ``gradscope sweep``
    computes it (per-task seeds, worker processes), with the tanh RNN's mean-field rate."""
    from gradscope.figures import sweep_rate_figure

    vary = phase_vary(sizes)
    H, I, T, seed, samples = sizes.hidden_size, sizes.input_size, sizes.steps, sizes.seed, sizes.phase_samples
    options = {"hidden_size": H, "input_size": I, "steps": T, "seed": seed, "init": "gaussian"}
    results = [sweep(cell, [vary], samples=samples, **options) for cell in PHASE_CELLS]
    gains = [float(point["gain"]) for point in results[0].grid()]
    medians = [r.median_rates() for r in results]
    theory = results[0].theory_rate()
    assert theory is not None  # the tanh RNN has a mean-field rate
    theory_points = np.asarray(theory)[::samples]
    found = [
        crossing_text(f"the {cell_title(c)}'s median rate", zero_crossings(gains, m))
        for c, m in zip(PHASE_CELLS, medians, strict=True)
    ]
    theory_crossing = crossing_text("the mean-field rate", zero_crossings(gains, theory_points))
    ends = ", ".join(f"{float(m[-1]):+.3f} ({cell_title(c)})" for c, m in zip(PHASE_CELLS, medians, strict=True))
    gap = float(np.nanmax(np.abs(medians[0] - theory_points)))
    start, stop, count = sizes.phase_gain_range
    cli = (
        f"--init gaussian --vary {vary} --samples {samples} --hidden-size {H} "
        f"--input-size {I} --steps {T} --seed {seed}"
    )
    code = (
        "from gradscope.figures import sweep_rate_figure\n"
        "from gradscope.studies import sweep\n"
        f"sweep_rate_figure([sweep(c, [{vary!r}], samples={samples}, hidden_size={H}, input_size={I}, steps={T}, "
        f"seed={seed}, init='gaussian') for c in {PHASE_CELLS!r}])"
    )
    rows = [
        [f"{g:g}", *(number(float(m[p]), "+.4f") for m in medians), number(float(theory_points[p]), "+.4f")]
        for p, g in enumerate(gains)
    ]
    return Section(
        name="phase-gain",
        title="Phase diagram: rate per step against the gain for RNN, LSTM and GRU, with mean-field theory",
        caption=(
            f"The median over {samples} random networks (shaded: 10-90 %) of the gradient's rate per step "
            f"(slope of `ln ‖∂s_T/∂s_(T-k)‖`) for g from {start:g} to {stop:g} ({count} gains), every recurrent block "
            f"Gaussian N(0, g²/H), H = {H}, I = {I}, T = {T}, N(0, 1) inputs; "
            "each task's seed is a hash of its gain and sample. The dashed line is the mean-field top Lyapunov "
            "exponent of the random tanh RNN with this input drive "
            "(`gradscope.analysis.theory.tanh_rnn_mean_field_rate`: "
            "`log g` without drive below g = 1, `(1/2) log χ_1` above). "
            f"{sentence(found[0])}; {theory_crossing}; the largest gap between the tanh RNN's median and the "
            f"theory is {gap:.3f} per step. {sentence(found[1])}; {found[2]}. At g = {gains[-1]:g} the medians "
            f"are {ends}: "
            "the gates' direct paths keep the gated cells far from the plain RNN's chaotic explosion."
        ),
        figure=sweep_rate_figure(results),
        commands=[
            "# each cell alone, with its rows as JSON/CSV (the figure above draws the three on one axes):",
            *(
                f"gradscope sweep --cell {c} {cli} --csv phase-{c}.csv --plot reports/phase-gain-{c}.png"
                for c in PHASE_CELLS
            ),
        ],
        python=code,
        table=markdown_table(["g", *(f"{cell_title(c)} median rate" for c in PHASE_CELLS), "mean-field theory"], rows),
    )


def lyapunov_section(sizes: GallerySizes) -> Section:
    """All H Lyapunov exponents (``(H,)``) of a chaotic tanh RNN, with their errors and the mean-field ``λ_1``."""
    from gradscope.figures import lyapunov_figure

    H, I, g = sizes.hidden_size, sizes.input_size, sizes.lyapunov_gain
    spectrum = lyapunov(
        "rnn",
        hidden_size=H,
        input_size=I,
        steps=sizes.lyapunov_steps,
        transient=sizes.lyapunov_transient,
        seed=sizes.seed,
        init="gaussian",
        gain=g,
    )
    values, errors = spectrum.exponents, spectrum.standard_error
    positive = values[values > 0]
    predicted = spectrum.top_theory
    assert predicted is not None  # the random tanh RNN driven by N(0, 1) inputs has a mean-field rate
    command = (
        f"gradscope lyapunov --cell rnn --init gaussian --gain {g:g} --hidden-size {H} --input-size {I} "
        f"--steps {sizes.lyapunov_steps} --transient {sizes.lyapunov_transient} --seed {sizes.seed} "
        "--plot reports/lyapunov-spectrum.png"
    )
    shown = sorted({*range(min(8, values.size)), values.size - 1})
    rows = [
        [
            str(i + 1),
            number(float(values[i]), "+.4f"),
            number(float(errors[i]), ".2g"),
            number(float(spectrum.drift[i]), "+.2g"),
        ]
        for i in shown
    ]
    directions = "those directions" if positive.size > 1 else "that direction" if positive.size else "no direction"
    return Section(
        name="lyapunov-spectrum",
        title="Lyapunov spectrum of a chaotic tanh RNN",
        caption=(
            f"All {values.size} Lyapunov exponents (natural log per step, descending) of a tanh RNN with Gaussian "
            f"recurrent weights N(0, g²/H), g = {g:g}, H = {H}, driven by N(0, 1) inputs (I = {I}), by the QR "
            f"(Benettin) method on the derived Jacobians over T = {sizes.lyapunov_steps} steps, the first "
            f"{sizes.lyapunov_transient} discarded; error bars are batch-means standard errors, the right panel "
            f"the running estimates of the top 8. The top exponent is λ_1 = {values[0]:+.4f} ± {errors[0]:.2g} "
            "per step; the "
            f"mean-field prediction for this drive (dashed green line) is {predicted:+.4f}. "
            f"{positive.size} of {values.size} exponents "
            f"are positive (sum {float(positive.sum()):.3f} per step): the gradient explodes along "
            f"{directions} and vanishes along the others, down to λ_{values.size} = {values[-1]:+.3f}."
        ),
        figure=lyapunov_figure(spectrum),
        commands=[command],
        table=markdown_table(["i", "λ_i / step", "std. error", "drift"], rows),
    )


def random_stacked_params(
    cell: str, hidden_size: int, input_size: int, num_layers: int, bidirectional: bool, seed: int
) -> dict[str, np.ndarray]:
    """PyTorch-named parameters of a stacked (and bidirectional) network at PyTorch's default initialisation.

    Drawn with :func:`gradscope.params.init_params` (no PyTorch needed) from one generator,
    ``numpy.random.default_rng(seed)``, layers bottom up, forward before reverse: ``weight_ih_l0``
    ``(G*H, input_size)``, ``weight_ih_l{l}`` ``(G*H, D*H)`` above, ``weight_hh_l{l}`` ``(G*H, H)``, biases
    ``(G*H,)``, with ``_reverse`` for the second direction (``D = 2``).
    """
    spec = compile_cell(cell).spec
    rng = np.random.default_rng(seed)
    return init_params(spec, hidden_size, input_size, rng, num_layers=num_layers, bidirectional=bidirectional)


def decades_per_step(log10_norm: np.ndarray) -> float:
    """How many decades ``(T,)`` ``log10_norm`` (indexed by position t) loses per step back from t = T:
    the least-squares slope against the distance ``T + 1 - t`` (:func:`gradscope.analysis.fit_line`)."""
    distance = np.arange(log10_norm.size, 0, -1)
    rate, _ = fit_line(distance, log10_norm)
    return -rate / math.log(10.0)


def depth_section(sizes: GallerySizes) -> Section:
    """``log10 ‖∂y_T/∂s_t^(l)‖`` (``(L, T)`` per direction) of a stacked bidirectional LSTM."""
    from gradscope.figures import depth_figure, depth_grid

    H, I, T, L, seed = sizes.hidden_size, sizes.input_size, sizes.steps, sizes.depth_layers, sizes.seed
    params = random_stacked_params("lstm", H, I, L, bidirectional=True, seed=seed)
    a = analyze("lstm", params=params, steps=T, seed=seed)
    forward = depth_grid(a.depth_profiles, "forward")  # (L, T)
    reverse = depth_grid(a.depth_profiles, "reverse")
    per_step = decades_per_step(forward[0])
    # At the last position the top forward state gives y_T's forward half itself (norm 1, log10 0).
    per_layer = float(forward[-1, -1] - forward[0, -1]) / (L - 1)
    title = (
        f"LSTM, {L} layers, bidirectional: gradient of the last output $y_T$ through depth and time\n"
        f"H={H}, I={I}, T={T}, PyTorch default init drawn by gradscope, seed {seed}"
    )
    code = (
        "import gradscope\nfrom gradscope.figures import depth_figure\n"
        "from gradscope.gallery import random_stacked_params\n"
        f"params = random_stacked_params('lstm', {H}, {I}, num_layers={L}, bidirectional=True, seed={seed})\n"
        f"title = {title!r}\n"
        f"depth_figure(gradscope.analyze('lstm', params=params, steps={T}, seed={seed}), title=title)"
    )
    middle = (T + 1) // 2
    rows = [
        [
            f"{p.layer} {p.direction}",
            *(log10_text(float(p.log10_norm[t - 1])) for t in (T, middle, 1)),
            number(decades_per_step(p.log10_norm), ".3f") if np.isfinite(p.log10_norm).sum() > 1 else "n/a",
        ]
        for p in sorted(a.depth_profiles, key=lambda p: (-p.layer, p.direction))
    ]
    unreached = int(np.isneginf(reverse[-1]).sum())
    return Section(
        name="depth-lstm-bidirectional",
        title="Depth and time: the gradient through a stacked bidirectional LSTM",
        caption=(
            f"A {L}-layer bidirectional LSTM (H = {H}, I = {I}, T = {T}) at PyTorch's default initialisation, every "
            f"layer and direction drawn by gradscope from seed {seed} (`random_stacked_params`, no PyTorch needed), "
            "driven by N(0, 1) inputs. Each cell is `log10 ‖∂y_T/∂s_t^(l)‖` for the last output y_T = output[-1] "
            "(the top layer's forward and reverse h at position T) and the state s = [h; c] of layer l right after "
            "it read position t; layer 0 reads the input. Back through time the gradient loses "
            f"{per_step:.3f} decades per step (least-squares slope along layer 0, forward); down through depth it "
            f"loses {per_layer:.2f} decades per layer (at t = T, from 0 at the top to {log10_text(forward[0, -1])} "
            f"at layer 0): one layer costs as much as {per_layer / per_step:.1f} steps. By t = 1 it is "
            f"10^({log10_text(forward[0, 0])}) at layer 0: in this network the gradient vanishes through time, not "
            f"through depth. The top reverse direction is grey at {unreached} of {T} positions: y_T holds its state "
            "after its first step, which read x_T; its states at earlier positions come later in its own order, so "
            "y_T does not depend on them and the gradient is exactly zero."
        ),
        figure=depth_figure(a, title=title),
        python=code,
        table=(
            "`log10 ‖∂y_T/∂s_t^(l)‖` at three positions, and the decades lost per step back from t = T "
            "(least-squares slope):\n\n"
            + markdown_table(["layer, direction", f"t = {T}", f"t = {middle}", "t = 1", "decades / step"], rows)
        ),
    )
