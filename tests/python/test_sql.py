"""Every file of sql/ parsed by an independent parser of its dialect (sqlglot).

- sql/athena/**/*.sql with the athena dialect (the trino dialect as a fallback, reported as a
  warning naming what athena could not parse);
- sql/queries/*.sql and sql/checks/*.sql with trino (Athena engine v3 is Trino);
- sql/redshift/*.sql with redshift.

sqlglot raises on syntax errors with ErrorLevel.RAISE, but a statement it has no model for is
kept as an opaque exp.Command with only a logged warning; such a statement counts as a failure
unless it is listed in UNPARSED_BY_SQLGLOT, whose entries are checked clause by clause instead.
DataFusion runs the views, queries and checks in tests/sql_views.rs; this file covers the
dialects DataFusion does not speak (Hive DDL, Redshift) and the Trino grammar.

Run: python -m pytest tests/python/test_sql.py (needs pytest and sqlglot).
"""

import re
import warnings
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "sql"

# Statements sqlglot's dialects do not model (they parse as exp.Command): a regular expression
# each must match in full, so that a typo in a clause still fails.
UNPARSED_BY_SQLGLOT = {
    "redshift": [
        re.compile(
            r"CREATE EXTERNAL SCHEMA IF NOT EXISTS \w+\s+"
            r"FROM DATA CATALOG\s+"
            r"DATABASE '[^']+'\s+"
            r"IAM_ROLE '[^']+'\s+"
            r"REGION '[^']+'",
            re.IGNORECASE,
        ),
    ],
}


def files(pattern):
    found = sorted(SQL.glob(pattern))
    assert found, f"no files match sql/{pattern}"
    return found


def rel(path):
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def strip_comments(sql):
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def parse(path, dialect):
    """All statements of a file, parsed strictly; exp.Command only where allowed."""
    text = path.read_text()
    statements = [s for s in sqlglot.parse(text, read=dialect, error_level=sqlglot.ErrorLevel.RAISE) if s]
    assert statements, f"{rel(path)}: no statement"
    for statement in statements:
        if isinstance(statement, exp.Command):
            body = strip_comments(statement.sql(dialect)).strip().rstrip(";")
            body = re.sub(r"/\*.*?\*/", "", body, flags=re.DOTALL).strip()
            allowed = UNPARSED_BY_SQLGLOT.get(dialect, [])
            assert any(p.fullmatch(body) for p in allowed), (
                f"{rel(path)}: sqlglot's {dialect} dialect could not parse this statement "
                f"(it fell back to an opaque command):\n{body}"
            )
    return statements


def parse_athena(path):
    """Athena dialect first; trino if athena cannot parse the file (with a warning)."""
    try:
        return parse(path, "athena")
    except (ParseError, AssertionError) as athena_error:
        statements = parse(path, "trino")
        warnings.warn(f"{rel(path)}: athena dialect failed, trino parsed it: {athena_error}")
        return statements


@pytest.mark.parametrize("path", files("athena/views/*.sql"), ids=rel)
def test_athena_view_is_one_create_or_replace_view_named_after_its_file(path):
    statements = parse_athena(path)
    assert len(statements) == 1, f"{rel(path)}: one statement per view file"
    view = statements[0]
    assert isinstance(view, exp.Create) and view.args.get("kind") == "VIEW", rel(path)
    assert view.args.get("replace"), f"{rel(path)}: use CREATE OR REPLACE VIEW"
    assert view.this.name == path.stem, f"{rel(path)}: the view must be named {path.stem}"
    assert isinstance(view.expression, exp.Query), rel(path)


def test_athena_table_ddl():
    path = SQL / "athena" / "image_events.sql"
    statements = parse_athena(path)
    assert len(statements) == 1
    table = statements[0]
    assert isinstance(table, exp.Create) and table.args.get("kind") == "TABLE"
    assert table.this.this.name == "image_events"
    props = table.args["properties"].expressions
    assert any(isinstance(p, exp.ExternalProperty) for p in props), "CREATE EXTERNAL TABLE"

    columns = [c.name for c in table.this.expressions]
    assert len(columns) == len(set(columns)) and "event_id" in columns and "dt" not in columns

    (partitioned,) = [p for p in props if isinstance(p, exp.PartitionedByProperty)]
    partitions = [(c.name, c.args["kind"].this.name) for c in partitioned.this.expressions]
    assert partitions == [("dt", "DATE"), ("hour", "INT")]

    (file_format,) = [p for p in props if isinstance(p, exp.FileFormatProperty)]
    assert file_format.name.upper() == "PARQUET"

    (location,) = [p for p in props if isinstance(p, exp.LocationProperty)]
    assert location.this.name == "s3://${lake_bucket}/${lake_prefix}/image_events/"

    tblproperties = {
        p.this.name: p.args["value"].name
        for p in props
        if type(p) is exp.Property and isinstance(p.this, exp.Literal)
    }
    expected = {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "${lake_start_date},NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": "s3://${lake_bucket}/${lake_prefix}/image_events/dt=${dt}/hour=${hour}/",
        "parquet.compression": "ZSTD",
    }
    assert {k: tblproperties.get(k) for k in expected} == expected


@pytest.mark.parametrize("path", files("queries/*.sql") + files("checks/*.sql"), ids=rel)
def test_query_and_check_are_one_trino_select(path):
    statements = parse(path, "trino")
    assert len(statements) == 1, f"{rel(path)}: one statement per file"
    assert isinstance(statements[0], exp.Query), f"{rel(path)}: a SELECT (or WITH … SELECT)"


def test_every_check_names_its_problem():
    for path in files("checks/*.sql"):
        (query,) = parse(path, "trino")
        assert "problem" in query.named_selects, f"{rel(path)}: say what is wrong in a `problem` column"


@pytest.mark.parametrize("path", files("redshift/*.sql"), ids=rel)
def test_redshift_file_parses(path):
    statements = parse(path, "redshift")
    text = path.read_text()
    # Every statement of the file was seen: as many as there are statement-ending semicolons.
    assert len(statements) == len(re.findall(r";\s*(?:\n|$)", strip_comments(text))), rel(path)


def test_redshift_external_schema_is_over_the_glue_catalog():
    text = (SQL / "redshift" / "external_schema.sql").read_text()
    (statement,) = parse(SQL / "redshift" / "external_schema.sql", "redshift")
    assert isinstance(statement, exp.Command)
    assert "FROM DATA CATALOG" in text and "IAM_ROLE" in text
    assert "projection" in text.lower() and "registered" in text, "explain Spectrum needs registered partitions"


def test_redshift_views_over_external_tables_are_late_binding():
    for path in files("redshift/*.sql"):
        for statement in parse(path, "redshift"):
            if isinstance(statement, exp.Create) and statement.args.get("kind") == "VIEW":
                assert "WITH NO SCHEMA BINDING" in statement.sql("redshift").upper(), rel(path)


@pytest.mark.parametrize(
    "dialect,sql",
    [
        ("trino", "SELECT FROM WHERE"),
        ("athena", "CREATE OR REPLACE VIEW v AS SELECT (1"),
        ("redshift", "SELECT percentile_cont(0.5) WITHIN GROUP ORDER BY x FROM t"),
    ],
)
def test_the_parser_rejects_broken_sql(dialect, sql, tmp_path):
    broken = tmp_path / "broken.sql"
    broken.write_text(sql)
    with pytest.raises((ParseError, AssertionError)):
        parse(broken, dialect)


def test_an_unmodelled_statement_fails_unless_allowed(tmp_path):
    odd = tmp_path / "odd.sql"
    odd.write_text("CREATE EXTERNAL SCHEMA imglake FROM HIVE METASTORE DATABASE 'x' URI 'h'")
    with pytest.raises(AssertionError, match="opaque command"):
        parse(odd, "redshift")
