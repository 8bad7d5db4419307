"""`imglake serve`'s lake stays fresh and few-filed: with the default flush an upload's
PROCESSED row can be queried within seconds, and frequent flushes do not pile up small
files (serve compacts crowded partitions). No browser here; these share the console tests'
support (console_support.py). BENCHMARKS.md measures the same under load
(scripts/bench-freshness.sh)."""

from __future__ import annotations

import json
import time

from console_support import Serve, get_json, http, imglake, png, wait_for

# "A few seconds": the default flush is 2 s, checked every 0.5 s; processing adds little.
FRESH_WITHIN_S = 5.0


def processed_in_lake(serve, image_id) -> bool:
    rows = get_json(f"{serve.base}/console/api/images/{image_id}")["history"]["rows"]
    return any(r["status"] == "PROCESSED" for r in rows)


def test_with_the_default_flush_a_processed_row_is_queryable_within_seconds(tmp_path):
    serve = Serve(tmp_path / "data")
    try:
        assert get_json(serve.base + "/console/api/config")["flush_age_ms"] <= 2000
        for seed in range(3):
            status, _, body = http("PUT", serve.base + "/images", png(160, 120, seed=seed))
            accepted = time.monotonic()
            assert status == 202, body
            image_id = json.loads(body)["image_id"]
            wait_for(f"{image_id}'s PROCESSED row in the lake", lambda: processed_in_lake(serve, image_id), timeout=30, every=0.1)
            waited = time.monotonic() - accepted
            assert waited < FRESH_WITHIN_S, f"the PROCESSED row took {waited:.1f} s to reach the lake"
        # `imglake query` sees what the console saw.
        out = imglake(
            "query", "--lake", str(serve.lake), "--format", "json",
            "select count(*) as n from images_current where status = 'PROCESSED'",
        ).stdout
        assert json.loads(out)["n"] == 3
    finally:
        serve.stop()


def test_frequent_flushes_are_compacted_and_lose_no_row(tmp_path):
    serve = Serve(tmp_path / "data", "--flush-age", "200ms", "--compact-files", "4")
    try:
        ids = []
        flushed_files = set()
        for seed in range(12):
            status, _, body = http("PUT", serve.base + "/images", png(64, 48, seed=seed))
            assert status == 202, body
            ids.append(json.loads(body)["image_id"])
            # One upload per flush or so: many small files unless they are compacted.
            wait_for("the upload's changes in the lake", lambda: serve.lake_state()["pending_changes"] == 0, timeout=30, every=0.1)
            flushed_files |= {p.name for p in serve.lake.glob("image_events/*/*/part-*.parquet")}
            time.sleep(0.3)
        serve.wait_settled(ids)
        state = serve.lake_state()
        assert len(flushed_files) >= 8, f"expected many flushes, saw {len(flushed_files)} files"
        assert state["files"] <= 4 * state["partitions"], state
        assert any(p.name.startswith("compacted-") for p in serve.lake.glob("image_events/*/*/*.parquet"))
    finally:
        serve.stop()
    # Every change of every image is still there, once.
    out = imglake(
        "query", "--lake", str(serve.lake), "--format", "json",
        "select count(*) as events, count(distinct image_id) as images, "
        "sum(case when status = 'PROCESSED' and event_name = 'MODIFY' then 1 else 0 end) as processed "
        "from image_events",
    ).stdout
    assert json.loads(out) == {"events": 36, "images": 12, "processed": 12}, out
    imglake("check", "--lake", str(serve.lake))
