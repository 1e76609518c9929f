"""Every word right for every target (issue #21), with streamlit.testing's AppTest (no browser).

With the drums, then the bass, as the target of a bundled sample: every page (Load, Slices, Optimise with
the progressive runs, the greedy search and the joint matching, Results, Listening test, Shared result), the
HTML report and the ZIP's README.txt are read word by word, and no "vocal" or "instrumental" may stand
where the target or its complement is meant. What is genuinely about the vocal (the sample's vocal shown
beside the target, the choice of what to upload) is in :data:`ALLOWED`, each with its reason. On the way,
Results shows the verdict in plain words and the joint matching beside the runs, and the ZIP opens with its
README and the report.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from google.protobuf import text_format
from streamlit.testing.v1 import AppTest
from test_app import media  # noqa: F401 - the fixture that reads what a download button serves

from vsep_core.glossary import method_name
from vsep_core.presenter import format_score
from vsep_core.stems import labels

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
RUN_TIMEOUT = 120

#: A word that names the vocal or its complement.
VOCAL_WORDS = re.compile(r"\b(vocals?|instrumentals?)\b", re.IGNORECASE)

#: Where "vocal"/"instrumental" is right with another target, as regular expressions over the sentence
#: around the word (:func:`_findings`), each with why.
ALLOWED = (
    # The Load page's choice of target: the vocal is one of the sample's stems.
    (r"vocals \(the default\)", "the target choice names the sample's vocal stem"),
    # The Load page's upload choices: what a visitor may upload is a vocal or an instrumental.
    (
        r"mixture \+ vocal|mixture \+ instrumental|plus vocal|plus instrumental|vocal or (the )?instrumental",
        "the upload choices name the files a visitor may give",
    ),
    (
        r"Record a vocal|record(ed)? (a|the|your) vocal|record your voice|sing|microphone",
        "recording is of a voice, over an instrumental",
    ),
    # The Load page's list of what a target can be.
    (r"\(the vocal, or another stem", "the list of possible targets"),
    # RESULTS.md's measurements of joint matching were made on vocals.
    (r"songs' vocals", "a measurement made on vocals"),
    # Slices shows the sample's vocal beside another target on purpose.
    (
        r"beside the vocal|the vocal's views|vocal · |\bvocal\b.{0,40}for comparison|compare.{0,40}vocal",
        "Slices shows the vocal's views beside the target's",
    ),
    # Names of bundled samples and of files.
    (r"vocal\.wav|female voice|male voice", "a file or sample name"),
    # Methods and fields named after the vocal in the engine's files (metrics.json keys, method names).
    (r"vocal_raw|\"vocal\"|'vocal'|extracted_vocal", "a key in a data file, not a word to read"),
    # Blind methods made for vocals: their note says so, about the vocal.
    (
        r"made for vocals|built for vocals|for vocals\b|vocal separation|vocal-specific|separating vocals",
        "a blind method described as made for vocals",
    ),
    # The learned model was trained on vocals.
    (
        r"learned_fingerprint.{0,80}vocal|trained on.{0,40}vocal|predicts.{0,60}vocal",
        "the learned model's training is on vocals",
    ),
)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error]


def _texts(node) -> list[str]:
    """Every element's message (labels, help, captions, options, chart specs, table data) under ``node``."""
    out = []
    proto = getattr(node, "proto", None)
    if proto is not None and not hasattr(node, "children"):
        out.append(text_format.MessageToString(proto, as_utf8=True).replace("\\'", "'").replace('\\"', '"'))
    for child in getattr(node, "children", {}).values():
        out += _texts(child)
    return out


#: Grammar slips a target's word invites: a count of one with a plural noun, a plural target with "is" or "'s".
GRAMMAR = re.compile(
    r"\b1 (slices|windows|runs|passes|steps|bands)\b|\b(drums|chords) (is|was|has)\b|"
    r"\b(drums|chords)'s\b",
    re.IGNORECASE,
)


def _findings(texts, where: str) -> list[str]:
    """Each "vocal"/"instrumental" in ``texts`` that no :data:`ALLOWED` pattern explains, and each grammar slip
    (:data:`GRAMMAR`), with its context."""
    found = []
    for text in texts:
        for match in GRAMMAR.finditer(text):
            found.append(f"{where}: grammar: …{' '.join(text[max(0, match.start() - 80) : match.end() + 80].split())}…")
        for match in VOCAL_WORDS.finditer(text):
            context = text[max(0, match.start() - 80) : match.end() + 80]
            if not any(re.search(pattern, context, re.IGNORECASE) for pattern, _ in ALLOWED):
                found.append(f"{where}: …{' '.join(context.split())}…")
    return list(dict.fromkeys(found))


def _page(at: AppTest, page: str, where: str, **run) -> list[str]:
    at.switch_page(page).run(**run)
    _ok(at)
    return _findings(_texts(at.main) + _texts(at.sidebar), where)


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["drums", "bass"])
def test_every_page_the_report_and_the_readme_name_the_target(stem, media):  # noqa: F811 - the fixture
    names = labels(stem)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.selectbox(key="sample_target").set_value(stem).run()
    at.button[[b.label for b in at.button].index("Load this sample")].click().run()
    _ok(at)
    found = _findings(_texts(at.main) + _texts(at.sidebar), "Load audio")
    found += _page(at, "app_pages/slices.py", "Slices", timeout=RUN_TIMEOUT)

    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(2).run()
    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    at.button(key="run_greedy").click().run(timeout=RUN_TIMEOUT)
    at.number_input(key="joint_steps").set_value(20).run()
    at.button(key="run_joint").click().run(timeout=RUN_TIMEOUT)
    _ok(at)
    found += _findings(_texts(at.main) + _texts(at.sidebar), "Optimise")

    found += _page(at, "app_pages/results.py", "Results", timeout=RUN_TIMEOUT)
    # The joint matching run on Optimise is in the scores (right after the runs), the players and the A/B.
    table = at.dataframe[0].value
    methods = list(table["method"])
    assert (
        "joint" in methods
        and methods.index("joint") == max(i for i, m in enumerate(methods) if m.startswith("seed_")) + 1
    )
    joint_scores = at.session_state["vsep_joint"][3].scores
    row = table.to_dict("records")[methods.index("joint")]
    assert row[f"{names.target} SI-SDR"] == pytest.approx(joint_scores["methods"][0]["vocal"]["si_sdr"], abs=1e-9)
    assert any(m.value.startswith("**Joint matching · every window learned at once") for m in at.markdown)
    assert "Joint matching" in at.selectbox(key="results_ab_b").options
    # The verdict in plain words, above the table, says what the presenter's rows say, naming the target.
    shown = [i.value for i in at.info]
    assert shown and f"the {names.target}" in shown[0] and "best possible" in shown[0], shown
    behind = next(e for e in at.expander if e.label == "The numbers behind this sentence")
    figures = behind.table[0].value
    records = table.to_dict("records")
    best = max((r for r in records if r["kind"].rstrip("*") == "seed"), key=lambda r: r[f"{names.target} SI-SDR"])
    mixture = next(r for r in records if r["method"] == "mixture")
    assert list(figures["score"])[:2] == [
        f"{format_score(best[f'{names.target} SI-SDR'])} dB",
        f"{format_score(mixture[f'{names.target} SI-SDR'])} dB",
    ]
    assert method_name(best["method"]) in shown[0]

    labels_ = [b.label for b in at.download_button]
    with zipfile.ZipFile(io.BytesIO(media(at.download_button[labels_.index("Download everything (ZIP)")]))) as zf:
        order = zf.namelist()
        readme = zf.read("README.txt").decode()
        report_in_zip = zf.read("report.html").decode()
    assert order[:2] == ["README.txt", "report.html"]  # the ZIP opens with them
    assert f"joint/extracted_{names.target_file}.wav" in order
    report = media(at.download_button[labels_.index("Download the report (HTML)")]).decode()
    assert report == report_in_zip
    assert f"Extracted {names.target}, joint matching" in report
    assert "joint/" in readme and f"extracted_{names.target_file}.wav" in readme and names.complement in readme
    assert readme.startswith(f"{stem.capitalize()} separation") and "In short: " in readme
    found += _findings([readme], "README.txt")
    found += _findings([re.sub(r"<script.*?</script>", "", report, flags=re.S)], "report.html")

    found += _page(at, "app_pages/listen.py", "Listening test", timeout=RUN_TIMEOUT)
    found += _page(at, "app_pages/shared.py", "Shared result")
    assert not found, f"{len(found)} words to fix:\n" + "\n".join(found)
