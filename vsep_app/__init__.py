"""The dashboard's app-side code: cached engine calls, session state, the recorder.

``vsep_core`` never imports Streamlit; everything Streamlit-specific lives
here and in ``app.py`` / ``pages/``. Pages only lay out widgets and call:

* :mod:`vsep_app.cache` — every cached call into ``vsep_core``, keyed on
  content hashes and settings, and the once-per-server background warm-up;
* :mod:`vsep_app.memo` — the one cache they use (the app's own, thread-safe:
  no ``st.cache_data``, which any client can empty for every session);
* :mod:`vsep_app.state` — what one browser session has loaded and computed
  (``st.session_state`` only, never module globals);
* :mod:`vsep_app.sample` — the bundled sample pairs;
* :mod:`vsep_app.recorder` — st-audiorec with a fast byte conversion;
* :mod:`vsep_app.ui` — the frame of every page (``setup_page``: page config,
  navigation, default sample; ``Frame.finish``: the sidebar's status), error
  guards, players;
* :mod:`vsep_app.warmup` — the later pages' imports and first calls, run in
  the background after the first page.
"""
