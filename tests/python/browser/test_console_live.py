"""The console as a live page in a real browser (Debian's chromium under Playwright): what the
2-second refresh must not do to someone using it (close what they opened, throw their keyboard
focus away, poll for ever), a failing data-quality check, and a busy server on the upload page.

Each test runs `imglake serve` with the settings that make its case happen for real: a clock
a day ahead (events_in_future fails), a slow flush (the detail keeps polling), short-lived
upload forms (ABANDONED) and a small form budget (429 with Retry-After).

Run: scripts/test.sh, or "$(scripts/setup-browser.sh)/bin/python" -m pytest -q tests/python/browser
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed here: run scripts/setup-browser.sh")

from console_support import Serve, get_json, http, png, wait_for  # noqa: E402


def put_image(serve, body: bytes) -> str:
    """PUT /images; an image refused at once (415) is recorded too, and its id returned."""
    status, _, answer = http("PUT", serve.base + "/images", body, {"content-type": "application/octet-stream"})
    assert status in (202, 415), answer
    return json.loads(answer)["image_id"]


def settled(serve, image_id: str) -> bool:
    return get_json(f"{serve.base}/images/{image_id}")["status"] in ("PROCESSED", "REJECTED", "FAILED", "ABANDONED")


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    """A serve whose lake lags a minute behind: the detail view keeps refreshing."""
    s = Serve(tmp_path_factory.mktemp("slow") / "data", "--flush-age", "60s", "--workers", "2")
    ids = [put_image(s, png(64 + seed, 48, seed=100 + seed)) for seed in range(3)]
    ids.append(put_image(s, b"not an image at all\n" * 10))
    wait_for("four settled images", lambda: all(settled(s, i) for i in ids))
    yield s
    s.stop()


def focused(page) -> dict:
    return page.evaluate(
        "() => { const e = document.activeElement; return {id: e.id, tag: e.tagName, href: e.getAttribute('href'), text: e.textContent.trim().slice(0, 60)}; }"
    )


def test_a_filter_changed_by_keyboard_applies_in_place_and_keeps_the_focus(slow, recorded):
    page = recorded(slow.base, viewport={"width": 1280, "height": 900}).page
    page.goto(slow.base + "/#/images")
    page.wait_for_selector("#image-rows tr")
    page.wait_for_function("() => document.querySelectorAll('#filter-status option').length > 1")
    page.focus("#filter-status")
    # Chromium changes a closed select's value with each arrow key (a change event each): the
    # list must follow while the focus stays, so the next key moves on to the next status.
    for want in ("RECEIVED", "PROCESSING", "PROCESSED"):
        page.keyboard.press("ArrowDown")
        assert page.eval_on_selector("#filter-status", "s => s.value") == want
        page.wait_for_function(
            "want => location.hash === '#/images?status=' + want"
            " && document.getElementById('list-summary').textContent.includes('matching')",
            arg=want,
        )
        assert focused(page)["id"] == "filter-status", f"after ArrowDown to {want} the focus is on {focused(page)}"
    page.wait_for_function(
        "() => { const rows = [...document.querySelectorAll('#image-rows tr')];"
        " return rows.length >= 3 && rows.every(tr => tr.dataset.status === 'PROCESSED'); }"
    )
    # One history entry for the list, not one per key.
    assert page.evaluate("() => history.length") <= 2


def test_the_live_list_keeps_its_rows_and_the_focus_across_refreshes(slow, recorded):
    page = recorded(slow.base, viewport={"width": 1280, "height": 900}).page
    page.goto(slow.base + "/#/images")
    page.wait_for_selector("#image-rows tr td.id a")
    page.focus("#image-rows tr:nth-child(2) td.id a")
    before = focused(page)
    assert before["href"].startswith("#/images/"), before
    # Unchanged data: the rows are the same elements after several refreshes.
    page.evaluate("() => document.querySelectorAll('#image-rows tr').forEach(tr => { tr.__kept = true; })")
    page.wait_for_timeout(5000)
    kept = page.evaluate("() => [...document.querySelectorAll('#image-rows tr')].map(tr => tr.__kept === true)")
    assert kept and all(kept), f"the refresh redrew unchanged rows: {kept}"
    assert focused(page) == before
    # New data: a new image is drawn at the top, and the focus is still on the same link.
    late = put_image(slow, png(40, 30, seed=140))
    page.wait_for_selector(f"tr[data-image-id='{late}']", timeout=20_000)
    assert focused(page) == before, f"the focus moved from {before} to {focused(page)}"


def test_an_open_details_stays_open_while_the_detail_refreshes(slow, recorded):
    image_id = put_image(slow, png(70, 50, seed=150))
    page = recorded(slow.base, viewport={"width": 1280, "height": 900}).page
    page.goto(f"{slow.base}/#/images/{image_id}")
    # The lake lags (flush every 60 s), so the page keeps asking; wait until processed.
    page.wait_for_selector("#detail-body details summary")
    page.click("#detail-body details summary")
    assert page.eval_on_selector("#detail-body details", "d => d.open")
    page.focus("#detail-body details summary")
    waiting = page.text_content("#history .note")
    # Another change reaches the feed: the detail's numbers change and it is drawn again.
    put_image(slow, png(71, 50, seed=151))
    page.wait_for_function("before => document.querySelector('#history .note').textContent !== before", arg=waiting, timeout=20_000)
    assert page.eval_on_selector("#detail-body details", "d => d.open"), "the refresh closed the <details> the reader opened"
    assert focused(page)["tag"] == "SUMMARY", f"the focus moved to {focused(page)}"


@pytest.fixture(scope="module")
def future(tmp_path_factory):
    """A serve whose clock runs a day ahead: its events are in the future for the checks."""
    s = Serve(tmp_path_factory.mktemp("future") / "data", "--flush-age", "1s", "--clock-offset", "1d")
    yield s
    s.stop()


def test_a_failing_check_shows_its_rows_and_the_dashboard_refreshes_in_place(future, recorded):
    first = put_image(future, png(50, 50, seed=160))
    refused = put_image(future, b"plain text, not an image\n" * 4)
    future.wait_settled([first, refused])
    page = recorded(future.base, viewport={"width": 1280, "height": 900}).page
    page.goto(future.base + "/#/dashboard")
    page.wait_for_selector("#checks-body [data-check='events_in_future']")
    badges = dict(page.eval_on_selector_all("#checks-body [data-check]", "bs => bs.map(b => [b.dataset.check, b.textContent])"))
    assert badges.pop("events_in_future") != "pass", badges
    assert all(text == "pass" for text in badges.values()), badges
    summary = page.text_content("#checks-body p")
    assert f"1 of {len(badges) + 1} checks found problems" in summary, summary
    offending = page.eval_on_selector_all(
        "#checks-body details table.result tbody tr td[data-column='image_id']", "tds => tds.map(td => JSON.parse(td.dataset.value))"
    )
    assert first in offending and refused in offending, offending
    assert page.eval_on_selector("#checks-body details", "d => d.open"), "the failing check's rows are not shown"

    # The reader closes the offending rows; the lake moves; the dashboard is redrawn in the
    # same document, with the new numbers, and what was closed stays closed.
    page.click("#checks-body details summary")
    page.evaluate("() => { window.__sameDocument = true; }")
    cursor = page.eval_on_selector("#view-dashboard", "v => v.dataset.cursor")
    late = put_image(future, png(52, 50, seed=161))
    future.wait_settled([late])
    page.wait_for_function("c => document.getElementById('view-dashboard').dataset.cursor !== c", arg=cursor, timeout=30_000)
    page.wait_for_function(
        "id => [...document.querySelectorAll(\"#checks-body td[data-column='image_id']\")].some(td => JSON.parse(td.dataset.value) === id)",
        arg=late,
        timeout=30_000,
    )
    assert page.evaluate("() => window.__sameDocument === true"), "the dashboard reloaded the page"
    assert not page.eval_on_selector("#checks-body details", "d => d.open"), "the refresh reopened what the reader closed"

    # On a phone, long category labels are shortened on the axis rather than squeezing the bars.
    page.set_viewport_size({"width": 375, "height": 812})
    page.wait_for_timeout(500)
    labels = page.evaluate(
        "() => window.Chart.getChart(document.querySelector('#query-rejection_reasons canvas')).scales.y.ticks.map(t => t.label)"
    )
    assert labels and all(len(label) <= 18 for label in labels), labels
    assert any(label.endswith("…") for label in labels), labels


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """Forms live 2 s (unused ones become ABANDONED within seconds); 60 forms a minute."""
    s = Serve(tmp_path_factory.mktemp("quick") / "data", "--flush-age", "1s", "--form-expiry", "2s", "--forms-per-minute", "60")
    yield s
    s.stop()


def test_an_abandoned_image_says_why_and_is_not_polled_for_ever(quick, recorded):
    status, _, body = http("POST", quick.base + "/images", b"", {"x-imglake-tenant": "forgetful"})
    assert status == 201, body
    image_id = json.loads(body)["image_id"]
    wait_for("the unused form's image to be abandoned", lambda: get_json(f"{quick.base}/images/{image_id}")["status"] == "ABANDONED", timeout=30)
    rp = recorded(quick.base, viewport={"width": 1280, "height": 900})
    page = rp.page
    page.goto(f"{quick.base}/#/images/{image_id}")
    page.wait_for_selector("#why")
    why = page.text_content("#why")
    assert "abandoned" in why and "upload_expired" in why, why
    page.wait_for_function("() => document.querySelector('#history .note').textContent.includes('every change')", timeout=30_000)
    asked = lambda: sum(1 for u in rp.requests if f"/console/api/images/{image_id}" in u)  # noqa: E731
    settled_at = asked()
    page.wait_for_timeout(5000)
    assert asked() == settled_at, f"the settled detail was asked for {asked() - settled_at} more times in 5 s"


def test_the_upload_page_waits_out_a_busy_server(quick, recorded, tmp_path):
    # Spend this address's form budget, as another tab of the same user would.
    spent = 0
    while True:
        status, headers, _ = http("POST", quick.base + "/images", b"", {"x-imglake-tenant": "other-tab"})
        if status == 429:
            assert int(headers["retry-after"]) >= 1
            break
        assert status == 201
        spent += 1
        assert spent <= 60, "the form budget never ran out"
    files = []
    for n in range(3):
        f = tmp_path / f"busy-{n}.png"
        f.write_bytes(png(30 + n, 30, seed=170 + n))
        files.append(str(f))
    rp = recorded(quick.base, viewport={"width": 1280, "height": 900})
    page = rp.page
    page.goto(quick.base + "/")
    page.wait_for_function("() => document.getElementById('limits-hint').textContent.includes('MB')")
    page.set_input_files("#files", files)
    page.wait_for_function("() => [...document.querySelectorAll('#uploads .state')].some(s => s.textContent.includes('busy'))", timeout=10_000)
    started = time.monotonic()
    states = wait_for(
        "every busy upload to end",
        lambda: (s := page.eval_on_selector_all("#uploads li", "lis => lis.map(li => [li.dataset.state, li.querySelector('.state').textContent])"))
        and all(state in ("processed", "rejected", "failed", "error") for state, _ in s)
        and s,
        timeout=60,
    )
    assert all(state == "processed" for state, _ in states), states
    assert time.monotonic() - started < 30, "the page waited far longer than Retry-After asked"
    # Chromium logs each refused request as a console error; those 429s are this test's point.
    busy = [e for e in rp.errors if "status of 429" in e]
    assert busy, "no form was refused: the test did not exercise a busy server"
    rp.errors = [e for e in rp.errors if e not in busy]
