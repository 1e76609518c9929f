"""The SiSEC 2018 protocol on a MUSDB18-style folder: ``batch --protocol sisec18``.

What SiSEC 2018 (Stöter, Liutkus & Ito, "The 2018 Signal Separation Evaluation Campaign", LVA/ICA
2018) measured on MUSDB18, and how this module measures a folder the same way:

1. **Audio as it is**: every channel (MUSDB18 is stereo) at the files' own rate, whole tracks
   (``--start`` / ``--duration`` do not apply).
2. **The four targets** vocals, drums, bass, other (each track folder holds ``mixture`` and the
   four stems, MUSDB18-HQ's names; without a mixture file the stems' sum is the mixture), and
   the accompaniment = drums + bass + other.
3. **The oracles as sigsep-mus-oracle defines them** (github.com/sigsep/sigsep-mus-oracle, commit
   1590b096c3fc66055109cd66adfc7b63ff9cc979: IBM.py, IRM.py, MWF.py, MIX.py), each channel's
   ``scipy.signal.stft(x, nperseg=2048)`` (Hann, hop 1024): ``IBM1`` / ``IBM2`` (binary:
   ``|Y_j|^α / (ε + |X|^α) ≥ 0.5``, α = 1 or 2), ``IRM1`` / ``IRM2`` (ratio
   ``|Y_j|^α / (ε + Σ_k |Y_k|^α)``, magnitude or power), ``MWF`` (the multichannel Wiener
   filter of the local Gaussian model with time-invariant spatial covariances) and ``MIX`` (the
   mixture ÷ 4 as every target). Here vectorised; ``tests/test_sisec.py`` re-types the reference
   code and checks the figures agree within 0.01 dB.
4. **BSS Eval v4** as ``museval.eval_mus_track`` runs it: museval's own ``bss_eval`` (images,
   512-tap time-invariant filters, ``framewise_filters=False``), on 1 s frames without overlap;
   drums, bass and other scored as four sources (vocals, drums, bass, other), vocals and
   accompaniment as two. (vsep_core.bss is mono only; the multichannel images need museval's.)
5. **Aggregation**: the median over a track's frames (NaN frames, where a source is silent,
   left out), then the median over tracks.

vsep's own methods (``irm``, ``ibm``, ``wiener``, ``phase_oracle``, ``repet_sim``, ``hpss``,
``mixture``) run channel by channel at the files' rate, for the vocals and accompaniment only,
and are scored the same way. The seed, joint and exact-EQ methods work at 22,050 Hz mono only,
so they are not scored here.

The published SiSEC 2018 vocals SDRs on MUSDB18's test set (median over 1 s frames then over the
50 tracks, recomputed from the sigsep-mus-2018 per-track data; issue #22) sit beside the folder's
figures in the table and the chart: only a MUSDB18 test set makes them directly comparable.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import VsepError

#: The four MUSDB18 targets, in museval's order.
TARGETS = ("vocals", "drums", "bass", "other")

#: sigsep-mus-oracle's methods (SiSEC 2018's oracles) and what each is.
ORACLES = {
    "IBM1": "ideal binary mask, |Yj| / |X| >= 0.5 (sigsep-mus-oracle IBM.py, alpha=1)",
    "IBM2": "ideal binary mask, |Yj|^2 / |X|^2 >= 0.5 (IBM.py, alpha=2)",
    "IRM1": "ideal ratio mask of magnitudes (IRM.py, alpha=1)",
    "IRM2": "ideal ratio mask of powers (IRM.py, alpha=2, its default)",
    "MWF": "multichannel Wiener filter, time-invariant spatial covariances (MWF.py)",
    "MIX": "the mixture / 4 as every target (MIX.py)",
}

#: vsep's methods scored for the vocals beside them (channel by channel, at the files' rate).
VSEP_METHODS = ("irm", "ibm", "wiener", "phase_oracle", "repet_sim", "hpss", "mixture")

#: Published vocals SDR (dB) of SiSEC 2018 on the MUSDB18 test set: median over 1 s frames, then over
#: tracks, recomputed from sigsep-mus-2018's per-track data (as issue #22 quotes them). Keyed by the
#: method here that is (or stands for) the published one.
PUBLISHED_VOCALS_SDR = {
    "IRM2": (9.43, "IRM, power ratios"),
    "MWF": (9.13, "multichannel Wiener filter"),
    "IRM1": (8.52, "IRM, magnitude ratios"),
    "IBM1": (7.74, "IBM (the figure's alpha is not stated; sigsep's default is 1)"),
    "MIX": (1.12, "mixture as estimate"),
    "repet_sim": (2.30, "REPET-SIM (SiSEC's entry; vsep's is librosa's example)"),
    "hpss": (-0.34, "HPSS (SiSEC's entry; vsep's is a two-stage HPSS)"),
}
#: The strongest blind system quoted beside them (not a method here).
PUBLISHED_BLIND = ("BS-RoFormer, no extra data", 10.66)

PROTOCOL = (
    "SiSEC 2018 protocol: every channel at the files' rate, whole tracks; targets vocals, drums, bass, "
    "other (+ accompaniment); oracles as sigsep-mus-oracle (commit 1590b09) defines them; BSS Eval v4 "
    "(museval bss_eval, images, 512-tap time-invariant filters) on 1 s frames; median over frames, then "
    "over tracks."
)

_EPS = np.finfo(float).eps
_NFFT = 2048


# --- reading a folder --------------------------------------------------------------------------------


@dataclass
class Track:
    """One MUSDB18-style track: the mixture and its four stems, (samples, channels) float64."""

    name: str
    rate: int
    mixture: np.ndarray
    sources: dict = field(default_factory=dict)

    @property
    def accompaniment(self) -> np.ndarray:
        return self.sources["drums"] + self.sources["bass"] + self.sources["other"]


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile's errors name the format; say which file
        raise VsepError(f"{path.name}: cannot be read ({exc}).") from exc
    if not np.isfinite(data).all():
        raise VsepError(f"{path.name}: holds NaN or infinite samples.")
    return data, int(rate)


def _find(folder: Path, stem: str) -> Path | None:
    hits = sorted(p for p in folder.iterdir() if p.is_file() and p.name.split(".")[0].lower() == stem)
    return hits[0] if hits else None


def read_track(folder: Path) -> Track:
    """A track folder: ``mixture`` (optional) and ``vocals``, ``drums``, ``bass``, ``other``.

    Raises
    ------
    VsepError
        For a missing stem, or files whose rate, channels or length disagree.
    """
    folder = Path(folder)
    sources, rate, shape = {}, None, None
    for stem in TARGETS:
        path = _find(folder, stem)
        if path is None:
            raise VsepError(f"{folder.name}: no {stem} file (the SiSEC protocol needs vocals, drums, bass, other).")
        data, r = _read(path)
        if rate is not None and (r != rate or data.shape != shape):
            raise VsepError(
                f"{folder.name}: {path.name} is {data.shape[0]} samples × {data.shape[1]} channels at "
                f"{r} Hz, the other stems {shape[0]} × {shape[1]} at {rate} Hz; they must match."
            )
        rate, shape = r, data.shape
        sources[stem] = data
    path = _find(folder, "mixture")
    if path is not None:
        mixture, r = _read(path)
        if r != rate or mixture.shape != shape:
            raise VsepError(f"{folder.name}: the mixture does not match the stems (rate, channels or length).")
    else:
        mixture = sum(sources.values())
    return Track(name=folder.name, rate=rate, mixture=mixture, sources=sources)


def track_folders(folder) -> list[Path]:
    """The track sub-folders of a MUSDB18-style folder (``test/`` inside it when there is one)."""
    root = Path(folder)
    if not root.is_dir():
        raise VsepError(f"{root} is not a folder.")
    if (root / "test").is_dir():  # MUSDB18-HQ's own layout: train/ and test/
        root = root / "test"
    found = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise VsepError(f"{root} holds no track folders.")
    return found


# --- sigsep-mus-oracle's oracles ------------------------------------------------------------------------


def _stft(x: np.ndarray) -> np.ndarray:
    """scipy.signal.stft(x.T, nperseg=2048)[-1]: (channels, bins, frames)."""
    from scipy.signal import stft

    return stft(x.T, nperseg=_NFFT)[-1]


def _istft(Y: np.ndarray, n: int) -> np.ndarray:
    """scipy.signal.istft(Y)[1].T[:n, :]: (samples, channels)."""
    from scipy.signal import istft

    return istft(Y)[1].T[:n, :]


def _with_accompaniment(estimates: dict) -> dict:
    estimates["accompaniment"] = estimates["drums"] + estimates["bass"] + estimates["other"]
    return estimates


def ibm(track: Track, alpha: int = 1, theta: float = 0.5) -> dict:
    """sigsep-mus-oracle's IBM: each source's ``|Y_j|^α / (ε + |X|^α) ≥ θ`` times the mixture."""
    n = track.mixture.shape[0]
    X = _stft(track.mixture)
    out = {}
    for name in TARGETS:
        ratio = np.abs(_stft(track.sources[name])) ** alpha / (_EPS + np.abs(X) ** alpha)
        out[name] = _istft(X * (ratio >= theta), n)
    return _with_accompaniment(out)


def irm(track: Track, alpha: int = 2) -> dict:
    """sigsep-mus-oracle's IRM: ``|Y_j|^α / (ε + Σ_k |Y_k|^α)`` times the mixture."""
    n = track.mixture.shape[0]
    X = _stft(track.mixture)
    P = {name: np.abs(_stft(track.sources[name])) ** alpha for name in TARGETS}
    model = _EPS + sum(P.values())
    return _with_accompaniment({name: _istft(X * (P[name] / model), n) for name in TARGETS})


def _invert(M: np.ndarray, eps: float) -> np.ndarray:
    """MWF.py's ``invert``: the explicit 2 × 2 inverse with ε in the determinant (1 × 1: ``1 / (ε + m)``)."""
    if M.shape[-1] == 1:
        return 1.0 / (eps + M)
    if M.shape[-1] != 2:
        raise VsepError("The SiSEC MWF oracle handles mono or stereo tracks only (MWF.py inverts 2 × 2 matrices).")
    inv_det = 1.0 / (eps + M[..., 0, 0] * M[..., 1, 1] - M[..., 0, 1] * M[..., 1, 0])
    out = np.empty(M.shape, dtype=complex)
    out[..., 0, 0] = inv_det * M[..., 1, 1]
    out[..., 1, 0] = -inv_det * M[..., 1, 0]
    out[..., 0, 1] = -inv_det * M[..., 0, 1]
    out[..., 1, 1] = inv_det * M[..., 0, 0]
    return out


def mwf(track: Track) -> dict:
    """sigsep-mus-oracle's MWF: local Gaussian model, each source's PSD ``P_j(f, t)`` and time-invariant
    spatial covariance ``R_j(f)`` learnt from its own STFT, then the gain ``P_j R_j C_xx⁻¹`` on the mixture."""
    n = track.mixture.shape[0]
    X = _stft(track.mixture)  # (I, F, T)
    I = X.shape[0]  # noqa: E741 - sigsep-mus-oracle's name (channels)
    P, R = {}, {}
    for name in TARGETS:
        Y = _stft(track.sources[name])
        Rjj = np.einsum("aft,bft->ftab", Y, np.conj(Y))  # observed covariance (F, T, I, I)
        psd = np.mean(np.abs(Y) ** 2, axis=0)  # first estimate: the channels' mean power
        Rj = np.mean(Rjj / (_EPS + psd[..., None, None]), axis=1)  # (F, I, I)
        # MWF.py normalises with np.trace(R[name]) of the (F, I, I) array, whose default axes are the first
        # two: Σ_i R[i, i, :], a vector over the last axis (not each bin's trace). Kept, to be that oracle.
        trace = np.trace(Rj)
        Rj = Rj * I / trace + _EPS * np.eye(I, dtype=np.complex64)[None]
        Rj_inv = _invert(Rj, _EPS)
        # Refined PSD: (1/I) Σ_{i1,i2} Re(Rj⁻¹[f, i1, i2] · Rjj[f, t, i2, i1]).
        P[name] = 0
        for a in range(I):  # MWF.py's order of summation
            for b in range(I):
                P[name] = P[name] + 1.0 / I * np.real(Rj_inv[:, a, b][:, None] * Rjj[..., b, a])
        R[name] = Rj
    Cxx = sum(P[name][..., None, None] * R[name][:, None] for name in TARGETS)
    inv_cxx = _invert(Cxx, _EPS)
    out = {}
    for name in TARGETS:
        source_cov = P[name][..., None, None] * R[name][:, None]
        # MWF.py accumulates the gain P_j R_j C_xx⁻¹ in complex64, one term of the matrix product at a time;
        # kept (where C_xx is nearly singular those roundings are what the oracle gives).
        gain = np.zeros(inv_cxx.shape, dtype=np.complex64)
        for k in range(I):
            gain += source_cov[..., :, k, None] * inv_cxx[..., k, None, :]
        Y = 0
        for k in range(I):
            Y = Y + gain[..., k] * X[k][..., None]
        Y = np.moveaxis(Y, -1, 0)
        out[name] = _istft(Y, n)
    return _with_accompaniment(out)


def mix(track: Track) -> dict:
    """sigsep-mus-oracle's MIX: the mixture ÷ 4 as every target."""
    out = {name: track.mixture / len(TARGETS) for name in TARGETS}
    return _with_accompaniment(out)


ORACLE_FUNCTIONS = {
    "IBM1": lambda t: ibm(t, alpha=1),
    "IBM2": lambda t: ibm(t, alpha=2),
    "IRM1": lambda t: irm(t, alpha=1),
    "IRM2": lambda t: irm(t, alpha=2),
    "MWF": mwf,
    "MIX": mix,
}


def vsep_estimates(track: Track, name: str) -> dict:
    """One of vsep's methods on the vocals, channel by channel at the track's rate: ``{vocals, accompaniment}``."""
    from .baselines import get_method, run_method
    from .settings import Settings

    method = get_method(name, Settings(level="as_is", sr=track.rate))
    vocals, accompaniment = np.zeros_like(track.mixture), np.zeros_like(track.mixture)
    for c in range(track.mixture.shape[1]):
        mixture = track.mixture[:, c].astype(np.float32)
        truth = track.sources["vocals"][:, c].astype(np.float32)
        sep = run_method(method, mixture, track.rate, None if method.kind == "blind" else truth)
        for out, estimate in ((vocals, sep.vocal), (accompaniment, sep.instrumental)):  # the method's own pair
            m = min(len(estimate), len(out))
            out[:m, c] = estimate[:m]
    return {"vocals": vocals, "accompaniment": accompaniment}


# --- scoring as museval.eval_mus_track ------------------------------------------------------------------


def _bss(references: list, estimates: list, rate: int) -> np.ndarray:
    """museval.evaluate (v4, 1 s frames, hop 1 s): (4 metrics, sources, frames), estimates padded or trimmed."""
    from .metrics import _museval_metrics

    refs = np.stack(references)
    ests = np.stack([_fit(e, refs.shape[1]) for e in estimates])
    try:
        out = _museval_metrics().bss_eval(
            refs,
            ests,
            compute_permutation=False,
            window=rate,
            hop=rate,
            framewise_filters=False,
            bsseval_sources_version=False,
        )
    except ValueError as exc:  # museval refuses a silent reference or estimate (its figures are undefined)
        raise VsepError(f"BSS Eval cannot score it: {exc}") from exc
    return np.stack(out[:4])


def _fit(estimate: np.ndarray, n: int) -> np.ndarray:
    """museval.pad_or_truncate for one estimate."""
    if estimate.shape[0] >= n:
        return estimate[:n]
    return np.pad(estimate, ((0, n - estimate.shape[0]), (0, 0)))


def score_track(track: Track, estimates: dict) -> dict:
    """Per target: the median over frames of SDR, ISR, SIR, SAR, as museval.eval_mus_track scores them.

    Returns
    -------
    dict
        ``{target: {"sdr", "isr", "sir", "sar"}}`` for the targets ``estimates`` holds.
    """
    references = {**track.sources, "accompaniment": track.accompaniment}
    out = {}
    if all(t in estimates for t in TARGETS):  # four sources: drums, bass, other (vocals: the two-source run)
        frames = _bss([references[t] for t in TARGETS], [estimates[t] for t in TARGETS], track.rate)
        for i, target in enumerate(TARGETS):
            if target != "vocals":
                out[target] = _medians(frames[:, i])
    if "vocals" in estimates and "accompaniment" in estimates:
        frames = _bss(
            [references["vocals"], references["accompaniment"]],
            [estimates["vocals"], estimates["accompaniment"]],
            track.rate,
        )
        out["vocals"], out["accompaniment"] = _medians(frames[:, 0]), _medians(frames[:, 1])
    return out


def _medians(frames: np.ndarray) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: a source silent throughout
        values = np.nanmedian(frames, axis=-1)
    return dict(zip(("sdr", "isr", "sir", "sar"), (float(v) for v in values)))


# --- the protocol -------------------------------------------------------------------------------------


def run_protocol(folder, *, methods=None, progress=None) -> dict:
    """Every track of a MUSDB18-style folder in the SiSEC 2018 protocol.

    Parameters
    ----------
    folder : path
        Track sub-folders (or a ``test/`` folder of them), each with vocals, drums, bass, other
        (and mixture) files.
    methods : sequence of str, optional
        Of :data:`ORACLES` and :data:`VSEP_METHODS` (default all).
    progress : callable(fraction, label), optional

    Returns
    -------
    dict
        ``{"protocol", "tracks", "failures", "per_track": [{"track", "method", "target", "sdr", ...}],
        "medians": {method: {target: {metric: dB}}}, "published": {...}}``.
    """
    from .progress import report

    names = list(methods or (*ORACLES, *VSEP_METHODS))
    unknown = [m for m in names if m not in ORACLES and m not in VSEP_METHODS]
    if unknown:
        raise VsepError(
            f"Unknown method(s) for the SiSEC protocol: {', '.join(unknown)}; choose from "
            f"{', '.join((*ORACLES, *VSEP_METHODS))}."
        )
    folders = track_folders(folder)
    rows, failures, tracks = [], [], []
    for k, path in enumerate(folders):
        report(progress, k / len(folders), f"{path.name}: reading")
        try:
            track = read_track(path)
        except VsepError as exc:
            failures.append({"track": path.name, "error": str(exc)})
            continue
        tracks.append(
            {
                "track": track.name,
                "rate": track.rate,
                "channels": track.mixture.shape[1],
                "seconds": track.mixture.shape[0] / track.rate,
            }
        )
        for j, name in enumerate(names):
            report(progress, (k + j / len(names)) / len(folders), f"{path.name}: {name}")
            try:
                estimates = ORACLE_FUNCTIONS[name](track) if name in ORACLES else vsep_estimates(track, name)
                scores = score_track(track, estimates)
            except VsepError as exc:
                failures.append({"track": path.name, "method": name, "error": str(exc)})
                continue
            rows += [
                {"track": track.name, "method": name, "target": target, **figures} for target, figures in scores.items()
            ]
    report(progress, 1.0, "SiSEC protocol done")
    return {
        "protocol": PROTOCOL,
        "tracks": tracks,
        "failures": failures,
        "per_track": rows,
        "medians": medians_over_tracks(rows),
        "published": published(),
    }


def medians_over_tracks(rows: list[dict]) -> dict:
    """``{method: {target: {metric: median over tracks}}}`` (tracks whose figure is NaN left out)."""
    out = {}
    for row in rows:
        slot = out.setdefault(row["method"], {}).setdefault(row["target"], {})
        for metric in ("sdr", "isr", "sir", "sar"):
            slot.setdefault(metric, []).append(row[metric])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {
            m: {t: {k: float(np.nanmedian(v)) for k, v in figures.items()} for t, figures in targets.items()}
            for m, targets in out.items()
        }


def published() -> dict:
    """The published figures, with where they come from."""
    return {
        "vocals_sdr": {k: v for k, (v, _) in PUBLISHED_VOCALS_SDR.items()},
        "what": {k: w for k, (_, w) in PUBLISHED_VOCALS_SDR.items()},
        "blind": {"method": PUBLISHED_BLIND[0], "vocals_sdr": PUBLISHED_BLIND[1]},
        "source": "SiSEC 2018 on the MUSDB18 test set (50 tracks), vocals SDR: median over 1 s frames then "
        "over tracks, recomputed from sigsep-mus-2018's per-track data (issue #22)",
    }


def format_protocol(result: dict) -> str:
    """The folder's medians beside the published SiSEC 2018 vocals figures, as text."""
    n = len(result["tracks"])
    lines = [
        result["protocol"],
        f"Tracks: {n}" + (f" ({len(result['failures'])} failure(s))" if result["failures"] else ""),
        "Median over tracks of each track's median over 1 s frames; SDR in dB, higher is better.",
        "",
    ]
    head = f"{'method':<14}{'vocals SDR':>11}{'published':>11}{'drums':>8}{'bass':>8}{'other':>8}{'accomp.':>9}"
    lines += [head, "-" * len(head)]
    pub = result["published"]["vocals_sdr"]
    for method, targets in result["medians"].items():
        cells = (
            [_cell(targets.get(t, {}).get("sdr"), w) for t, w in (("vocals", 11),)]
            + [_cell(pub.get(method), 11)]
            + [
                _cell(targets.get(t, {}).get("sdr"), w)
                for t, w in (("drums", 8), ("bass", 8), ("other", 8), ("accompaniment", 9))
            ]
        )
        lines.append(f"{method:<14}" + "".join(cells))
    blind = result["published"]["blind"]
    lines += [
        "",
        f"Published beside them: {blind['method']} {blind['vocals_sdr']:.2f} dB (blind). "
        + result["published"]["source"]
        + ". Only a MUSDB18 test set makes the two columns comparable.",
    ]
    for f in result["failures"]:
        lines.append(f"failed: {f['track']}" + (f" ({f['method']})" if f.get("method") else "") + f": {f['error']}")
    return "\n".join(lines)


def _cell(value, width: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—".rjust(width)
    return f"{value:{width}.2f}"


def protocol_figure(result: dict):
    """A plotly bar chart: the folder's vocals SDR per method beside the published SiSEC 2018 figure."""
    import plotly.graph_objects as go

    methods = list(result["medians"])
    pub = result["published"]["vocals_sdr"]
    fig = go.Figure(
        [
            go.Bar(
                name="this folder (median over tracks)",
                x=methods,
                y=[result["medians"][m].get("vocals", {}).get("sdr") for m in methods],
            ),
            go.Bar(name="SiSEC 2018, MUSDB18 test (published)", x=methods, y=[pub.get(m) for m in methods]),
        ]
    )
    blind = result["published"]["blind"]
    fig.add_hline(
        y=blind["vocals_sdr"],
        line_dash="dot",
        annotation_text=f"{blind['method']}: {blind['vocals_sdr']:.2f} dB (published)",
    )
    fig.update_layout(
        barmode="group", title="Vocals SDR in the SiSEC 2018 protocol", yaxis_title="SDR (dB)", height=460
    )
    return fig


def write_protocol(result: dict, out_dir) -> list[Path]:
    """``sisec18.json``, ``sisec18_per_track.csv`` and ``sisec18.html`` (the table and the chart) in ``out_dir``."""
    import html as html_lib

    from .jsonio import json_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "sisec18.json", out / "sisec18_per_track.csv", out / "sisec18.html"]
    paths[0].write_text(json_text(result))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["track", "method", "target", "sdr", "isr", "sir", "sar"])
    writer.writeheader()
    writer.writerows(result["per_track"])
    paths[1].write_text(buffer.getvalue())
    chart = protocol_figure(result).to_html(include_plotlyjs=True, full_html=False)
    paths[2].write_text(
        f"<!doctype html><meta charset='utf-8'><title>SiSEC 2018 protocol</title>"
        f"<pre>{html_lib.escape(format_protocol(result))}</pre>{chart}"
    )
    return paths
