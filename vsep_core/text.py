"""Names and text from outside, made safe to show: in a terminal, a CSV cell, a report or a page.

A file or folder name is whatever its owner typed: it may hold terminal
escape sequences (``ESC [ 2 J`` clears the screen), bidirectional controls
(U+202E RIGHT-TO-LEFT OVERRIDE shows ``evil\u202eflac.exe`` as
``evilexe.calf``), a formula a spreadsheet runs when the CSV is opened
(``=HYPERLINK(…)``, OWASP "CSV injection"), or 5,000 characters. The
command line, the batch CSVs and the dashboard all pass names through these
few functions, so every place shows the same thing.
"""

from __future__ import annotations

import unicodedata

#: Longest name shown or used, in characters (longer ones keep their start and end an ellipsis).
MAX_NAME_CHARS = 80

#: What a spreadsheet reads as the start of a formula (OWASP: =, +, -, @, tab, carriage return).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def printable(text) -> str:
    """``text`` without control, format (bidirectional overrides, zero-width) or unassigned characters.

    Keeps letters, digits, punctuation, symbols and spaces of every script;
    drops C0/C1 controls (so no terminal escape sequence survives: ESC is
    gone), Unicode category Cf (U+202A–U+202E, U+2066–U+2069, U+200B …),
    surrogates, private-use and unassigned code points, and line or paragraph
    separators. What ``str.isprintable`` accepts, plus the ordinary space.
    """
    return "".join(ch for ch in str(text) if ch.isprintable())


def display_name(name, max_chars: int = MAX_NAME_CHARS) -> str:
    """A file name as a person sees it: no folders, nothing :func:`printable` drops, at most ``max_chars``.

    Parameters
    ----------
    name : str or path
        A file name or path (only its last part is kept; ``\\`` counts as a separator).
    max_chars : int
        The bound; a longer name keeps its first ``max_chars - 1`` characters and ends with "…".

    Returns
    -------
    str
        Never empty ("file" when nothing printable is left).
    """
    if max_chars < 2:
        raise ValueError(f"max_chars must be at least 2, got {max_chars!r}")
    base = str(name).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    clean = unicodedata.normalize("NFC", printable(base)).strip() or "file"
    return clean if len(clean) <= max_chars else clean[: max_chars - 1] + "…"


def terminal_text(text) -> str:
    """``text`` for a terminal: every line made :func:`printable` (no escape sequence, no bidi control).

    Line breaks are kept; tabs become spaces; everything else :func:`printable` drops is dropped.
    """
    return "\n".join(printable(line.replace("\t", " ")) for line in str(text).split("\n"))


def csv_cell(value):
    """A value for a CSV cell that no spreadsheet runs as a formula.

    Non-strings are returned as they are (a negative number is a number).
    A string is made :func:`printable` first (tabs and carriage returns
    included), and one that would then start a formula (:data:`FORMULA_STARTS`)
    is prefixed with an apostrophe, as OWASP advises, so it shows as text.
    """
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
