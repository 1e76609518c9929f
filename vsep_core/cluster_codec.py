"""The cluster's task results as plain data: what a worker sends, and what the server accepts.

A Dask task normally returns any Python object, which Dask pickles on the
worker and unpickles where the result is read: a worker (or whoever replaced
its task function) could make the web server run code just by returning an
object whose unpickling does so. So every task of :mod:`vsep_core.cluster`
returns one ``bytes`` object made by :func:`encode`, and the server reads it
with :func:`decode`, which rebuilds the result through an allow-list and never
unpickles anything:

* the blob is a ZIP in numpy's ``.npz`` layout, uncompressed (so what is read
  is never larger than what arrived): a member ``header.npy`` holding the
  result's structure as UTF-8 JSON, and one ``.npy`` member per array, read
  with ``allow_pickle=False`` (an object array is refused by numpy itself);
  an array found in several places (every run's estimate shares the
  mixture) is written once and shared again after decoding, as locally;
* the structure holds only JSON values, tuples, lists, dicts, numeric arrays
  (bool, integer or float dtypes) and the engine's result dataclasses named in
  :func:`allowed_classes`, whose fields are checked (types, shapes, finite audio and
  loss curves) before the dataclass is built;
* :data:`EXPECTED` says what each task must return; anything else is refused
  with a :class:`~vsep_core.errors.VsepError`.

A task's failure travels the same way (``{"error": {"type", "message"}}``),
so the server never receives a pickled exception from the engine either.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import zipfile

import numpy as np

from .errors import VsepError

FORMAT = "vsep-cluster-result/1"
#: Deepest nesting accepted in a result's structure.
MAX_DEPTH = 32
#: Most nodes (values, containers) accepted in a result's structure.
MAX_NODES = 1_000_000

_MEMBER = re.compile(r"^(header|a\d{1,7})\.npy$")


class TaskFailed(RuntimeError):
    """A task failed on a worker with an error other than bad input (its type and message, as text)."""


def _refuse(why: str) -> VsepError:
    return VsepError(f"The Dask cluster sent a result that is not a valid vsep result ({why}); it was refused.")


# --- encoding (on the worker) -------------------------------------------------------------------


def encode(value) -> bytes:
    """``value`` (a task's result) as the bytes :func:`decode` reads.

    Raises
    ------
    TypeError
        For a value that is not plain data or an allow-listed dataclass.
    """
    arrays: dict[str, np.ndarray] = {}
    keys: dict[int, str] = {}  # id of an array already written -> its member

    def array_ref(kind: str, arr: np.ndarray) -> dict:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"arrays of dtype {arr.dtype} are not sent back from the cluster")
        if kind == "array" and id(arr) in keys:  # one array in several places (every run's Estimate shares
            return {"t": kind, "k": keys[id(arr)]}  # the mixture): written once, shared again after decoding
        key = f"a{len(arrays)}"
        arrays[key] = arr  # kept alive here, so its id is not reused meanwhile
        if kind == "array":
            keys[id(arr)] = key
        return {"t": kind, "k": key}

    def enc(x, depth: int = 0):
        if depth > MAX_DEPTH:
            raise TypeError("the result is nested too deeply")
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, int) and not isinstance(x, np.integer):
            return int(x)
        if isinstance(x, float) and not isinstance(x, np.floating):
            return float(x)
        if isinstance(x, np.generic):  # a numpy scalar keeps its dtype
            return array_ref("scalar", np.asarray(x))
        if isinstance(x, np.ndarray):
            return array_ref("array", x)
        if type(x) is tuple:
            return {"t": "tuple", "v": [enc(v, depth + 1) for v in x]}
        if type(x) is list:
            return {"t": "list", "v": [enc(v, depth + 1) for v in x]}
        if type(x) is dict:
            return {"t": "dict", "v": [[enc(k, depth + 1), enc(v, depth + 1)] for k, v in x.items()]}
        name = type(x).__name__
        if dataclasses.is_dataclass(x) and allowed_classes().get(name, (None,))[0] is type(x):
            return {
                "t": "obj",
                "c": name,
                "f": {f.name: enc(getattr(x, f.name), depth + 1) for f in dataclasses.fields(x) if f.init},
            }
        raise TypeError(f"a {type(x).__module__}.{type(x).__qualname__} is not sent back from the cluster")

    return _pack({"format": FORMAT, "value": enc(value)}, arrays)


def encode_error(exc: BaseException) -> bytes:
    """A task's failure as the bytes :func:`decode` turns back into an exception on the server."""
    kind = "VsepError" if isinstance(exc, VsepError) else type(exc).__name__
    return _pack({"format": FORMAT, "error": {"type": str(kind)[:100], "message": str(exc)[:2000]}}, {})


def _pack(header: dict, arrays: dict) -> bytes:
    buffer = io.BytesIO()
    text = json.dumps(header, allow_nan=True, separators=(",", ":")).encode("utf-8")
    # np.savez (not savez_compressed): stored members, so the reader can bound what it reads by what arrived.
    np.savez(buffer, header=np.frombuffer(text, dtype=np.uint8), **arrays)
    return buffer.getvalue()


# --- decoding (on the server) -------------------------------------------------------------------


def _number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _check(ok: bool, why: str) -> None:
    if not ok:
        raise _refuse(why)


def _array(*, finite: bool = False, ndims=(1, 2)):
    def check(name, v):
        _check(
            isinstance(v, np.ndarray) and v.dtype.kind in "biuf" and v.ndim in ndims,
            f"{name} is not a numeric array of {'/'.join(map(str, ndims))} dimension(s)",
        )
        if finite and v.dtype.kind == "f":
            _check(bool(np.isfinite(v).all()), f"{name} holds values that are not finite")

    return check


def _num(name, v):
    _check(_number(v), f"{name} is not a number")


def _int(name, v):
    _check(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)), f"{name} is not a whole number")


def _of(cls_name: str, optional: bool = False):
    def check(name, v):
        if optional and v is None:
            return
        _check(type(v) is allowed_classes()[cls_name][0], f"{name} is not a {cls_name}")

    return check


def _seq(kind: type, item):
    def check(name, v):
        _check(type(v) is kind, f"{name} is not a {kind.__name__}")
        for i, x in enumerate(v):
            item(f"{name}[{i}]", x)

    return check


def _str(name, v):
    _check(isinstance(v, str), f"{name} is not text")


def _plain_dict(name, v):
    _check(type(v) is dict, f"{name} is not a dict")


def _dict_of(value_check):
    def check(name, v):
        _plain_dict(name, v)
        for k, x in v.items():
            _check(isinstance(k, str), f"{name} has a key that is not text")
            value_check(f"{name}[{k!r}]", x)

    return check


def _any_dict_or_none(name, v):
    if v is not None:
        _plain_dict(name, v)


def _any(name, v):
    pass  # a decoded value is plain data by construction; the dataclass's own validation checks the rest


def _estimate(name, fields):
    sr = fields.get("sr")
    _check(
        isinstance(sr, (int, np.integer)) and not isinstance(sr, bool) and 1000 <= int(sr) <= 768000,
        f"{name}.sr is not a sample rate",
    )


def _classes() -> dict:
    from .api import GreedyOutcome, JointOutcome
    from .experiment import ExperimentResult, RunSummary
    from .joint import JointResult, JointSettings
    from .reconstruct import Estimate
    from .search import GreedyResult
    from .settings import Settings

    audio = _array(finite=True)
    return {
        "Estimate": (Estimate, {"vocal_raw": audio, "mixture": audio, "sr": _int}, _estimate),
        "RunSummary": (
            RunSummary,
            {
                "slices": _seq(tuple, _str),
                "final_loss": _num,
                "loss_curve": _array(finite=True, ndims=(1,)),
                "pass_losses": _seq(list, _num),
                "estimate": _of("Estimate", True),
            },
            None,
        ),
        "GreedyResult": (
            GreedyResult,
            {"steps": _seq(list, _dict_of(_num)), "sequence": _seq(list, _str), "best_prefix_length": _int},
            None,
        ),
        "ExperimentResult": (
            ExperimentResult,
            {
                "settings": _of("Settings"),
                "order": _seq(tuple, _str),
                "progressive": _seq(list, _of("RunSummary")),
                "greedy": _of("GreedyResult", True),
                "greedy_run": _of("RunSummary", True),
                "best_prefix_run": _of("RunSummary", True),
                "timings_s": _dict_of(_num),
                "pair_info": _plain_dict,
            },
            None,
        ),
        "JointResult": (
            JointResult,
            {
                "eq": _array(ndims=(2,)),
                "final_db": _array(ndims=(2,)),
                "loss_curve": _array(finite=True, ndims=(1,)),
                "final_loss": _num,
                "view_losses": _dict_of(_num),
            },
            None,
        ),
        "GreedyOutcome": (
            GreedyOutcome,
            {
                "greedy": _of("GreedyResult"),
                "greedy_run": _of("RunSummary"),
                "best_prefix_run": _of("RunSummary"),
                "timings_s": _dict_of(_num),
            },
            None,
        ),
        "JointOutcome": (
            JointOutcome,
            {"result": _of("JointResult"), "estimate": _of("Estimate"), "scores": _any_dict_or_none, "seconds": _num},
            None,
        ),
        # Settings validate themselves when built (ranges, names).
        "Settings": (Settings, {f.name: _any for f in dataclasses.fields(Settings)}, None),
        "JointSettings": (JointSettings, {f.name: _any for f in dataclasses.fields(JointSettings)}, None),
    }


def allowed_classes() -> dict:
    """The dataclasses a result may contain, by name: ``(class, {field: check}, object check or None)``."""
    global _ALLOWED
    if _ALLOWED is None:
        _ALLOWED = _classes()
    return _ALLOWED


_ALLOWED: dict | None = None  # filled on first use: the engine's modules are imported only when needed


#: What each task must return, checked after decoding.
EXPECTED = {
    "run_experiment": _of("ExperimentResult"),
    "greedy": _of("GreedyOutcome"),
    "evaluate_experiment": _plain_dict,
    "joint": _of("JointOutcome"),
    "attribute_slices": _plain_dict,
    "attribute_joint": _plain_dict,
    "batch_song": _plain_dict,
    "learned_features": _dict_of(_array(finite=True, ndims=(1, 2, 3))),
}


def decode(blob, task: str):
    """The result of task ``task`` from the bytes a worker sent (see the module's docstring).

    Raises
    ------
    VsepError
        When the bytes are not a valid result of ``task`` (nothing of them is used), or when the task
        failed on bad input (its message).
    TaskFailed
        When the task failed otherwise (its error's type and message).
    """
    if task not in EXPECTED:
        raise ValueError(f"unknown task {task!r}")
    _check(type(blob) is bytes, f"a {type(blob).__name__}, not bytes")
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            members = archive.infolist()
            _check(all(m.compress_type == zipfile.ZIP_STORED for m in members), "compressed members")
            _check(all(_MEMBER.match(m.filename) for m in members), "unexpected member names")
            _check(sum(m.file_size for m in members) <= len(blob), "members larger than the data")
            names = {m.filename[:-4] for m in members}
        _check("header" in names, "no header")
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            header_bytes = npz["header"]
            _check(header_bytes.dtype == np.uint8 and header_bytes.ndim == 1, "a malformed header")
            header = json.loads(header_bytes.tobytes().decode("utf-8"))
            arrays = {name: npz[name] for name in names if name != "header"}
    except VsepError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, UnicodeDecodeError) as exc:
        raise _refuse(f"unreadable: {type(exc).__name__}") from None
    _check(type(header) is dict and header.get("format") == FORMAT, "an unknown format")
    if "error" in header:
        error = header["error"]
        _check(
            type(error) is dict and isinstance(error.get("type"), str) and isinstance(error.get("message"), str),
            "a malformed error",
        )
        if error["type"] == "VsepError":
            raise VsepError(error["message"])
        raise TaskFailed(f"The Dask task {task!r} failed on a worker: {error['type']}: {error['message']}")
    _check(set(header) == {"format", "value"}, "unexpected header keys")
    used: set = set()
    count = [0]

    def dec(node, depth: int):
        count[0] += 1
        _check(depth <= MAX_DEPTH and count[0] <= MAX_NODES, "too deep or too large")
        if node is None or isinstance(node, (bool, str, int)):
            return node
        if isinstance(node, float):
            return node
        _check(type(node) is dict and isinstance(node.get("t"), str), "an unknown node")
        kind = node["t"]
        if kind in ("array", "scalar"):
            key = node.get("k")
            _check(isinstance(key, str) and key in arrays, "a missing array")
            arr = arrays[key]
            _check(arr.dtype.kind in "biuf", f"an array of dtype {arr.dtype}")
            if kind == "scalar":
                _check(arr.ndim == 0 and key not in used, "a scalar that is not 0-d, or used twice")
                used.add(key)
                return arr[()]
            used.add(key)
            return arr  # the same object wherever the sender had the same array
        values = node.get("v")
        if kind in ("tuple", "list"):
            _check(type(values) is list, f"a malformed {kind}")
            items = [dec(v, depth + 1) for v in values]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            _check(type(values) is list and all(type(p) is list and len(p) == 2 for p in values), "a malformed dict")
            out = {}
            for k, v in values:
                key = dec(k, depth + 1)
                _check(isinstance(key, (str, int, float, bool, tuple)) or key is None, "an unhashable dict key")
                out[key] = dec(v, depth + 1)
            return out
        if kind == "obj":
            name, fields = node.get("c"), node.get("f")
            _check(
                isinstance(name, str) and name in allowed_classes() and type(fields) is dict,
                f"an object that is not allowed ({str(name)[:60]!r})",
            )
            cls, checks, whole = allowed_classes()[name]
            allowed = {f.name: f for f in dataclasses.fields(cls) if f.init}
            _check(set(fields) <= set(allowed), f"unknown fields of {name}")
            missing = [
                n
                for n, f in allowed.items()
                if n not in fields and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            ]
            _check(not missing, f"{name} without {missing}")
            values = {n: dec(v, depth + 1) for n, v in fields.items()}
            for n, v in values.items():
                checks.get(n, _any)(f"{name}.{n}", v)
            if whole is not None:
                whole(name, values)
            try:
                return cls(**values)
            except (TypeError, ValueError) as exc:
                raise _refuse(f"{name}: {exc}") from None
        raise _refuse(f"an unknown node {kind[:40]!r}")

    value = dec(header["value"], 0)
    _check(used == set(arrays), "arrays that the result does not use")
    EXPECTED[task]("the result", value)
    return value


def is_finite_number(v) -> bool:
    """Whether ``v`` is a finite int or float (for checking relayed progress events)."""
    return _number(v) and math.isfinite(float(v))
