"""The dashboard's app-side code: cached engine calls, session state, the page frame, the views of results.

``vsep_core`` never imports Streamlit; everything Streamlit-specific lives
here and in ``app.py`` / ``app_pages/``. Pages only lay out widgets and call:

* :mod:`vsep_app.cache` — every cached call into ``vsep_core``, keyed on
  content hashes and settings (the one module that decides what is kept);
* :mod:`vsep_app.dispatch` — where a workflow runs: here or on a Dask worker;
* :mod:`vsep_app.limits` — every limit on work and memory (segment length, what is shared);
* :mod:`vsep_app.prefetch` — background work for the likely next page, and this session's view of it;
* :mod:`vsep_app.memo` — the one cache they use (the app's own, thread-safe:
  no ``st.cache_data``, which any client can empty for every session);
* :mod:`vsep_app.jobs` — the job pool (and the Dask client) that heavy work runs in;
* :mod:`vsep_app.state` — what one browser session has loaded and computed
  (``st.session_state`` only, never module globals);
* :mod:`vsep_app.frame` — the pages (``PAGES``) and the frame ``app.py`` draws around each of them
  (``run``: page config, navigation, default sample, the sidebar's status, background work) and the error guard;
* :mod:`vsep_app.sidebar`, :mod:`vsep_app.wording`, :mod:`vsep_app.escape` (``plain``: visitors' text shown
  literally), :mod:`vsep_app.glossary`;
* :mod:`vsep_app.scores_view` — the score tables; :mod:`vsep_app.players` — audio players and the A/B player;
  :mod:`vsep_app.figures` — the charts;
* :mod:`vsep_app.loading`, :mod:`vsep_app.sample`, :mod:`vsep_app.recorder` — loading pairs, the bundled
  samples, st-audiorec;
* :mod:`vsep_app.permalink`, :mod:`vsep_app.sharing` — links to a view and published results;
* :mod:`vsep_app.chart_preload`, :mod:`vsep_app.warmup`, :mod:`vsep_app.logs` — the chart library loaded early,
  the later pages' imports done in the background, log lines in the server's log.
"""
