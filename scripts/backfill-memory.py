"""Peak memory of `imglake backfill` on a large DynamoDB table export.

  python3 scripts/backfill-memory.py --imglake BIN --size 2GB [--work DIR] [--keep]

Writes a full export of about SIZE of uncompressed DYNAMODB_JSON lines (gzipped data files of
up to 256 MB each, manifests with MD5s, as DynamoDB writes them) under DIR, backfills it into
an empty lake there with BIN, and prints one JSON line: lines, uncompressed and compressed
bytes, seconds, lines per second and the backfill's peak RSS (getrusage of the child, in MB).
Exits 1 when the backfill fails or its report does not account for every line. The export
is cached in DIR between runs of the same size.
"""

import argparse
import base64
import gzip
import hashlib
import json
import os
import pathlib
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

EXPORT_ID = "01795514460123-b4c4f111"
FILE_BYTES = 256 << 20


def parse_size(text):
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def item(n, rnd):
    image_id = f"01JDFY{n:020d}"
    return {
        "Item": {
            "image_id": {"S": image_id},
            "status": {"S": rnd.choice(["RECEIVED", "PROCESSED", "REJECTED"])},
            "source": {"S": rnd.choice(["api", "kafka"])},
            "source_ref": {"S": f"images/{n % 12}/{n}"},
            "tenant": {"S": f"tenant-{n % 97}"},
            "content_type": {"S": "image/jpeg"},
            "format": {"S": "jpeg"},
            "size_bytes": {"N": str(rnd.randrange(1000, 10_000_000))},
            "sha256": {"S": hashlib.sha256(image_id.encode()).hexdigest()},
            "raw_key": {"S": f"raw/tenant-{n % 97}/{image_id}.jpg"},
            "received_at": {"N": str(1_795_500_000_000 + n)},
            "expires_at": {"N": str(1_796_200_000 + n // 1000)},
            "width": {"N": str(rnd.randrange(100, 6000))},
            "height": {"N": str(rnd.randrange(100, 6000))},
            "operations": {"L": [{"S": "orient"}, {"S": "strip"}, {"S": "resize:thumb"}]},
            "mean_luma": {"N": f"{rnd.random() * 255:.2f}"},
            "tags": {"SS": ["a", f"t{n % 31}"]},
            "client_hints": {"M": {"dpr": {"N": "2"}, "viewport": {"L": [{"N": "1280"}, {"N": "800"}]}}},
        }
    }


def write_export(root, size):
    folder = root / "AWSDynamoDB" / EXPORT_ID
    done = folder / "manifest-summary.json"
    if done.exists():
        return folder, json.loads(done.read_text())["itemCount"]
    shutil.rmtree(root, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    rnd = random.Random(7)
    files, n, written, part = [], 0, 0, 0
    while written < size:
        name = f"{part:026d}"[-26:]
        path = folder / "data" / f"{name}.json.gz"
        count, in_file = 0, 0
        md5 = hashlib.md5()
        with open(path, "wb") as raw:

            class Tee:
                def write(self, b):
                    md5.update(b)
                    return raw.write(b)

                def flush(self):
                    raw.flush()

            with gzip.GzipFile(fileobj=Tee(), mode="wb", compresslevel=1, mtime=0) as gz:
                while in_file < FILE_BYTES and written < size:
                    line = (json.dumps(item(n, rnd), separators=(",", ":")) + "\n").encode()
                    gz.write(line)
                    in_file += len(line)
                    written += len(line)
                    n += 1
                    count += 1
        files.append({
            "itemCount": count,
            "md5Checksum": base64.b64encode(md5.digest()).decode(),
            "etag": md5.hexdigest(),
            "dataFileS3Key": f"AWSDynamoDB/{EXPORT_ID}/data/{name}.json.gz",
        })
        part += 1
    (folder / "manifest-files.json").write_text("".join(json.dumps(f) + "\n" for f in files))
    done.write_text(json.dumps({
        "version": "2020-06-30",
        "exportArn": f"arn:aws:dynamodb:eu-west-1:123456789012:table/imglake-images/export/{EXPORT_ID}",
        "startTime": "2026-11-24T10:01:00.123Z",
        "endTime": "2026-11-24T10:09:00.456Z",
        "tableArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/imglake-images",
        "exportTime": "2026-11-24T10:01:00.123Z",
        "s3Bucket": "imglake-exports",
        "manifestFilesS3Key": f"AWSDynamoDB/{EXPORT_ID}/manifest-files.json",
        "itemCount": n,
        "outputFormat": "DYNAMODB_JSON",
        "uncompressedBytes": written,
    }))
    return folder, n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imglake", required=True)
    ap.add_argument("--size", default="2GB")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    size = parse_size(args.size)
    work = pathlib.Path(args.work or tempfile.mkdtemp(prefix="imglake-backfill-"))
    export, lines = write_export(work / f"export-{size}", size)
    compressed = sum(p.stat().st_size for p in (export / "data").iterdir())
    lake = work / "lake"
    shutil.rmtree(lake, ignore_errors=True)
    started = time.monotonic()
    proc = subprocess.run(
        [args.imglake, "backfill", "--json", "--export", str(export), "--lake", str(lake)],
        capture_output=True, text=True, check=False,
    )
    seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        sys.exit(1)
    report = json.loads(proc.stdout)
    result = {
        "lines": lines,
        "uncompressed_bytes": json.loads((export / "manifest-summary.json").read_text())["uncompressedBytes"],
        "compressed_bytes": compressed,
        "seconds": round(seconds, 2),
        "lines_per_second": round(lines / seconds),
        "peak_rss_mb": round(peak_mb, 1),
        "rows_written": report["rows_written"],
        "quarantined": report["quarantined"],
    }
    print(json.dumps(result))
    accounted = report["lines_read"] == lines == report["rows_written"] + report["quarantined"]
    shutil.rmtree(lake, ignore_errors=True)
    sys.exit(0 if accounted else 1)


main()
