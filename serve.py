"""The dashboard's server: ``streamlit run serve.py`` (what scripts/dashboard.sh runs).

The pages are ``app.py`` (the entry script and frame) and ``app_pages/``; this file puts the gate in front of them (``vsep_app/gate.py``:
no metrics endpoint, a total per session for uploads) through Streamlit's ASGI entry point ``st.App``.
``streamlit run`` finds ``app`` here and serves it with the usual options (``--server.port`` …) and
``.streamlit/config.toml``.
"""

import streamlit as st
from starlette.middleware import Middleware

from vsep_app.gate import Gate, session_upload_total

app = st.App("app.py", middleware=[Middleware(Gate, per_session_bytes=session_upload_total())])
