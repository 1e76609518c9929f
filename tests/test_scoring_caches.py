"""Scoring keeps a pair's references while it scores its methods, and forgets them when done (issue #19).

A whole song's references (BSS Eval's correlations and frames, the mel dB of bleedless and fullness) are
about 230 MB; a server kept them after every scoring until the next pair's. Now the scoring loop and the
full-quality scoring let them go when they are done, and the figures are the same as with them kept.
"""

from __future__ import annotations

import numpy as np
from conftest_eval import eval_dir, eval_pair  # noqa: F401  (fixtures)

from vsep_core import bss, field_metrics
from vsep_core.evaluate import Candidate, evaluation_settings, score
from vsep_core.metrics import evaluate_estimate
from vsep_core.separators.base import Separation


def _kept() -> tuple[int, int]:
    return len(bss._CACHE), len(field_metrics._REFERENCE_CACHE)


def _candidates(seen: list) -> list[Candidate]:
    """Two simple estimates; each notes, when it starts, what the scoring keeps of the references."""

    def scaled(gain):
        def separate(truth):
            seen.append(_kept())
            vocal = (gain * truth.mixture).astype(np.float32)
            return Separation(vocal=vocal, instrumental=(truth.mixture - vocal).astype(np.float32))

        return separate

    return [Candidate(f"gain_{g}", "blind", "a share of the mixture", scaled(g)) for g in (0.3, 0.6)]


def test_the_references_serve_every_method_of_a_scoring_then_are_let_go(eval_pair):  # noqa: F811
    seen = []
    report = score(eval_pair, _candidates(seen), settings=evaluation_settings(), workers=1)
    assert [m["error"] for m in report["methods"]] == [None, None]
    # The second method starts after the first was scored: the references are there for it.
    assert seen[1] == (1, 2)
    assert _kept() == (0, 0)


def test_the_figures_are_those_of_references_kept_or_made_again(eval_pair):  # noqa: F811
    settings = evaluation_settings()
    first = score(eval_pair, _candidates([]), settings=settings, workers=1)
    again = score(eval_pair, _candidates([]), settings=settings, workers=1)  # the references made afresh
    # Scored one by one, each against references made for it alone: the same figures, bit for bit.
    vocal_ref = eval_pair.vocal.astype(np.float64)
    rest_ref = eval_pair.mixture.astype(np.float64) - vocal_ref
    for entry, other in zip(first["methods"], again["methods"]):
        gain = float(entry["name"].split("_")[1])
        vocal = (gain * eval_pair.mixture).astype(np.float32)
        alone = evaluate_estimate(
            vocal_ref, rest_ref, vocal, (eval_pair.mixture - vocal).astype(np.float32), eval_pair.sr
        )
        assert _kept() == (1, 2)  # evaluate_estimate on its own keeps them, as before
        for source in ("vocal", "instrumental"):
            assert entry[source] == other[source]
            assert entry[source] == alone[source]
    from vsep_core.metrics import release_reference_caches

    release_reference_caches()
    assert _kept() == (0, 0)


def test_scorings_inside_an_outer_one_share_the_references_and_the_outermost_lets_them_go(eval_pair):  # noqa: F811
    from vsep_core.metrics import references_kept

    settings = evaluation_settings()
    with references_kept():
        score(eval_pair, _candidates([]), settings=settings, workers=1)
        assert _kept() == (1, 2)  # an inner scoring keeps them for the next one
        seen = []
        score(eval_pair, _candidates(seen), settings=settings, workers=1)
        assert seen[0] == (1, 2)  # the next scoring's first method finds them
    assert _kept() == (0, 0)


def test_the_clis_full_quality_runs_make_a_mono_targets_references_once(monkeypatch):
    """``full_quality_runs`` scores every run against one target: its references are made once, then let go."""
    import io

    import soundfile as sf
    from stereo_support import stereo_pair

    from vsep_core import api
    from vsep_core.audio import prepare_pair
    from vsep_core.settings import Settings

    made = []
    real = bss._References

    class Counted(real):
        def __init__(self, *args, **kwargs):
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(bss, "_References", Counted)
    mixture, vocal, _ = stereo_pair(seconds=2.0)
    mono = io.BytesIO()
    samples, sr = sf.read(io.BytesIO(vocal), dtype="float32")
    sf.write(mono, samples.mean(axis=1), sr, format="WAV", subtype="FLOAT")  # scored once, on the mono down-mix
    settings = Settings(duration_s=1.5)
    pair = prepare_pair(mixture, vocal=mono.getvalue(), settings=settings)
    runs = {"0": (), "1": ("slice_1_horizontal",), "2": ("slice_1_horizontal", "slice_2_vertical")}
    out = api.full_quality_runs(mixture, pair, settings, runs, target=mono.getvalue())
    assert all(found.scores["channel_scoring"] == "mono down-mix" for found in out.values())
    assert len(made) == 1  # one reference set for the three runs (each is one BSS Eval of two sources)
    assert _kept() == (0, 0)
