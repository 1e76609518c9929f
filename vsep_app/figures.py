"""Small figures the dashboard needs beyond :mod:`vsep_core.plots`.

``kernel_html`` draws a view's 3×3 kernel as a tiny coloured table (cheaper
for the browser than 19 more plotly charts); ``profiles_grid`` puts one
window's 19 fingerprints in one figure; ``live_loss`` is the loss chart that
grows while the optimiser runs.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from vsep_core.views import ViewSpec

# plotly and vsep_core.views (scipy.ndimage) are imported where used: the first page needs only
# waveform_svg, and a server's first visitor should not wait for them.

VOCAL_COLOUR, MIXTURE_COLOUR = "#E45756", "#4C78A8"
PREDICTED_COLOUR = "#54A24B"


def _cell_colour(value: float, lim: float) -> str:
    """A diverging blue–white–red shade for ``value`` in [−lim, lim]."""
    x = 0.0 if lim == 0 else max(-1.0, min(1.0, value / lim))
    if x >= 0:  # white → red
        r, g, b = 255, int(255 - 150 * x), int(255 - 160 * x)
    else:  # white → blue
        r, g, b = int(255 + 170 * x), int(255 + 110 * x), 255
    return f"rgb({r},{g},{b})"


def kernel_html(spec: ViewSpec) -> str:
    """The view's 3×3 kernel (or operation footprint) as a small HTML table."""
    k = spec.display_kernel().astype(np.float64)
    lim = float(np.max(np.abs(k))) or 1.0
    rows = []
    for row in k:
        cells = "".join(
            f'<td style="background:{_cell_colour(v, lim)};width:2.6em;height:1.6em;text-align:center;'
            f'border:1px solid #ddd;font-size:0.72em;padding:0">{_fmt(v)}</td>'
            for v in row
        )
        rows.append(f"<tr>{cells}</tr>")
    what = {"max": "2×2 max, then every 2nd", "mean": "2×2 mean, then every 2nd"}.get(spec.pool or "", "")
    if spec.index == 0:
        what = "identity"
    caption = f'<div style="font-size:0.7em;color:#666">{html.escape(what)}</div>' if what else ""
    return (
        f'<table style="border-collapse:collapse;margin:0" title="{html.escape(spec.name)}">'
        f"{''.join(rows)}</table>{caption}"
    )


def _fmt(v: float) -> str:
    if abs(v) < 0.005:
        return "0"
    if float(v).is_integer():
        return f"{int(v)}"
    return f"{v:.2f}".replace("0.", ".")


def profiles_grid(detail: dict, sr: int, window: int, t: float, cols: int = 4, target: str = "vocal") -> go.Figure:
    """Every view's 400-point fingerprint at one window: the target (``target`` names it) against the mixture."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from vsep_core.views import VIEWS

    rows = math.ceil(len(VIEWS) / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{v.index}: {v.label}" for v in VIEWS],
        vertical_spacing=0.06,
        horizontal_spacing=0.05,
    )
    khz = np.linspace(0.0, sr / 2000.0, 400)
    for i, spec in enumerate(VIEWS):
        r, c = divmod(i, cols)
        for signal, name, colour in (("vocal", target, VOCAL_COLOUR), ("mixture", "mixture", MIXTURE_COLOUR)):
            fig.add_trace(
                go.Scatter(
                    x=khz,
                    y=detail[spec.name][f"{signal}_profile"],
                    mode="lines",
                    line=dict(width=1.2, color=colour),
                    name=name,
                    legendgroup=signal,
                    showlegend=i == 0,
                    hovertemplate=f"{name}: %{{y:.1f}} dB at %{{x:.2f}} kHz<extra></extra>",
                ),
                row=r + 1,
                col=c + 1,
            )
    fig.update_xaxes(title_text="kHz", title_standoff=2, title_font_size=10, tickfont_size=9)
    fig.update_yaxes(title_text="dB", title_standoff=2, title_font_size=10, tickfont_size=9)
    fig.update_annotations(font_size=12)
    fig.update_layout(
        height=230 * rows,
        template="plotly_white",
        margin=dict(l=40, r=10, t=70, b=30),
        title=f"Fingerprints at window {window} ({t:.2f} s): {target} (red) and mixture (blue)",
        legend=dict(orientation="h", x=1, xanchor="right", y=1.04),
    )
    return fig


def predicted_fingerprint_figure(
    true_profile,
    predicted_profile,
    mixture_profile,
    sr: int,
    window: int,
    t: float,
    target: str = "vocal",
    predicted: str = "vocal",
) -> go.Figure:
    """One window's raw-view fingerprint: the true target's, the learned model's prediction (from the mixture
    alone) of the stem it was trained for (``predicted``), and the mixture's."""
    import plotly.graph_objects as go

    khz = np.linspace(0.0, sr / 2000.0, len(true_profile))
    fig = go.Figure()
    for y, name, colour, dash in (
        (mixture_profile, "mixture", MIXTURE_COLOUR, "solid"),
        (true_profile, f"true {target}", VOCAL_COLOUR, "solid"),
        (predicted_profile, f"predicted {predicted} (blind)", PREDICTED_COLOUR, "dot"),
    ):
        fig.add_trace(
            go.Scatter(
                x=khz,
                y=y,
                mode="lines",
                name=name,
                line=dict(width=1.4, color=colour, dash=dash),
                hovertemplate=f"{name}: %{{y:.1f}} dB at %{{x:.2f}} kHz<extra></extra>",
            )
        )
    fig.update_layout(
        height=320,
        template="plotly_white",
        margin=dict(l=40, r=10, t=50, b=30),
        title=f"Raw view at window {window} ({t:.2f} s): what the learned model believes the {predicted} looks like",
        xaxis_title="kHz",
        yaxis_title="dB",
        legend=dict(orientation="h", x=1, xanchor="right", y=1.1),
    )
    return fig


def live_loss(curves: dict, *, title: str = "Loss while the optimiser runs") -> go.Figure:
    """Loss curves so far (label → curve), log scale."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, curve in curves.items():
        fig.add_trace(go.Scatter(y=np.asarray(curve), mode="lines", name=label, line=dict(width=1.3)))
    fig.update_layout(
        title=title,
        xaxis_title="iteration (every pass's iterations end to end)",
        yaxis_title="loss (dB²)",
        yaxis_type="log",
        height=340,
        template="plotly_white",
        margin=dict(l=50, r=20, t=50, b=40),
    )
    return fig


def waveform_svg(
    waves: dict, segment: tuple[float, float] | None = None, *, width: int = 1000, height: int = 170
) -> str:
    """Waveform envelopes (label → {"t", "min", "max"}) as a small SVG picture.

    A plain SVG (no charting library) so the first page draws at once. The
    time axis spans the envelopes' times; ``segment`` (start, end in s), if
    given, is shaded.
    """
    colours = {"mixture": "#4C78A8", "vocal": "#E45756", "instrumental": "#54A24B"}
    left, right, top, bottom = 44, 8, 22, 24
    w, h = width - left - right, height - top - bottom
    # The time axis spans the envelopes given (the analysed segment need not start at 0).
    origin = min((float(wv["t"][0]) for wv in waves.values() if len(wv["t"])), default=0.0)
    end = max((float(wv["t"][-1]) for wv in waves.values() if len(wv["t"])), default=origin)
    duration = (end - origin) or 1.0
    peak = max(float(max(np.max(np.abs(wv["max"])), np.max(np.abs(wv["min"])))) for wv in waves.values()) or 1.0

    def x(t):
        return left + w * (np.asarray(t) - origin) / duration

    def y(v):
        return top + h / 2 - (h / 2) * np.asarray(v) / peak

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'font-family="sans-serif" font-size="11" fill="#555">'
    ]
    parts.append(f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fafafa" stroke="#ddd"/>')
    if segment is not None:
        x0, x1 = x(min(max(segment[0], origin), end)), x(min(max(segment[1], origin), end))
        parts.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" height="{h}" fill="#F58518" '
            f'fill-opacity="0.12"/><text x="{x0 + 4:.1f}" y="{top + 12}">analysed segment</text>'
        )
    for label, wv in waves.items():
        xs = x(wv["t"])
        upper = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, y(wv["max"])))
        lower = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs[::-1], y(wv["min"])[::-1]))
        parts.append(
            f'<polygon points="{upper} {lower}" fill="{colours.get(label, "#888")}" fill-opacity="0.55" stroke="none"/>'
        )
    step = _nice_step(duration)
    for tick in np.arange(np.ceil(origin / step) * step, end + 1e-9, step):
        parts.append(f'<text x="{x(tick):.1f}" y="{height - 8}" text-anchor="middle">{tick:g}</text>')
    parts.append(f'<text x="{left + w}" y="{height - 8}" text-anchor="end">s</text>')
    for v, text in ((peak, f"{peak:.2f}"), (0.0, "0"), (-peak, f"{-peak:.2f}")):
        parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{text}</text>')
    lx = left + w
    for i, label in enumerate(reversed(list(waves))):
        parts.append(
            f'<rect x="{lx - 80 * (i + 1)}" y="4" width="12" height="10" fill="{colours.get(label, "#888")}" '
            f'fill-opacity="0.55"/><text x="{lx - 80 * (i + 1) + 16}" y="13">{html.escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(duration: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300):
        if duration / step <= 12:
            return float(step)
    return 600.0


def view_row(views: list, cols: int, *, height: int = 250, spacing: float = 0.045) -> go.Figure:
    """Several view heatmaps side by side in one figure (one chart per row draws faster than one per view).

    ``views`` are :func:`vsep_app.cache.slice_figures` entries (title, z in dB,
    x in s, y in Hz); each heatmap has its own axes, so each zooms on its own.
    The figure is assembled as plain data and not validated again (plotly's
    validation of 19 heatmaps costs more than computing them).
    """
    import plotly.graph_objects as go

    from vsep_core.plots import MAGMA

    width = (1.0 - spacing * (cols - 1)) / cols
    data, layout = (
        [],
        {
            "height": height,
            "template": "plotly_white",
            "margin": dict(l=40, r=10, t=30, b=25),
            "annotations": [],
            "showlegend": False,
        },
    )
    for i, v in enumerate(views):
        suffix = "" if i == 0 else str(i + 1)
        x0 = i * (width + spacing)
        data.append(
            {
                "type": "heatmap",
                "z": v["z"],
                "x": v["x"],
                "y": v["y"],
                "colorscale": MAGMA,
                "showscale": False,
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "hovertemplate": "%{x:.2f} s, %{y:.0f} Hz: %{z:.1f} dB<extra></extra>",
            }
        )
        layout[f"xaxis{suffix}"] = {
            "domain": [x0, x0 + width],
            "anchor": f"y{suffix}",
            "tickfont": {"size": 9},
            "ticksuffix": " s",
        }
        layout[f"yaxis{suffix}"] = {"domain": [0.0, 1.0], "anchor": f"x{suffix}", "tickfont": {"size": 9}}
        layout["annotations"].append(
            {
                "text": v["title"],
                "x": x0,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 13},
            }
        )
    import plotly.io as pio

    layout["template"] = pio.templates["plotly_white"]
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def attribution_figure(found: dict, labels) -> go.Figure:
    """Bars of each slice's SI-SDR effect (``attribute``'s figures), the loss in the hover text.

    Seed chain: "delta" (baseline − without the slice) and "alone" (the slice, then the polish) beside
    the baseline; joint: "delta" (with the slice added to the loss − the raw-only baseline).
    """
    import plotly.graph_objects as go

    from vsep_core.stems import labels as target_labels

    rows = found["slices"]
    names = [labels(row["name"]) for row in rows]
    target = target_labels(found.get("target")).target  # "vocal", or the stem that was the target
    fig = go.Figure()
    if found["method"] == "joint":
        fig.add_bar(
            x=names,
            y=[row["delta_si_sdr"] for row in rows],
            name="delta: with it − raw only",
            customdata=[[row["with_si_sdr"], row["loss_with"]] for row in rows],
            hovertemplate="%{x}<br>delta %{y:+.2f} dB<br>with it %{customdata[0]:.2f} dB"
            "<br>loss with it %{customdata[1]:.2f}<extra></extra>",
        )
        title = f"Each slice added to the joint loss (raw only: {found['baseline']['si_sdr']:.2f} dB)"
    else:
        fig.add_bar(
            x=names,
            y=[row["delta_si_sdr"] for row in rows],
            name="delta: chain − chain without it",
            customdata=[[row["without_si_sdr"], row["loss_without"]] for row in rows],
            hovertemplate="%{x}<br>delta %{y:+.2f} dB<br>without it %{customdata[0]:.2f} dB"
            "<br>loss without it %{customdata[1]:.2f}<extra></extra>",
        )
        fig.add_bar(
            x=names,
            y=[row["alone_si_sdr"] - found["baseline"]["si_sdr"] for row in rows],
            name="alone (then the polish) − chain",
            customdata=[[row["alone_si_sdr"], row["loss_alone"]] for row in rows],
            hovertemplate="%{x}<br>alone %{customdata[0]:.2f} dB (%{y:+.2f} vs the chain)"
            "<br>loss alone %{customdata[1]:.2f}<extra></extra>",
        )
        title = f"The chain of {len(rows)} slices scores {found['baseline']['si_sdr']:.2f} dB {target} SI-SDR"
    fig.update_layout(
        title=title,
        barmode="group",
        yaxis_title=f"{target} SI-SDR change (dB)",
        height=380,
        margin=dict(t=60, b=90),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
    fig.add_hline(y=0.0, line_color="#888", line_width=1)
    return fig
