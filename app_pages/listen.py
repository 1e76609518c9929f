"""Listening test page: rate chosen separations by ear, MUSHRA style (vsep_core.listening)."""

from __future__ import annotations

import base64
import json
import secrets

import streamlit as st

from vsep_app import cache, frame, jobs, limits, players, scores_view, state
from vsep_core.listening import (
    HIDDEN_REFERENCE,
    LOW_ANCHOR,
    MAX_ITEMS,
    RATINGS_CSV,
    RATINGS_JSON,
    make_trial,
    ratings_csv,
    ratings_json,
    ratings_rows,
)

st.title("Listening test")
st.markdown(
    "**Judge by ear.** Pick the results to compare; the test adds a **hidden reference** (the true target itself) "
    "and a **low anchor** (the true target muffled above 3.5 kHz), shuffles them and calls them A, B, C … "
    "Play, switch between items at the same moment, and give each a rating from 0 (bad) to 100 (excellent; "
    "the hidden reference deserves 100). Then download the ratings, and see them beside the metrics."
)

#: What can be rated (every one runs on the loaded pair in a second or two).
CHOICES = ("phase_oracle", "exact_eq", "irm", "ibm", "wiener", "repet_sim", "hpss", "mixture")

_PLAYER = """<div style="font-family:sans-serif;font-size:14px">
<audio id="p" controls preload="auto" style="width:100%"></audio>
<div id="items" style="margin-top:6px;display:flex;gap:6px;flex-wrap:wrap;align-items:center"></div>
<div id="now" style="color:#555;margin-top:4px"></div></div>
<script>
const src = {sources};
const player = document.getElementById("p");
{switch_js}
function pick(label) {{
  switchKeepingPlace(player, src[label]);
  for (const k of Object.keys(src)) document.getElementById("item_" + k).style.background = k === label ? "#ffe0e0" : "";
  document.getElementById("now").textContent = "Playing " + label + " (one shared position: switching keeps it)";
}}
for (const k of Object.keys(src)) {{
  const b = document.createElement("button");
  b.id = "item_" + k; b.textContent = k; b.onclick = () => pick(k);
  b.style.cssText = "padding:6px 16px;border-radius:6px;border:1px solid #999;cursor:pointer";
  document.getElementById("items").appendChild(b);
}}
pick(Object.keys(src)[0]);
</script>"""

source = frame.require_source()
if source is not None:
    settings = state.settings()
    with frame.guard("Preparing the listening test"):
        chosen = st.multiselect(
            "Results to rate",
            CHOICES,
            default=["irm", "exact_eq", "hpss"],
            max_selections=MAX_ITEMS,
            key="listen_methods",
            help="Each is computed on the loaded pair's segment (see the glossary on Results).",
        )
        if not chosen:
            st.info("Choose at least one result to rate.", icon=":material/info:")
        else:
            if (
                st.button("New trial (shuffle the order)", icon=":material/shuffle:", key="listen_new")
                or "listen_seed" not in st.session_state
            ):
                st.session_state["listen_seed"] = secrets.randbelow(2**31)
            seed = st.session_state["listen_seed"]
            items = jobs.run(lambda: cache.listening_items(source, settings, chosen))
            trial = make_trial(chosen, seed)
            if items["duration_s"] > limits.AB_MAX_S:
                st.warning(
                    f"The segment is {items['duration_s']:.0f} s; the test plays segments up to "
                    f"{limits.AB_MAX_S:.0f} s (every item travels inside the page). Choose a shorter duration "
                    "on Load audio.",
                    icon=":material/warning:",
                )
            else:
                sources = {
                    item["label"]: "data:audio/wav;base64," + base64.b64encode(items["wavs"][item["name"]]).decode()
                    for item in trial
                }
                st.iframe(
                    _PLAYER.format(switch_js=players.SWITCH_KEEPING_PLACE_JS, sources=json.dumps(sources)), height=120
                )  # our labels and base64 only
                st.markdown("##### Your ratings")
                this_trial = [seed, *chosen]

                def rated() -> None:  # the visitor moved a slider: from now on these are their ratings
                    st.session_state["listen_rated"] = this_trial

                before = state.rated_before(source, settings, seed, trial)  # back on this page: as rated
                ratings = {}
                for item in trial:  # in the order A, B, C …, one under the other
                    ratings[item["label"]] = st.slider(
                        f"Item {item['label']}",
                        0,
                        100,
                        before.get(item["label"], 50),
                        key=f"listen_{seed}_{item['label']}",
                        on_change=rated,
                        help="80–100 excellent, 60–80 good, 40–60 fair, 20–40 poor, 0–20 bad",
                    )
                rows = ratings_rows(trial, ratings, items["metrics"])
                info = {
                    "pair": source.label,
                    "segment": {"start_s": settings.start_s, "duration_s": settings.duration_s},
                    "seed": seed,
                    "order": [item["label"] for item in trial],
                }
                if st.session_state.get("listen_rated") == this_trial:
                    state.keep_ratings(source, settings, rows, info)
                downloads = st.container(horizontal=True)
                downloads.download_button(
                    "Ratings (CSV)",
                    ratings_csv(rows),
                    file_name=RATINGS_CSV,
                    mime="text/csv",
                    key="listen_csv",
                    icon=":material/download:",
                    on_click="ignore",
                )
                downloads.download_button(
                    "Ratings (JSON)",
                    ratings_json(rows, **info),
                    file_name=RATINGS_JSON,
                    mime="application/json",
                    key="listen_json",
                    icon=":material/download:",
                    on_click="ignore",
                )
                with st.expander(
                    "Which was which, and the ratings beside the metrics (reveals the order)",
                    icon=":material/visibility:",
                ):
                    scores_view.ratings_section(rows, key="listen")
                st.caption(
                    f"{HIDDEN_REFERENCE.capitalize()}: the true target. {LOW_ANCHOR.capitalize()}: the true "
                    "target low-passed, the standard's lower anchor. Once you move a slider, the ratings "
                    "also go into the Results page's ZIP and into a result you share from there (the last "
                    "test you rated on this pair and segment)."
                )
