"""The sweep map: lag on x, the swept value on y, colour ``log10 ||d s_T / d s_{T-k}||``, and where it crosses 1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gradscope.analysis.describe import init_text, model_text
from gradscope.figures.style import (
    LAG_LABEL,
    log10_colorbar,
    log10_colour_scale,
    masked,
    minus,
    new_axes,
    profile_label,
    styled,
)
from gradscope.i18n import _
from gradscope.studies.sweep_result import SweepResult
from gradscope.studies.sweep_spec import SweepSpec


def _uniform(values: np.ndarray | None) -> bool:
    if values is None or values.size < 2:
        return False
    steps = np.diff(values)
    return bool(np.all(steps > 0) and np.allclose(steps, steps[0], rtol=1e-6))


@styled
def sweep_figure(
    sweep: SweepResult,
    *,
    vlim: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Phase diagram: lag on x, swept parameter on y, colour = ``log10 ||d s_T / d s_{T-k}||``, and
    the contour where the norm crosses 1 (``log10 = 0``).

    Args:
        sweep: a one-axis :class:`~gradscope.studies.sweep_result.SweepResult` that kept its profiles
            (``gradscope.sweep(..., keep_profiles=True)``); each row is the grid point's pointwise median
            profile (:meth:`~gradscope.studies.sweep_result.SweepResult.grid_profiles`). Evenly spaced
            numeric values get a numeric y axis; other sweeps (``"chrono"``, hidden sizes) one row per
            value, labelled.
        vlim: clip the colour scale to ``[-vlim, vlim]`` decades (arrows on the colour bar mark
            clipping); default: the data's range, centred on 0.
        title: replaces the default title (the configuration).
        ax: draw here instead of on a new figure.
    """
    z = sweep.grid_profiles()
    fig, ax = new_axes(ax)
    finite = z[np.isfinite(z)]
    low = float(finite.min()) if finite.size else -1.0
    high = float(finite.max()) if finite.size else 1.0
    if vlim is not None:
        low, high = max(low, -vlim), min(high, vlim)
    cmap, colour_norm, ticks = log10_colour_scale(low, high)
    values = sweep.numeric_values()
    lags = np.arange(1, z.shape[1] + 1)
    rows = len(sweep.values)
    if _uniform(values):
        step = float(values[1] - values[0])
        y = values
        extent = (lags[0] - 0.5, lags[-1] + 0.5, values[0] - step / 2, values[-1] + step / 2)
    else:
        y = np.arange(rows, dtype=np.float64)
        extent = (lags[0] - 0.5, lags[-1] + 0.5, -0.5, rows - 0.5)
        ax.set_yticks(y, [minus(label) for label in sweep.labels])
    image = ax.imshow(
        masked(z),
        origin="lower",
        aspect="auto",
        extent=extent,
        cmap=cmap,
        norm=colour_norm,
        interpolation="nearest",
    )
    extend = "neither"
    if vlim is not None and finite.size:
        below, above = bool(finite.min() < -vlim), bool(finite.max() > vlim)
        extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get((below, above), "neither")
    log10_colorbar(fig, image, ax, ticks, profile_label(sweep.spec.problem.norm), extend=extend)
    # The contour runs over consecutive rows of numeric values only: interpolating between, say,
    # b_f = 4 and "chrono" would mean nothing. Non-numeric rows are set apart by a white rule.
    numeric = [not isinstance(v, str) for v in sweep.values]
    drawn = False
    for first, last in _runs(numeric):
        block = z[first : last + 1]
        block_finite = block[np.isfinite(block)]
        if last > first and block_finite.size and block_finite.min() < 0.0 < block_finite.max():
            ax.contour(lags, y[first : last + 1], block, levels=[0.0], colors="black", linewidths=1.6)
            drawn = True
    for p in range(rows - 1):
        if numeric[p] != numeric[p + 1]:
            ax.axhline((y[p] + y[p + 1]) / 2, color="white", linewidth=3)
    ax.set_xlabel(_(LAG_LABEL))
    ax.set_ylabel(sweep.parameter_text)
    ax.grid(False)
    if drawn:
        # Below the axes, at the right end of the x label's line: inside, it would hide part of the map.
        ax.legend(
            handles=[Line2D([], [], color="black", linewidth=1.6, label=_(r"$\|\cdot\| = 1$ (contour)"))],
            loc="upper right",
            bbox_to_anchor=(1.0, -0.06),
            frameon=False,
            borderaxespad=0.0,
        )
    if title is None:
        heading = _("{cell}: gradient norm against lag and {parameter}").format(
            cell=_(sweep.spec.problem.spec.display_name), parameter=sweep.parameter_text
        )
        title = f"{heading}\n{sweep_context(sweep)}"
    ax.set_title(title)
    return fig


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """``(first, last)`` index pairs of the maximal runs of true values in ``flags``."""
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def fixed_context(spec: SweepSpec) -> str:
    """A sweep's fixed options in the plain labels every title uses: ``"H=64, I=32, T=200, Gaussian init, gain 1.5,
    b_f = 2"`` (the swept ones left out), where the document says ``hidden_size 64, input_size 32, ...``."""
    fixed = spec.fixed()
    parts = [f"{label}={fixed[name]}" for name, label in SIZE_LABELS.items() if fixed.get(name) is not None]
    gain = 1.0 if fixed.get("gain") is None else float(fixed["gain"])
    if "init" in fixed:
        parts.append(init_text(str(fixed["init"]), gain))
    elif gain != 1.0:  # the init is swept
        parts.append(_("gain {gain}").format(gain=f"{gain:g}"))
    if fixed.get("input_scale") not in (None, 1.0):
        parts.append(_("input scale {scale}").format(scale=f"{float(fixed['input_scale']):g}"))
    config = {name: fixed.get(name) for name in ("forget_bias", "update_bias", "t_max", "num_layers", "bidirectional")}
    config["num_layers"] = config["num_layers"] or 1
    extra = model_text(config)
    if fixed.get("t_max") is not None and "T_max" not in extra:
        extra = ", ".join(filter(None, [extra, f"T_max = {fixed['t_max']}"]))
    return ", ".join(filter(None, [*parts, extra]))


#: The plain labels of the sizes, in title order.
SIZE_LABELS = {"hidden_size": "H", "input_size": "I", "steps": "T"}


def sweep_context(sweep: SweepResult) -> str:
    """The fixed part of a one-axis sweep's configuration, for its title."""
    spec, parameter = sweep.spec, sweep.parameter
    parts = []
    if parameter != "hidden_size":
        parts.append(f"H={spec.option('hidden_size')}")
    if parameter != "input_size":
        parts.append(f"I={spec.option('input_size')}")
    steps = spec.option("steps")
    parts.append(f"T={steps}")
    if parameter == "gain":
        parts.append(init_text(spec.option("init")))
    elif parameter != "init":
        parts.append(init_text(spec.option("init"), spec.option("gain")))
    if parameter == "forget_bias" and "chrono" in sweep.values:
        t_max = spec.option("t_max")
        parts.append(f"chrono T_max = {steps if t_max is None else t_max}")
    parts.append(_("seed {seed}").format(seed=spec.seed))
    return ", ".join(parts)
