"""The server imports pandas before any session runs (``serve.py``).

plotly reads pandas from ``sys.modules`` without importing it; while one thread imports pandas, a chart built on
another thread sees the half-made module and fails with "partially initialized module 'pandas' has no attribute
'Series'". Four visitors drawing their loss curves at once hit it (``benchmarks/song_bench.py --dashboard
--sessions 4``): two of them saw "The progressive test hit an unexpected problem (AttributeError)".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: One thread builds charts, as a session's script thread does, while the main thread imports pandas, as another
#: session's first table or plotly express would; prints how many charts failed.
RACE = """
import sys, threading, time
import numpy as np
if sys.argv[1] == "served":
    import serve  # noqa: F401  (what `streamlit run serve.py` imports at start-up)
import plotly.graph_objects as go

failed, done, started = [], threading.Event(), threading.Event()

def draw():
    while not done.is_set():
        started.set()
        try:
            go.Figure().add_trace(go.Scatter(y=np.arange(3.0), mode="lines"))
        except AttributeError as exc:
            failed.append(str(exc))
        time.sleep(0.002)  # a page draws now and then; the import gets the interpreter in between

thread = threading.Thread(target=draw)
thread.start()
started.wait()
import pandas  # noqa: F401
done.set()
thread.join()
print(len(failed))
"""


def _charts_failed(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", RACE, mode], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


def test_charts_drawn_while_pandas_is_imported_do_not_fail_on_the_server():
    assert _charts_failed("served") == 0


def test_without_the_servers_import_the_same_charts_fail():  # the race above is real here: the check can fail
    assert _charts_failed("bare") > 0
