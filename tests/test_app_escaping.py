"""Nothing a visitor types or uploads is rendered as Markdown or HTML (issue 17, point 5).

Every entry point that shows a visitor's file name (the uploads' "Ready" lines, the loaded pair's title,
note, sidebar and toast, the error boxes of Upload files and of Record a vocal → Upload an instrumental)
is walked with hostile names under AppTest, and each element's Markdown body is checked: every character
that would start an image, a link, HTML, a colour, emphasis or maths is escaped, and bare addresses are
kept from being linked. ``escape.plain`` is the one helper that does it. The Chromium check that the browser
makes no outside request for such a name is in tests/test_server_hostile.py.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from vsep_app import escape

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
SR = 22050

#: Under the app's 80-character name limit and without "/" (a name keeps what follows its last folder), so
#: nothing of it is cut off. "https:host" is what made the browser fetch an outside address (issue 17).
IMAGE_NAME = "![x](https:127.0.0.1:9999) :red[r] <b>h<b> **b** a.wav"
LINK_NAME = "[l](https:e.x) $x$ www.e.co a@b.co `c` ~~s~~ _u_.wav"
MARKERS = ("9999", "e.x")


def _wav(y) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _pair() -> tuple[bytes, bytes]:
    t = np.arange(SR * 3) / SR
    vocal = 0.3 * np.sin(2 * np.pi * 330 * t)
    return _wav(vocal + 0.3 * np.sin(2 * np.pi * 110 * t)), _wav(vocal)


def formatting_in(body: str) -> list[str]:
    """What Markdown or HTML ``body`` would render: unescaped special characters, emphasis, bare addresses."""
    text = re.sub(r"\\.", "", body)  # an escaped character shows as itself
    if text.startswith("**") and text.endswith("**"):  # the sidebar's own bold around the name
        text = text[2:-2]
    found = [ch for ch in "[]<>`$~|!" if ch in text]
    found += [m for m in ("**", "__", ":red") if m in text]
    resolved = body.replace("\\", "")  # what the text says once escapes are read: bare addresses get linked
    found += re.findall(r"(?i)https?://|www\.|\w@\w", resolved)
    return found


def markdown_bodies(at: AppTest) -> list[str]:
    out = []
    for kind in ("error", "warning", "info", "success", "caption", "markdown", "subheader", "title", "header", "toast"):
        out += [e.value for e in getattr(at, kind)]
    return out


def assert_plain(at: AppTest, expect_at_least: int) -> None:
    assert not at.exception, [e.value for e in at.exception]
    shown = [b for b in markdown_bodies(at) if any(m in b for m in MARKERS)]
    assert len(shown) >= expect_at_least, markdown_bodies(at)
    for body in shown:
        assert formatting_in(body) == [], body


def test_the_helper_escapes_every_construct_and_keeps_the_words():
    for text in (IMAGE_NAME, LINK_NAME, "# title\n- item\n1. one\n> quote", "&lt;b&gt; :material/home: {x}"):
        escaped = escape.plain(text)
        assert formatting_in(escaped) == [], escaped
        assert re.sub(r"\\(.)", r"\1", escaped).replace("\u200b", "") == text  # the same words, shown literally
    assert formatting_in(IMAGE_NAME) and formatting_in(LINK_NAME)  # the check sees them unescaped


def test_hostile_names_of_good_uploads_show_literally_everywhere():
    mixture, vocal = _pair()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.radio(key="load_mode").set_value("Upload files").run()
    at.file_uploader(key="upload_mixture").set_value((IMAGE_NAME, mixture, "audio/wav"))
    at.file_uploader(key="upload_other").set_value((LINK_NAME, vocal, "audio/wav"))
    at.run()
    assert_plain(at, 2)  # the two "Ready" lines
    at.button(key="load_uploads").click().run(timeout=60)
    assert at.session_state["vsep_source"].mixture_name == IMAGE_NAME
    assert_plain(at, 3)  # the title, its note, the sidebar (and the toast)


@pytest.mark.parametrize("where", ["upload", "record"])
def test_hostile_names_in_error_messages_show_literally(where):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if where == "upload":
        mixture, _ = _pair()
        at.radio(key="load_mode").set_value("Upload files").run()
        at.file_uploader(key="upload_mixture").set_value((IMAGE_NAME, b"not audio at all" * 64, "audio/wav"))
        at.file_uploader(key="upload_other").set_value((LINK_NAME, mixture, "audio/wav"))
        at.run()
        at.button(key="load_uploads").click().run(timeout=60)
    else:  # the hole issue 17 found: Record a vocal → Upload an instrumental
        at.radio(key="load_mode").set_value("Record a vocal").run()
        at.radio(key="rec_backing").set_value("Upload an instrumental").run()
        at.file_uploader(key="rec_instrumental").set_value((IMAGE_NAME, b"not audio at all" * 64, "audio/wav"))
        at.run(timeout=60)
    assert len(at.error) == 1, [e.value for e in at.error]
    assert "9999" in at.error[0].value
    assert_plain(at, 1)
