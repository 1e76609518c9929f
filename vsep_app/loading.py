"""Turning what the user gives (a sample, uploads, a recording) into the active pair.

Each function builds a :class:`~vsep_app.state.Source`, prepares it once
with the active settings so that bad input fails here with a
:class:`~vsep_core.errors.VsepError` (and the previously loaded pair stays),
and only then makes it the session's active pair.
"""

from __future__ import annotations

import numpy as np

from vsep_core import audio
from vsep_core.audio import Decoded
from vsep_core.errors import VsepError
from vsep_core.settings import Settings

from . import cache, recorder, sample, state
from .state import Source


def activate(source: Source, settings: Settings) -> Source:
    """Check that ``source`` prepares with ``settings``, then make it the active pair.

    Raises
    ------
    VsepError
        When it does not; the active pair is left as it was.
    """
    try:
        cache.pair(source, settings)
    except VsepError as exc:
        if source.origin != "upload":
            raise
        # The engine names files by role; say which files were read, so a message is never taken for
        # one about a file chosen earlier.
        raise VsepError(
            f"{exc} (Read: mixture “{source.mixture_name}”, {source.other_kind} “{source.other_name}”.)"
        ) from exc
    state.set_source(source)
    return source


def sample_source(pair: sample.SamplePair, target_name: str = "vocals") -> Source:
    """A bundled sample with one of its stems as the target (the vocal by default)."""
    from vsep_core.stems import target_name as canonical

    target_name = canonical(target_name)
    if target_name == "vocals":
        return Source.create(
            label=pair.title,
            origin="sample",
            mixture=pair.read("mixture"),
            other=pair.read("vocal"),
            other_kind="vocal",
            mixture_name=pair.path("mixture").name,
            other_name=pair.path("vocal").name,
            instrumental=pair.read("instrumental"),
            note=pair.description,
        )
    return Source.create(
        label=f"{pair.title} · target: {target_name}",
        origin="sample",
        mixture=pair.read("mixture"),
        other=pair.read_stem(target_name),
        other_kind="vocal",
        mixture_name=pair.path("mixture").name,
        other_name=f"{target_name}.wav",
        note=pair.description,
        target_name=target_name,
        companion_vocal=pair.read("vocal"),
    )


def companion_vocal_source(source: Source) -> Source | None:
    """The same song with its vocal as the target, when ``source`` targets another stem of a bundled sample."""
    if source.target_name == "vocals" or source.companion_vocal is None:
        return None
    return Source.create(
        label=source.label,
        origin=source.origin,
        mixture=source.mixture,
        other=source.companion_vocal,
        other_kind="vocal",
        mixture_name=source.mixture_name,
        other_name="vocal.wav",
        note=source.note,
    )


#: Longest file name kept for display (a hostile name can be thousands of characters).
MAX_NAME_CHARS = 80


def upload_cap_mb() -> int:
    """The upload cap per file (``server.maxUploadSize`` in ``.streamlit/config.toml``), in MB."""
    import streamlit as st

    return int(st.get_option("server.maxUploadSize"))


def session_upload_total_mb() -> int:
    """What one visitor's uploads may hold together, in MB (the server's gate, ``vsep_app/gate.py``)."""
    from vsep_app.gate import session_upload_total

    return int(session_upload_total() / (1024 * 1024))


def missing_file_message(role: str) -> str:
    return (
        f"No {role} file is chosen. A file over {upload_cap_mb()} MB, or one that takes your uploads over "
        f"{session_upload_total_mb()} MB together, is refused before it reaches the server (a red mark next "
        "to the file's name); so is a file whose upload failed. Choose it again, or a smaller copy (FLAC or "
        "MP3)."
    )


def upload_source(mixture, other, other_kind: str, target_name: str = "vocals") -> Source:
    """A source from two uploaded files (``st.file_uploader`` values or ``(name, bytes)``).

    Raises
    ------
    VsepError
        When a file is missing (not chosen, refused by the browser for its size, failed to upload),
        over the upload cap or empty. Whether it is audio is checked by :func:`activate`.
    """
    from vsep_core.stems import labels

    names = labels(target_name)  # which stem the target is (the vocal by default)
    role_other = f"isolated {names.target}" if other_kind == "vocal" else names.complement
    if mixture is None:
        raise VsepError(missing_file_message("mixture"))
    if other is None:
        raise VsepError(missing_file_message(role_other))
    cap = upload_cap_mb()
    files = []
    for role, item in (("mixture", mixture), (role_other, other)):
        name, data = _name_bytes(item)
        if len(data) > cap * 1024 * 1024:  # the browser checks this too; a hostile client may not
            raise VsepError(f"The {role} file “{name}” is {len(data) / 1e6:.1f} MB; the limit is {cap} MB per file.")
        if len(data) == 0:
            raise VsepError(f"The {role} file “{name}” is empty (0 bytes).")
        files.append((name, data))
    (mix_name, mix_bytes), (other_name, other_bytes) = files
    return Source.create(
        label=f"{mix_name} + {other_name}",
        origin="upload",
        mixture=mix_bytes,
        other=other_bytes,
        other_kind=other_kind,
        mixture_name=mix_name,
        other_name=other_name,
        target_name=names.name,
        note=f"Uploaded: mixture {mix_name}, "
        f"{names.target if other_kind == 'vocal' else names.complement} {other_name}.",
    )


def display_name(name: str) -> str:
    """A file name as the user sees it: no folders, no control characters, at most :data:`MAX_NAME_CHARS`
    (the one helper the command line uses too, :func:`vsep_core.text.display_name`)."""
    from vsep_core.text import display_name as shown

    return shown(name, MAX_NAME_CHARS)


def _name_bytes(item) -> tuple[str, bytes]:
    if isinstance(item, tuple):
        return display_name(item[0]), bytes(item[1])
    return display_name(getattr(item, "name", "file")), item.getvalue()


def recording_source(take: recorder.Take, instrumental: Decoded, instrumental_name: str, level_db: float) -> Source:
    """A pair made by mixing a recorded vocal over an instrumental at ``level_db``."""
    mixed = recorder.mix_over(take.decoded, instrumental, level_db)
    sr = mixed["sr"]
    return Source.create(
        label=f"Your recording over {instrumental_name} ({level_db:+.0f} dB)",
        origin="recording",
        mixture=audio.wav_bytes(mixed["mixture"], sr, subtype="FLOAT"),
        other=audio.wav_bytes(mixed["vocal"], sr, subtype="FLOAT"),
        other_kind="vocal",
        mixture_name="recorded_mixture.wav",
        other_name="recorded_vocal.wav",
        instrumental=audio.wav_bytes(mixed["instrumental"], sr, subtype="FLOAT"),
        note=f"A {len(mixed['vocal']) / sr:.1f} s recording mixed over {instrumental_name} with the vocal "
        f"{level_db:+.1f} dB against the instrumental (RMS).",
    )


#: The most samples (per channel) of a target file the alignment fix rewrites: 20 minutes at 48 kHz.
MAX_ALIGN_SAMPLES = 20 * 60 * 48_000


def aligned_source(source: Source, alignment: dict, settings: Settings) -> Source:
    """The source with its target file delayed and scaled as the alignment check found.

    The lag (found at the analysis rate) is applied to the whole file at its
    own rate (mixed to mono, as the analysis uses it), together with the
    gain; the result is stored as a lossless float WAV.
    """
    from vsep_core.alignment import apply_alignment

    # The fix rewrites the whole file at its own rate (mono, 32-bit float): refuse what would be huge in
    # memory (a small FLAC of 20 minutes at 192 kHz is 229 M samples, 0.9 GB) before decoding it.
    info = audio.probe(source.other, name=source.other_label)
    samples = (
        info.frames if info.frames >= 0 else int((info.duration_s if np.isfinite(info.duration_s) else 0) * info.sr)
    )
    if samples > MAX_ALIGN_SAMPLES:
        raise VsepError(
            f"The {source.other_label} file is too long at its sample rate to be rewritten here "
            f"({samples / 1e6:.0f} million samples; the limit is {MAX_ALIGN_SAMPLES / 1e6:.1f} million, "
            "20 minutes at 48 kHz). Measure it aligned with the command line (evaluate --apply-alignment), or "
            "upload a copy at 48 kHz or less."
        )
    other = cache.decoded_other(source)
    lag = int(round(alignment["lag_samples"] * other.sr / settings.sr))
    gain = float(alignment["gain"])
    fixed = apply_alignment(audio.to_mono(other.samples), lag, gain)
    peak = float(np.max(np.abs(fixed)))
    if peak > 1.0:  # keep the file in range; the level modes re-normalise anyway
        fixed = fixed / np.float32(peak)
    name = source.other_name.rsplit(".", 1)[0] + "_aligned.wav"
    return Source.create(
        label=source.label + " (aligned)",
        origin=source.origin,
        mixture=source.mixture,
        other=audio.wav_bytes(fixed, other.sr, subtype="FLOAT"),
        other_kind=source.other_kind,
        mixture_name=source.mixture_name,
        other_name=name,
        instrumental=source.instrumental if source.other_kind == "vocal" else None,
        target_name=source.target_name,
        companion_vocal=source.companion_vocal,
        note=source.note + f" The {source.other_label} was delayed by {lag} samples "
        f"({1000 * lag / other.sr:.1f} ms) and scaled by {gain:.3f}.",
    )
