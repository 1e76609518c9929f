"""Thresholds and limits shared by several modules: each written once, here.

A module that applies one of these imports it from here (and may re-export
it under its old name); the command line reads its defaults from here too,
without importing the heavier modules that apply them.
"""

#: BSS Eval frame length in seconds (SiSEC: 1 s frames, median over frames).
BSS_WINDOW_S = 1.0

#: Furthest lag the alignment check searches by default, in seconds.
MAX_LAG_S = 1.0

#: Below this correlation at the best lag the target explains under 1 % of the
#: mixture's energy: it is not the signal that was mixed (a vocal at −20 dB
#: below its accompaniment would still reach 0.1). Such a pair is unrelated,
#: not misaligned, and has nothing to repair.
MIN_CORRELATION = 0.1

#: Figures above this (dB) are ratios to rounding noise (e.g. the mixture-as-estimate's SAR): views of the
#: scores show ">150" rather than digits that only reflect float rounding; JSON keeps the number.
NOISE_FLOOR_DB = 150.0
