"""The README's screenshots: every page of the real dashboard with the bundled sample, at 1400 and 390 px wide.

Starts ``streamlit run serve.py`` on a free port (as the browser tests do, :mod:`browser_support`), opens it in
Debian's Chromium (headless, through Playwright) with every outside request blocked, and on the default sample:
Load audio, Slices, Optimise (after *Run both*), Results (scores, players, full quality, spectrograms, downloads),
the Listening test, and a result published from Results and opened from its link. Each page is saved whole (the
window made as tall as the page, up to ``--max-height``) first at 1400 px wide, then at 390 px (a phone), as
``docs/screenshots/<page>_1400.png`` and ``<page>_390.png``.

Run: ``.venv/bin/python benchmarks/screenshots.py`` (about two minutes; ``--out DIR`` to save elsewhere).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from browser_support import Server, block_outside_requests, launch, nav, run_count, wait_for_run, wait_js  # noqa: E402

WIDTHS = {"1400": {"width": 1400, "height": 1000}, "390": {"width": 390, "height": 844}}
MAIN_HEIGHT_JS = (
    "Math.max(document.documentElement.scrollHeight, "
    "...Array.from(document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]'))"
    ".map(e => e.scrollHeight))"
)
CODES_JS = "Array.from(document.querySelectorAll('[data-testid=stCode]')).map(e => e.innerText)"


def act(page, action, timeout: float = 120) -> None:
    before = run_count(page)
    action()
    wait_for_run(page, before, timeout)


def settle(page, seconds: float = 1.5) -> None:
    """Let charts and players finish drawing (plotly redraws on a resize)."""
    page.wait_for_timeout(seconds * 1000)


def shoot(page, name: str, out: Path, max_height: int) -> list[Path]:
    """The page at each width, whole: the window as tall as its content (capped), then back to the desk size."""
    saved = []
    for label, size in WIDTHS.items():
        page.set_viewport_size(size)
        settle(page)
        height = min(int(page.evaluate(f"() => {MAIN_HEIGHT_JS}")), max_height)
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
        settle(page)
        path = out / f"{name}_{label}.png"
        page.screenshot(path=str(path))
        saved.append(path)
    page.set_viewport_size(WIDTHS["1400"])
    settle(page, 0.5)
    return saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--max-height", type=int, default=10000, help="tallest screenshot in pixels (default 10000)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(log_path=Path(tmp) / "streamlit.log", env={"VSEP_STORE": str(Path(tmp) / "store")}) as server,
        sync_playwright() as p,
    ):
        browser = launch(p)
        context = browser.new_context(viewport=WIDTHS["1400"])
        context.set_default_timeout(300_000)
        outside = block_outside_requests(context)
        page = context.new_page()
        page.goto(server.url)
        wait_for_run(page, 0, 120)
        saved = shoot(page, "load", args.out, args.max_height)
        act(page, lambda: nav(page, "Slices"))
        saved += shoot(page, "slices", args.out, args.max_height)
        act(page, lambda: nav(page, "Optimise"))
        act(page, lambda: page.get_by_role("button", name="Run both").click(), 300)
        page.get_by_text("Greedy search done").wait_for()
        saved += shoot(page, "optimise", args.out, args.max_height)
        act(page, lambda: nav(page, "Results"), 300)
        page.get_by_text("Share this result").wait_for()
        saved += shoot(page, "results", args.out, args.max_height)
        # Publish from Results, then open the link as anyone would.
        act(page, lambda: page.get_by_role("button", name="Publish and get a link").click(), 300)
        wait_js(page, f"({CODES_JS}).some(c => c.includes('/shared?id='))", 60, what="the shared link")
        link = next(c.strip() for c in page.evaluate(f"() => {CODES_JS}") if "/shared?id=" in c and "delete=" not in c)
        act(page, lambda: nav(page, "Listening test"), 300)
        saved += shoot(page, "listen", args.out, args.max_height)
        shared = context.new_page()
        shared.goto(link)
        wait_for_run(shared, 0, 120)
        saved += shoot(shared, "shared", args.out, args.max_height)
        context.close()
        browser.close()
    if outside:
        print(f"the app asked other hosts: {sorted(set(outside))}", file=sys.stderr)
        return 1
    for path in saved:
        print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}  {path.stat().st_size / 1e3:.0f} kB")
    print(f"{len(saved)} screenshots in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
