"""Python baseline for the imglake exporter benchmark.

This is "the Python route a user would otherwise take" to turn a Lambda
DynamoDB Streams event into the imglake Hive-partitioned Parquet lake:
boto3's TypeDeserializer for the DynamoDB JSON, plain Python lists per column,
then one pyarrow table per (dt, hour) partition written with
pyarrow.parquet.write_table (zstd, statistics, page index). It maps records to
the same row schema as the Rust exporter, so the Rust bench can run both on
the same input and compare time and peak memory.

Usage:  python bench/python_export.py INPUT_JSON OUT_DIR [zstd|snappy]

Only boto3 and pyarrow are needed. Imports are not timed; "seconds" covers
reading the event, deserializing, mapping, building tables and writing every
file. Prints one JSON line:
  {"impl":"python","records":N,"rows":R,"files":F,"seconds":S,"peak_rss_kb":K}
"""

import base64
import json
import os
import resource
import sys
import time
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

TS = pa.timestamp("ms", tz="UTC")


class StreamDeserializer(TypeDeserializer):
    """TypeDeserializer expects B/BS as raw bytes (what the boto3 client hands
    it); Lambda delivers them base64-encoded, so decode first."""

    def _deserialize_b(self, value):
        return super()._deserialize_b(base64.b64decode(value))


def _as_is(v):
    return v


def _int(v):
    return None if v is None else int(v)


def _float(v):
    return None if v is None else float(v)


def _secs_to_ms(v):
    return None if v is None else int(v * 1000)


def _list(v):
    return None if v is None else list(v)


CHANGE_FIELDS = [
    ("event_id", pa.string()), ("event_name", pa.string()), ("event_time", TS),
    ("sequence_number", pa.string()), ("is_ttl_expiry", pa.bool_()),
    ("previous_status", pa.string()), ("exported_at", TS),
]
# (column, arrow type, converter from the deserialized attribute value)
IMAGE_FIELDS = [
    ("image_id", pa.string(), _as_is), ("status", pa.string(), _as_is),
    ("source", pa.string(), _as_is), ("source_ref", pa.string(), _as_is),
    ("tenant", pa.string(), _as_is), ("content_type", pa.string(), _as_is),
    ("format", pa.string(), _as_is), ("size_bytes", pa.int64(), _int),
    ("sha256", pa.string(), _as_is), ("width", pa.int32(), _int),
    ("height", pa.int32(), _int), ("raw_key", pa.string(), _as_is),
    ("variant_count", pa.int32(), _int), ("variants_json", pa.string(), _as_is),
    ("processed_bytes", pa.int64(), _int), ("operations", pa.list_(pa.string()), _list),
    ("error_code", pa.string(), _as_is), ("error_message", pa.string(), _as_is),
    ("received_at", TS, _int), ("processed_at", TS, _int),
    ("expires_at", TS, _secs_to_ms), ("captured_at", TS, _int),
    ("processing_ms", pa.int32(), _int), ("dominant_color", pa.string(), _as_is),
    ("mean_luma", pa.float64(), _float), ("sharpness", pa.float64(), _float),
    ("has_alpha", pa.bool_(), _as_is), ("camera_make", pa.string(), _as_is),
    ("camera_model", pa.string(), _as_is),
]
SCHEMA = pa.schema(
    CHANGE_FIELDS
    + [(name, typ) for name, typ, _ in IMAGE_FIELDS]
    + [("extra_attributes", pa.string())]
)
COLUMNS = SCHEMA.names
KNOWN = {name for name, _, _ in IMAGE_FIELDS}
# image_id comes from Keys; the rest from the image.
IMAGE_CONVERTERS = [(name, conv) for name, _, conv in IMAGE_FIELDS if name != "image_id"]


def _json_default(v):
    """json.dumps fallback for what TypeSerializer leaves as Python objects."""
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode("ascii")
    return str(v)  # Decimal (not expected: TypeSerializer already emits N as str)


def export(input_path, out_dir, compression="zstd"):
    deser = StreamDeserializer()
    ser = TypeSerializer()
    exported_at = int(time.time() * 1000)
    with open(input_path, "rb") as f:
        records = json.load(f)["Records"]

    parts = {}  # partition dir -> {column: list}
    hour_dirs = {}  # epoch hour -> "dt=YYYY-MM-DD/hour=HH"
    for rec in records:
        ddb = rec["dynamodb"]
        name = rec["eventName"]
        keys = deser.deserialize({"M": ddb.get("Keys") or {}})
        new = ddb.get("NewImage")
        old = ddb.get("OldImage")
        new = None if new is None else deser.deserialize({"M": new})
        old = None if old is None else deser.deserialize({"M": old})
        image = old if name == "REMOVE" else new

        event_ms = round(ddb["ApproximateCreationDateTime"] * 1000)
        hour = event_ms // 3_600_000
        pdir = hour_dirs.get(hour)
        if pdir is None:
            t = datetime.fromtimestamp(hour * 3600, tz=timezone.utc)
            pdir = hour_dirs[hour] = f"dt={t:%Y-%m-%d}/hour={t:%H}"
        cols = parts.get(pdir)
        if cols is None:
            cols = parts[pdir] = {c: [] for c in COLUMNS}

        who = rec.get("userIdentity") or {}
        cols["event_id"].append(rec["eventID"])
        cols["event_name"].append(name)
        cols["event_time"].append(event_ms)
        cols["sequence_number"].append(ddb["SequenceNumber"].rjust(40, "0"))
        cols["is_ttl_expiry"].append(
            name == "REMOVE"
            and who.get("type") == "Service"
            and who.get("principalId") == "dynamodb.amazonaws.com"
        )
        cols["previous_status"].append(None if old is None else old.get("status"))
        cols["exported_at"].append(exported_at)
        cols["image_id"].append(keys.get("image_id"))

        if image is None:
            for col, _ in IMAGE_CONVERTERS:
                cols[col].append(None)
            cols["extra_attributes"].append(None)
            continue
        for col, conv in IMAGE_CONVERTERS:
            cols[col].append(conv(image.get(col)))
        extra = {k: ser.serialize(v) for k, v in image.items() if k not in KNOWN}
        cols["extra_attributes"].append(
            json.dumps(extra, sort_keys=True, separators=(",", ":"), default=_json_default)
            if extra else None
        )

    rows = 0
    for pdir, cols in parts.items():
        table = pa.Table.from_pydict(cols, schema=SCHEMA)
        seqs = cols["sequence_number"]  # zero-padded, so string order is numeric order
        path = os.path.join(out_dir, "image_events", pdir)
        os.makedirs(path, exist_ok=True)
        fname = f"part-python-{min(seqs)}-{max(seqs)}.parquet"
        pq.write_table(table, os.path.join(path, fname), compression=compression,
                       write_statistics=True, write_page_index=True)
        rows += table.num_rows
    return len(records), rows, len(parts)


def main(argv):
    if len(argv) not in (3, 4) or argv[3:] not in ([], ["zstd"], ["snappy"]):
        sys.exit(f"usage: {argv[0]} INPUT_JSON OUT_DIR [zstd|snappy]")
    compression = argv[3] if len(argv) == 4 else "zstd"
    start = time.perf_counter()
    records, rows, files = export(argv[1], argv[2], compression)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "impl": "python", "records": records, "rows": rows, "files": files,
        "seconds": round(seconds, 6),
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv)
