"""vsep dashboard: ``streamlit run app.py`` (or ``serve.py``, the same pages behind the gate).

The entry script and the frame of every page (Streamlit's ``st.navigation``): it registers the pages of
``app_pages/`` (:data:`vsep_app.frame.PAGES`: titles and URL paths), and :func:`vsep_app.frame.run` draws the
chosen one inside the frame (page config, navigation, default sample, error guard, sidebar, background work).
The page files hold only their own layout and widgets.
"""

import streamlit as st

from vsep_app import frame

# Streamlit runs this script as __main__. A process that multiprocessing spawns from the server (a local Dask
# cluster's worker) re-imports the parent's main script as __mp_main__, outside any session: it must draw nothing.
if __name__ == "__main__":
    frame.run(st.navigation(frame.pages(), position="hidden"))
