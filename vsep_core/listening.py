"""Judging by ear: a MUSHRA-style listening trial (ITU-R BS.1534) over chosen separations.

A trial holds the chosen results plus a **hidden reference** (the true target itself, which a careful
listener rates 100) and a **low anchor** (the true target low-passed at 3.5 kHz, the standard's anchor),
in an order shuffled from a seed and labelled A, B, C … so the listener does not know which is which.
Each gets a 0–100 rating; the ratings are saved as CSV and JSON beside the metrics of the same
estimates, so ears and numbers can be compared.
"""

from __future__ import annotations

import csv
import io
import json
import string

import numpy as np

from .errors import VsepError

HIDDEN_REFERENCE = "hidden reference"
LOW_ANCHOR = "low anchor (3.5 kHz)"
ANCHOR_CUTOFF_HZ = 3500.0
#: MUSHRA's scale: 0–100 in five bands.
SCALE = ((80, "excellent"), (60, "good"), (40, "fair"), (20, "poor"), (0, "bad"))
#: How many items one screen holds (the standard: at most 12 plus reference and anchor).
MAX_ITEMS = 12
#: The ratings' files in a results folder, its ZIP and a shared result (the listening page's download names).
RATINGS_CSV = "listening_ratings.csv"
RATINGS_JSON = "listening_ratings.json"


def low_anchor(reference: np.ndarray, sr: int, cutoff_hz: float = ANCHOR_CUTOFF_HZ) -> np.ndarray:
    """The reference low-passed at ``cutoff_hz`` (zero phase, 8th-order Butterworth): MUSHRA's low anchor."""
    from scipy.signal import butter, sosfiltfilt

    if not 0 < cutoff_hz < sr / 2:
        raise VsepError(f"The anchor's cut-off must lie between 0 and {sr / 2:g} Hz, got {cutoff_hz!r}.")
    sos = butter(8, cutoff_hz, btype="low", fs=sr, output="sos")
    return sosfiltfilt(sos, np.asarray(reference, dtype=np.float64)).astype(np.float32)


def make_trial(names, seed: int) -> list[dict]:
    """The items of a trial in shuffled order: ``[{"label": "A", "name": ...}, …]``.

    Parameters
    ----------
    names : sequence of str
        The chosen results (1 … :data:`MAX_ITEMS`, no duplicates); the hidden reference and the
        low anchor are added.
    seed : int
        Decides the order (a new trial: a new seed).
    """
    names = list(names)
    if not names:
        raise VsepError("Choose at least one result to rate.")
    if len(names) > MAX_ITEMS:
        raise VsepError(f"A trial holds at most {MAX_ITEMS} results (MUSHRA's limit); {len(names)} were chosen.")
    if len(set(names)) != len(names) or {HIDDEN_REFERENCE, LOW_ANCHOR} & set(names):
        raise VsepError("Each result can be chosen once, and the reference and anchor are added by the trial.")
    items = [*names, HIDDEN_REFERENCE, LOW_ANCHOR]
    order = np.random.default_rng(seed).permutation(len(items))
    return [{"label": string.ascii_uppercase[i], "name": items[k]} for i, k in enumerate(order)]


def grade(rating: float) -> str:
    """The MUSHRA band of a rating ("excellent" … "bad")."""
    for floor, word in SCALE:
        if rating >= floor:
            return word
    return "bad"


def ratings_rows(trial: list[dict], ratings: dict, metrics: dict | None = None) -> list[dict]:
    """One row per item: label, what it was, its rating and band, and its metrics (``metrics[name]``)."""
    rows = []
    for item in trial:
        if item["label"] not in ratings:
            raise VsepError(f"Item {item['label']} has no rating.")
        value = float(ratings[item["label"]])
        if not 0 <= value <= 100:
            raise VsepError(f"Ratings lie between 0 and 100; item {item['label']} has {value:g}.")
        rows.append(
            {
                "label": item["label"],
                "item": item["name"],
                "rating": value,
                "grade": grade(value),
                **{k: v for k, v in ((metrics or {}).get(item["name"]) or {}).items()},
            }
        )
    return rows


def ratings_csv(rows: list[dict]) -> str:
    """The rows as CSV (the columns of the first row and any later ones, in order)."""
    fields = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def ratings_json(rows: list[dict], **info) -> str:
    """The rows and what the trial was (pair, segment, seed …) as JSON."""
    from .jsonio import json_text

    return json_text(
        {"test": "MUSHRA-style (ITU-R BS.1534): hidden reference and 3.5 kHz low anchor", **info, "ratings": rows}
    )


def ratings_files(rows: list[dict], info: dict) -> dict:
    """The ratings as files, ``{RATINGS_CSV: bytes, RATINGS_JSON: bytes}``: what the page's two buttons offer."""
    return {RATINGS_CSV: ratings_csv(rows).encode(), RATINGS_JSON: ratings_json(rows, **info).encode()}


def read_ratings(data: bytes) -> dict:
    """:data:`RATINGS_JSON`'s bytes back as ``{"rows": [...], "info": {...}}``, checked.

    Raises
    ------
    VsepError
        Not a ratings file (no list of rows each with a label, an item and a rating from 0 to 100).
    """
    try:
        loaded = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise VsepError("The listening ratings are not readable JSON.") from None
    rows = loaded.get("ratings") if isinstance(loaded, dict) else None
    if (
        not isinstance(rows, list)
        or not rows
        or not all(
            isinstance(r, dict)
            and isinstance(r.get("label"), str)
            and isinstance(r.get("item"), str)
            and isinstance(r.get("rating"), (int, float))
            and 0 <= r["rating"] <= 100
            for r in rows
        )
    ):
        raise VsepError("The listening ratings file holds no ratings (label, item and a rating from 0 to 100).")
    # Only what a row of ratings_rows holds: its words (the grade made again) and numbers, nothing else.
    clean = [
        {
            "label": r["label"],
            "item": r["item"],
            "rating": float(r["rating"]),
            "grade": grade(r["rating"]),
            **{
                k: v
                for k, v in r.items()
                if k not in ("label", "item", "rating", "grade")
                and (v is None or isinstance(v, (int, float)) and not isinstance(v, bool))
            },
        }
        for r in rows
    ]
    return {"rows": clean, "info": {k: v for k, v in loaded.items() if k != "ratings"}}


def post_screening(rows: list[dict]) -> str | None:
    """The standard's check of a listener: the hidden reference rated 90 or more. A sentence when not."""
    ref = [r for r in rows if r["item"] == HIDDEN_REFERENCE]
    if ref and ref[0]["rating"] < 90:
        return (
            f"The hidden reference ({ref[0]['label']}) got {ref[0]['rating']:.0f}: MUSHRA's post-screening "
            "would leave out a listener who rates it below 90. Listen again against the reference."
        )
    return None
