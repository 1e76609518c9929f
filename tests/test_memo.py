"""vsep_app.memo, the dashboard's own cache: keys, limits, expiry, errors, and callers on many threads."""

from __future__ import annotations

import dataclasses
import functools
import threading
import time

import numpy as np
import pytest

from vsep_app import memo as memo_module
from vsep_app.memo import Memo, approx_nbytes, make_read_only, memo


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counted(func):
    """``func`` and a list that gets one item per real call."""
    calls = []

    @functools.wraps(func)  # the memo reads the signature through __wrapped__
    def wrapper(*args, **kwargs):
        calls.append((args, kwargs))
        return func(*args, **kwargs)

    return wrapper, calls


def test_the_key_is_the_arguments_without_an_underscore_with_defaults_applied():
    def f(identity, settings, _payload, n=3):
        return (identity, settings["a"], len(_payload), n)

    func, calls = counted(f)
    m = Memo(func, max_entries=8)
    assert m("x", {"a": 1, "b": 2}, b"12") == ("x", 1, 2, 3)
    # The underscore argument is not part of the key: the first result is given back.
    assert m("x", {"b": 2, "a": 1}, _payload=b"1234") == ("x", 1, 2, 3)
    assert m("x", {"a": 1, "b": 2}, b"", n=3) == ("x", 1, 2, 3)  # the default, spelled out
    assert len(calls) == 1
    assert m("x", {"a": 1, "b": 2}, b"", n=4) == ("x", 1, 0, 4)
    assert m("y", {"a": 1, "b": 2}, b"") == ("y", 1, 0, 3)
    assert m("x", {"a": 1.0, "b": 2}, b"") == ("x", 1.0, 0, 3)  # 1.0 is not 1 (as st.cache_data tells them apart)
    assert m("x", {"a": [1, 2], "b": (1, 2)}, b"") == ("x", [1, 2], 0, 3)
    assert m("x", {"a": [1, 2], "b": [1, 2]}, b"") == ("x", [1, 2], 0, 3)  # a list is not a tuple
    assert len(calls) == 6
    assert m.stats()["hits"] == 2 and m.stats()["misses"] == 6
    assert m.key("x", {"a": 1}, b"") == m.key("x", {"a": 1}, b"zzz", 3)
    assert m.key(np.arange(3), {}, b"") != m.key(np.arange(3.0), {}, b"")
    with pytest.raises(TypeError, match="cannot hold a object"):
        m.key(object(), {}, b"")


def test_at_most_max_entries_are_kept_the_least_recently_used_dropped_first():
    func, calls = counted(lambda k: k * 2)
    m = Memo(func, max_entries=2)
    m(1), m(2), m(1), m(3)  # 2 is now the least recently used: dropped for 3
    assert m.stats()["entries"] == 2
    assert len(calls) == 3
    m(1), m(3)
    assert len(calls) == 3
    m(2)
    assert len(calls) == 4


def test_entries_expire_ttl_seconds_after_they_were_computed():
    clock = Clock()
    func, calls = counted(lambda k: [k])
    m = Memo(func, max_entries=4, ttl=10, clock=clock)
    m("a")
    clock.now += 9.9
    m("a")  # a read does not extend the entry's life
    assert len(calls) == 1
    clock.now += 0.2
    m("a")
    assert len(calls) == 2
    assert m.stats()["entries"] == 1


def test_max_bytes_bounds_the_estimated_size_and_a_bigger_result_is_not_kept():
    func, calls = counted(lambda n: np.zeros(n, dtype=np.uint8))
    m = Memo(func, max_entries=10, max_bytes=1000)
    m(400), m(400), m(500)
    assert len(calls) == 2 and m.stats()["bytes"] == 900
    m(300)  # 1200 bytes: the least recent (400) goes
    assert m.stats() == {"entries": 2, "bytes": 800, "hits": 1, "misses": 3}
    assert m(5000).shape == (5000,)  # given, not kept
    assert m.stats()["bytes"] == 800
    m(5000)
    assert len(calls) == 5
    assert (
        approx_nbytes({"a": np.zeros(10, np.float32), "b": [b"xy", "abc"], "c": (None, 1)}) == 40 + 2 + 3 + 3
    )  # keys too


def test_errors_are_raised_and_not_kept():
    attempts = []

    def flaky(k):
        attempts.append(k)
        if len(attempts) == 1:
            raise ValueError("first try fails")
        return k

    m = Memo(flaky, max_entries=4)
    with pytest.raises(ValueError, match="first try"):
        m("a")
    assert m.stats()["entries"] == 0
    assert m("a") == "a" and m("a") == "a"
    assert attempts == ["a", "a"]


def test_each_caller_gets_its_own_copy_unless_asked_otherwise():
    m = Memo(lambda k: {"runs": [np.ones(3)]}, max_entries=2)
    first = m("k")
    first["runs"][0][:] = 0  # a caller changing what it was given
    first["runs"].append("mine")
    again = m("k")
    assert len(again["runs"]) == 1 and np.all(again["runs"][0] == 1)
    shared = Memo(lambda k: threading.Event(), max_entries=1, copy=False)
    assert shared("k") is shared("k")


@dataclasses.dataclass(frozen=True)
class _Result:
    mixture_db: np.ndarray
    targets: dict


def test_read_only_results_are_shared_and_a_write_into_one_raises():
    func, calls = counted(lambda k: _Result(np.ones((2, 3), np.float32), {"raw": np.zeros(4), "pool": [np.ones(2)]}))
    m = Memo(func, max_entries=2, read_only=True)
    first, second = m("k"), m("k")
    assert second is first and second.targets["raw"] is first.targets["raw"]  # the kept object: no copy
    assert len(calls) == 1 and m.stats()["hits"] == 1
    arrays = [first.mixture_db, first.targets["raw"], first.targets["pool"][0]]
    assert not any(a.flags.writeable for a in arrays)  # through dataclasses, dicts and lists
    for a in arrays:
        with pytest.raises(ValueError, match="read-only"):
            a[...] = 7  # a caller cannot change what another one sees
    with pytest.raises(ValueError, match="read-only"):
        first.mixture_db += 1
    np.testing.assert_array_equal(m("k").mixture_db, np.ones((2, 3), np.float32))
    assert m("other") is not first  # another key, another result
    # The default still gives each caller a writeable copy of its own.
    copied = Memo(lambda k: _Result(np.ones(2), {}), max_entries=2)
    assert copied("k") is not copied("k") and copied("k").mixture_db.flags.writeable


def test_make_read_only_reaches_every_array_and_keeps_the_containers():
    value = {"a": [np.ones(2), (np.zeros(1), {"b": np.arange(3)})], "c": "text", "d": None}
    same = make_read_only(value)
    assert same is value and isinstance(value["a"], list)
    found = [value["a"][0], value["a"][1][0], value["a"][1][1]["b"]]
    assert [a.flags.writeable for a in found] == [False, False, False]


def test_find_gives_a_kept_result_that_stands_for_another_key_and_nothing_else():
    func, calls = counted(lambda identity, names: {"names": names, "data": np.arange(3)})
    clock = Clock()
    m = Memo(func, max_entries=4, ttl=60, clock=clock)
    kept = m("a", ("x", "y", "z"))
    m("b", ("x",))

    def covers(identity: str, names: tuple):
        def match(key: tuple) -> bool:
            kept_names = {name for _, name in dict(key)["names"][1]}
            return dict(key)["identity"] == ("str", identity) and set(names) <= kept_names

        return match

    found = m.find(covers("a", ("y", "x")))
    assert found["names"] == ("x", "y", "z") and found["data"] is not kept["data"]  # a copy, as a hit is
    np.testing.assert_array_equal(found["data"], kept["data"])
    assert m.find(covers("a", ("w",))) is None and m.find(covers("c", ("x",))) is None
    assert len(calls) == 2 and m.stats()["hits"] == 1 and m.stats()["misses"] == 2
    clock.now += 61  # expired entries stand for nothing
    assert m.find(covers("a", ("x",))) is None and m.stats()["entries"] == 0
    shared = Memo(lambda k: {"data": np.arange(2)}, max_entries=2, read_only=True)
    assert shared.find(lambda key: True) is None  # nothing kept yet
    made = shared("k")
    assert shared.find(lambda key: key == shared.key("k")) is made  # shared, as a hit is


def test_the_same_key_asked_at_once_is_computed_once_and_the_others_wait():
    started = threading.Event()
    release = threading.Event()
    calls = []

    def slow(k):
        calls.append(k)
        if k == "a":
            started.set()
            assert release.wait(10)
        return k.upper()

    m = Memo(slow, max_entries=4)
    results = []
    threads = [threading.Thread(target=lambda: results.append(m("a"))) for _ in range(5)]
    threads[0].start()
    assert started.wait(10)
    for t in threads[1:]:
        t.start()
    other = m("b")  # another key is not held up by the computation of "a"
    assert other == "B"
    time.sleep(0.2)  # the four later callers are waiting for "a" (not computing it)
    assert calls == ["a", "b"]
    release.set()
    for t in threads:
        t.join(10)
    assert results == ["A"] * 5
    assert calls == ["a", "b"]
    assert m.stats()["misses"] == 2 and m.stats()["hits"] == 4


def test_a_waiting_caller_computes_itself_when_the_first_one_fails():
    gate = threading.Event()
    calls = []

    def first_fails(k):
        calls.append(k)
        if len(calls) == 1:
            assert gate.wait(10)
            raise RuntimeError("stopped")
        return k

    m = Memo(first_fails, max_entries=2)
    out = {}

    def call(name):
        try:
            out[name] = m("k")
        except RuntimeError as exc:
            out[name] = exc

    a = threading.Thread(target=call, args=("a",))
    a.start()
    while not calls:
        time.sleep(0.01)
    b = threading.Thread(target=call, args=("b",))
    b.start()
    time.sleep(0.1)
    gate.set()
    a.join(10), b.join(10)
    assert isinstance(out["a"], RuntimeError) and out["b"] == "k"
    assert calls == ["k", "k"]


def test_many_threads_many_keys_stay_consistent():
    calls = []
    lock = threading.Lock()

    def square(k):
        with lock:
            calls.append(k)
        time.sleep(0.001)
        return k * k

    m = Memo(square, max_entries=64)
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        for k in rng.integers(0, 32, 200):
            if m(int(k)) != int(k) ** 2:
                errors.append(k)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(calls) == sorted(set(calls))  # every key computed once: never twice at the same time or later
    stats = m.stats()
    assert stats["entries"] == len(set(calls)) <= 32
    assert stats["hits"] + stats["misses"] == 8 * 200
    assert m._computing == {}  # no lock left behind


def test_clear_all_empties_every_memo_and_the_decorator_keeps_the_function_name():
    @memo(max_entries=2)
    def named(k):
        """Doc."""
        return k

    named(1)
    assert named.stats()["entries"] == 1
    assert named.__name__ == "named" and named.__doc__ == "Doc."
    memo_module.clear_all()
    assert named.stats()["entries"] == 0
    with pytest.raises(ValueError):
        Memo(lambda: 0, max_entries=0)
    with pytest.raises(ValueError):
        Memo(lambda: 0, max_entries=1, ttl=0)


def test_the_dashboard_keeps_no_streamlit_cache():
    """Streamlit's caches can be emptied by any client (issue 17) and may not be used off the script thread."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    used = re.compile(r"\bst\.cache_(data|resource)\s*[(.]|@st\.cache|\badd_script_run_ctx\b|global\.appTest")
    for path in [root / "app.py", *(root / "app_pages").glob("*.py"), *(root / "vsep_app").glob("*.py")]:
        assert not used.search(path.read_text()), (path.name, used.search(path.read_text()))
