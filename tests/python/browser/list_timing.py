"""Times the console's image list over a data directory (tests/console.rs writes 10 000 images
into one and runs this): starts `imglake serve` over it, waits until the lake has the change
feed, then measures the list API (first page, last page, counts) and, in Debian's chromium,
the time from navigation to the first page drawn, to the next page, and to a filtered page.

  list_timing.py --data-dir DIR      prints a JSON report on stdout

Needs Playwright for Python (scripts/setup-browser.sh) and IMGLAKE_BIN or a debug build.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from console_support import Serve, get_json, launch  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

MARK = "imglake:images-rendered"


def timed_get(url: str):
    started = time.perf_counter()
    body = get_json(url)
    return (time.perf_counter() - started) * 1000, body


def drawn_after(page, since: float, predicate_js: str, timeout: float = 10_000) -> float:
    """Milliseconds from `since` (performance.now()) to the first list drawn after it that
    satisfies `predicate_js` (a function of the mark's detail)."""
    page.wait_for_function(
        f"""() => performance.getEntriesByName('{MARK}').some(m => m.startTime >= {since} && ({predicate_js})(m.detail))""",
        timeout=timeout,
    )
    return page.evaluate(
        f"""() => performance.getEntriesByName('{MARK}').find(m => m.startTime >= {since} && ({predicate_js})(m.detail)).startTime - {since}"""
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    args = parser.parse_args()
    serve = Serve(args.data_dir, "--flush-age", "1s")
    try:
        lake = serve.wait_settled(timeout=300)
        base = serve.base
        report = {"lake_files": lake["files"], "lake_cursor": lake["cursor"]}
        api_first, first = timed_get(f"{base}/console/api/images?limit=50")
        report["api_first_page_ms"] = round(api_first, 2)
        report["total"] = first["total"]
        # Walk to the last page (500 at a time), then time a page of 50 there.
        cursor = first["next"]
        walked = 50
        while walked + 500 < first["total"] - 50:
            cursor = get_json(f"{base}/console/api/images?limit=500&after={cursor}")["next"]
            walked += 500
        api_last, last = timed_get(f"{base}/console/api/images?limit=50&after={cursor}")
        report["api_last_page_ms"] = round(api_last, 2)
        report["api_last_page_rows"] = len(last["images"])
        facets_ms, facets = timed_get(f"{base}/console/api/facets")
        report["api_facets_ms"] = round(facets_ms, 2)
        report["rejected_total"] = next(s["count"] for s in facets["statuses"] if s["value"] == "REJECTED")

        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/#/images")
            report["first_page_ms"] = round(drawn_after(page, 0, "d => d.page === 0 && d.rows === 50"), 1)
            report["rows"] = page.eval_on_selector_all("#image-rows tr", "trs => trs.length")

            since = page.evaluate("() => performance.now()")
            page.click("#page-older")
            report["older_page_ms"] = round(drawn_after(page, since, "d => d.page === 1"), 1)

            since = page.evaluate("() => performance.now()")
            page.select_option("#filter-status", "REJECTED")
            report["filtered_page_ms"] = round(drawn_after(page, since, "d => d.filter.status === 'REJECTED' && d.page === 0"), 1)
            statuses = page.eval_on_selector_all("#image-rows tr", "trs => [...new Set(trs.map(t => t.dataset.status))]")
            report["filtered_statuses"] = statuses
            report["filtered_summary"] = page.text_content("#list-summary")
            browser.close()
        print(json.dumps(report))
        return 0
    finally:
        serve.stop()


if __name__ == "__main__":
    sys.exit(main())
