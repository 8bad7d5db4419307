#!/usr/bin/env python3
"""What a million images cost end to end in terraform/'s default configuration, from the
benchmarks' own numbers (BENCHMARKS.md, or README.md where they are), measurements of
`imglake demo`, stated assumptions and AWS's published prices, with the arithmetic shown.

    scripts/cost-estimate.py                   # print the cost table (markdown)
    scripts/cost-estimate.py --write           # put it into terraform/README.md (between markers)
    scripts/cost-estimate.py --check           # exit 1 if terraform/README.md differs
    scripts/cost-estimate.py --measure-demo DIR [--imglake BIN]
                                               # item sizes, changes per image and lake bytes per
                                               # row from an `imglake demo --data-dir DIR` run

Inputs live in terraform/cost/inputs.json (assumptions and demo measurements, each with its
source) and terraform/cost/prices.json (US East (N. Virginia) list prices, with their pages).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COST = REPO / "terraform" / "cost"
BEGIN = "<!-- cost-estimate: begin (scripts/cost-estimate.py --write) -->"
END = "<!-- cost-estimate: end -->"


# --- Benchmarks (BENCHMARKS.md or README.md) ------------------------------------------------------


def benchmark_figures(documents: list[Path]) -> dict:
    """The image benchmark's imglake times (first table: one row per photograph) and the export
    benchmark's records/s at 10 000 records, Lambda field order (first table), from the first
    document that has them (BENCHMARKS.md, else README.md)."""
    readme = next((d for d in documents if d.is_file() and "| 10000 | Lambda (eventName first) |" in d.read_text(encoding="utf-8")), documents[-1])
    text = readme.read_text(encoding="utf-8")
    times = [
        float(m.group(1))
        for m in re.finditer(r"^\| [a-z]+-(?:baseline|progressive)(?:-orient6)? \|[^|]+\|[^|]+\| ([\d.]+) ms \|", text, re.M)
    ]
    # Each photograph appears once in the first table; a rerun table, if any, comes later.
    times = times[:11]
    rate = re.search(r"^\| 10000 \| Lambda \(eventName first\) \| [\d.]+ MB \| (\d+) \|", text, re.M)
    if len(times) < 5 or not rate:
        sys.exit(f"error: {readme} no longer has the image and export benchmark tables this script reads (nor has any of {[str(d) for d in documents]})")
    return {
        "process_ms_mean": sum(times) / len(times),
        "process_photos": len(times),
        "export_records_per_s": float(rate.group(1)),
    }


# --- Measuring the demo --------------------------------------------------------------------------


def dynamodb_size(value) -> int:
    """Approximate DynamoDB size of an attribute value (AWS's item-size rules)."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = v.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(v) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + dynamodb_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + dynamodb_size(x) for k, x in v.items())
    if kind in ("SS", "NS", "BS"):
        return sum(dynamodb_size({kind[0]: x}) for x in v)
    raise ValueError(kind)


def item_size(image: dict) -> int:
    return sum(len(k.encode()) + dynamodb_size(v) for k, v in image.items())


def measure_demo(data_dir: Path, imglake: Path) -> dict:
    db = sqlite3.connect(data_dir / "metadata.sqlite3")
    records = [json.loads(r) for (r,) in db.execute("SELECT record FROM changes ORDER BY seq")]
    by_image: dict[str, list] = {}
    for r in records:
        by_image.setdefault(r["dynamodb"]["Keys"]["image_id"]["S"], []).append(r)
    processed = [rs for rs in by_image.values() if rs[-1]["dynamodb"].get("NewImage", {}).get("status", {}).get("S") == "PROCESSED"]
    if not processed:
        sys.exit(f"error: no PROCESSED image in {data_dir}: run `imglake demo --data-dir {data_dir}` first")
    # A write is billed on the larger of the item before and after it, per started KB.
    wru = [
        sum(math.ceil(max(item_size(r["dynamodb"].get("NewImage", {})), item_size(r["dynamodb"].get("OldImage", {}))) / 1024) for r in rs)
        for rs in processed
    ]
    final = [item_size(rs[-1]["dynamodb"]["NewImage"]) for rs in processed]
    # Lake bytes per row: the demo's change records repeated, each copy as another image (fresh
    # ids, hashes, sizes and times, so the columns are as varied as real ones), into one file.
    copies = 2000
    rng = random.Random(22)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    with tempfile.TemporaryDirectory() as tmp:
        lines = []
        seq = 0
        for n in range(copies):
            image_ids = {k: "".join(rng.choice(alphabet) for _ in range(26)) for k in by_image}
            shift_ms = rng.randrange(3_600_000)
            scale = rng.uniform(0.3, 3.0)
            for r in records:
                seq += 1
                clone = json.loads(json.dumps(r))
                key = image_ids[clone["dynamodb"]["Keys"]["image_id"]["S"]]
                clone["eventID"] = "%032x" % rng.getrandbits(128)
                clone["dynamodb"]["Keys"]["image_id"]["S"] = key
                clone["dynamodb"]["SequenceNumber"] = str(seq)
                for side in ("NewImage", "OldImage"):
                    image = clone["dynamodb"].get(side)
                    if not image:
                        continue
                    image["image_id"] = {"S": key}
                    if "sha256" in image:
                        image["sha256"] = {"S": "%064x" % rng.getrandbits(256)}
                    for field in ("received_at", "processed_at", "captured_at"):
                        if field in image:
                            image[field] = {"N": str(int(image[field]["N"]) - shift_ms)}
                    for field in ("size_bytes", "processed_bytes", "width", "height", "processing_ms"):
                        if field in image:
                            image[field] = {"N": str(max(1, int(int(image[field]["N"]) * scale)))}
                    for field in ("mean_luma", "sharpness"):
                        if field in image:
                            image[field] = {"N": f"{rng.uniform(0, 255):.3f}"}
                    if "dominant_color" in image:
                        image["dominant_color"] = {"S": "#%06x" % rng.getrandbits(24)}
                # The id also appears inside strings (raw_key, variant keys in variants_json).
                lines.append(json.dumps(clone).replace(r["dynamodb"]["Keys"]["image_id"]["S"], key))
        source = Path(tmp) / "records.jsonl"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        lake = Path(tmp) / "lake"
        subprocess.run([str(imglake), "export", "--input", str(source), "--lake", str(lake)], check=True, capture_output=True)
        files = list((lake / "image_events").rglob("*.parquet"))
        lake_bytes = sum(f.stat().st_size for f in files)
    return {
        "demo_images": len(by_image),
        "demo_processed_images": len(processed),
        "changes_per_processed_image": sum(len(rs) for rs in processed) / len(processed),
        "write_units_per_processed_image": sum(wru) / len(wru),
        "processed_item_bytes": sum(final) / len(final),
        "lake_bytes_per_row": lake_bytes / (len(records) * copies),
    }


# --- The estimate ---------------------------------------------------------------------------------


def money(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:,.4f}"


def estimate(inputs: dict, prices: dict, bench: dict) -> tuple[list[tuple[str, str, float]], dict]:
    a = {k: v["value"] for k, v in inputs["assumptions"].items()}
    m = {k: v["value"] for k, v in inputs["demo"].items()}
    p = {k: v["value"] for k, v in prices["prices"].items()}
    n = 1_000_000
    rows: list[tuple[str, str, float]] = []

    def line(item: str, arithmetic: str, cost: float) -> None:
        rows.append((item, arithmetic, cost))

    gb_s = p["lambda_arm_gb_second"]
    gb_s_text = f"{gb_s:.10f}".rstrip("0")
    # API Gateway and upload.
    line("API Gateway HTTP API (POST /images)", f"{n:,} requests × ${p['apigw_http_per_million']}/M", n / 1e6 * p["apigw_http_per_million"])
    up_s = a["upload_ms"] / 1000
    line(
        "upload Lambda (512 MB)",
        f"{n:,} × {a['upload_ms']} ms × 0.5 GB × ${gb_s_text}/GB-s + requests",
        n * up_s * 0.5 * gb_s + n / 1e6 * p["lambda_per_million_requests"],
    )
    # process.
    proc_ms = bench["process_ms_mean"] + a["process_io_ms"]
    mem = a["process_memory_gb"]
    line(
        f"process Lambda ({int(mem * 1024)} MB)",
        f"{n:,} × ({bench['process_ms_mean']:.1f} ms measured + {a['process_io_ms']} ms I/O) × {mem} GB × ${gb_s_text}/GB-s + requests",
        n * proc_ms / 1000 * mem * gb_s + n / 1e6 * p["lambda_per_million_requests"],
    )
    # stream-export: changes per image + the TTL expiry.
    records = n * (m["changes_per_processed_image"] + 1)
    per_s = n / (30 * 86400) * (m["changes_per_processed_image"] + 1)
    batch = max(1.0, min(1000.0, per_s * a["stream_batch_window_s"]))
    invocations = records / batch
    export_ms = a["export_fixed_ms"] + batch / bench["export_records_per_s"] * 1000 * a["export_cpu_scale"] + a["export_io_ms"]
    line(
        "stream-export Lambda (1024 MB)",
        f"{records:,.0f} records in batches of {batch:.0f} ({a['stream_batch_window_s']} s window at {per_s:.2f} records/s) = "
        f"{invocations:,.0f} invocations × {export_ms:.0f} ms × 1 GB + requests",
        invocations * export_ms / 1000 * 1.0 * gb_s + invocations / 1e6 * p["lambda_per_million_requests"],
    )
    compact_runs = 30 * 24
    line(
        "compact Lambda (3008 MB, hourly)",
        f"{compact_runs} runs × {a['compact_run_s']} s × 2.94 GB",
        compact_runs * a["compact_run_s"] * 2.9375 * gb_s,
    )
    # S3 requests.
    puts = n * (1 + a["variants"]) + invocations + compact_runs * 3
    files_per_hour = invocations / (30 * 24)
    gets = n * 1 + compact_runs * files_per_hour * 3
    line(
        "S3 PUT/POST",
        f"{n:,} raw + {n * a['variants']:,} variants + {invocations:,.0f} lake files + {compact_runs * 3} compacted = {puts:,.0f} × ${p['s3_put_per_thousand']}/1000",
        puts / 1000 * p["s3_put_per_thousand"],
    )
    line(
        "S3 GET",
        f"{n:,} raw reads + {compact_runs * files_per_hour * 3:,.0f} compaction reads = {gets:,.0f} × ${p['s3_get_per_thousand']}/1000",
        gets / 1000 * p["s3_get_per_thousand"],
    )
    # S3 storage: images live retention + 1 day as noncurrent versions.
    days = a["image_retention_days"] + a["noncurrent_days"]
    image_gb = n * (a["raw_mb"] + a["processed_mb"]) / 1024
    line(
        f"S3 storage, images ({days} days)",
        f"{n:,} × ({a['raw_mb']} + {a['processed_mb']}) MB = {image_gb:,.0f} GB × {days}/30 month × ${p['s3_storage_gb_month']}/GB-month",
        image_gb * days / 30 * p["s3_storage_gb_month"],
    )
    lake_gb = records * m["lake_bytes_per_row"] / 1024**3
    line(
        "S3 storage, lake (first month)",
        f"{records:,.0f} rows × {m['lake_bytes_per_row']:.0f} B = {lake_gb:.2f} GB × ${p['s3_storage_gb_month']}/GB-month",
        lake_gb * p["s3_storage_gb_month"],
    )
    # SQS.
    sqs = n * a["sqs_requests_per_image"]
    line("SQS (S3 event → process)", f"{sqs:,.0f} requests × ${p['sqs_per_million']}/M", sqs / 1e6 * p["sqs_per_million"])
    # DynamoDB.
    wru = n * m["write_units_per_processed_image"]
    line(
        "DynamoDB writes (on demand)",
        f"{n:,} × {m['write_units_per_processed_image']:.1f} write units (3 writes of a {m['processed_item_bytes']:.0f}-byte item) × ${p['dynamodb_wru_per_million']}/M",
        wru / 1e6 * p["dynamodb_wru_per_million"],
    )
    line("DynamoDB Streams reads", "GetRecords by Lambda triggers are free; TTL deletes are free", 0.0)
    table_gb = n * a["image_retention_days"] / 30 * m["processed_item_bytes"] / 1024**3
    line(
        "DynamoDB storage + PITR (7-day items)",
        f"{table_gb:.2f} GB live × (${p['dynamodb_storage_gb_month']} + ${p['dynamodb_pitr_gb_month']})/GB-month",
        table_gb * (p["dynamodb_storage_gb_month"] + p["dynamodb_pitr_gb_month"]),
    )
    # Athena.
    scan_gb = max(lake_gb * a["athena_columns_read"], 10 / 1024)
    queries = a["athena_queries_per_month"]
    line(
        "Athena (dashboards)",
        f"{queries:,} queries × {scan_gb * 1024:.0f} MB scanned ({a['athena_columns_read']:.0%} of the lake's bytes) × ${p['athena_per_tb']}/TB",
        queries * scan_gb / 1024 * p["athena_per_tb"],
    )
    # Audit and logs.
    data_events = n * (1 + a["variants"] + 1) + invocations
    line(
        "CloudTrail S3 data events",
        f"{data_events:,.0f} object reads/writes on the image and lake buckets × ${p['cloudtrail_data_events_per_100k']}/100k",
        data_events / 1e5 * p["cloudtrail_data_events_per_100k"],
    )
    log_gb = (2 * n + invocations) * a["log_kb_per_invocation"] / 1024**2
    line(
        "CloudWatch Logs ingestion",
        f"{2 * n + invocations:,.0f} invocations × {a['log_kb_per_invocation']} KB = {log_gb:.1f} GB × ${p['logs_ingest_gb']}/GB",
        log_gb * p["logs_ingest_gb"],
    )
    traces = 2 * n * a["xray_sampled"]
    line(
        "X-Ray traces",
        f"{traces:,.0f} sampled traces ({a['xray_sampled']:.0%}) × ${p['xray_traces_per_million']}/M",
        traces / 1e6 * p["xray_traces_per_million"],
    )
    line("KMS", f"2 keys × ${p['kms_key_month']}/month; requests mostly absorbed by S3 Bucket Keys and data-key caching", 2 * p["kms_key_month"])
    total = sum(c for _, _, c in rows)
    per_image = total / n

    # Options that are off by default, priced for the same month.
    options: list[tuple[str, str, float]] = []
    hours = 730
    endpoints = a["network_interface_endpoints"]
    options.append((
        "network module (2 zones)",
        f"{endpoints} interface endpoints (glue, sqs, DynamoDB Streams) × 2 zones × {hours} h × ${p['interface_endpoint_az_hour']}/h; gateway endpoints are free",
        endpoints * 2 * hours * p["interface_endpoint_az_hour"],
    ))
    moved_gb = image_gb + lake_gb
    options.append((
        "replication (lake, raw, processed)",
        f"{moved_gb:,.0f} GB × ${p['s3_replication_transfer_gb']}/GB transfer + replica storage {money(image_gb * days / 30 * p['s3_storage_gb_month'])} "
        f"+ replica writes {money((n * (1 + a['variants']) + invocations) / 1000 * p['s3_put_per_thousand'])}",
        moved_gb * p["s3_replication_transfer_gb"] + image_gb * days / 30 * p["s3_storage_gb_month"]
        + (n * (1 + a["variants"]) + invocations) / 1000 * p["s3_put_per_thousand"],
    ))
    options.append((
        "reconcile, daily full export",
        f"30 exports × {table_gb:.2f} GB table × ${p['dynamodb_export_gb']}/GB (the export is billed on the table's size)",
        30 * table_gb * p["dynamodb_export_gb"],
    ))
    return rows, {"total": total, "per_image": per_image, "options": options, "table_gb": table_gb}


def render(inputs: dict, prices: dict, bench: dict) -> str:
    rows, totals = estimate(inputs, prices, bench)
    out = [
        f"One million images in a 30-day month, default configuration, {prices['region']} list prices "
        f"({prices['as_of']}), from `scripts/cost-estimate.py`:",
        "",
        "| item | arithmetic | cost |",
        "| --- | --- | ---: |",
    ]
    out += [f"| {item} | {arith} | {money(cost)} |" for item, arith, cost in rows]
    out += [
        f"| **total** | | **{money(totals['total'])}** (about {money(totals['per_image'] * 1000)} per thousand images) |",
        "",
        f"Measured: the processing time is the mean of imglake's times over the {bench['process_photos']} photographs of "
        f"the image benchmark ({bench['process_ms_mean']:.1f} ms; its first table), the exporter's rate the export benchmark's "
        f"{bench['export_records_per_s']:,.0f} records/s; item sizes, writes and stream records per image and lake bytes "
        "per row come from `imglake demo` (`scripts/cost-estimate.py --measure-demo imglake-data`). Everything else is an "
        "assumption named in terraform/cost/inputs.json, each with its reason.",
        "",
        "Options that are off by default, for the same month:",
        "",
        "| option | arithmetic | cost |",
        "| --- | --- | ---: |",
    ]
    out += [f"| {item} | {arith} | {money(cost)} |" for item, arith, cost in totals["options"]]
    out += [""]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write the table into terraform/README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if terraform/README.md has another table")
    ap.add_argument("--measure-demo", type=Path, metavar="DIR", help="measure an `imglake demo --data-dir DIR` run")
    ap.add_argument("--imglake", type=Path, default=Path("imglake"), help="imglake binary (for --measure-demo)")
    ap.add_argument("--readme", type=Path, action="append", help="where the benchmark tables are (default: BENCHMARKS.md, then README.md)")
    ap.add_argument("--target", type=Path, default=REPO / "terraform" / "README.md", help="the document --write/--check work on")
    args = ap.parse_args()
    if args.measure_demo:
        print(json.dumps(measure_demo(args.measure_demo, args.imglake), indent=2))
        return 0
    inputs = json.loads((COST / "inputs.json").read_text(encoding="utf-8"))
    prices = json.loads((COST / "prices.json").read_text(encoding="utf-8"))
    table = render(inputs, prices, benchmark_figures(args.readme or [REPO / "BENCHMARKS.md", REPO / "README.md"]))
    readme = args.target
    text = readme.read_text(encoding="utf-8")
    if args.write or args.check:
        if BEGIN not in text or END not in text:
            sys.exit(f"error: {readme} lacks the markers {BEGIN} ... {END}")
        head, rest = text.split(BEGIN, 1)
        current, tail = rest.split(END, 1)
        if args.check:
            if current.strip() != table.strip():
                print("terraform/README.md's cost table is stale: run scripts/cost-estimate.py --write", file=sys.stderr)
                return 1
            return 0
        readme.write_text(f"{head}{BEGIN}\n{table}{END}{tail}", encoding="utf-8")
        return 0
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
