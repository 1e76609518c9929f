"""uSDR, bleedless and fullness (vsep_core.field_metrics) against their reference definitions.

The reference is Music-Source-Separation-Training's ``utils/metrics.py`` (ZFTurbo/Music-Source-Separation-
Training, commit ccc011abf7f89dd7922bb2888d48493b575c0289): functions ``sdr`` and ``bleed_full``. They need
torch and torchaudio, which vsep does not install, so each is re-typed below statement by statement in numpy,
with the torch call it stands for beside it (torch.stft with center=True and pad_mode="constant" frames the
zero-padded signal; torch.hann_window is the periodic Hann window; torchaudio's AmplitudeToDB("magnitude",
top_db=80) is 20·log10(clamp(x, 1e-10)) floored 80 dB below the whole tensor's maximum for 2-D/3-D input).
MSST computes in float32; these re-typings follow it, so figures agree to float32 rounding.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from vsep_core.field_metrics import bleed_full, field_metrics, usdr
from vsep_core.metrics import evaluate_estimate

SR = 22050


# --- the reference, re-typed ------------------------------------------------------------------------


def msst_sdr(references: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    # utils/metrics.py, def sdr (shapes (num_sources, num_channels, num_samples))
    eps = 1e-8  # to avoid numerical errors
    num = np.sum(np.square(references), axis=(1, 2))
    den = np.sum(np.square(references - estimates), axis=(1, 2))
    num += eps
    den += eps
    return 10 * np.log10(num / den)


def msst_bleed_full(reference, estimate, sr=44100, n_fft=4096, hop_length=1024, n_mels=512):
    # utils/metrics.py, def bleed_full; reference, estimate: (channels, time)
    reference = reference.astype(np.float32)  # torch.from_numpy(reference).float()
    estimate = estimate.astype(np.float32)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)  # torch.hann_window

    def torch_stft_abs(x):  # torch.abs(torch.stft(x, n_fft, hop_length, window=window, return_complex=True,
        #                                       pad_mode="constant"))  (center=True by default)
        padded = np.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)), mode="constant")
        n_frames = 1 + (padded.shape[1] - n_fft) // hop_length
        out = np.empty((x.shape[0], n_fft // 2 + 1, n_frames), dtype=np.float32)
        for c in range(x.shape[0]):
            for t in range(n_frames):
                frame = padded[c, t * hop_length : t * hop_length + n_fft] * window
                out[c, :, t] = np.abs(np.fft.rfft(frame))
        return out

    D1 = torch_stft_abs(reference)
    D2 = torch_stft_abs(estimate)
    mel_basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    S1_mel = np.matmul(mel_basis, D1)  # torch.matmul(mel_filter_bank, D1)
    S2_mel = np.matmul(mel_basis, D2)

    def amplitude_to_db(x):  # AmplitudeToDB(stype="magnitude", top_db=80)
        x_db = 20.0 * np.log10(np.maximum(x, 1e-10))
        return np.maximum(x_db, x_db.max() - 80)

    S1_db = amplitude_to_db(S1_mel)
    S2_db = amplitude_to_db(S2_mel)
    diff = S2_db - S1_db
    positive_diff = diff[diff > 0]
    negative_diff = diff[diff < 0]
    average_positive = np.mean(positive_diff) if positive_diff.size > 0 else 0.0
    average_negative = np.mean(negative_diff) if negative_diff.size > 0 else 0.0
    bleedless = 100 * 1 / (average_positive + 1)
    fullness = 100 * 1 / (-average_negative + 1)
    return bleedless, fullness


# --- fixed signals --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signals():
    rng = np.random.default_rng(11)
    t = np.arange(int(1.5 * SR)) / SR
    reference = 0.3 * np.sin(2 * np.pi * 220 * t) * (t > 0.3) + 0.05 * rng.standard_normal(len(t))
    other = 0.2 * np.sign(np.sin(2 * np.pi * 3 * t)) * rng.standard_normal(len(t))
    estimate = 0.8 * reference + 0.1 * other + 0.01 * rng.standard_normal(len(t))
    return reference, estimate


def test_usdr_is_msst_sdr(signals):
    reference, estimate = signals
    expected = msst_sdr(reference[None, None, :], estimate[None, None, :])[0]
    assert usdr(reference, estimate) == pytest.approx(expected, abs=1e-12)
    stereo_ref, stereo_est = np.stack([reference, estimate]), np.stack([estimate, reference])
    assert usdr(stereo_ref, stereo_est) == pytest.approx(msst_sdr(stereo_ref[None], stereo_est[None])[0], abs=1e-12)
    # By hand: half the reference leaves half its amplitude as error, 6.02 dB.
    assert usdr(reference, 0.5 * reference) == pytest.approx(20 * np.log10(2), abs=1e-6)


@pytest.mark.parametrize("sr", [SR, 44100])
def test_bleedless_and_fullness_are_msst_bleed_full(signals, sr):
    reference, estimate = signals
    ours = bleed_full(reference, estimate, sr)
    theirs = msst_bleed_full(reference[None, :], estimate[None, :], sr=sr)
    assert ours == pytest.approx(theirs, rel=1e-4)
    stereo = np.stack([reference, 0.7 * reference]), np.stack([estimate, reference])
    assert bleed_full(*stereo, sr) == pytest.approx(msst_bleed_full(*stereo, sr=sr), rel=1e-4)


def test_bleed_full_by_hand():
    # Twice the reference: +6.02 dB in every mel cell (the floor moves with the peak): all bleed, nothing lost.
    reference = np.random.default_rng(2).standard_normal(SR)
    bleedless, fullness = bleed_full(reference, 2 * reference, SR)
    assert bleedless == pytest.approx(100 / (1 + 20 * np.log10(2)), rel=1e-9) and fullness == 100.0
    bleedless, fullness = bleed_full(reference, 0.5 * reference, SR)
    assert bleedless == 100.0 and fullness == pytest.approx(100 / (1 + 20 * np.log10(2)), rel=1e-9)
    assert bleed_full(reference, reference, SR) == (100.0, 100.0)
    with pytest.raises(ValueError):
        bleed_full(reference, reference[:-1], SR)


def test_evaluate_estimate_reports_them_beside_bss_eval(signals):
    reference, estimate = signals
    rest = np.random.default_rng(5).standard_normal(len(reference)) * 0.1
    out = evaluate_estimate(reference, rest, estimate[:-100], rest, SR)
    fitted = np.concatenate([estimate[:-100], np.zeros(100)])  # fitted to the reference's length
    assert out["vocal"]["usdr"] == pytest.approx(usdr(reference, fitted))
    assert out["vocal"] == pytest.approx({**out["vocal"], **field_metrics(reference, fitted, SR)})
    assert out["instrumental"]["usdr"] > 100  # the instrumental estimate is exact
