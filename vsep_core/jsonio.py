"""The one JSON sanitiser: numbers of numpy made Python, non-finite floats made ``null``.

Every JSON file vsep writes (``summary.json``, ``metrics.json``, ``evaluate --json``,
``batch.json``) goes through :func:`json_ready`, so none holds ``NaN`` (which
strict JSON readers refuse).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .errors import VsepError


def json_ready(value):
    """``value`` with numpy scalars and arrays made Python and NaN / ±inf made ``None``.

    Dict keys become strings; tuples become lists.
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if all(type(v) is float for v in value):  # a long curve of plain floats: one pass, no call per number
            return [v if math.isfinite(v) else None for v in value]
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def json_text(value, *, indent: int = 2) -> str:
    """``value`` as strict JSON text (through :func:`json_ready`), ending with a newline."""
    return json.dumps(json_ready(value), indent=indent, allow_nan=False) + "\n"


def write_json(value, path) -> Path:
    """Write ``value`` as strict JSON to ``path``, creating its folder.

    Atomically (:func:`vsep_core.staging.atomic_file`): a full disk or a kill
    leaves the previous file as it was, never half a report.

    Raises
    ------
    VsepError
        When the file cannot be written (one line naming the path and why).
    """
    from .staging import write_text_atomic

    path = Path(path)
    try:
        write_text_atomic(path, json_text(value))
    except OSError as exc:
        raise VsepError(f"Cannot write the JSON report to {str(path)!r}: {exc.strerror or exc}.") from exc
    return path
