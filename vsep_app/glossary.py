"""Plain words for every method, metric and term the scores use (the glossary on Results)."""

from __future__ import annotations

#: Plain words for every method, metric and term the scores use (the glossary on Results).
GLOSSARY = {
    "seed": "This method (fingerprint EQ): it learns, window by window, a 400-band EQ that makes the mixture's "
            "fingerprint look like the true vocal's. It reads the true vocal, so it is an oracle experiment.",
    "seed_progressive_N": "The progressive run over the first N slices of your order, then the polish.",
    "seed_greedy / seed_greedy_best": "The greedy search's order: the whole sequence, and its best prefix "
                                      "(the steps up to the lowest loss).",
    "polish": "The last pass of every run: one more EQ pass on the plain (raw) spectrogram.",
    "joint": "The improved method (Optimise page, and `evaluate --methods joint`): every window's EQ learned at "
             "once against the fingerprint of the result, with Adam. Also an oracle: it reads the true vocal.",
    "loss": "How far the mixture's fingerprints still are from the vocal's after a run (mean squared difference "
            "of the dB profiles, dB²). Lower is closer; it measures fingerprints, not sound.",
    "exact_eq": "Ceiling (oracle): the best 400-band EQ per window, computed exactly from the true vocal. "
                "Shows the most any per-window EQ could reach.",
    "irm": "Ceiling (oracle): the ideal ratio mask, each time-frequency cell scaled by vocal ÷ (vocal + rest).",
    "ibm": "Ceiling (oracle): the ideal binary mask, each cell kept whole or muted, whichever the vocal dominates.",
    "wiener": "Ceiling (oracle): the ideal Wiener filter, like irm with energies (squared magnitudes).",
    "repet_sim": "Blind: REPET-SIM keeps what repeats (the backing) and calls the rest vocal; it never sees the "
                 "true vocal.",
    "hpss": "Blind: harmonic/percussive separation in two stages; the middle layer is called vocal.",
    "mixture": "The floor: the mixture itself offered as the vocal. Its SAR (artefacts) means nothing: "
               "nothing was processed, so it shows as —.",
    "SI-SDR": "Scale-invariant signal-to-distortion ratio (dB): how much of the estimate is the true vocal, "
              "whatever its loudness. Every 3 dB more is half the error energy. Higher is better.",
    "SDR": "Signal-to-distortion ratio (dB, BSS Eval): like SI-SDR but the estimate may be filtered a little "
           "to fit; counts everything wrong (leftover backing, artefacts). Higher is better.",
    "SIR": "Signal-to-interference ratio (dB): how little of the other source (for the vocal: the backing) "
           "leaks into the estimate. Higher is better.",
    "SAR": "Signal-to-artefacts ratio (dB): how little new noise or distortion the method itself added. "
           "Higher is better.",
    "phase_oracle": "Ceiling (oracle): the true vocal's magnitude in every bin with the mixture's phase. What "
                    "any method that keeps the mixture's phase (as this one does) could reach at most.",
    "uSDR": "Whole-signal SDR (dB) as the Music Demixing challenges (2021, 2023) and the MVSep leaderboard "
            "report it: 10·log10(Σ s² / Σ (s − ŝ)²) over the whole signal, no filters, no frames (ε = 1e-8 "
            "as Music-Source-Separation-Training's utils/metrics.py). The SDR column is BSS Eval's instead "
            "(median over 1 s frames, as SiSEC 2018). Higher is better.",
    "bleedless": "Music-Source-Separation-Training's bleedless (0–100, utils/metrics.py bleed_full): the mel "
                 "spectrograms (512 bands, STFT 4096/1024) of estimate and truth in dB, and 100 / (1 + the mean "
                 "of the positive differences): 100 when the estimate has no energy the truth lacks (no "
                 "bleed). Used on the MVSep leaderboard because metrics and ears disagree.",
    "fullness": "Music-Source-Separation-Training's fullness (0–100): 100 / (1 + the mean of the negative "
                "differences' size), as bleedless: 100 when the estimate lost none of the truth's energy.",
    "SIR/SAR split": "Whether BSS Eval's split of the error into interference (SIR) and artefacts (SAR) passed "
                     "its stability check (vsep_core.bss_split): the split must be possible for an estimate with "
                     "that SDR, and must not move by more than 2 dB when the last quarter of the signal is left "
                     "out. Where it fails, read SDR and SI-SDR; the split is an artefact of the filter fit.",
}

LOSS_VS_QUALITY = ("Why the lowest loss and the best SI-SDR can be different runs: the loss compares "
                   "fingerprints (each window's 400-point dB profile, range-normalised) with the vocal's, while "
                   "SI-SDR compares the rebuilt waveform with the true vocal, so a run can match the fingerprints "
                   "more closely and still sound less like the vocal.")
