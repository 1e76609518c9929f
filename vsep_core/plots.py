"""Plotly figures shared by the CLI's outputs, the HTML report and the dashboard.

Every builder takes plain arrays or results and returns a ``plotly`` figure;
none draws anything itself. Big matrices are reduced for display first
(:func:`reduce_for_display`) so a 3-minute song stays responsive in a browser.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .views import VIEWS_BY_NAME


def _colorscale(name: str) -> list:
    """A named plotly colour scale as explicit stops, safe to show in Streamlit.

    Streamlit's chart renderer rewrites the exact colour strings ``#000001`` …
    ``#000010`` (its theme placeholders) in every figure; Magma starts with
    ``#000004``, which would turn the quietest cells lavender. Those stops are
    nudged to an equally black ``#010005``.
    """
    from plotly.colors import get_colorscale

    reserved = {f"#0000{i:02d}" for i in range(1, 11)}
    return [[pos, "#010005" if str(colour).lower() in reserved else colour] for pos, colour in get_colorscale(name)]


MAGMA = _colorscale("Magma")

#: Largest heatmap drawn, in cells (rows × columns), before reduction.
MAX_ROWS, MAX_COLS = 256, 400
_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=40))


def reduce_for_display(
    matrix: np.ndarray, max_rows: int = MAX_ROWS, max_cols: int = MAX_COLS, how: str = "max"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shrink a (rows, cols) matrix by block pooling so it has at most max_rows × max_cols cells.

    Pooling keeps peaks (``how="max"``) or levels (``"mean"``) visible, unlike
    taking every k-th cell. Returns the reduced matrix and, for each axis, the
    index of the first original row/column of each block.
    """
    matrix = np.asarray(matrix)
    rows, cols = matrix.shape
    fr, fc = max(1, -(-rows // max_rows)), max(1, -(-cols // max_cols))
    if fr == 1 and fc == 1:
        return matrix, np.arange(rows), np.arange(cols)
    pr, pc = -(-rows // fr) * fr, -(-cols // fc) * fc
    fill = -np.inf if how == "max" else np.nan
    # A maximum is exact in the input's precision: keep float32 input float32 (half the memory traffic).
    dtype = np.float32 if how == "max" and matrix.dtype == np.float32 else np.float64
    padded = np.full((pr, pc), fill, dtype=dtype)
    padded[:rows, :cols] = matrix
    blocks = padded.reshape(pr // fr, fr, pc // fc, fc)
    reduced = blocks.max(axis=(1, 3)) if how == "max" else np.nanmean(blocks, axis=(1, 3))
    return reduced, np.arange(0, rows, fr), np.arange(0, cols, fc)


def to_display_db(matrix: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """Magnitude → dB with an 80 dB range, for drawing (signed views use |x|)."""
    mag = np.abs(np.asarray(matrix, dtype=np.float64))
    db = 20.0 * np.log10(np.maximum(mag, 1e-8))
    return np.maximum(db, db.max() - top_db)


def _axes(n_bins: int, n_frames: int, sr: int, hop: int):
    freqs = np.linspace(0.0, sr / 2.0, n_bins)
    times = np.arange(n_frames) * hop / sr
    return freqs, times


def heatmap(
    matrix_db: np.ndarray,
    sr: int,
    hop: int,
    *,
    title: str = "",
    colorscale: str | list = "Magma",
    zmin=None,
    zmax=None,
    colorbar_title: str = "dB",
    max_rows: int = MAX_ROWS,
    max_cols: int = MAX_COLS,
) -> go.Figure:
    """A spectrogram-like heatmap (rows: frequency 0 … sr/2, columns: time)."""
    reduced, ri, ci = reduce_for_display(matrix_db, max_rows, max_cols)
    freqs, times = _axes(matrix_db.shape[0], matrix_db.shape[1], sr, hop)
    colorscale = MAGMA if colorscale == "Magma" else colorscale
    fig = go.Figure(
        go.Heatmap(
            z=reduced,
            x=times[ci],
            y=freqs[ri],
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            colorbar=dict(title=colorbar_title),
        )
    )
    fig.update_layout(title=title, xaxis_title="time (s)", yaxis_title="frequency (Hz)", **_LAYOUT)
    return fig


def view_display(view: np.ndarray, name: str, sr: int, hop: int, *, max_rows: int = 160, max_cols: int = 240) -> dict:
    """The reduced picture of one of the 19 views, without building a figure.

    Returns ``{"title", "z" (dB of |view|, 80 dB range), "x" (s), "y" (Hz)}``;
    pooled views at their own resolution. |view| is pooled first and only the
    cells left are converted to dB: the same picture as pooling the dB image
    (dB is monotonic and the floor is the global maximum − 80 dB, which
    pooling keeps), at one pass over a 3-minute view's cells.
    """
    spec = VIEWS_BY_NAME[name]
    frame_hop = hop * (2 if spec.is_pooled else 1)
    reduced, ri, ci = reduce_for_display(np.abs(np.asarray(view)), max_rows, max_cols)
    freqs, times = _axes(view.shape[0], view.shape[1], sr, frame_hop)
    return {"title": f"{spec.index}: {spec.label}", "z": to_display_db(reduced), "x": times[ci], "y": freqs[ri]}


def view_heatmap(
    view: np.ndarray, name: str, sr: int, hop: int, *, height: int = 260, max_rows: int = 160, max_cols: int = 240
) -> go.Figure:
    """One of the 19 views, in dB of its absolute value (pooled views at their own resolution)."""
    d = view_display(view, name, sr, hop, max_rows=max_rows, max_cols=max_cols)
    fig = go.Figure(go.Heatmap(z=d["z"], x=d["x"], y=d["y"], colorscale=MAGMA, showscale=False))
    fig.update_layout(title=d["title"], **_LAYOUT)
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=35, b=30))
    return fig


def spectrograms_figure(
    panels: dict, sr: int, hop: int, *, max_cols: int = 300, max_rows: int = MAX_ROWS, compact: bool = False
) -> go.Figure:
    """Magnitude spectrograms side by side (title → magnitude matrix), one colour scale.

    ``compact`` draws whole decibels below the loudest cell (one byte a cell instead of eight): the same
    picture, for a page that has to stay small (the HTML report).
    """
    titles = list(panels)
    # "target (true vocal)" on two lines: side by side on a phone, one-line titles ran into each other.
    fig = make_subplots(
        rows=1,
        cols=len(titles),
        subplot_titles=[t.replace(" (", "<br>(", 1) for t in titles],
        shared_yaxes=True,
        horizontal_spacing=0.02,
    )
    fig.update_annotations(font_size=13)
    dbs = [to_display_db(m) for m in panels.values()]
    zmax = max(float(d.max()) for d in dbs)
    for i, db in enumerate(dbs, start=1):
        reduced, ri, ci = reduce_for_display(db, max_rows, max_cols)
        freqs, times = _axes(db.shape[0], db.shape[1], sr, hop)
        x, y = times[ci], freqs[ri]
        if compact:  # 0 … -80 dB: fits a signed byte whatever the song's level
            z, low, high, unit = np.round(np.maximum(reduced - zmax, -80.0)).astype(np.int8), -80, 0, "dB below loudest"
            x, y = x.astype(np.float32), y.astype(np.float32)
        else:
            z, low, high, unit = reduced, zmax - 80, zmax, "dB"
        fig.add_trace(
            go.Heatmap(
                z=z, x=x, y=y, colorscale=MAGMA, zmin=low, zmax=high, showscale=i == len(dbs), colorbar=dict(title=unit)
            ),
            1,
            i,
        )
        fig.update_xaxes(title_text="time (s)", row=1, col=i)
    fig.update_yaxes(title_text="frequency (Hz)", row=1, col=1)
    fig.update_layout(height=390, **{**_LAYOUT, "margin": dict(_LAYOUT["margin"], t=60)})
    return fig


def loss_curves_figure(runs: dict) -> go.Figure:
    """Every run's loss curve, passes end to end (label → curve)."""
    fig = go.Figure()
    for label, curve in runs.items():
        fig.add_trace(go.Scatter(y=np.asarray(curve), mode="lines", name=label))  # SVG: WebGL is slow without a GPU
    fig.update_layout(
        title="Loss curves",  # short: a phone's width (390 px) cuts a longer plotly title
        xaxis_title="iteration (every pass's iterations end to end)",
        yaxis_title="loss (dB²)",
        yaxis_type="log",
        height=380,
        **_LAYOUT,
    )
    return fig


def final_loss_figure(progressive_losses: dict, greedy: dict | None = None) -> go.Figure:
    """Final loss per N, with the greedy results beside them.

    Parameters
    ----------
    progressive_losses : dict of int → float
    greedy : dict of str → float, optional
        E.g. ``{"greedy (18)": 323.5, "best prefix (2)": 37.7}``.
    """
    xs = [f"N={n}" for n in progressive_losses]
    fig = go.Figure(
        go.Bar(
            x=xs,
            y=list(progressive_losses.values()),
            name="progressive",
            marker_color="#4C78A8",
            text=[f"{v:.1f}" for v in progressive_losses.values()],
            textposition="outside",
        )
    )
    if greedy:
        fig.add_trace(
            go.Bar(
                x=list(greedy),
                y=list(greedy.values()),
                name="greedy order",
                marker_color="#F58518",
                text=[f"{v:.1f}" for v in greedy.values()],
                textposition="outside",
            )
        )
    fig.update_layout(title="Final loss per number of slices", yaxis_title="final loss (dB²)", height=380, **_LAYOUT)
    return fig


def greedy_heatmap_figure(steps: list, sequence: list, best_prefix_length: int) -> go.Figure:
    """Step × candidate loss table; the chosen slice of each step and the best prefix marked."""
    candidates = sorted({name for step in steps for name in step}, key=lambda n: VIEWS_BY_NAME[n].index)
    z = np.full((len(steps), len(candidates)), np.nan)
    for i, step in enumerate(steps):
        for j, name in enumerate(candidates):
            z[i, j] = step.get(name, np.nan)
    labels = [VIEWS_BY_NAME[n].label for n in candidates]
    rows = [f"step {i + 1}" for i in range(len(steps))]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=rows,
            colorscale="Viridis_r",
            colorbar=dict(title="loss"),
            hovertemplate="%{y}, %{x}: %{z:.3f}<extra></extra>",
        )
    )
    chosen_x = [VIEWS_BY_NAME[n].label for n in sequence]
    fig.add_trace(
        go.Scatter(
            x=chosen_x,
            y=rows,
            mode="lines+markers",
            name="chosen",
            marker=dict(symbol="circle-open", size=14, color="white", line=dict(width=2)),
            line=dict(color="white", width=1),
        )
    )
    if best_prefix_length:
        fig.add_trace(
            go.Scatter(
                x=[chosen_x[best_prefix_length - 1]],
                y=[rows[best_prefix_length - 1]],
                mode="markers",
                name="best prefix",
                marker=dict(symbol="star", size=18, color="#E45756"),
            )
        )
    # The legend in a row above the plot, on a grey band (the "chosen" marker is white): at the right it
    # sat on the colour bar's title.
    layout = {**_LAYOUT, "margin": {**_LAYOUT.get("margin", {}), "t": 90}}
    fig.update_layout(
        title="Greedy search: every candidate's polish loss",
        yaxis_autorange="reversed",
        height=max(300, 28 * len(steps) + 190),
        title_y=0.97,
        legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom", bgcolor="#bbbbbb"),
        **layout,
    )
    return fig


def eq_heatmap_figure(eq: np.ndarray, sr: int, hop: int, *, title: str = "Learned EQ curves") -> go.Figure:
    """EQ curves (points × windows) in dB, on a diverging scale centred on 0."""
    lim = float(np.max(np.abs(eq))) or 1.0
    return heatmap(eq, sr, hop, title=title, colorscale="RdBu_r", zmin=-lim, zmax=lim, colorbar_title="dB")


def ratings_figure(rows: list[dict]) -> go.Figure:
    """A listening test's ratings (bars, 0–100) beside each item's SI-SDR (diamonds, dB, capped at 60):
    :func:`vsep_core.listening.ratings_rows`' rows."""
    import html

    items = [html.escape(str(r["item"])) for r in rows]  # plotly reads tags in labels: a stored name shows as typed
    si_sdr = [r.get("si_sdr") for r in rows]
    fig = go.Figure(
        [
            go.Bar(name="your rating (0–100)", x=items, y=[r["rating"] for r in rows], yaxis="y"),
            go.Scatter(
                name="SI-SDR (dB)",
                x=items,
                y=[min(v, 60.0) if v is not None else None for v in si_sdr],
                yaxis="y2",
                mode="markers",
                marker={"size": 12, "symbol": "diamond"},
            ),
        ]
    )
    fig.update_layout(
        title="Ears and numbers",
        height=380,
        yaxis={"title": "rating", "range": [0, 100]},
        yaxis2={"title": "SI-SDR (dB, capped at 60)", "overlaying": "y", "side": "right"},
    )
    return fig
