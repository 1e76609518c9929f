"""prepare_pair decodes the two files at once: the same pair, bit for bit, and the same first error."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from vsep_core.audio import decode, prepare_pair
from vsep_core.errors import VsepError
from vsep_core.settings import Settings


@pytest.fixture(scope="module")
def stereo_44k(tmp_path_factory, eval_pair_dir):
    """The bundled pair as 44.1 kHz stereo FLAC (decoding and resampling, as users' files need)."""
    from vsep_core.prepare import _resampled

    folder = tmp_path_factory.mktemp("flac")
    paths = {}
    for name in ("mixture", "vocal"):
        y, sr = sf.read(eval_pair_dir / f"{name}.wav", dtype="float32")
        up = _resampled(y if y.ndim == 1 else y.mean(axis=1), sr, Settings(sr=44100))
        stereo = np.stack([up, 0.5 * up], axis=1)
        paths[name] = folder / f"{name}.flac"
        sf.write(paths[name], stereo, 44100, subtype="PCM_24")
    return paths


def test_files_decoded_at_once_equal_one_after_the_other(stereo_44k):
    settings = Settings()
    at_once = prepare_pair(stereo_44k["mixture"], vocal=stereo_44k["vocal"], settings=settings)
    # Decoded objects take the one-after-the-other path.
    mixture = decode(stereo_44k["mixture"], name="mixture")
    vocal = decode(stereo_44k["vocal"], name="vocal")
    in_turn = prepare_pair(mixture, vocal=vocal, settings=settings)
    assert at_once.sr == in_turn.sr == settings.sr
    np.testing.assert_array_equal(at_once.mixture, in_turn.mixture)
    np.testing.assert_array_equal(at_once.vocal, in_turn.vocal)
    assert at_once.info["mixture_gain"] == in_turn.info["mixture_gain"]
    assert at_once.info["vocal_gain"] == in_turn.info["vocal_gain"]


def test_a_damaged_file_is_named_whichever_side_it_is(stereo_44k, tmp_path):
    damaged = tmp_path / "damaged.flac"
    data = stereo_44k["vocal"].read_bytes()
    damaged.write_bytes(data[: len(data) // 3])  # cut: the header promises more than there is
    with pytest.raises(VsepError, match="vocal"):
        prepare_pair(stereo_44k["mixture"], vocal=damaged)
    with pytest.raises(VsepError, match="mixture"):
        prepare_pair(damaged, vocal=stereo_44k["vocal"])
    with pytest.raises(VsepError, match="mixture"):  # both damaged: the first side's error, as in turn
        prepare_pair(damaged, vocal=damaged)
