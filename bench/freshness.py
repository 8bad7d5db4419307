"""Freshness of `imglake serve`'s lake: how long from an upload's 202 until its PROCESSED row
can be read from the lake, under a steady load. Run by scripts/bench-freshness.sh.

For each flush setting it starts `imglake serve` on a fresh data directory, sends PNG images
to `PUT /images` at a fixed rate for a fixed time, and watches the lake directory: every 50 ms
it lists the Parquet files and reads each new one with pyarrow (an independent reader). A
file is published whole (written aside, then renamed), so an image's PROCESSED row can be
queried from the moment its file is listed. Latency = first listing that holds the row minus
the moment the 202 arrived (resolution: the 50 ms poll). At the end `imglake query` counts the
PROCESSED rows, which must equal the uploads.

  freshness.py --bin IMGLAKE --rate 5 --seconds 60 --flush-age default --flush-age 1s ...

Prints a Markdown table on stdout and a JSON line per setting on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path

import pyarrow.parquet as pq

POLL_S = 0.05


def png(width: int, height: int, seed: int) -> bytes:
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes(((x + seed) % 256, (y * 3 + seed) % 256, (x ^ y ^ seed) % 256))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q * len(ordered) + 0.5)) - 1))]


class Watcher(threading.Thread):
    """Lists the lake every POLL_S; records when each image's PROCESSED row was first listed."""

    def __init__(self, lake: Path):
        super().__init__(daemon=True)
        self.lake = lake
        self.seen_files: set[str] = set()
        self.stream_files = 0
        self.compacted_files = 0
        self.first_processed: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            for path in self.lake.glob("image_events/dt=*/hour=*/*.parquet"):
                if path.name in self.seen_files:
                    continue
                self.seen_files.add(path.name)
                if path.name.startswith("compacted-"):
                    self.compacted_files += 1
                else:
                    self.stream_files += 1
                try:
                    table = pq.read_table(path, columns=["image_id", "status"])
                except (OSError, ValueError):
                    # Replaced by compaction between listing and reading: its rows are in the
                    # compacted file, which the next listing finds.
                    continue
                for image_id, status in zip(table.column("image_id").to_pylist(), table.column("status").to_pylist()):
                    if status == "PROCESSED" and image_id not in self.first_processed:
                        self.first_processed[image_id] = now
            time.sleep(POLL_S)


def run(binary: str, flush_age: str, rate: float, seconds: float, workdir: Path) -> dict:
    data = workdir / f"data-{flush_age}"
    port = free_port()
    args = [binary, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", str(data), "--workers", "2"]
    if flush_age != "default":
        args += ["--flush-age", flush_age]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGLAKE_")}
    log = open(workdir / f"serve-{flush_age}.log", "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"imglake serve did not start; see {log.name}")
                time.sleep(0.1)
        config = json.load(urllib.request.urlopen(base + "/console/api/config"))
        watcher = Watcher(data / "lake")
        watcher.start()
        accepted: dict[str, float] = {}
        images = [png(320, 240, seed) for seed in range(16)]
        total = int(rate * seconds)
        start = time.monotonic()
        for i in range(total):
            # A steady rate: each upload leaves at its slot, whatever the previous one took.
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            req = urllib.request.Request(base + "/images", data=images[i % len(images)], method="PUT")
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 202, r.status
                accepted[json.load(r)["image_id"]] = time.monotonic()
        end = time.monotonic() + 60
        while time.monotonic() < end and len(set(accepted) & set(watcher.first_processed)) < len(accepted):
            time.sleep(0.1)
        watcher.stop.set()
        watcher.join()
        elapsed = time.monotonic() - start
        missing = [i for i in accepted if i not in watcher.first_processed]
        if missing:
            raise SystemExit(f"{len(missing)} images never reached the lake as PROCESSED (flush {flush_age})")
        latencies = [watcher.first_processed[i] - accepted[i] for i in accepted]
        lake = json.load(urllib.request.urlopen(base + "/console/api/lake"))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        log.close()
    counted = subprocess.run(
        [binary, "query", "--lake", str(data / "lake"), "--format", "json",
         "select count(distinct image_id) as n from image_events_dedup where status = 'PROCESSED'"],
        capture_output=True, text=True, check=True,
    ).stdout
    processed_rows = json.loads(counted.splitlines()[0])["n"]
    assert processed_rows == len(accepted), f"imglake query counts {processed_rows} processed images, {len(accepted)} were sent"
    hours = elapsed / 3600
    return {
        "flush_age": flush_age if flush_age != "default" else f"{config['flush_age_ms'] / 1000:g}s (default)",
        "rate": rate,
        "seconds": seconds,
        "images": len(accepted),
        "p50_s": statistics.median(latencies),
        "p90_s": percentile(latencies, 0.90),
        "p99_s": percentile(latencies, 0.99),
        "max_s": max(latencies),
        "stream_files": watcher.stream_files,
        "stream_files_per_hour": watcher.stream_files / hours,
        "compacted_files": watcher.compacted_files,
        "files_at_end": lake["files"],
        "compact_files": config["compact_files"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--rate", type=float, default=5.0, help="uploads per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load lasts")
    parser.add_argument("--flush-age", action="append", help="serve's --flush-age, or 'default' (repeatable)")
    args = parser.parse_args()
    settings = args.flush_age or ["default"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="imglake-freshness-") as tmp:
        for setting in settings:
            result = run(args.bin, setting, args.rate, args.seconds, Path(tmp))
            print(json.dumps(result), file=os.sys.stderr, flush=True)
            rows.append(result)
    print(
        "| serve --flush-age | uploads | p50 | p90 | p99 | max | files flushed | flushed files per hour "
        f"| compacted files written | files in the lake at the end (--compact-files {rows[0]['compact_files']}) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['flush_age']} | {r['images']} at {r['rate']:g}/s | {r['p50_s']:.2f} s | {r['p90_s']:.2f} s | {r['p99_s']:.2f} s "
            f"| {r['max_s']:.2f} s | {r['stream_files']} | {r['stream_files_per_hour']:.0f} | {r['compacted_files']} | {r['files_at_end']} |"
        )


if __name__ == "__main__":
    main()
