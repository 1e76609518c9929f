"""The one escaping helper for text a visitor typed or uploaded, shown where Streamlit reads Markdown."""

from __future__ import annotations

import re

# Characters that start Markdown, HTML or Streamlit formatting anywhere in a line: emphasis, code, links and
# images ([ ] !), HTML and autolinks (< > &), maths ($), colours, icons and emoji shortcodes (:), tables (|),
# strikethrough (~), directives ({ }), headings (#). A backslash before any ASCII punctuation shows it as is.
_INLINE_SPECIAL = str.maketrans({ch: "\\" + ch for ch in "\\`*_{}[]<>!#$&|~:"})
# At the start of a line: list items, quotes, setext underlines, numbered lists.
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+\.)", re.MULTILINE)
# Bare web addresses and e-mail addresses, which GitHub-flavoured Markdown links after escapes are read:
# a zero-width space after "www", after "://"'s colon and after "@" keeps them text.
_AUTOLINK = re.compile(r"(?i)(www)(?=\\?\.)|(:)(?=//)|(@)")


def plain(text) -> str:
    """``text`` shown literally wherever Streamlit reads Markdown (``st.error``, captions, toasts, titles).

    The one escaping helper for everything a visitor typed or uploaded (file names, labels, messages that
    quote them): no emphasis, link, image, HTML, colour, icon, maths or list comes out of it. Apply it once,
    where the text is drawn.
    """
    out = _AUTOLINK.sub(lambda m: m.group(0) + "\u200b", str(text))
    out = out.translate(_INLINE_SPECIAL)
    return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), out)
