"""Every limit the dashboard sets on work and memory, in one place (figures behind them: BENCHMARKS.md)."""

from __future__ import annotations

import os

from vsep_core import audio

#: The alignment check reads at most this much of the segment (a lag and a gain show in any 30 s;
#: the whole song's check takes seconds).
ALIGNMENT_EXCERPT_S = 30.0

#: Cells of a slice heatmap on screen (rows × columns): about one per pixel at four views per row.
#: Fewer cells draw faster in the browser.
DISPLAY_CELLS = (100, 160)

#: The dashboard's analysed-segment limit when ``VSEP_MAX_SEGMENT_S`` is not set (seconds, before the
#: engine's 2/3 for kept audio: 50 s at the default hop). A session's memory grows with the segment and
#: with N (every run's audio is kept); this keeps a session under 1.5 GB on a shared server (measured:
#: BENCHMARKS.md); a server for one person can raise it (docs/SERVING.md).
APP_MAX_SEGMENT_S = 75.0


def app_segment_limit_s() -> float:
    """``$VSEP_MAX_SEGMENT_S`` if set, else :data:`APP_MAX_SEGMENT_S` (the engine checks the value)."""
    return audio.segment_limit_s(None) if os.environ.get("VSEP_MAX_SEGMENT_S", "").strip() else APP_MAX_SEGMENT_S


#: Runs of segments longer than this (seconds) are not kept in the shared caches: each holds every run's
#: audio (hundreds of MB for a long segment), and a second visitor with the same long
#: song and settings is unlikely. They live in the session that ran them (its RunRecord) and nowhere else.
SHARED_MAX_S = 30.0


def kept_in_shared_caches(duration_s: float) -> bool:
    """Whether results of a segment this long are kept in the caches every session shares."""
    return duration_s <= SHARED_MAX_S


#: Separation quality is measured without asking (and prefetched from Optimise) for segments up to this long.
AUTO_MEASURE_S = 30.0


#: Longest segment offered in the A/B player: both WAVs travel inside the page (base64), 60 s ≈ 3.5 MB.
AB_MAX_S = 60.0

#: Longest segment whose Results page shows a player for every run (about 22 at N = 18, each a WAV of the whole
#: segment made for it and held by the server while shown: 2.6 MB a minute); a longer one plays the run chosen.
EVERY_RUN_PLAYED_MAX_S = 60.0


#: What the Results page's per-run views keep for the whole server, in bytes (:mod:`vsep_app.memo`'s
#: ``max_bytes``): the EQ curves of two 3-minute runs (19 passes × 400 × 3,817 windows, float32: 87 MB each),
#: or of one run of the longest segment the engine's default limits let a session keep with its audio (4
#: minutes, 155 MB; up to 6 minutes fit: a result over the budget would be made again at every page run), and
#: four 3-minute spectrograms (16 MB each). Browsing more runs makes them again
#: instead of keeping each (main kept four curves and sixteen spectrograms whatever their size).
EQ_CURVES_MAX_BYTES = 256 * 2**20
RUN_SPECTROGRAMS_MAX_BYTES = 64 * 2**20
