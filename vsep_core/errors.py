"""The one exception type the library raises for bad input or settings."""


class VsepError(ValueError):
    """Bad input or settings, with a message a person can act on.

    Every check in :mod:`vsep_core` that rejects what a user gave it (a file
    that is not audio, a silent recording, an unknown slice name, a learning
    rate out of range ...) raises this, so callers (the CLI, the dashboard)
    catch one type and show its message instead of a traceback.
    """
