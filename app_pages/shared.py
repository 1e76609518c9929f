"""A published result, read-only (``/shared?id=…``): everything from the results store, nothing computed."""

from vsep_app import sharing

sharing.shared_page()
