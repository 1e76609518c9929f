"""The dashboard's log lines (``vsep_app`` loggers) in the server's log."""

from __future__ import annotations

import logging

import streamlit as st


def log_with_streamlit() -> None:
    """Send the ``vsep_app`` loggers' lines to the server's log, at Streamlit's ``logger.level`` (once).

    Without this they would reach nobody below WARNING (Streamlit configures only its own loggers). Left
    alone when the operator's own logging configuration already handles them.
    """
    logger = logging.getLogger("vsep_app")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(st.get_option("logger.messageFormat")))
    logger.addHandler(handler)
    logger.setLevel(str(st.get_option("logger.level")).upper())
