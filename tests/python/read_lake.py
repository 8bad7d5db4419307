"""Reads an imglake lake with two independent Parquet readers, pyarrow and DuckDB.

Usage: read_lake.py LAKE_DIR. Prints one JSON object: for each reader, the row count, rows
per event_name, TTL expiries, per-partition counts, and the types and values of one
PROCESSED row, so the Rust end-to-end test can compare them with what it exported.
Partitioning schemas are passed explicitly: left to infer, pyarrow reads hour=07 as int and
DuckDB reads dt as DATE, which would make the two disagree for reasons of their own.
"""

import json
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

lake = sys.argv[1].rstrip("/")
table_dir = f"{lake}/image_events"


def with_pyarrow():
    part = ds.partitioning(pa.schema([("dt", pa.string()), ("hour", pa.string())]), flavor="hive")
    table = ds.dataset(table_dir, format="parquet", partitioning=part).to_table()
    rows = table.to_pylist()
    processed = next(r for r in rows if r["status"] == "PROCESSED" and r["event_name"] == "MODIFY")
    schema = table.schema
    return {
        "rows": table.num_rows,
        "by_event_name": count(rows, "event_name"),
        "ttl_expiries": sum(1 for r in rows if r["is_ttl_expiry"]),
        "partitions": count(rows, lambda r: f"{r['dt']}/{r['hour']}"),
        "types": {
            "event_time": str(schema.field("event_time").type),
            "expires_at": str(schema.field("expires_at").type),
            "width": str(schema.field("width").type),
            "size_bytes": str(schema.field("size_bytes").type),
            "mean_luma": str(schema.field("mean_luma").type),
            "operations": str(schema.field("operations").type),
            "has_alpha": str(schema.field("has_alpha").type),
        },
        "processed": {
            "image_id": processed["image_id"],
            "width": processed["width"],
            "operations": processed["operations"],
            "event_time": processed["event_time"].isoformat(),
            "expires_at": processed["expires_at"].isoformat(),
            "extra_tags": json.loads(processed["extra_attributes"])["tags"],
        },
    }


def with_duckdb():
    con = duckdb.connect()
    src = (
        f"read_parquet('{table_dir}/*/*/*.parquet', hive_partitioning = true, "
        "hive_types = {'dt': VARCHAR, 'hour': VARCHAR})"
    )
    total = con.execute(f"select count(*) from {src}").fetchone()[0]
    by_name = dict(con.execute(f"select event_name, count(*) from {src} group by 1").fetchall())
    ttl = con.execute(f"select count(*) from {src} where is_ttl_expiry").fetchone()[0]
    parts = dict(
        con.execute(f"select dt || '/' || hour, count(*) from {src} group by 1").fetchall()
    )
    width, ops, event_time, epoch_ms = con.execute(
        f"select width, operations, event_time, epoch_ms(event_time) from {src} "
        "where status = 'PROCESSED' and event_name = 'MODIFY'"
    ).fetchone()
    types = dict(
        con.execute(
            f"select column_name, column_type from (describe select * from {src})"
        ).fetchall()
    )
    return {
        "rows": total,
        "by_event_name": by_name,
        "ttl_expiries": ttl,
        "partitions": parts,
        "types": {k: types[k] for k in ("event_time", "width", "size_bytes", "operations")},
        "processed": {"width": width, "operations": ops, "event_time_ms": epoch_ms},
    }


def count(rows, key):
    out = {}
    for r in rows:
        k = key(r) if callable(key) else r[key]
        out[k] = out.get(k, 0) + 1
    return out


print(json.dumps({"pyarrow": with_pyarrow(), "duckdb": with_duckdb()}, sort_keys=True))
