"""Small figures the dashboard needs beyond :mod:`vsep_core.plots`.

``kernel_html`` draws a view's 3×3 kernel as a tiny coloured table (cheaper
for the browser than 19 more plotly charts); ``profiles_grid`` puts one
window's 19 fingerprints in one figure; ``live_loss`` is the loss chart that
grows while the optimiser runs.
"""

from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vsep_core.views import VIEWS, ViewSpec

VOCAL_COLOUR, MIXTURE_COLOUR = "#E45756", "#4C78A8"


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
            f'border:1px solid #ddd;font-size:0.72em;padding:0">{_fmt(v)}</td>' for v in row)
        rows.append(f"<tr>{cells}</tr>")
    what = {"max": "2×2 max, then every 2nd", "mean": "2×2 mean, then every 2nd"}.get(spec.pool or "", "")
    if spec.index == 0:
        what = "identity"
    caption = f'<div style="font-size:0.7em;color:#666">{html.escape(what)}</div>' if what else ""
    return (f'<table style="border-collapse:collapse;margin:0" title="{html.escape(spec.name)}">'
            f'{"".join(rows)}</table>{caption}')


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if float(v).is_integer():
        return f"{int(v)}"
    return f"{v:.2f}".replace("0.", ".")


def profiles_grid(detail: dict, sr: int, window: int, t: float, cols: int = 4) -> go.Figure:
    """Every view's 400-point fingerprint at one window: the vocal against the mixture."""
    rows = math.ceil(len(VIEWS) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{v.index}: {v.label}" for v in VIEWS],
                        vertical_spacing=0.06, horizontal_spacing=0.05)
    khz = np.linspace(0.0, sr / 2000.0, 400)
    for i, spec in enumerate(VIEWS):
        r, c = divmod(i, cols)
        for signal, colour in (("vocal", VOCAL_COLOUR), ("mixture", MIXTURE_COLOUR)):
            fig.add_trace(go.Scattergl(x=khz, y=detail[spec.name][f"{signal}_profile"], mode="lines",
                                       line=dict(width=1.2, color=colour), name=signal, legendgroup=signal,
                                       showlegend=i == 0,
                                       hovertemplate=f"{signal}: %{{y:.1f}} dB at %{{x:.2f}} kHz<extra></extra>"),
                          row=r + 1, col=c + 1)
    fig.update_xaxes(title_text="kHz", title_standoff=2, title_font_size=10, tickfont_size=9)
    fig.update_yaxes(title_text="dB", title_standoff=2, title_font_size=10, tickfont_size=9)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=230 * rows, template="plotly_white", margin=dict(l=40, r=10, t=70, b=30),
                      title=f"Fingerprints at window {window} ({t:.2f} s): vocal (red) and mixture (blue)",
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.04))
    return fig


def live_loss(curves: dict, *, title: str = "Loss while the optimiser runs") -> go.Figure:
    """Loss curves so far (label → curve), log scale."""
    fig = go.Figure()
    for label, curve in curves.items():
        fig.add_trace(go.Scatter(y=np.asarray(curve), mode="lines", name=label, line=dict(width=1.3)))
    fig.update_layout(title=title, xaxis_title="iteration (every pass's iterations end to end)",
                      yaxis_title="loss (dB²)", yaxis_type="log", height=340, template="plotly_white",
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig
