"""Every cached call into ``vsep_core``: the one module that decides what the dashboard keeps.

Each cached function is a :func:`vsep_app.memo.memo` (the app's own thread-safe
cache; not ``st.cache_data``, which a bare WebSocket can empty for everyone
and which app code may not call from the job threads) keyed on content: the
SHA-256 of the input files' bytes (``Source.identity``), the settings that
matter for that stage as a plain dict, and the slice order and count. Arguments
whose names start with ``_`` (the bytes, the prepared pair, callbacks) are not
hashed again; the key arguments stand for them. So the same inputs and settings
are computed once, whichever page or session asks (two at once: the second
waits for the first's result), and switching pages or re-running is instant.
The caches hold only results of content a session supplied itself; what a
session has loaded and run is in its own ``st.session_state`` (see
:mod:`vsep_app.state`).

Stages and the settings they depend on:

* decode → the file's bytes;
* pair (``prepare_pair``) and alignment → :data:`PAIR_FIELDS`;
* analysis, slice views, window profiles → :data:`ANALYSIS_FIELDS`;
* progressive runs, greedy search, EQ curves, downloads → every setting.

Where a workflow runs (here or on Dask) is :mod:`vsep_app.dispatch`'s; the limits on segment length and
on what is shared are :mod:`vsep_app.limits`'; what runs in the background for the next page is
:mod:`vsep_app.prefetch`'s. The ``vsep_app`` logger writes where Streamlit's log goes, at its ``logger.level``
(``--logger.level debug`` shows each memo's computations and hits).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from vsep_core import api, audio
from vsep_core.api import GreedyOutcome
from vsep_core.settings import Settings

from . import dispatch
from .dispatch import ProgressiveOutcome
from .limits import (
    ALIGNMENT_EXCERPT_S,
    DISPLAY_CELLS,
    EQ_CURVES_MAX_BYTES,
    RUN_SPECTROGRAMS_MAX_BYTES,
    app_segment_limit_s,
    kept_in_shared_caches,
)
from .logs import log_with_streamlit
from .memo import memo
from .state import RunRecord, Source

if TYPE_CHECKING:
    from vsep_core.analysis import Analysis
    from vsep_core.experiment import ExperimentResult

# The rest of vsep_core (views: scipy.ndimage; plots: plotly; optimise: numba kernels; report) is
# imported inside the functions that use it: the first page needs none of it, and a server's
# first visitor would otherwise wait for those imports (see vsep_app.warmup, which
# imports them in the background once that page is drawn).

#: Settings that change the prepared pair.
PAIR_FIELDS = ("sr", "start_s", "duration_s", "n_fft", "level")
#: Settings that change the spectrograms and fingerprints.
ANALYSIS_FIELDS = PAIR_FIELDS + ("hop_length", "n_windows", "n_points", "top_db", "pooled_windows")

#: Entries older than this (seconds: two hours) are dropped, so a long-running server does not keep
#: every song it saw.
TTL = 2 * 3600

log_with_streamlit()  # the caches' lines (computed, hit) in the server's log


def subset(settings: Settings, fields) -> dict:
    values = settings.to_dict()
    return {name: values[name] for name in fields}


def content_key(*parts) -> str:
    """A short hash of JSON-able parts (for keys built from several inputs)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


# --- decoding and preparing -------------------------------------------------------


@memo(max_entries=2, ttl=TTL)
def _decode(content_digest: str, role: str, max_s: float | None, _data: bytes, _label: str) -> audio.Decoded:
    # Keyed on content and role only: what is kept holds no file name (``_label`` names the file in an
    # error message, and errors are never cached), so another visitor's identical bytes get no name of ours.
    return dataclasses.replace(audio.decode(_data, name=_label, mono=True, duration_s=max_s), name=role)


def decode(data: bytes, role: str, file_name: str = "", max_s: float | None = None) -> audio.Decoded:
    """Decode a file, its first ``max_s`` seconds if given (cached on its content: the recorder's
    instrumental, which is only needed as long as a take); named by ``role``."""
    from .state import digest

    return _decode(digest(data), role, max_s, _data=data, _label=_file_label(role, file_name))


@memo(max_entries=2, ttl=TTL)
def _recorder_backing(content_digest: str, max_s: float, _instrumental: audio.Decoded) -> bytes:
    from .backing_recorder import backing_flac

    return backing_flac(_instrumental, max_s)


def recorder_backing(data: bytes, instrumental: audio.Decoded, max_s: float) -> bytes:
    """What the recorder plays while it records: ``instrumental`` (``data`` decoded by :func:`decode`), its first
    ``max_s`` seconds as FLAC (cached on the file's content)."""
    from .state import digest

    return _recorder_backing(digest(data), max_s, _instrumental=instrumental)


def decoded_other(source: Source) -> audio.Decoded:
    """The source's target file decoded whole, at its own rate (not cached: used once, by the alignment fix)."""
    return dataclasses.replace(
        audio.decode(source.other, name=_file_label(source.other_kind, source.other_name), mono=True),
        name=source.other_kind,
    )


def _file_label(role: str, file_name: str) -> str:
    return role if file_name in ("", role) else f"{role} “{file_name}”"


@memo(max_entries=8, ttl=TTL)
def _pair(identity: str, pair_settings: dict, segment_limit_s: float, _source: Source) -> audio.Pair:
    # The files' bytes go to the engine, which probes them and decodes only the analysed segment. The
    # dashboard keeps every run's audio (players, downloads): the engine's workload limit for that applies.
    settings = Settings().replace(**pair_settings)
    target = {_source.other_kind: _source.other}
    return audio.prepare_pair(
        _source.mixture,
        settings=settings,
        keep_audio=True,
        max_segment_s=segment_limit_s,
        target_name=_source.target_name,
        **target,
    )


def pair(source: Source, settings: Settings) -> audio.Pair:
    """The prepared (mixture, vocal) pair for these settings, named by role (see :func:`named`).

    Raises
    ------
    VsepError
        For files that are not audio, silent, mismatched in length, ...
    """
    return _pair(source.identity, subset(settings, PAIR_FIELDS), app_segment_limit_s(), _source=source)


def truth(source: Source, settings: Settings) -> audio.Pair:
    """The pair as the files are (level ``"as_is"``) with the segment of ``settings``: what scores are measured on."""
    return pair(source, settings.replace(level="as_is"))


def session_names(source: Source) -> dict:
    """This session's names for its pair (file names, label): applied after the caches, never inside one."""
    return {"label": source.label, "mixture": source.mixture_name, source.other_kind: source.other_name}


def named(prepared: audio.Pair, source: Source) -> audio.Pair:
    """``prepared`` (from the cache, named by role) with this session's file names in its ``info``."""
    return dataclasses.replace(prepared, info={**prepared.info, **session_names(source)})


@memo(max_entries=16, ttl=TTL)
def _alignment(identity: str, pair_settings: dict, _source: Source) -> dict:
    from vsep_core.alignment import check_alignment

    t = truth(_source, Settings().replace(**pair_settings))
    n = min(t.n_samples, int(ALIGNMENT_EXCERPT_S * t.sr))
    given = t.vocal[:n] if _source.other_kind == "vocal" else t.mixture[:n] - t.vocal[:n]
    found = check_alignment(t.mixture[:n], given, t.sr, name=_source.other_label).to_dict()
    return dict(found, excerpt_s=n / t.sr, segment_s=t.n_samples / t.sr)


def alignment(source: Source, settings: Settings) -> dict:
    """How the target file fits the mixture (lag, gain, correlation, verdict), on the files as they are.

    For a mixture + instrumental pair, the instrumental is checked against
    the mixture (the vocal is their difference, so they must line up).
    """
    return _alignment(source.identity, subset(settings, PAIR_FIELDS), _source=source)


@memo(max_entries=16, ttl=TTL)
def _waveforms(identity: str, pair_settings: dict, _source: Source, max_points: int = 2000) -> dict:
    """Min/max envelopes of the analysed segment, from the bounded pair the engine decoded.

    Never from the whole files: a file's header is read for its length, rate and channels, but its samples
    only as far as the pair reads them (the dashboard's segment limit), so a small upload that decodes to
    gigabytes (long, 192 kHz, 8 channels) costs no more than any other.
    """
    t = truth(_source, Settings().replace(**pair_settings))
    other = t.vocal if _source.other_kind == "vocal" else t.mixture - t.vocal
    start_s = float(pair_settings["start_s"])
    out = {}
    for label, data, y in (("mixture", _source.mixture, t.mixture), (_source.other_label, _source.other, other)):
        probed = audio.probe(data, name=label)  # the header only
        block = max(1, -(-len(y) // max_points))
        blocks = np.pad(y, (0, -len(y) % block)).reshape(-1, block)
        duration = (
            probed.duration_s
            if np.isfinite(probed.duration_s)
            else t.info.get("source_durations_s", {}).get(label, float("nan"))
        )
        out[label] = {
            "t": start_s + np.arange(blocks.shape[0]) * block / t.sr,
            "max": blocks.max(axis=1),
            "min": blocks.min(axis=1),
            "duration_s": duration,
            "sr": probed.sr,
            "channels": probed.channels,
            "segment_s": t.duration_s,
            "analysis_sr": t.sr,
        }
    return out


def waveforms(source: Source, settings: Settings) -> dict:
    """The analysed segment's envelopes by role, with each file's duration, rate and channels (its header)."""
    return _waveforms(source.identity, subset(settings, PAIR_FIELDS), _source=source)


# --- analysis and the slice views --------------------------------------------------


# Shared read-only, not copied for each caller: a whole song's analysis is hundreds of MB (the engine only reads it).
@memo(max_entries=8, ttl=TTL, read_only=True)
def _analysis(identity: str, analysis_settings: dict, view_names: tuple, _source: Source) -> Analysis:
    from vsep_core.analysis import analyse

    settings = Settings().replace(**analysis_settings)
    return analyse(pair(_source, settings), settings, views=view_names)


def analysis(source: Source, settings: Settings, view_names) -> Analysis:
    """Fingerprint targets for ``view_names`` (the raw view always included), with ``settings`` attached.

    A kept analysis of the same pair and settings with every one of these views stands for it (each view's
    targets do not depend on the others): a run's EQ curves or full-quality audio reuse the runs' analysis
    instead of fingerprinting again and keeping a second copy of the mixture's spectrogram.
    """
    names = tuple(dict.fromkeys(["slice_0_raw", *view_names]))
    analysis_settings = subset(settings, ANALYSIS_FIELDS)
    wanted = _analysis.key(source.identity, analysis_settings, names, _source=None)

    def covers(key: tuple) -> bool:  # the same pair and settings, and every view asked for
        kept_views = {name for _, name in dict(key)["view_names"][1]}
        return key[:2] == wanted[:2] and set(names) <= kept_views

    result = _analysis.find(covers)
    if result is None:
        result = _analysis(source.identity, analysis_settings, names, _source=source)
    return dataclasses.replace(result, settings=settings)


@memo(max_entries=8, ttl=TTL, read_only=True)  # shared: the Results and Slices pages only read it
def _magnitude(identity: str, analysis_settings: dict, signal: str, _source: Source) -> dict:
    from vsep_core import views

    settings = Settings().replace(**analysis_settings)
    p = pair(_source, settings)
    hop = settings.hop_for(p.n_samples)
    mag = views.magphase(views.stft(getattr(p, signal), settings, hop_length=hop))[0]
    return {"mag": mag, "hop": hop, "sr": p.sr, "n_samples": p.n_samples}


def magnitude(source: Source, settings: Settings, signal: str) -> dict:
    """Magnitude spectrogram of the prepared ``signal`` ("vocal" or "mixture"): ``{"mag", "hop", "sr", "n_samples"}``
    (``mag`` read-only, shared)."""
    return _magnitude(source.identity, subset(settings, ANALYSIS_FIELDS), signal, _source=source)


@memo(max_entries=16, ttl=TTL)
def _slice_figures(identity: str, analysis_settings: dict, signal: str, _source: Source) -> list:
    from vsep_core import plots, views

    m = _magnitude(identity, analysis_settings, signal, _source=_source)

    def one(name: str) -> dict:
        d = plots.view_display(
            views.compute_view(m["mag"], name),
            name,
            m["sr"],
            m["hop"],
            max_rows=DISPLAY_CELLS[0],
            max_cols=DISPLAY_CELLS[1],
        )
        return dict(d, z=np.asarray(d["z"], dtype=np.float32))

    # Two threads: the convolutions and reductions release the GIL for most of their time.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, views.VIEW_NAMES))


def slice_figures(source: Source, settings: Settings, signal: str) -> list:
    """The 19 views of ``signal`` ("vocal" or "mixture") as downsampled heatmaps, in view order.

    Each is ``{"title", "z" (dB, float32), "x" (s), "y" (Hz)}``, as
    :func:`vsep_core.plots.view_heatmap` reduced it; see :func:`vsep_app.figures.view_row`.
    """
    return _slice_figures(source.identity, subset(settings, ANALYSIS_FIELDS), signal, _source=source)


@memo(max_entries=64, ttl=TTL)
def _window_detail(identity: str, analysis_settings: dict, window: int, _source: Source) -> dict:
    from vsep_core import fingerprint, views

    settings = Settings().replace(**analysis_settings)
    mags = {signal: _magnitude(identity, analysis_settings, signal, _source=_source) for signal in ("vocal", "mixture")}
    out = {}
    for name in views.VIEW_NAMES:
        entry = {}
        for signal, m in mags.items():
            column = views.view_column(m["mag"], name, window)[:, None]
            entry[f"{signal}_profile"] = fingerprint.target_profiles_db(column, settings)[:, 0]
            entry[f"{signal}_metrics"] = fingerprint.window_metrics(column, m["sr"])[0]
        out[name] = entry
    return out


def window_detail(source: Source, settings: Settings, window: int) -> dict:
    """Per view: the vocal's and the mixture's 400-point dB profile and 25 metrics at ``window``."""
    return _window_detail(source.identity, subset(settings, ANALYSIS_FIELDS), int(window), _source=source)


@memo(max_entries=8, ttl=TTL)
def _predicted_fingerprints(identity: str, settings_dict: dict, _source: Source) -> dict:
    from vsep_core.learned import predicted_fingerprints

    settings = Settings.from_dict(settings_dict)
    return predicted_fingerprints(pair(_source, settings).mixture, settings)


def predicted_fingerprints(source: Source, settings: Settings) -> dict:
    """The bundled learned model's prediction of the target's raw-view fingerprint from the mixture alone
    (:func:`vsep_core.learned.predicted_fingerprints`; raises VsepError for settings the model was not made for)."""
    return _predicted_fingerprints(source.identity, settings.to_dict(), _source=source)


# --- optimisation -----------------------------------------------------------------


def _shared(source: Source, settings: Settings) -> bool:
    return kept_in_shared_caches(pair(source, settings).duration_s)


def _progressive_compute(
    identity: str, settings_dict: dict, order: tuple, max_slices: int, _source: Source, _emit
) -> ProgressiveOutcome:
    settings = Settings.from_dict(settings_dict)
    return dispatch.progressive(
        pair(_source, settings), settings, order, max_slices, lambda names: analysis(_source, settings, names), _emit
    )


_progressive = memo(max_entries=8, ttl=TTL)(_progressive_compute)


def progressive(source: Source, settings: Settings, order, max_slices: int, emit=lambda event: None):
    """Progressive runs over ``order[:max_slices]`` (cached up to :data:`SHARED_MAX_S`). ``emit`` gets progress
    and finished runs."""
    compute = _progressive if _shared(source, settings) else _progressive_compute
    return compute(source.identity, settings.to_dict(), tuple(order), int(max_slices), _source=source, _emit=emit)


def _greedy_compute(identity: str, settings_dict: dict, candidates: tuple, _source: Source, _emit) -> GreedyOutcome:
    settings = Settings.from_dict(settings_dict)
    return dispatch.greedy(
        pair(_source, settings), settings, candidates, lambda names: analysis(_source, settings, names), _emit
    )


_greedy = memo(max_entries=8, ttl=TTL)(_greedy_compute)


def greedy(source: Source, settings: Settings, candidates, emit=lambda event: None) -> GreedyOutcome:
    """The greedy order search over ``candidates`` (cached up to :data:`SHARED_MAX_S`), with its audio."""
    compute = _greedy if _shared(source, settings) else _greedy_compute
    return compute(source.identity, settings.to_dict(), tuple(candidates), _source=source, _emit=emit)


# --- joint matching and slice attribution (issue #12) ---------------------------------


def _joint_settings(joint_key: tuple):
    from vsep_core.joint import JointSettings

    steps, step_size, views, clip_db = joint_key
    return JointSettings(steps=steps, step_size=step_size, views=views, clip_db=clip_db)


def joint_key(joint) -> tuple:
    """A JointSettings as a plain, hashable cache key."""
    return (joint.steps, joint.step_size, tuple(joint.views), joint.clip_db)


def _joint_compute(identity: str, settings_dict: dict, key: tuple, _source: Source, _emit) -> api.JointOutcome:
    settings = Settings.from_dict(settings_dict)
    return dispatch.joint(
        pair(_source, settings),
        truth(_source, settings),
        settings,
        _joint_settings(key),
        lambda names: analysis(_source, settings, names),
        _emit,
    )


_joint = memo(max_entries=4, ttl=TTL)(_joint_compute)


def joint(source: Source, settings: Settings, joint_settings, emit=lambda event: None) -> api.JointOutcome:
    """The joint matching, its audio and its scores (:func:`vsep_core.api.joint_matching`)."""
    compute = _joint if _shared(source, settings) else _joint_compute
    return compute(source.identity, settings.to_dict(), joint_key(joint_settings), _source=source, _emit=emit)


def with_joint(report: dict, joint_run) -> dict:
    """``report`` (the experiment's scores, full or quick) with the joint matching's entry after the runs, when
    one was run on this pair with these settings (:func:`vsep_app.state.joint`); ``report`` itself otherwise.

    The joint's figures are :func:`vsep_core.evaluate.evaluate_joint`'s, on the same truth with the same
    settings (:func:`vsep_core.evaluate.with_methods`)."""
    if joint_run is None or not joint_run[1].scores:
        return report
    from vsep_core.evaluate import with_methods

    return with_methods(report, joint_run[1].scores)


@memo(max_entries=4, ttl=TTL)
def _joint_files(identity: str, settings_dict: dict, key: tuple, _source: Source, _outcome) -> dict:
    from vsep_core import report

    settings = Settings.from_dict(settings_dict)
    outputs = report.Outputs(pair(_source, settings), settings, 1, inputs=False)
    outputs.add_joint(_outcome, inputs=False)
    return outputs.files


def joint_files(source: Source, settings: Settings, joint_run) -> dict:
    """The joint matching's WAVs by report path (``joint/extracted_<target>.wav`` and its complement's);
    ``{}`` without one (``joint_run``: :func:`vsep_app.state.joint`)."""
    if joint_run is None:
        return {}
    joint_settings, outcome = joint_run
    return _joint_files(
        source.identity, settings.to_dict(), joint_key(joint_settings), _source=source, _outcome=outcome
    )


def _attribution_compute(
    identity: str, settings_dict: dict, method: str, slices: tuple, key: tuple, _source: Source, _emit
) -> dict:
    settings = Settings.from_dict(settings_dict)
    return dispatch.attribution(truth(_source, settings), settings, method, slices, _joint_settings(key), _emit)


_attribution = memo(max_entries=4, ttl=TTL)(_attribution_compute)


def attribution(
    source: Source, settings: Settings, method: str, slices, joint_settings, emit=lambda event: None
) -> dict:
    """Which slices help (:mod:`vsep_core.attribute`): the seed chain over ``slices``, or each slice added to
    the joint loss."""
    compute = _attribution if _shared(source, settings) else _attribution_compute
    return compute(
        source.identity,
        settings.to_dict(),
        method,
        tuple(slices),
        joint_key(joint_settings),
        _source=source,
        _emit=emit,
    )


# The Results page's per-run views: shared read-only (each page run only reads them) under a byte budget.
@memo(max_entries=4, ttl=TTL, max_bytes=EQ_CURVES_MAX_BYTES, read_only=True)
def _eq_curves(identity: str, settings_dict: dict, slices: tuple, _source: Source) -> tuple:
    settings = Settings.from_dict(settings_dict)
    return tuple(api.eq_curves(analysis(_source, settings, slices), slices))


def eq_curves(source: Source, settings: Settings, slices) -> tuple:
    """Every pass's learned EQ curves (view, 400 × windows dB, read-only) for one run, the polish last."""
    return _eq_curves(source.identity, settings.to_dict(), tuple(slices), _source=source)


@memo(max_entries=16, ttl=TTL, max_bytes=RUN_SPECTROGRAMS_MAX_BYTES, read_only=True)
def _run_magnitude(key: str, _y: np.ndarray, settings_dict: dict, n_samples: int) -> np.ndarray:
    from vsep_core import views

    settings = Settings.from_dict(settings_dict)
    return views.magphase(views.stft(_y, settings, hop_length=settings.hop_for(n_samples)))[0]


def run_magnitude(key: str, y: np.ndarray, settings: Settings, n_samples: int) -> np.ndarray:
    """Magnitude spectrogram of an extracted signal (``key`` names the run and its inputs; read-only)."""
    return _run_magnitude(key, _y=y, settings_dict=settings.to_dict(), n_samples=n_samples)


# --- results and downloads ---------------------------------------------------------


def experiment_result(source: Source, prog: RunRecord, greedy_rec: RunRecord | None) -> ExperimentResult:
    """The progressive test and (when it belongs with it: :func:`vsep_core.api.belongs_together`) the greedy
    search as one ``ExperimentResult``."""
    from vsep_core.experiment import ExperimentResult

    p = pair(source, prog.settings)
    out: ProgressiveOutcome = prog.outcome
    result = ExperimentResult(
        settings=prog.settings,
        order=tuple(prog.order),
        progressive=list(out.runs),
        timings_s=dict(out.timings_s),
        pair_info={**p.info, **session_names(source)},
    )
    return api.with_greedy(result, greedy_rec.outcome if api.belongs_together(prog, greedy_rec) else None)


def result_key(prog: RunRecord, greedy_rec: RunRecord | None) -> str:
    parts = [prog.identity, prog.settings.to_dict(), list(prog.order), len(prog.outcome.runs)]
    if greedy_rec is not None:
        parts += [greedy_rec.identity, greedy_rec.settings.to_dict(), list(greedy_rec.order)]
    return content_key(*parts)


# Shared read-only: each Results page run and each download only read it (a copy was ~90 MB of a whole song's
# prepared pair and spectrograms each time; the WAVs are bytes or made when read).
@memo(max_entries=4, ttl=TTL, read_only=True)
def _outputs(key: str, _source: Source, _prog: RunRecord, _greedy: RunRecord | None) -> dict:
    from vsep_core import report

    result = experiment_result(_source, _prog, _greedy)
    # The runs' WAVs are made when a player, a download or the ZIP reads them: the session keeps the runs' audio
    # already (a whole song's 40 WAVs would be 316 MB more).
    outputs = report.Outputs(pair(_source, _prog.settings), _prog.settings, len(result.progressive), lazy_wavs=True)
    for run in result.progressive:
        outputs.add_run(str(run.n), run)
    if result.greedy is not None:
        outputs.add_run("greedy", result.greedy_run)
        if result.best_prefix_run is not result.greedy_run:
            outputs.add_run("best_prefix", result.best_prefix_run)
    return {"files": outputs.files, "spectrograms": outputs.spectrograms, "outputs": outputs}


def run_files(source: Source, prog: RunRecord, greedy_rec: RunRecord | None) -> dict:
    """Every run's WAVs by report path (and the report's spectrograms), made once per result; shared, read only."""
    return _outputs(result_key(prog, greedy_rec), _source=source, _prog=prog, _greedy=greedy_rec)


def _downloads_compute(
    key: str,
    names: dict,
    _source: Source,
    _prog: RunRecord,
    _greedy: RunRecord | None,
    _metrics,
    ratings: dict | None = None,
    _joint=None,
    _full=(),
) -> dict:
    from vsep_core import report

    # ``names`` (this session's file names) is part of the key: summary.json and the report carry them, so an
    # entry is only ever returned to a session that gave the same bytes under the same names.
    p = pair(_source, _prog.settings)
    result = experiment_result(_source, _prog, _greedy)
    made = run_files(_source, _prog, _greedy)
    outputs = report.Outputs(p, _prog.settings, len(result.progressive))
    outputs.adopt(made["outputs"])  # the runs' WAVs, named in summary.json and README.txt
    if _joint is not None:
        outputs.add_joint(_joint[1], inputs=False)
    outputs.finish(result, metrics=_metrics)
    if ratings is not None:
        outputs.add_ratings(ratings["rows"], ratings["info"])
    for i, made in enumerate(_full):  # the runs the visitor made at full quality: their WAVs, scores and players
        got = made["made"]
        outputs.add_full_quality_wavs(
            made["label"],
            got["target_wav"],
            got["complement_wav"],
            held_hz=got["held_hz"],
            scores=got["scores"],
            seconds=got["seconds"],
            slices=made["slices"],
            keep_audio=i == 0,  # the report plays one run at full quality
        )
    if _full:
        outputs.finish_full_quality()
    # The ZIP opens with what a person reads first: README.txt (what each folder is) and the report.
    outputs.add_report(result, metrics=_metrics, pair=named(p, _source), joint=_joint[1] if _joint else None)
    outputs.add_readme(result, metrics=_metrics)
    return {"zip": outputs.zip_bytes(), "html": outputs.files["report.html"], "files": sorted(outputs.files)}


_downloads = memo(max_entries=4, ttl=TTL)(_downloads_compute)


def downloads(
    source: Source,
    prog: RunRecord,
    greedy_rec: RunRecord | None,
    metrics: dict | None = None,
    ratings: dict | None = None,
    joint_run=None,
    full_quality=(),
) -> dict:
    """``{"zip": bytes, "html": bytes, "files": [...]}`` for the results, with this session's names and, when
    given, the visitor's listening ratings (``{"rows", "info"}``: :meth:`vsep_core.report.Outputs.add_ratings`)
    and the joint matching (``joint_run``: :func:`vsep_app.state.joint`; its WAVs in ``joint/``, its scores in
    ``metrics`` as :func:`with_joint` adds them), and the runs made at full quality (``full_quality``: records as
    :func:`vsep_app.full_quality_view.full_quality_section` returns them, the joint's included: their WAVs beside
    the runs', their scores in ``full_quality.json`` and the report). The ZIP holds ``README.txt`` and
    ``report.html`` first.

    Cached up to :data:`SHARED_MAX_S` of audio; a longer segment's bundle is made for the press that
    asks for it and not kept.
    """
    joint_part = joint_key(joint_run[0]) if joint_run is not None else None
    full_quality = tuple(full_quality)
    full_part = tuple((made["label"], made["made"]["scores"] is not None) for made in full_quality)
    key = content_key(result_key(prog, greedy_rec), metrics is not None, joint_part, full_part)
    compute = _downloads if _shared(source, prog.settings) else _downloads_compute
    return compute(
        key,
        session_names(source),
        _source=source,
        _prog=prog,
        _greedy=greedy_rec,
        _metrics=metrics,
        ratings=ratings,
        _joint=joint_run,
        _full=full_quality,
    )


# --- listening to the oracle masks (the A/B player) ---------------------------------------

#: The ideal masks offered in the Results page's A/B player (ceilings: they read the true vocal).
ORACLE_MASKS = ("irm", "ibm", "wiener")


@memo(max_entries=4, ttl=TTL)
def _oracle_wavs(identity: str, pair_settings: dict, _source: Source) -> dict:
    from vsep_core.baselines import get_method, run_method

    t = truth(_source, Settings().replace(**pair_settings))
    out = {}
    for name in ORACLE_MASKS:
        found = run_method(get_method(name), t.mixture, t.sr, t.vocal)
        # Peak-normalised like every extracted vocal the page plays, so A/B compares sound, not loudness.
        out[name] = audio.wav_bytes(audio.peak_normalise(found.vocal), t.sr)
    return out


def oracle_wavs(source: Source, settings: Settings) -> dict:
    """The ideal masks' vocal estimates (:data:`ORACLE_MASKS`) as peak-normalised WAVs, by method name.

    Made on the pair at its true scale, as the scores are (:func:`truth`).
    """
    return _oracle_wavs(source.identity, subset(settings, PAIR_FIELDS), _source=source)


@memo(max_entries=4, ttl=TTL)
def _listening_items(identity: str, pair_settings: dict, names: tuple, _source: Source) -> dict:
    from vsep_core.baselines import get_method, run_method
    from vsep_core.listening import HIDDEN_REFERENCE, LOW_ANCHOR, low_anchor
    from vsep_core.metrics import fit_length, si_sdr

    settings = Settings().replace(**pair_settings)
    t = truth(_source, settings)
    signals = {HIDDEN_REFERENCE: t.vocal, LOW_ANCHOR: low_anchor(t.vocal, t.sr)}
    for name in names:
        signals[name] = run_method(get_method(name, settings.replace(level="as_is")), t.mixture, t.sr, t.vocal).vocal
    wavs = {name: audio.wav_bytes(audio.peak_normalise(x), t.sr) for name, x in signals.items()}
    scores = {name: {"si_sdr": si_sdr(t.vocal, fit_length(x, t.n_samples))} for name, x in signals.items()}
    return {"wavs": wavs, "metrics": scores, "duration_s": t.duration_s}


def listening_items(source: Source, settings: Settings, names) -> dict:
    """The listening test's items (:mod:`vsep_core.listening`): the chosen methods' target estimates, the
    hidden reference and the low anchor, as peak-normalised WAVs with their SI-SDR: ``{"wavs", "metrics",
    "duration_s"}``."""
    return _listening_items(source.identity, subset(settings, PAIR_FIELDS), tuple(names), _source=source)


# --- separation quality ------------------------------------------------------------


@memo(max_entries=4, ttl=TTL)  # what the prefetch on Optimise makes, found here by Results and its reruns
def _evaluation(key: str, _source: Source, _prog: RunRecord, _greedy: RunRecord | None, _emit) -> dict:
    return dispatch.evaluation(experiment_result(_source, _prog, _greedy), truth(_source, _prog.settings), _emit)


def evaluation(source: Source, prog: RunRecord, greedy_rec: RunRecord | None, emit=lambda event: None) -> dict:
    """The runs, oracle ceilings and blind floors scored by :func:`vsep_core.evaluate.evaluate_experiment` (cached).

    Exactly ``evaluate --json``'s report for the same pair and settings, with this session's file
    names in its ``"pair"`` entry (applied here, after the cache).
    """
    metrics = _evaluation(result_key(prog, greedy_rec), _source=source, _prog=prog, _greedy=greedy_rec, _emit=emit)
    names = {k: v for k, v in session_names(source).items() if k in metrics["pair"]}
    return {**metrics, "pair": {**metrics["pair"], **names}}


@memo(max_entries=4, ttl=TTL)
def _quick_scores(key: str, _source: Source, _prog: RunRecord, _greedy: RunRecord | None) -> dict:
    return api.quick_scores(experiment_result(_source, _prog, _greedy), truth(_source, _prog.settings))


def quick_scores(source: Source, prog: RunRecord, greedy_rec: RunRecord | None) -> dict:
    """The runs' SI-SDR only (:func:`vsep_core.evaluate.experiment_si_sdr`): shown while the full report is made."""
    return _quick_scores(result_key(prog, greedy_rec), _source=source, _prog=prog, _greedy=greedy_rec)


# --- full quality (issue #21): a result's EQ on the original mixture at its own rate and channels -----


def _full_quality_compute(identity: str, settings_dict: dict, slices: tuple, scored: bool, _source: Source) -> dict:
    settings = Settings.from_dict(settings_dict)
    p = pair(_source, settings)
    # The engine decodes only the analysed segment of the original file (all its channels, its own rate): memory
    # is bounded by the segment limit the pair was prepared under, never by the whole upload.
    found = api.full_quality(
        _source.mixture,
        p,
        settings,
        slices=slices,
        analysis=analysis(_source, settings, slices),
        target=_source.other if scored else None,
        given=_source.other_kind,
    )
    return _full_quality_record(found)


def _full_quality_record(found) -> dict:
    """What the pages keep of a full-quality outcome: its two WAVs, where and how it was made, its scores."""
    est = found.estimate
    return {
        "target_wav": audio.wav_bytes(est.frames(), est.sr),
        "complement_wav": audio.wav_bytes(np.ascontiguousarray(est.complement_raw.T), est.sr),
        "sr": est.sr,
        "channels": est.channels,
        "start_s": est.start_s,
        "duration_s": est.duration_s,
        "held_hz": est.held_hz,
        "scores": found.scores,
        "seconds": found.seconds,
    }


_full_quality = memo(max_entries=4, ttl=TTL)(_full_quality_compute)


def full_quality(source: Source, settings: Settings, slices, scored: bool = True) -> dict:
    """One seed run's EQ on the original mixture at the file's own rate and channels
    (:func:`vsep_core.api.full_quality`): ``{"target_wav", "complement_wav", "sr", "channels", "start_s",
    "duration_s", "held_hz", "scores", "seconds"}``; the target peak-normalised, ``scores`` ``None`` unless
    ``scored``. Cached up to :data:`SHARED_MAX_S` of audio."""
    compute = _full_quality if _shared(source, settings) else _full_quality_compute
    return compute(source.identity, settings.to_dict(), tuple(slices), bool(scored), _source=source)


def _joint_full_quality_compute(identity: str, settings_dict: dict, key: tuple, _source: Source, _eq) -> dict:
    settings = Settings.from_dict(settings_dict)
    found = api.full_quality(
        _source.mixture, pair(_source, settings), settings, eq=_eq, target=_source.other, given=_source.other_kind
    )
    return _full_quality_record(found)


_joint_full_quality = memo(max_entries=2, ttl=TTL)(_joint_full_quality_compute)


def joint_full_quality(source: Source, settings: Settings, joint_settings, eq) -> dict:
    """A joint matching's EQ (``eq``: its ``result.eq``, made with ``joint_settings``) on the original mixture at
    the file's own rate and channels, scored: as :func:`full_quality`."""
    compute = _joint_full_quality if _shared(source, settings) else _joint_full_quality_compute
    return compute(source.identity, settings.to_dict(), joint_key(joint_settings), _source=source, _eq=eq)
