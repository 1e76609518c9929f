"""The results store behind shared links (issue #20): SQLite and a real PostgreSQL server, same tests.

Every store test runs twice: on SQLite in a temporary folder, and on a
PostgreSQL server this module starts (Debian's package, ``tests/pg_support.py``)
with a fresh database per test. Also: a real ``share`` process killed while it
writes the files leaves no record and, after ``gc``, no file; eight publishes at
once; the quota, retention, size cap and rate limit; delete tokens; packing a
real result (no file names, escaped title, the same figures); the CLI's
``share`` and ``store`` commands.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pg_support import PostgresServer, missing_reason

from vsep_core.errors import VsepError

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_audio" / "sung_vowels_pop"


@pytest.fixture(scope="module")
def postgres():
    reason = missing_reason()
    if reason:
        pytest.fail(reason)
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    """Where a store lives: a folder (SQLite) or a fresh PostgreSQL database; and its files folder."""
    if request.param == "sqlite":
        return str(tmp_path / "store"), None
    server = request.getfixturevalue("postgres")
    return server.new_database(), str(tmp_path / "files")


def make_store(location, **limits):
    from vsep_core.store import Limits, Store

    where, files = location
    return Store(where, files_dir=files, limits=Limits(**limits) if limits else Limits())


def some_files(n: int = 3, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {f"audio/run_{i}.flac": rng.bytes(1000 + 100 * i) for i in range(n)}
    out["metrics.json"] = json.dumps({"methods": [], "seed": seed}).encode()
    return out


def blob_count(store) -> int:
    return sum(1 for _ in store._blobs())


# --- publish, open, delete -------------------------------------------------------------------


def test_publish_and_open_round_trip(location):
    from vsep_core.store import NotFound

    store = make_store(location)
    files = some_files()
    published = store.publish(files, "  My <b>song</b>  ")
    assert published.link == f"/shared?id={published.id}"
    assert len(published.id) >= 22  # 144 random bits, url-safe base64
    record = store.get(published.id)
    assert record.title == "My <b>song</b>"  # stored as typed (whitespace tidied); escaped where shown
    assert {p: store.read_file(record, p) for p in record.files} == files
    assert record.size_bytes == sum(map(len, files.values()))
    # Content-addressed: the file is named by its SHA-256.
    import hashlib

    sha = hashlib.sha256(files["metrics.json"]).hexdigest()
    assert (store.files_dir / sha[:2] / sha[2:]).read_bytes() == files["metrics.json"]
    with pytest.raises(NotFound):
        store.read_file(record, "nothing.json")
    assert store.schema_version() == 2


def test_ids_are_random_not_derived_from_content(location):
    store = make_store(location)
    files = some_files()
    ids = {store.publish(files, "same").id for _ in range(5)}
    assert len(ids) == 5
    assert blob_count(store) == len(files)  # the same bytes are stored once


def test_wrong_malformed_expired_and_deleted_ids_say_the_same(location):
    from vsep_core.store import NotFound

    store = make_store(location, retention_days=1)
    published = store.publish(some_files(), "t")
    messages = set()
    for rid, now in [
        ("x" * 24, None),
        ("../../etc/passwd", None),
        ("", None),
        (None, None),
        (published.id, time.time() + 2 * 86400),
    ]:
        with pytest.raises(NotFound) as err:
            store.get(rid, now=now)
        messages.add(str(err.value))
    assert store.delete(published.id, published.delete_token)
    with pytest.raises(NotFound) as err:
        store.get(published.id)
    messages.add(str(err.value))
    assert len(messages) == 1 and "expired or deleted" in messages.pop()


def test_delete_needs_the_secret_token_and_only_its_hash_is_stored(location):
    import sqlalchemy as sa

    store = make_store(location)
    published = store.publish(some_files(), "t")
    assert not store.delete(published.id, "wrong-token")
    assert not store.delete(published.id, published.delete_token[:-1])
    store.get(published.id)  # still there
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(store.t_results)).one()
    assert published.delete_token not in json.dumps([str(v) for v in row])
    assert store.delete(published.id, published.delete_token)
    assert not store.delete(published.id, published.delete_token)  # once


def test_bad_paths_and_an_empty_result_are_refused(location):
    from vsep_core.errors import VsepError

    store = make_store(location)
    for bad in ("../x", "/etc/passwd", "a//b", "", ".hidden", "a/../b"):
        with pytest.raises(VsepError):
            store.publish({bad: b"x"}, "t")
    with pytest.raises(VsepError):
        store.publish({}, "t")
    assert store.list() == []


# --- limits ----------------------------------------------------------------------------------


def test_size_cap_per_result(location):
    from vsep_core.errors import VsepError

    store = make_store(location, max_result_bytes=2000)
    with pytest.raises(VsepError, match="cap"):
        store.publish({"a.bin": b"x" * 2001}, "too big")
    assert store.list() == []
    store.publish({"a.bin": b"x" * 2000}, "fits")


def test_quota_removes_the_oldest_expired_first_else_refuses(location):
    from vsep_core.store import NotFound, StoreFull

    store = make_store(location, quota_bytes=10_000, retention_days=1)
    day = 86400.0
    t0 = time.time() - 10 * day
    oldest = store.publish({"a.bin": os.urandom(4000)}, "oldest", now=t0)  # expired
    older = store.publish({"a.bin": os.urandom(4000)}, "older", now=t0 + day / 2)  # expired, newer
    # 8000 used: 4000 more needs one expired result removed, the oldest.
    third = store.publish({"a.bin": os.urandom(4000)}, "third")
    with pytest.raises(NotFound):
        store.get(oldest.id, now=t0)  # gone, not merely expired
    assert {r.id for r in store.list()} == {older.id, third.id}
    fourth = store.publish({"a.bin": os.urandom(4000)}, "fourth")  # removes "older"
    assert {r.id for r in store.list()} == {third.id, fourth.id}
    with pytest.raises(StoreFull, match="full"):  # nothing expired is left: a clear refusal
        store.publish({"a.bin": os.urandom(4000)}, "fifth")
    assert {r.id for r in store.list()} == {third.id, fourth.id}


def test_limits_from_the_environment():
    from vsep_core.errors import VsepError
    from vsep_core.store import Limits

    limits = Limits.from_env(
        {"VSEP_STORE_MAX_RESULT_MB": "5", "VSEP_STORE_QUOTA_MB": "100", "VSEP_STORE_RETENTION_DAYS": "7"}
    )
    assert (limits.max_result_bytes, limits.quota_bytes, limits.retention_days) == (5 * 2**20, 100 * 2**20, 7.0)
    with pytest.raises(VsepError, match="VSEP_STORE_QUOTA_MB"):
        Limits.from_env({"VSEP_STORE_QUOTA_MB": "lots"})
    with pytest.raises(VsepError):
        Limits.from_env({"VSEP_STORE_RETENTION_DAYS": "0"})


def test_retention_and_gc(location):
    store = make_store(location, retention_days=1)
    old = store.publish({"a.bin": b"old bytes"}, "old", now=time.time() - 2 * 86400)
    new = store.publish({"b.bin": b"new bytes"}, "new")
    assert blob_count(store) == 2
    done = store.gc(grace_s=0)
    assert done["expired"] == 1 and done["files"] == 1
    assert [r.id for r in store.list()] == [new.id]
    assert blob_count(store) == 1
    assert store.check() == []
    assert old.id not in {r.id for r in store.list()}


def test_gc_leaves_young_orphans_for_a_publish_under_way(location):
    store = make_store(location)
    store._put_blob(b"being published")  # files written, record not yet
    assert store.gc()["files"] == 0  # inside the grace period
    assert blob_count(store) == 1
    assert store.gc(grace_s=0)["files"] == 1
    assert blob_count(store) == 0


def test_check_finds_missing_and_damaged_files(location):
    store = make_store(location)
    published = store.publish({"a.json": b"{}", "b.json": b"[1]"}, "t")
    assert store.check() == []
    record = store.get(published.id)
    blob_a = store._blob_path(record.files["a.json"][0])
    blob_b = store._blob_path(record.files["b.json"][0])
    blob_a.write_bytes(b"{ }")
    blob_b.unlink()
    problems = store.check()
    assert len(problems) == 2
    assert any("a.json is damaged" in p for p in problems) and any("b.json is missing" in p for p in problems)
    from vsep_core.errors import VsepError

    with pytest.raises(VsepError, match="damaged"):
        store.read_file(record, "a.json")


def test_the_migration_brings_an_old_schema_up(location):
    import sqlalchemy as sa

    store = make_store(location)
    published = store.publish(some_files(), "kept across the migration")
    with store.engine.begin() as conn:  # back to version 1: no expiry index
        conn.execute(sa.text("DROP INDEX ix_vsep_results_expires_at"))
        conn.execute(store.t_version.update().values(version=1))
    store.dispose()
    again = make_store(location)
    assert again.schema_version() == 2
    assert "ix_vsep_results_expires_at" in {ix["name"] for ix in sa.inspect(again.engine).get_indexes("vsep_results")}
    assert again.get(published.id).title == "kept across the migration"
    with again.engine.begin() as conn:  # a newer schema than this code is refused, not damaged
        conn.execute(again.t_version.update().values(version=99))
    from vsep_core.errors import VsepError

    with pytest.raises(VsepError, match="newer"):
        make_store(location)


def test_sqlite_store_is_private_to_the_servers_user(tmp_path):
    store = make_store((str(tmp_path / "private"), None))
    store.publish(some_files(), "t")
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "private" / "store.sqlite").stat().st_mode) == 0o600
    for _, blob in store._blobs():
        assert stat.S_IMODE(blob.stat().st_mode) == 0o600
        assert stat.S_IMODE(blob.parent.stat().st_mode) == 0o700


def test_eight_publishes_at_once_all_succeed(location):
    """Eight sessions (each its own Store, as eight servers would have) publish at the same moment."""
    stores = [make_store(location) for _ in range(8)]
    results, errors = [None] * 8, []
    start = threading.Barrier(8)

    def one(i):
        try:
            start.wait()
            results[i] = stores[i].publish(some_files(seed=i), f"session {i}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len({r.id for r in results}) == 8
    for i, r in enumerate(results):
        record = stores[0].get(r.id)
        assert record.title == f"session {i}"
        assert json.loads(stores[0].read_file(record, "metrics.json"))["seed"] == i
    assert stores[0].check() == []


def _noise_results_folder(folder: Path, seconds: float = 150.0) -> Path:
    """A results folder ``share`` accepts, with three long noise WAVs (each about 13 MB once packed as FLAC):
    big enough that writing each file into the store takes a while."""
    import numpy as np
    import soundfile as sf

    sr = 44100
    rng = np.random.default_rng(5)
    (folder / "1_slices").mkdir(parents=True)
    for name in ("mixture", "target", "extracted_vocal"):
        sf.write(
            folder / "1_slices" / f"{name}.wav",
            rng.uniform(-0.5, 0.5, int(seconds * sr)).astype(np.float32),
            sr,
            subtype="PCM_16",
        )
    (folder / "metrics.json").write_text(json.dumps({"methods": [], "pair": {"sr": sr, "duration_s": seconds}}))
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "progressive": [
                    {"n": 1, "wav": "1_slices/extracted_vocal.wav", "final_loss": 1.0, "slices": ["slice_1_horizontal"]}
                ]
            }
        )
    )
    return folder


def _kill_mid_write(proc, files_dir: Path, timeout: float = 240.0) -> None:
    """SIGKILL ``proc`` while it writes a file into the store, after at least one file is in place.

    Found by watching the files folder, not by any hook: a temporary ``*.part`` file is a file being written
    (it is renamed into place when complete). The process is stopped (SIGSTOP) as soon as one is seen; if the
    file is still there, it is killed mid-write, else it goes on and the watch goes on.
    """
    tmp = files_dir / "tmp"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the publish finished (exit {proc.returncode}) before it could be caught mid-write")
        try:
            writing = [p for p in tmp.iterdir() if p.suffix == ".part"]
            placed = [f for sub in files_dir.iterdir() if sub.is_dir() and sub.name != "tmp" for f in sub.iterdir()]
        except FileNotFoundError:
            continue
        if writing and placed:
            os.kill(proc.pid, signal.SIGSTOP)
            if any(p.exists() for p in writing):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
                return
            os.kill(proc.pid, signal.SIGCONT)
    raise AssertionError("the publish was never seen writing a file")


def test_a_share_killed_mid_publish_leaves_no_record_and_gc_leaves_no_file(location, tmp_path):
    """A real `python -m vsep_core share` killed while it writes the result's files (no test hook in the product):
    no record, a link to nothing; the files it had written are orphans that gc removes, with the half file."""
    where, files = location
    store = make_store(location)
    folder = _noise_results_folder(tmp_path / "big_results")
    env = {**os.environ, "VSEP_STORE": where, "PYTHONPATH": str(REPO)}
    if files:
        env["VSEP_STORE_FILES"] = files
    proc = subprocess.Popen(
        [sys.executable, "-m", "vsep_core", "share", str(folder)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _kill_mid_write(proc, store.files_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert [p for p in (store.files_dir / "tmp").iterdir()], "the kill came mid-write: a half file is left"
    assert blob_count(store) >= 1  # the files written before the kill: named by no record
    assert store.list() == []
    assert store.check() == []
    store.gc(grace_s=0)
    assert blob_count(store) == 0
    assert list((store.files_dir / "tmp").iterdir()) == []
    # The same folder, shared again to the end, gives a working link to every file.
    done = subprocess.run(
        [sys.executable, "-m", "vsep_core", "share", str(folder)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    record = store.get(done.stdout.splitlines()[0].split("=", 1)[1])
    assert store.check() == [] and len([p for p in record.files if p.startswith("audio/")]) == 3


# --- the app side's helpers ------------------------------------------------------------------------


def test_publish_rate_limit_per_session():
    from vsep_app.sharing import RATE_LIMIT, RATE_WINDOW_S, rate_check

    now = 1_000_000.0
    times = [now - 10 * i for i in range(RATE_LIMIT - 1)]
    assert rate_check(times, now) is None
    times.append(now - 5)
    refusal = rate_check(times, now)
    assert refusal is not None and "try again in" in refusal
    assert rate_check(times, now + RATE_WINDOW_S + 60) is None  # the window has passed


def test_id_from_a_pasted_link():
    from vsep_app.sharing import id_from_link

    rid = "AbCdEfGhIjKlMnOpQrStUvWx"
    assert id_from_link(f"http://host:8501/shared?id={rid}") == rid
    assert id_from_link(f"https://x.org/app/shared?id={rid}&delete=zzz") == rid
    assert id_from_link(f"  {rid} ") == rid
    assert id_from_link("http://host/shared?id=short") is None
    assert id_from_link("<script>") is None


def test_compare_rows_differences():
    from vsep_app.sharing import compare_rows

    a = {
        "methods": [
            {
                "name": "seed_greedy",
                "vocal": {"si_sdr": 1.0, "sdr": 2.0, "sir": 3.0, "sar": 4.0},
                "instrumental": {"si_sdr": 5.0, "sdr": 5.0, "sir": 5.0, "sar": 5.0},
            }
        ]
    }
    b = {
        "methods": [
            {
                "name": "seed_greedy",
                "vocal": {"si_sdr": 2.5, "sdr": 2.0, "sir": None, "sar": 4.0},
                "instrumental": {"si_sdr": 4.0, "sdr": 5.0, "sir": 5.0, "sar": 5.0},
            },
            {"name": "joint", "vocal": {"si_sdr": 9.0}, "instrumental": {}},
        ]
    }
    rows = {(r["method"], r["estimate"], r["metric"]): r for r in compare_rows(a, b)}
    assert rows[("seed_greedy", "vocal", "SI-SDR")]["B − A"] == pytest.approx(1.5)
    assert rows[("seed_greedy", "instrumental", "SI-SDR")]["B − A"] == pytest.approx(-1.0)
    assert rows[("seed_greedy", "vocal", "SIR")]["B − A"] is None
    assert rows[("joint", "vocal", "SI-SDR")]["A"] is None and rows[("joint", "vocal", "SI-SDR")]["B"] == 9.0


# --- packing a real result, and the command line -----------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A real `run --greedy --metrics` folder of the default sample (3 slices), as a person would make it."""
    out = tmp_path_factory.mktemp("cli") / "ballad_results"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vsep_core",
            "run",
            "--mixture",
            str(SAMPLE / "mixture.wav"),
            "--target",
            str(SAMPLE / "vocal.wav"),
            "--slices",
            "3",
            "--greedy",
            "--metrics",
            "--no-plots",
            "--quiet",
            "--out",
            str(out),
        ],
        check=True,
        cwd=REPO,
        timeout=600,
    )
    return out


@pytest.fixture(scope="module")
def engine_result():
    from vsep_core.audio import prepare_pair
    from vsep_core.evaluate import evaluate_experiment, load_pair
    from vsep_core.experiment import run_experiment
    from vsep_core.settings import Settings

    s = Settings()
    pair = prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=s, keep_audio=True)
    import dataclasses

    pair = dataclasses.replace(
        pair,
        info={
            **pair.info,
            "mixture": "secret_song_name.mp3",
            "vocal": "secret_vocal_name.wav",
            "label": "secret label",
        },
    )
    result = run_experiment(pair, s, max_slices=3, greedy=True, keep_audio=True)
    result.pair_info = dict(pair.info)
    metrics = evaluate_experiment(result, load_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=s))
    metrics["pair"]["mixture"] = "secret_song_name.mp3"
    return result, pair, metrics


def test_pack_result_holds_the_figures_no_file_names_and_an_escaped_title(engine_result, tmp_path):
    from vsep_core.bundle import load_plots, pack_result

    result, pair, metrics = engine_result
    title = '<script>alert("x")</script> & "Pop" vsep:plotly.js.gz.b64'  # the library's mark text, too
    files = pack_result(result, pair, title=title, metrics=metrics)
    everything = b"".join(files.values())
    assert b"secret_song_name" not in everything and b"secret_vocal_name" not in everything
    assert b"secret label" not in everything
    stored = json.loads(files["metrics.json"])
    assert [m["vocal"]["si_sdr"] for m in stored["methods"]] == pytest.approx(
        [m["vocal"]["si_sdr"] for m in metrics["methods"]], nan_ok=True
    )
    from vsep_core.bundle import report_html

    assert len(files["report.html"]) < len(files["plotly.js.gz.b64"])  # the chart library is stored on its own
    html = report_html(files.__getitem__).decode()
    assert html.count(files["plotly.js.gz.b64"].decode()) == 1  # the library back where it goes, once
    assert 'id="vsep-plotly">' + files["plotly.js.gz.b64"].decode() + "</script>" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&quot;Pop&quot; vsep:plotly.js.gz.b64" in html  # the title as typed
    share = json.loads(files["share.json"])
    keys = [e["key"] for e in share["estimates"]]
    assert keys[0] == f"N={result.best_progressive.n}" and "greedy" in keys
    for e in share["estimates"]:
        assert e["audio"] in files
    assert share["inputs"]["mixture"] in files and share["inputs"]["target"] in files
    arrays = load_plots(files["plots.npz"])
    assert {"spec/target", "spec/mixture"} <= set(arrays)
    import io

    import soundfile as sf

    y, sr = sf.read(io.BytesIO(files[share["inputs"]["mixture"]]), dtype="float32")
    assert sr == pair.sr and len(y) == pair.n_samples
    # Without audio: no audio file, and the report has no player.
    quiet = pack_result(result, pair, title="t", metrics=metrics, audio=False)
    assert not any(p.startswith("audio/") for p in quiet)
    assert "<audio" not in quiet["report.html"].decode()
    assert quiet["plotly.js.gz.b64"] == files["plotly.js.gz.b64"]  # one content-addressed file for every result
    # All estimates on request.
    every = json.loads(
        pack_result(result, pair, title="t", metrics=metrics, estimates="all", report=False)["share.json"]
    )
    assert [e["label"] for e in every["estimates"]] == [label for label, _ in result.labelled_runs()]


def _ratings():
    from vsep_core.listening import make_trial, ratings_rows

    trial = make_trial(["irm", "hpss", "exact_eq"], seed=7)
    values = dict(zip([t["label"] for t in trial], (91, 12, 64, 38, 77)))
    rows = ratings_rows(trial, values, {"irm": {"si_sdr": 12.5}})
    return {"rows": rows, "info": {"pair": "secret label", "seed": 7, "order": list(values)}}


def test_a_published_result_carries_the_listening_ratings_and_the_shared_page_reads_them(engine_result, tmp_path):
    from vsep_app.sharing import Shared
    from vsep_core.bundle import pack_result
    from vsep_core.listening import RATINGS_CSV, RATINGS_JSON, ratings_files

    result, pair, metrics = engine_result
    rated = _ratings()
    files = pack_result(result, pair, title="t", metrics=metrics, audio=False, report=False, ratings=rated)
    assert b"secret label" not in files[RATINGS_JSON]  # the pair's label may be a file name: not published
    expected = ratings_files(rated["rows"], {k: v for k, v in rated["info"].items() if k != "pair"})
    assert files[RATINGS_CSV] == expected[RATINGS_CSV] and files[RATINGS_JSON] == expected[RATINGS_JSON]
    store = make_store((str(tmp_path / "store"), None))
    shown = Shared(store, store.get(store.publish(files, "rated").id))
    back = shown.ratings()
    assert [(r["label"], r["item"], r["rating"]) for r in back["rows"]] == [
        (r["label"], r["item"], r["rating"]) for r in rated["rows"]
    ]
    assert back["info"]["seed"] == 7
    # No ratings: no file, and the shared page has none to show.
    plain = pack_result(result, pair, title="t", metrics=metrics, audio=False, report=False)
    assert not any(p.startswith("listening") for p in plain)
    assert Shared(store, store.get(store.publish(plain, "plain").id)).ratings() is None


def test_cli_share_carries_ratings_saved_into_a_results_folder(cli_run, tmp_path):
    import shutil

    from vsep_core.bundle import bundle_from_folder
    from vsep_core.listening import RATINGS_JSON, ratings_files, read_ratings

    folder = tmp_path / "with_ratings"
    shutil.copytree(cli_run, folder)
    rated = _ratings()
    for path, data in ratings_files(rated["rows"], rated["info"]).items():
        (folder / path).write_bytes(data)
    files, _ = bundle_from_folder(folder, audio=False)
    assert [r["rating"] for r in read_ratings(files[RATINGS_JSON])["rows"]] == [91, 12, 64, 38, 77]
    assert b"secret label" not in files[RATINGS_JSON]
    (folder / RATINGS_JSON).write_text("{}")
    with pytest.raises(VsepError, match="listening ratings"):
        bundle_from_folder(folder, audio=False)
    files, _ = bundle_from_folder(cli_run, audio=False)
    assert not any(p.startswith("listening") for p in files)


def test_cli_share_and_store_commands(cli_run, tmp_path):
    env = {**os.environ, "VSEP_STORE": str(tmp_path / "store"), "PYTHONPATH": str(REPO)}

    def cli(*args, check=True):
        done = subprocess.run(
            [sys.executable, "-m", "vsep_core", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    shared = cli("share", str(cli_run), "--title", "CLI <run>")
    link = shared.stdout.splitlines()[0]
    assert link.startswith("/shared?id=")
    rid = link.split("=", 1)[1]
    from vsep_core.store import Store

    store = Store(tmp_path / "store")
    record = store.get(rid)
    assert record.title == "CLI <run>"
    assert (
        json.loads(store.read_file(record, "metrics.json"))["methods"]
        == json.loads((cli_run / "metrics.json").read_text())["methods"]
    )
    assert any(p.startswith("audio/") for p in record.files)
    quiet = cli("share", str(cli_run), "--no-audio").stdout.splitlines()[0].split("=", 1)[1]
    assert not any(p.startswith("audio/") for p in store.get(quiet).files)
    assert store.get(quiet).title == "ballad_results"  # the folder's name by default
    listing = cli("store", "list").stdout
    assert rid in listing and quiet in listing and "CLI <run>" in listing
    assert "all files present and intact" in cli("store", "check").stdout
    assert cli("store", "delete", quiet).returncode == 0
    assert "removed 0 expired results and" in cli("store", "gc", "--grace", "0").stdout
    bad = cli("store", "delete", "no-such-id-aaaaaaaaaaaaaaa", check=False)
    assert bad.returncode == 2 and "No result" in bad.stderr
    missing = cli("share", str(tmp_path), check=False)
    assert missing.returncode == 2 and "metrics.json" in missing.stderr and "Traceback" not in missing.stderr


def test_view_permalink_settings_round_trip():
    from vsep_app.permalink import settings_from_params, settings_params
    from vsep_core.errors import VsepError
    from vsep_core.settings import Settings

    assert settings_params(Settings()) == {}
    changed = Settings(duration_s=None, hop_length=520, level="common", learning_rate=0.02, n_windows=150)
    params = settings_params(changed)
    assert params["duration_s"] == "all" and params["hop_length"] == "520" and "sr" not in params
    assert settings_from_params(params) == changed
    assert settings_from_params({**params, "sample": "x", "window": "3"}) == changed  # view keys are not settings
    with pytest.raises(VsepError):
        settings_from_params({"hop_length": "many"})
    with pytest.raises(VsepError):
        settings_from_params({"level": "loud"})


def test_copy_a_sqlite_store_to_postgresql_keeps_the_links(postgres, tmp_path):
    from vsep_core.store import Store

    source = Store(tmp_path / "sqlite")
    published = [source.publish(some_files(seed=i), f"result {i}") for i in range(3)]
    env = {**os.environ, "VSEP_STORE": str(tmp_path / "sqlite"), "PYTHONPATH": str(REPO)}
    url = postgres.new_database()
    done = subprocess.run(
        [sys.executable, "-m", "vsep_core", "store", "copy-to", url, "--files", str(tmp_path / "pgfiles")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and "copied 3 results" in done.stdout, done.stderr
    target = Store(url, files_dir=tmp_path / "pgfiles")
    for i, p in enumerate(published):
        record = target.get(p.id)
        assert record.title == f"result {i}"
        assert json.loads(target.read_file(record, "metrics.json"))["seed"] == i
    assert target.check() == []
    assert target.delete(published[0].id, published[0].delete_token)  # the delete links work too
    assert source.copy_to(target) == 1  # again: only what the target lacks (the deleted one)


def test_a_visitors_own_files_never_go_into_the_url_the_page_says_publish():
    """View permalinks are for bundled samples: with uploaded files the URL is emptied and the sidebar says why."""
    from streamlit.testing.v1 import AppTest

    from vsep_app.state import SOURCE, Source

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.query_params["sample"] = "sung_vowels_pop"
    at.query_params["hop_length"] = "520"
    at.run()  # a view link opens the sample with its settings
    assert not at.exception
    assert at.session_state["vsep_settings"].hop_length == 520
    assert at.query_params["sample"] == "sung_vowels_pop" and at.query_params["hop_length"] == "520"
    upload = Source.create(
        label="my_secret_song.wav",
        origin="upload",
        mixture=(SAMPLE / "mixture.wav").read_bytes(),
        other=(SAMPLE / "vocal.wav").read_bytes(),
        mixture_name="my_secret_song.wav",
        other_name="my_secret_vocal.wav",
    )
    at.session_state[SOURCE] = upload
    at.run()
    assert not at.exception
    assert dict(at.query_params) == {}  # nothing of the visitor's files in the address
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "does not carry your own files" in sidebar and "Share this result" in sidebar


def test_a_result_published_after_full_quality_carries_it_and_the_shared_page_reads_it(engine_result, tmp_path):
    """Its scores always; its audio (FLAC at the file's rate and channels) with "Include the audio"; the report
    shows it."""
    import io

    import numpy as np
    import soundfile as sf

    from vsep_app.sharing import Shared
    from vsep_core.bundle import pack_result
    from vsep_core.full_quality import FullQualityRun

    result, pair, metrics = engine_result
    rng = np.random.default_rng(1)
    target, complement = (0.1 * rng.standard_normal((44100, 2)).astype(np.float32) for _ in range(2))
    scores = {
        "vocal": {"si_sdr": 7.25, "sdr": 7.5, "sir": 12.0, "sar": 9.0},
        "instrumental": {"si_sdr": 14.0, "sdr": 14.5, "sir": 18.0, "sar": 16.0},
        "channel_scoring": "per channel, averaged",
    }
    label = str(result.best_progressive.n)
    run = FullQualityRun(label=label, sr=44100, channels=2, scores=scores, target=target, complement=complement)
    files = pack_result(result, pair, title="t", metrics=metrics, full_quality=[run])
    share = json.loads(files["share.json"])
    (entry,) = share["full_quality"]
    assert (entry["label"], entry["sr"], entry["channels"], entry["quality"]) == (label, 44100, 2, "44100 Hz stereo")
    y, sr = sf.read(io.BytesIO(files[entry["audio"]]), dtype="float32")
    assert sr == 44100 and y.shape == (44100, 2) and np.allclose(y, target, atol=1 / 32768)
    assert entry["complement_audio"] in files
    assert json.loads(files["full_quality.json"])["runs"][label]["scores"]["vocal"]["si_sdr"] == 7.25
    report = files["report.html"].decode()
    assert "<td>7.25</td>" in report[report.index("At full quality") :] and report.count("<audio") >= 4
    store = make_store((str(tmp_path / "store"), None))
    shown = Shared(store, store.get(store.publish(files, "full").id))
    assert shown.share["full_quality"][0]["scores"]["vocal"]["si_sdr"] == 7.25
    assert sf.info(io.BytesIO(shown.file(entry["audio"]))).channels == 2
    # Without the audio: the scores still, no FLAC, no full-quality player in the report.
    quiet = pack_result(
        result,
        pair,
        title="t",
        metrics=metrics,
        audio=False,
        full_quality=[FullQualityRun(label=label, sr=44100, channels=2, scores=scores)],
    )
    (entry,) = json.loads(quiet["share.json"])["full_quality"]
    assert entry["audio"] is None and not any(p.startswith("audio/") for p in quiet)
    assert "<td>7.25</td>" in quiet["report.html"].decode() and "<audio" not in quiet["report.html"].decode()
    # Not made: nothing of it.
    plain = pack_result(result, pair, title="t", metrics=metrics, audio=False, report=False)
    assert json.loads(plain["share.json"])["full_quality"] == [] and "full_quality.json" not in plain


def test_the_shared_page_shows_the_full_quality_scores_and_players(engine_result, tmp_path, monkeypatch):
    import numpy as np
    from streamlit.testing.v1 import AppTest

    from vsep_core.bundle import pack_result
    from vsep_core.full_quality import FullQualityRun

    result, pair, metrics = engine_result
    y = (0.1 * np.random.default_rng(2).standard_normal((22050, 2))).astype(np.float32)
    scores = {
        "vocal": {"si_sdr": 7.25, "sdr": 7.5, "sir": 12.0, "sar": 9.0},
        "instrumental": {"si_sdr": 14.0, "sdr": 14.5, "sir": 18.0, "sar": 16.0},
    }
    run = FullQualityRun(label="greedy", sr=44100, channels=2, scores=scores, target=y, complement=y)
    files = pack_result(result, pair, title="t", metrics=metrics, report=False, full_quality=[run])
    location = str(tmp_path / "store")
    monkeypatch.setenv("VSEP_STORE", location)
    rid = make_store((location, None)).publish(files, "full").id
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.query_params["id"] = rid
    at.switch_page("app_pages/shared.py").run()
    assert not at.exception
    assert "At full quality" in [h.value for h in at.subheader]
    table = next(d.value for d in at.dataframe if "result" in d.value.columns)
    row = table.to_dict("records")[0]
    assert row["result"] == "greedy order, full quality (44100 Hz stereo)" and row["vocal SI-SDR"] == 7.25
    assert any("Vocal, greedy order, full quality (44100 Hz stereo)" in m.value for m in at.markdown)
