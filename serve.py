"""The dashboard's server: ``streamlit run serve.py`` (what scripts/dashboard.sh runs).

The pages are ``app.py`` (the entry script and frame) and ``app_pages/``; this file puts the gate in front of them (``vsep_app/gate.py``:
no metrics endpoint, a total per session for uploads) through Streamlit's ASGI entry point ``st.App``.
``streamlit run`` finds ``app`` here and serves it with the usual options (``--server.port`` …) and
``.streamlit/config.toml``.
"""

# plotly reads pandas from sys.modules without importing it (``_plotly_utils.optional_imports.get_module(...,
# should_load=False)``): while one session's thread imports pandas, another session's chart can see the half-made
# module and fail ("partially initialized module 'pandas' has no attribute 'Series'", seen with four visitors
# drawing loss curves at once). Imported here, once, before any session runs.
import pandas  # noqa: F401
import streamlit as st
from starlette.middleware import Middleware

from vsep_app.gate import Gate, session_upload_total

app = st.App("app.py", middleware=[Middleware(Gate, per_session_bytes=session_upload_total())])
