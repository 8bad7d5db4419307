"""The web console of `imglake serve` in a real browser (Debian's chromium under Playwright):
upload through the page's file input and the presigned-POST flow, images reaching PROCESSED
and REJECTED in the live list, an image's detail, the dashboard's numbers against
`imglake query` and `imglake check` on the same lake, keyboard use, a 375 px wide screen, and
pages of other origins calling the API (CORS).

Every page is checked for console errors and for requests to anything but the serve origin.
Screenshots go to IMGLAKE_SCREENSHOTS (default <target dir>/console-screenshots).

Run: scripts/test.sh, or "$(scripts/setup-browser.sh)/bin/python" -m pytest -q tests/python/browser
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed here: run scripts/setup-browser.sh")

from console_support import (  # noqa: E402
    SVG,
    Serve,
    free_port,
    get_json,
    http,
    imglake,
    png,
    screenshot_dir,
    truncated_png,
    wait_for,
)

SHOTS = screenshot_dir()
# Small enough to make a too-large file quickly; the page reads the limit from the server.
MAX_IMAGE = "1MB"


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    s = Serve(tmp_path_factory.mktemp("console") / "data", "--flush-age", "1s", "--max-image-size", MAX_IMAGE, "--workers", "2")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("upload")
    made = {
        "sunrise.png": png(640, 480, seed=1),
        "harbour.png": png(800, 600, seed=2),
        "meadow.png": png(320, 320, seed=3),
        "notes.txt": b"shopping list: eggs, flour\n" * 20,
        "logo.svg": SVG,
        "broken.png": truncated_png(),
        # Over the 1 MB limit, whatever its content.
        "huge.png": png(16, 16, seed=4) + bytes(1_200_000),
    }
    for name, body in made.items():
        (d / name).write_bytes(body)
    return {name: d / name for name in made}


# What each file must end as on the upload page: (data-state, text the status line shows).
EXPECTED = {
    "sunrise.png": ("processed", "Processed: 640×480, 2 variants"),
    "harbour.png": ("processed", "Processed: 800×600, 2 variants"),
    "meadow.png": ("processed", "Processed: 320×320, 2 variants"),
    "notes.txt": ("rejected", "415 unknown_type"),
    "logo.svg": ("rejected", "415 unsupported_type"),
    "broken.png": ("rejected", "422 "),
    "huge.png": ("rejected", "413 too_large"),
}


def upload_rows(page) -> dict[str, dict]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#uploads li')].map(li => [
            li.querySelector('.name').textContent,
            {state: li.dataset.state, id: li.dataset.imageId || null, text: li.querySelector('.state').textContent}]))"""
    )


def uploaded(serve, recorded, files) -> tuple[object, dict[str, dict]]:
    """Uploads every test file through the page's file input; returns the page and the rows."""
    rp = recorded(serve.base, viewport={"width": 1280, "height": 900})
    page = rp.page
    page.goto(serve.base + "/")
    page.wait_for_function("() => document.getElementById('limits-hint').textContent.includes('1.0 MB')")
    page.set_input_files("#files", [str(files[n]) for n in EXPECTED])
    terminal = {"processed", "rejected", "failed", "error"}
    rows = wait_for(
        "every upload to end",
        lambda: (r := upload_rows(page)) and len(r) == len(EXPECTED) and all(v["state"] in terminal for v in r.values()) and r,
        timeout=90,
    )
    return rp, rows


def test_upload_list_detail_and_dashboard_agree_with_the_lake(serve, recorded, files):
    rp, rows = uploaded(serve, recorded, files)
    page = rp.page
    for name, (state, text) in EXPECTED.items():
        assert rows[name]["state"] == state, f"{name}: {rows[name]}"
        assert text in rows[name]["text"], f"{name}: {rows[name]}"
    # The refusal after the presigned upload is the server's: the item says why.
    for name in ("notes.txt", "logo.svg", "broken.png"):
        item = get_json(f"{serve.base}/images/{rows[name]['id']}")
        assert item["status"] == "REJECTED" and item["error_code"] in rows[name]["text"], item
    # The too-large file was refused before asking for a form: no image was recorded.
    assert rows["huge.png"]["id"] is None
    page.screenshot(path=str(SHOTS / "console-upload.png"), full_page=True)

    ids = {n: r["id"] for n, r in rows.items() if r["id"]}
    serve.wait_settled(ids.values())

    # The live list: every upload with its status, newest first, with thumbnails.
    page.get_by_role("link", name="Images", exact=True).click()
    page.wait_for_selector(f"tr[data-image-id='{ids['sunrise.png']}']")
    listed = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#image-rows tr')].map(tr => [tr.dataset.imageId, tr.dataset.status]))"
    )
    for name, image_id in ids.items():
        want = "PROCESSED" if EXPECTED[name][0] == "processed" else "REJECTED"
        assert listed.get(image_id) == want, f"{name} ({image_id}): {listed.get(image_id)}"
    thumbs = page.eval_on_selector_all(
        "#image-rows tr[data-status='PROCESSED'] td.thumb img", "imgs => imgs.map(i => i.complete && i.naturalWidth)"
    )
    assert len(thumbs) == 3 and all(w and w > 0 for w in thumbs), thumbs
    page.screenshot(path=str(SHOTS / "console-images.png"), full_page=True)

    # Filtering by status shows only that status, and says how many.
    page.select_option("#filter-status", "REJECTED")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#image-rows tr')].every(tr => tr.dataset.status === 'REJECTED')"
        " && document.querySelectorAll('#image-rows tr').length === 3"
    )
    assert "of 3 matching" in page.text_content("#list-summary")
    assert page.url.endswith("#/images?status=REJECTED")
    page.select_option("#filter-status", "")

    # A status change shows without reloading: an upload by the API appears and settles.
    page.evaluate("() => { window.__sameDocument = true; }")
    status, _, body = http("PUT", serve.base + "/images", png(200, 150, seed=7), {"content-type": "image/png"})
    assert status == 202, body
    late = json.loads(body)["image_id"]
    page.wait_for_selector(f"tr[data-image-id='{late}'][data-status='PROCESSED']", timeout=30_000)
    assert page.evaluate("() => window.__sameDocument === true"), "the list reloaded the page"

    # An image's detail: variants with links and sizes, features, timings, the lake's history.
    page.click(f"tr[data-image-id='{ids['harbour.png']}'] td.id a")
    page.wait_for_selector("#history")
    page.wait_for_function("() => document.querySelector('#history .note').textContent.includes('every change')", timeout=30_000)
    detail = page.text_content("#detail-body")
    for text in ("Variants", "thumb", "display", "Dominant colour", "Mean luma", "Sharpness", "Received → finished", "Finished → in the lake"):
        assert text in detail, text
    history = page.eval_on_selector_all("#history tbody tr", "trs => trs.map(tr => tr.innerText)")
    assert [h.split("\t")[1] for h in history] == ["INSERT", "MODIFY", "MODIFY"], history
    assert "PROCESSED" in history[-1]
    links = page.eval_on_selector_all("#detail-body a[href^='/console/files/']", "as => as.map(a => a.getAttribute('href'))")
    assert len(links) == 2, links
    for link in links:
        status, headers, body = http("GET", serve.base + link)
        assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8", link
    swatch = page.eval_on_selector(".swatch", "s => getComputedStyle(s).backgroundColor")
    assert swatch.startswith("rgb("), swatch
    page.screenshot(path=str(SHOTS / "console-detail.png"), full_page=True)

    # A refused image's detail says why, with the HTTP status PUT /images would have given.
    page.goto(f"{serve.base}/#/images/{ids['notes.txt']}")
    page.wait_for_selector(".error-box")
    assert "415 unknown_type" in page.text_content(".error-box")

    # The dashboard, reached by its link, shows what `imglake query` says of the same lake.
    serve.wait_settled([late])
    page.get_by_role("link", name="Dashboard").click()
    lake = serve.lake_state()
    page.wait_for_function(f"() => document.getElementById('view-dashboard').dataset.cursor === '{lake['cursor']}'", timeout=60_000)
    assert serve.lake_state()["cursor"] == lake["cursor"], "the lake moved while the dashboard was read"
    compare_dashboard_with_cli(page, serve)
    page.screenshot(path=str(SHOTS / "console-dashboard.png"), full_page=True)


def compare_dashboard_with_cli(page, serve):
    names = [q["name"] for q in get_json(serve.base + "/console/api/queries")["queries"]]
    assert set(names) >= {"ingest_overview", "rejection_reasons", "latency_trend", "tenant_storage"}, names
    for name in names:
        sql = imglake("sql", name, "--dialect", "datafusion").stdout
        out = imglake("query", "--lake", str(serve.lake), "--format", "json", sql).stdout
        cli_rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        page_rows = page.eval_on_selector_all(
            f"#query-{name} table.result tbody tr",
            "trs => trs.map(tr => Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.column, JSON.parse(td.dataset.value)])))",
        )
        assert cli_rows, f"{name}: the lake gave no rows"
        assert page_rows == cli_rows, f"{name}: the page shows\n{page_rows}\nimglake query says\n{cli_rows}"
        chart = page.evaluate(
            f"""() => {{ const c = window.Chart.getChart(document.querySelector('#query-{name} canvas'));
                 return c ? c.data.datasets.map(d => d.data) : null; }}"""
        )
        assert chart and any(any(v for v in d) for d in chart), f"{name}: the chart is empty: {chart}"
    # The images' totals in the chart are the query's.
    overview = page.evaluate(
        "() => window.Chart.getChart(document.querySelector('#query-ingest_overview canvas')).data.datasets"
    )
    processed = next(d for d in overview if d["label"] == "Processed")["data"]
    facets = get_json(serve.base + "/console/api/facets")
    want = next(s["count"] for s in facets["statuses"] if s["value"] == "PROCESSED")
    assert sum(processed) == want, (overview, facets)
    # The checks: all pass on the page, and `imglake check` agrees.
    badges = page.eval_on_selector_all("#checks-body [data-check]", "bs => bs.map(b => [b.dataset.check, b.textContent])")
    assert len(badges) >= 6 and all(text == "pass" for _, text in badges), badges
    imglake("check", "--lake", str(serve.lake))


def test_a_link_followed_while_the_console_loads_shows_its_page_with_the_focus(serve, recorded):
    """The settings (and the lake line) may be slow to come; a reader who follows a link
    meanwhile gets that page at once, with the focus on its heading, not nothing until the
    settings arrive and then the page without the focus."""
    rp = recorded(serve.base, viewport={"width": 1280, "height": 900})
    page = rp.page
    held = []
    page.route("**/console/api/config", lambda route: held.append(route))
    page.goto(serve.base + "/#/upload")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the console did not ask for its settings"
    page.focus("nav a[data-nav=dashboard]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-dashboard:not([hidden])", timeout=3_000)
    assert page.evaluate("() => document.activeElement.id") == "dashboard-title"
    for route in held:
        route.continue_()
    page.wait_for_function("() => document.getElementById('limits-hint').textContent.includes('MB')")
    assert page.evaluate("() => document.activeElement.id") == "dashboard-title"


def test_the_console_is_usable_by_keyboard(serve, recorded):
    status, _, body = http("PUT", serve.base + "/images", png(120, 90, seed=21))
    assert status == 202, body
    rp = recorded(serve.base, viewport={"width": 1280, "height": 900})
    page = rp.page
    page.goto(serve.base + "/#/upload")
    page.wait_for_function("() => document.getElementById('limits-hint').textContent.includes('MB')")
    # The first Tab reaches the skip link, then the navigation, in order.
    seen = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.textContent.trim()")
        seen.append(focused)
        if focused == "Dashboard":
            break
    assert seen[0] == "Skip to content", seen
    assert seen[-1] == "Dashboard", seen
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused link shows no outline"
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-dashboard:not([hidden])")
    assert page.evaluate("() => document.activeElement.id") == "dashboard-title"
    # The file picker is reachable: its input takes the focus, and its label shows the ring.
    page.goto(serve.base + "/#/upload")
    page.focus("#tenant")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "files"
    ring = page.evaluate("() => getComputedStyle(document.querySelector('label[for=files]')).outlineStyle")
    assert ring != "none", "the file picker's label shows no focus ring"
    # From the list, an image's link opens its detail with Enter.
    page.goto(serve.base + "/#/images")
    page.wait_for_selector("#image-rows tr td.id a")
    page.focus("#image-rows tr td.id a")
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-detail:not([hidden])")
    assert page.evaluate("() => document.activeElement.id") == "detail-title"


def test_every_page_reads_at_375_px(serve, recorded):
    rp = recorded(serve.base, viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = rp.page
    first = get_json(serve.base + "/console/api/images?status=PROCESSED&limit=1")["images"]
    routes = ["upload", "images", "dashboard"] + ([f"images/{first[0]['image_id']}"] if first else [])
    for route in routes:
        page.goto(f"{serve.base}/#/{route}")
        page.wait_for_timeout(300)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, f"#/{route} is {width} px wide at 375"
        small = page.evaluate(
            "() => [...document.querySelectorAll('main p, main td, main dd, main label, nav a')]"
            ".filter(e => e.offsetParent && parseFloat(getComputedStyle(e).fontSize) < 12).length"
        )
        assert small == 0, f"#/{route}: {small} elements with text under 12 px"
        name = route.split("/")[0] if "/" not in route else "detail"
        page.screenshot(path=str(SHOTS / f"console-{name}-375.png"), full_page=False)


# --- Pages of other origins calling the API -------------------------------------------------

APP_PAGE = """<!doctype html><meta charset="utf-8"><title>another app</title>
<p id="result">running</p>
<script>
// What a web app on another origin does: a JSON call with headers (so a CORS preflight),
// then the presigned form with FormData, then the image's status.
(async () => {
  const api = new URLSearchParams(location.search).get("api");
  const out = document.getElementById("result");
  try {
    const r = await fetch(api + "/images", {
      method: "POST",
      headers: {"content-type": "application/json", "x-imglake-tenant": "webapp"},
      body: JSON.stringify({filename: "pixel.png"}),
    });
    const form = await r.json();
    const data = new FormData();
    for (const [k, v] of Object.entries(form.upload.fields)) data.append(k, v);
    const bytes = Uint8Array.from(atob(PNG), c => c.charCodeAt(0));
    data.append("file", new Blob([bytes], {type: "image/png"}), "pixel.png");
    const put = await fetch(form.upload.url, {method: "POST", body: data});
    const location = put.headers.get("location");
    let status = "";
    for (let i = 0; i < 100 && !["PROCESSED", "REJECTED", "FAILED"].includes(status); i++) {
      await new Promise(ok => setTimeout(ok, 200));
      status = (await (await fetch(api + "/images/" + form.image_id)).json()).status;
    }
    out.textContent = JSON.stringify({ok: true, created: r.status, stored: put.status, location, status, id: form.image_id});
  } catch (e) {
    out.textContent = JSON.stringify({ok: false, error: String(e)});
  }
})();
</script>
"""


class AppServer:
    """A static page on another port: the web app whose origin calls imglake's API."""

    def __init__(self, png_b64: str):
        page = APP_PAGE.replace("PNG)", json.dumps(png_b64) + ")").encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_app(browser, origin: str, api: str) -> dict:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{origin}/app.html?api={api}")
        page.wait_for_function("() => document.getElementById('result').textContent !== 'running'", timeout=60_000)
        return json.loads(page.text_content("#result"))
    finally:
        context.close()


def test_pages_of_other_origins_call_the_api_when_allowed(browser, serve, tmp_path):
    import base64

    app = AppServer(base64.b64encode(png(32, 24, seed=11)).decode())
    try:
        # A loopback origin is allowed by default.
        got = run_app(browser, f"http://localhost:{app.port}", serve.base)
        assert got["ok"], got
        assert (got["created"], got["stored"], got["status"]) == (201, 204, "PROCESSED"), got
        assert got["location"].startswith("/raw/images/"), got
        assert get_json(f"{serve.base}/images/{got['id']}")["tenant"] == "webapp"

        # Another origin (app.test, which chromium resolves to 127.0.0.1) is refused...
        other = f"http://app.test:{app.port}"
        got = run_app(browser, other, serve.base)
        assert not got["ok"] and "Failed to fetch" in got["error"], got
        # ...until serve is told to allow it.
        allowed = Serve(tmp_path / "data", "--flush-age", "1s", "--cors-origin", other)
        try:
            got = run_app(browser, other, allowed.base)
            assert got["ok"] and got["status"] == "PROCESSED", got
        finally:
            allowed.stop()
    finally:
        app.close()


def test_preflights_name_what_the_api_takes_and_refusals_name_the_flag(serve):
    status, headers, body = http(
        "OPTIONS",
        serve.base + "/images",
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "PUT",
            "access-control-request-headers": "content-type, idempotency-key",
        },
    )
    assert status == 204, body
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert headers["access-control-allow-methods"] == "GET, HEAD, POST, PUT"
    for header in ("authorization", "content-type", "idempotency-key", "x-imglake-tenant"):
        assert header in headers["access-control-allow-headers"]
    assert headers["access-control-max-age"] == "3600"
    assert "access-control-allow-credentials" not in headers
    assert "origin" in headers["vary"]

    status, headers, body = http(
        "OPTIONS", serve.base + "/images", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert "--cors-origin https://evil.example" in json.loads(body)["error"]["message"]

    # A simple request from a refused origin is handled, but its answer is not shared.
    status, headers, _ = http("GET", serve.base + "/images/nope", headers={"origin": "https://evil.example"})
    assert status == 404 and "access-control-allow-origin" not in headers
    status, headers, _ = http("GET", serve.base + "/images/nope", headers={"origin": "http://127.0.0.1:3000"})
    assert status == 404 and headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert "location" in headers["access-control-expose-headers"]

    # The upload route answers like the bucket's CORS rule.
    status, headers, _ = http(
        "OPTIONS",
        serve.base + "/upload/raw",
        headers={"origin": "http://localhost:1", "access-control-request-method": "POST", "access-control-request-headers": "x-custom"},
    )
    assert status == 204
    assert headers["access-control-allow-methods"] == "POST"
    assert headers["access-control-allow-headers"] == "x-custom"
    assert headers["access-control-max-age"] == "3000"

    # Without an Origin, nothing changes: OPTIONS is still not a method of /images.
    status, headers, _ = http("OPTIONS", serve.base + "/images")
    assert status == 405 and headers["allow"] == "POST, PUT"
    # The console is same-origin only.
    status, headers, _ = http("GET", serve.base + "/console/api/lake", headers={"origin": "http://localhost:1"})
    assert status == 200 and "access-control-allow-origin" not in headers


def test_the_console_api_refuses_what_it_cannot_answer(serve):
    for path, status, code in [
        ("/console/api/images?status=DONE", 400, "invalid_parameter"),
        ("/console/api/images?limit=100000", 400, "invalid_parameter"),
        ("/console/api/images?after=bogus", 400, "invalid_parameter"),
        ("/console/api/images/no%20such", 400, "invalid_image_id"),
        ("/console/api/images/NOSUCHIMAGE", 404, "image_not_found"),
        ("/console/api/queries/drop_table", 404, "query_not_found"),
        ("/console/files/NOSUCHIMAGE/thumb.jpg", 404, "file_not_found"),
        ("/console/files/NOSUCHIMAGE/..%2Fupload.secret", 404, "file_not_found"),
        ("/console/assets/nothing.js", 404, "asset_not_found"),
    ]:
        got, _, body = http("GET", serve.base + path)
        assert (got, json.loads(body)["error"]["code"]) == (status, code), (path, body)
    got, headers, _ = http("POST", serve.base + "/console/api/images", b"{}")
    assert got == 405 and headers["allow"] == "GET, HEAD"
    got, headers, body = http("GET", serve.base + "/")
    assert got == 200 and headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"]
    etag = headers["etag"]
    assert http("GET", serve.base + "/", headers={"if-none-match": etag})[0] == 304


def test_dashboard_results_are_reused_until_the_lake_moves(serve):
    status, _, body = http("PUT", serve.base + "/images", png(90, 60, seed=30))
    assert status == 202, body
    serve.wait_settled([json.loads(body)["image_id"]])
    url = serve.base + "/console/api/queries/ingest_overview"
    first = get_json(url)
    again = get_json(url)
    assert again["reused"] and again["cursor"] == first["cursor"]
    assert again["result"] == first["result"]
    status, _, body = http("PUT", serve.base + "/images", png(90, 60, seed=31))
    assert status == 202, body
    serve.wait_settled([json.loads(body)["image_id"]])
    moved = get_json(url)
    assert not moved["reused"] and moved["cursor"] > first["cursor"], moved
    images = lambda r: sum(row["images"] for row in r["result"]["rows"])  # noqa: E731
    assert images(moved) == images(first) + 1
