"""Checks of terraform/ without a Terraform binary: every file parses (python-hcl2), checkov
finds nothing (suppressions are inline and justified), the Glue table equals the exporter's
schema as printed by `imglake schema`, and the settings the code relies on (lifecycle days, TTL
attribute, stream view type, partial batch responses) are what it expects.

Run: pytest tests/python/test_terraform.py (needs pytest, python-hcl2 and checkov; the schema
test runs the imglake binary: IMGLAKE_BIN, else $CARGO_TARGET_DIR or ~/.cache/imglake/target,
then debug/imglake).

Two packages provide the `hcl2` module: python-hcl2 (strings keep their quotes, attributes are
plain values) and checkov's fork bc-python-hcl2 (strings unquoted, every attribute wrapped in a
one-element list); whichever was installed last wins. `parse` normalises both to one shape.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

try:
    import hcl2
except ImportError:  # a clear failure in parse() beats a silent skip
    hcl2 = None

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
MODULES = TF / "modules"
BINARIES = {"upload", "kafka-ingest", "process", "stream-export", "compact", "redrive", "reconcile"}
META_KEYS = {"__is_block__", "__start_line__", "__end_line__", "__comments__", "__inline_comments__"}


# --- Parsing helpers ------------------------------------------------------------------------------


def tf_files() -> list[Path]:
    return sorted(p for p in TF.rglob("*.tf") if ".terraform" not in p.parts)


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _normalise(node):
    if isinstance(node, dict):
        return {
            _unquote(k): _normalise(v)
            for k, v in node.items()
            if k not in META_KEYS and not (k.startswith("__") and k.endswith("__"))
        }
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    return _unquote(node)


@lru_cache(maxsize=None)
def parse(path: Path) -> dict:
    if hcl2 is None:
        pytest.fail("python-hcl2 is not installed: pip install python-hcl2")
    with open(path, encoding="utf-8") as f:
        return _normalise(hcl2.load(f))


def scalar(value):
    """An attribute's value in either parser's shape (bc-python-hcl2 wraps it in a list)."""
    while isinstance(value, list) and len(value) == 1 and not isinstance(value[0], dict):
        value = value[0]
    return value


def expr(value) -> str:
    """An expression without whitespace (the two parsers space them differently)."""
    return re.sub(r"\s+", "", str(scalar(value)))


def items(value) -> list:
    """A list attribute (e.g. ["a", "b"] or a list of objects) in either parser's shape."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        return value[0]
    return value if isinstance(value, list) else [value]


def blocks(value) -> list[dict]:
    """Nested blocks (or an object attribute) as a list of dicts."""
    if isinstance(value, dict):
        return [value]
    out = []
    for v in value or []:
        out.extend(blocks(v) if isinstance(v, list) else [v])
    return out


def block(value) -> dict:
    found = blocks(value)
    assert len(found) == 1, f"expected one block, got {found!r}"
    return found[0]


def resources(path: Path, rtype: str) -> dict[str, dict]:
    out = {}
    for entry in parse(path).get("resource", []):
        for name, body in entry.get(rtype, {}).items():
            out[name] = body
    return out


def all_resources(rtype: str) -> list[tuple[Path, str, dict]]:
    return [(p, n, b) for p in tf_files() for n, b in resources(p, rtype).items()]


def module_calls(path: Path) -> dict[str, dict]:
    out = {}
    for entry in parse(path).get("module", []):
        out.update(entry)
    return out


def variables(path: Path) -> dict[str, dict]:
    out = {}
    for entry in parse(path).get("variable", []):
        out.update(entry)
    return out


def local_values(path: Path) -> dict:
    out = {}
    for entry in parse(path).get("locals", []):
        out.update(entry)
    return out


def dynamic(body: dict, name: str) -> dict:
    for entry in blocks(body.get("dynamic", [])):
        if name in entry:
            return entry[name]
    raise AssertionError(f"no dynamic {name!r} block")


def policy_documents() -> list[tuple[Path, str, dict]]:
    out = []
    for p in tf_files():
        for entry in parse(p).get("data", []):
            for name, body in entry.get("aws_iam_policy_document", {}).items():
                out.append((p, name, body))
    return out


def statements(doc: dict) -> list[dict]:
    found = blocks(doc.get("statement", []))
    for d in blocks(doc.get("dynamic", [])):
        if "statement" in d:
            found.extend(blocks(d["statement"].get("content", [])))
    return found


# --- 1. Every file parses; the layout is what the README describes ------------------------------


def test_there_is_a_terraform_tree_to_check():
    assert len(tf_files()) >= 40, f"expected the root module and its modules under {TF}"


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TF)))
def test_every_tf_file_parses(path):
    parsed = parse(path)
    assert isinstance(parsed, dict) and parsed, f"{path} parsed to nothing"


def test_every_module_has_variables_outputs_and_versions():
    module_dirs = [TF] + sorted(d for d in MODULES.iterdir() if d.is_dir())
    assert len(module_dirs) >= 10
    for d in module_dirs:
        for name in ("variables.tf", "outputs.tf", "versions.tf"):
            assert (d / name).is_file(), f"{d.relative_to(REPO)} lacks {name}"
        versions = parse(d / "versions.tf")["terraform"][0]
        aws = block(block(versions["required_providers"])["aws"])
        assert scalar(aws["source"]) == "hashicorp/aws", d


def test_every_local_module_source_exists():
    for path in tf_files():
        for name, call in module_calls(path).items():
            source = scalar(call["source"])
            assert source.startswith("./") or source.startswith("../"), f"{path}: module {name}"
            assert (path.parent / source).resolve().is_dir(), f"{path}: module {name} -> {source}"


def test_example_tfvars_only_sets_declared_variables():
    example = TF / "terraform.tfvars.example"
    assert example.is_file()
    declared = variables(TF / "variables.tf")
    values = parse(example)
    assert values, "the example sets nothing"
    unknown = sorted(set(values) - set(declared))
    assert not unknown, f"terraform.tfvars.example sets undeclared variables: {unknown}"


# --- 2. checkov: no failed check, every suppression inline and justified -------------------------

SKIP_RE = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$")


def checkov_command() -> list[str]:
    # scripts/test.sh installs checkov in a virtualenv of its own (its pins conflict with the
    # test tools') and names it in IMGLAKE_CHECKOV.
    configured = os.environ.get("IMGLAKE_CHECKOV")
    if configured:
        if not Path(configured).exists():
            pytest.fail(f"IMGLAKE_CHECKOV={configured} does not exist: run scripts/test.sh")
        return [configured]
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    exe = shutil.which("checkov", path=search)
    if exe is None:
        pytest.fail("checkov is not installed: run scripts/test.sh (it installs it) or set IMGLAKE_CHECKOV")
    return [exe]


def test_checkov_reports_no_failed_check():
    cmd = checkov_command() + ["-d", "terraform", "--compact", "--quiet", "--skip-download", "-o", "json"]
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("checkov did not finish within 15 minutes")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    reports = report if isinstance(report, list) else [report]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    assert terraform, f"checkov produced no terraform report: {[r.get('check_type') for r in reports]}"

    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    summary = terraform[0]["summary"]
    assert not failed, "checkov failed checks:\n" + "\n".join(
        f"  {c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in failed
    )
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0, summary
    assert summary["passed"] > 300, f"checkov evaluated suspiciously little: {summary}"
    assert summary["resource_count"] > 100, summary


def test_every_checkov_skip_is_inline_next_to_its_resource_with_a_justification():
    skips = 0
    for path in tf_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if "checkov:skip" not in line:
                continue
            skips += 1
            where = f"{path.relative_to(REPO)}:{i + 1}"
            m = SKIP_RE.search(line.strip())
            assert m, f"{where}: malformed suppression {line.strip()!r}"
            check_id, reason = m.group(1), (m.group(2) or "").strip()
            assert re.fullmatch(r"CKV2?_AWS_\d+", check_id), f"{where}: unexpected check id {check_id}"
            assert len(reason) >= 40 and " " in reason, f"{where}: {check_id} needs a real justification"
            # Inline: directly inside a resource/data block, after its header or another skip.
            j = i - 1
            while j >= 0 and "checkov:skip" in lines[j]:
                j -= 1
            assert re.match(r'^\s*(resource|data)\s+"[^"]+"\s+"[^"]+"\s*\{\s*$', lines[j]), (
                f"{where}: the suppression must sit at the top of the resource it applies to"
            )
    assert skips > 0, "expected the documented suppressions"
    for config in (REPO / ".checkov.yaml", REPO / ".checkov.yml", TF / ".checkov.yaml", TF / ".checkov.yml"):
        assert not config.exists(), f"{config}: checks must not be skipped globally"


# --- 3. The Glue table equals the exporter's schema ---------------------------------------------


def imglake_bin() -> Path:
    if os.environ.get("IMGLAKE_BIN"):
        return Path(os.environ["IMGLAKE_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "imglake" / "target")
    return Path(target) / "debug" / "imglake"


@lru_cache(maxsize=None)
def cli_schema() -> dict:
    binary = imglake_bin()
    if not binary.is_file():
        pytest.fail(
            f"imglake binary not found at {binary}: build it (cargo build) or set IMGLAKE_BIN; "
            "the Glue columns are checked against `imglake schema --format json`"
        )
    proc = subprocess.run(
        [str(binary), "schema", "--format", "json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"imglake schema failed: {proc.stderr}"
    return json.loads(proc.stdout)


ANALYTICS = MODULES / "analytics"


def terraform_columns(key: str) -> list[dict]:
    return items(local_values(ANALYTICS / "columns.tf")[key])


def test_glue_columns_equal_the_exporter_schema():
    schema = cli_schema()
    expected = [(c["name"], c["athena_type"], c["doc"]) for c in schema["columns"]]
    actual = [(scalar(c["name"]), scalar(c["type"]), scalar(c["comment"])) for c in terraform_columns("image_events_columns")]
    assert len(expected) > 30
    assert [e[0] for e in actual] == [e[0] for e in expected], "column names or order differ from the exporter"
    assert [e[:2] for e in actual] == [e[:2] for e in expected], "column types differ from the exporter"
    assert actual == expected, "column comments differ from the exporter's docs"


def test_partition_keys_are_dt_date_and_hour_int():
    schema = cli_schema()
    expected = [(c["name"], c["athena_type"]) for c in schema["partition_columns"]]
    actual = [(scalar(c["name"]), scalar(c["type"])) for c in terraform_columns("image_events_partition_keys")]
    assert actual == expected == [("dt", "date"), ("hour", "int")]


def test_glue_table_is_built_from_the_column_list_with_partition_projection():
    table = resources(ANALYTICS / "main.tf", "aws_glue_catalog_table")["image_events"]
    assert scalar(table["table_type"]) == "EXTERNAL_TABLE"
    root_locals = local_values(TF / "main.tf")
    assert scalar(root_locals["table_name"]) == cli_schema()["table"] == "image_events"

    partitions = dynamic(table, "partition_keys")
    assert scalar(partitions["for_each"]) == "${local.image_events_partition_keys}"
    sd = block(table["storage_descriptor"])
    columns = dynamic(sd, "columns")
    assert scalar(columns["for_each"]) == "${local.image_events_columns}"
    content = block(columns["content"])
    assert scalar(content["name"]) == "${columns.value.name}"
    assert scalar(content["type"]) == "${columns.value.type}"

    assert scalar(sd["input_format"]) == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert scalar(sd["output_format"]) == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    serde = block(sd["ser_de_info"])
    assert scalar(serde["serialization_library"]) == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert scalar(sd["location"]) == "${local.table_location}"
    analytics_locals = local_values(ANALYTICS / "main.tf")
    assert scalar(analytics_locals["table_location"]) == "s3://${var.lake_bucket.id}/${var.lake_prefix}/${var.table_name}/"

    params = {k: scalar(v) for k, v in block(table["parameters"]).items()}
    assert params["projection.enabled"] == "true"
    assert params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["projection.dt.range"] == "${var.lake_start_date},NOW"
    assert params["projection.dt.interval.unit"] == "DAYS"
    assert params["projection.hour.type"] == "integer"
    assert params["projection.hour.range"] == "0,23"
    assert params["projection.hour.digits"] == "2"
    template = params["storage.location.template"].replace("$${", "${")
    assert template == "${local.table_location}dt=${dt}/hour=${hour}/"


def test_stream_export_writes_where_the_table_reads():
    export = local_values(MODULES / "export" / "main.tf")
    assert scalar(export["lake_url"]) == "s3://${var.lake_bucket.id}/${var.lake_prefix}"
    call = module_calls(TF / "main.tf")
    assert scalar(call["export"]["lake_prefix"]) == scalar(call["analytics"]["lake_prefix"]) == "${var.lake_prefix}"
    assert scalar(call["export"]["lake_table_name"]) == scalar(call["analytics"]["table_name"]) == "${local.table_name}"
    for binary in ("stream-export", "redrive"):
        env = terraform_environments()[binary]
        assert {"IMGLAKE_LAKE_URL", "IMGLAKE_PARQUET_COMPRESSION"} <= env, f"{binary} lacks the lake: {env}"
    lake_env = local_values(MODULES / "export" / "main.tf")["lake_export_environment"]
    assert scalar(block(lake_env)["IMGLAKE_LAKE_URL"]) == "${local.lake_url}"
    compression = variables(MODULES / "export" / "variables.tf")["parquet_compression"]
    assert scalar(compression["default"]) == "zstd"


# --- 4. Settings the code relies on ----------------------------------------------------------------


def test_images_expire_after_seven_days_by_default():
    root_vars = variables(TF / "variables.tf")
    assert scalar(root_vars["raw_image_retention_days"]["default"]) == 7
    assert scalar(root_vars["processed_image_retention_days"]["default"]) == 7
    assert scalar(root_vars["metadata_ttl_days"]["default"]) == 7

    storage_call = module_calls(TF / "main.tf")["storage"]
    assert scalar(storage_call["raw_image_retention_days"]) == "${var.raw_image_retention_days}"
    assert scalar(storage_call["processed_image_retention_days"]) == "${var.processed_image_retention_days}"

    buckets = module_calls(MODULES / "storage" / "main.tf")
    for bucket, var in (("raw", "raw_image_retention_days"), ("processed", "processed_image_retention_days")):
        rules = [{k: scalar(v) for k, v in r.items()} for r in items(buckets[bucket]["expiration_rules"])]
        assert {"prefix": "", "days": f"${{var.{var}}}"}.items() <= rules[0].items(), (bucket, rules)
        assert scalar(buckets[bucket]["noncurrent_version_expiration_days"]) == "${var.noncurrent_version_expiration_days}"

    lifecycle = resources(MODULES / "bucket" / "main.tf", "aws_s3_bucket_lifecycle_configuration")["this"]
    rule = dynamic(lifecycle, "rule")
    assert scalar(rule["for_each"]) == "${var.expiration_rules}"
    content = block(rule["content"])
    assert scalar(block(content["expiration"])["days"]) == "${rule.value.days}"
    assert scalar(block(content["filter"])["prefix"]) == "${rule.value.prefix}"
    static = blocks(lifecycle["rule"])
    noncurrent = [r for r in static if "noncurrent_version_expiration" in r]
    assert noncurrent and scalar(block(noncurrent[0]["noncurrent_version_expiration"])["noncurrent_days"]) == (
        "${var.noncurrent_version_expiration_days}"
    )


def test_lake_retention_is_a_variable_and_keeps_the_lake_by_default():
    root_vars = variables(TF / "variables.tf")
    assert "lake_retention_days" in root_vars
    assert scalar(root_vars["lake_retention_days"].get("default")) is None


def test_metadata_table_matches_the_code():
    table = resources(MODULES / "metadata" / "main.tf", "aws_dynamodb_table")["this"]
    assert scalar(table["hash_key"]) == "image_id"
    assert [(scalar(a["name"]), scalar(a["type"])) for a in blocks(table["attribute"])] == [("image_id", "S")]
    ttl = block(table["ttl"])
    assert scalar(ttl["attribute_name"]) == "expires_at"
    assert scalar(ttl["enabled"]) is True
    assert scalar(table["stream_enabled"]) is True
    assert scalar(table["stream_view_type"]) == "NEW_AND_OLD_IMAGES"
    assert scalar(table["billing_mode"]) == "PAY_PER_REQUEST"
    assert scalar(block(table["point_in_time_recovery"])["enabled"]) is True
    sse = block(table["server_side_encryption"])
    assert scalar(sse["enabled"]) is True and scalar(sse["kms_key_arn"]) == "${var.kms_key_arn}"
    # expires_at is the TTL attribute and a lake column (epoch seconds in the item).
    assert "expires_at" in [c["name"] for c in cli_schema()["columns"]]


def test_stream_export_mapping_never_lets_a_bad_batch_stall_a_shard():
    esm = resources(MODULES / "export" / "main.tf", "aws_lambda_event_source_mapping")["stream"]
    assert scalar(esm["event_source_arn"]) == "${var.stream_arn}"
    assert items(esm["function_response_types"]) == ["ReportBatchItemFailures"]
    assert scalar(esm["bisect_batch_on_function_error"]) is True
    on_failure = block(block(esm["destination_config"])["on_failure"])
    assert scalar(on_failure["destination_arn"]) == "${module.failures.arn}"
    assert scalar(esm["batch_size"]) == "${var.batch_size}"
    assert scalar(esm["maximum_batching_window_in_seconds"]) == "${var.maximum_batching_window_in_seconds}"

    export_vars = variables(MODULES / "export" / "variables.tf")
    retries = scalar(export_vars["maximum_retry_attempts"]["default"])
    age = scalar(export_vars["maximum_record_age_in_seconds"]["default"])
    assert 0 <= retries <= 10000 and 60 <= age <= 604800, "retries and record age must be bounded"
    for name in ("maximum_retry_attempts", "maximum_record_age_in_seconds", "batch_size", "maximum_batching_window_in_seconds"):
        assert export_vars[name].get("validation"), f"{name} needs a validation"
    root_call = module_calls(TF / "main.tf")["export"]
    assert scalar(root_call["batch_size"]) == "${var.stream_export.batch_size}"


def test_queue_and_kafka_mappings_report_partial_failures():
    sqs = resources(MODULES / "processing" / "main.tf", "aws_lambda_event_source_mapping")["queue"]
    assert items(sqs["function_response_types"]) == ["ReportBatchItemFailures"]
    assert scalar(block(sqs["scaling_config"])["maximum_concurrency"]) == "${var.maximum_concurrency}"
    queue = module_calls(MODULES / "processing" / "main.tf")["queue"]
    assert scalar(queue["dead_letter_queue"]) is True
    for name, esm in resources(MODULES / "kafka_ingest" / "main.tf", "aws_lambda_event_source_mapping").items():
        assert items(esm["function_response_types"]) == ["ReportBatchItemFailures"], name
        assert scalar(esm["bisect_batch_on_function_error"]) is True, name
        assert block(block(esm["destination_config"])["on_failure"]), name


def test_lambdas_are_rust_arm64_zips_from_cargo_lambda_or_images():
    fn = resources(MODULES / "lambda_function" / "main.tf", "aws_lambda_function")["this"]
    assert expr(fn["runtime"]) == '${local.zip?"provided.al2023":null}'
    assert items(fn["architectures"]) == ["arm64"]
    assert expr(fn["handler"]) == '${local.zip?"bootstrap":null}'
    assert expr(fn["filename"]) == "${local.zip?local.zip_path:null}"
    assert expr(fn["image_uri"]) == "${local.zip?null:var.image_uri}"
    assert scalar(fn["package_type"]) == "${var.package_type}"
    assert expr(local_values(MODULES / "lambda_function" / "main.tf")["zip"]) == '${var.package_type=="Zip"}'
    assert scalar(variables(TF / "variables.tf")["lambda_package_type"]["default"]) == "Zip"
    zip_path = scalar(local_values(MODULES / "lambda_function" / "main.tf")["zip_path"])
    assert zip_path == "${var.artifact_dir}/${var.binary}/bootstrap.zip"
    assert scalar(variables(TF / "variables.tf")["lambda_artifact_dir"]["default"]) == "../target/lambda"

    declared = set()
    for path in tf_files():
        for call in module_calls(path).values():
            if scalar(call["source"]).endswith("lambda_function"):
                declared.add(scalar(call["binary"]))
    assert declared == BINARIES


def test_iam_policies_grant_no_wildcard_actions_on_data():
    # A key policy's Resource "*" is the key itself; these actions have no resource-level form
    # (checkov's CKV_AWS_356 checks the same against IAM's reference).
    allowed_star_resources = re.compile(
        r"^(kms:.*|ec2:Describe\w+|dynamodb:ListExports|sts:GetCallerIdentity|athena:List(WorkGroups|DataCatalogs)"
        r"|cloudwatch:(GetMetricData|ListMetrics|ListDashboards|PutMetricData)|xray:\w+)$"
    )
    checked = 0
    for path, name, doc in policy_documents():
        for st in statements(doc):
            actions = [scalar(a) for a in items(st.get("actions", []))]
            res = [scalar(r) for r in items(st.get("resources", []))]
            where = f"{path.relative_to(REPO)} {name} {scalar(st.get('sid', ''))}"
            effect = scalar(st.get("effect", "Allow"))
            if effect == "Deny":
                continue
            checked += 1
            for action in actions:
                if action == "kms:*":
                    assert path.parent.name == "kms", f"{where}: kms:* outside the key policy"
                    continue
                assert action != "*" and not action.endswith(":*"), f"{where}: wildcard action {action}"
            if "*" in res:
                assert all(allowed_star_resources.match(a) for a in actions), f"{where}: {actions} on *"
    assert checked > 30


def test_http_api_is_never_open():
    api_vars = variables(MODULES / "ingest_api" / "variables.tf")
    assert scalar(api_vars["auth_type"]["default"]) == "JWT"
    condition = scalar(block(api_vars["auth_type"]["validation"])["condition"])
    assert "JWT" in condition and "AWS_IAM" in condition and "NONE" not in condition
    routes = resources(MODULES / "ingest_api" / "main.tf", "aws_apigatewayv2_route")
    assert routes and all(scalar(r["authorization_type"]) == "${var.auth_type}" for r in routes.values())
    stage = resources(MODULES / "ingest_api" / "main.tf", "aws_apigatewayv2_stage")["default"]
    settings = block(stage["default_route_settings"])
    assert scalar(settings["throttling_burst_limit"]) and scalar(settings["throttling_rate_limit"])
    assert block(stage["access_log_settings"])


def test_athena_views_come_from_sql_files_and_tolerate_a_missing_folder():
    analytics_locals = local_values(ANALYTICS / "main.tf")
    assert expr(analytics_locals["view_files"]) == '${try(fileset(var.views_dir,"*.sql"),toset([]))}'
    assert "sql/athena/views" in scalar(local_values(TF / "main.tf")["views_dir"])
    query = resources(ANALYTICS / "main.tf", "aws_athena_named_query")["views"]
    assert scalar(query["for_each"]) == "${local.view_files}"
    workgroup = resources(ANALYTICS / "main.tf", "aws_athena_workgroup")["this"]
    config = block(workgroup["configuration"])
    assert scalar(config["enforce_workgroup_configuration"]) is True
    assert scalar(config["bytes_scanned_cutoff_per_query"]) == "${var.bytes_scanned_cutoff_per_query}"
    encryption = block(block(config["result_configuration"])["encryption_configuration"])
    assert scalar(encryption["encryption_option"]) == "SSE_KMS"


def test_kms_keys_rotate():
    keys = all_resources("aws_kms_key")
    assert keys
    for path, name, key in keys:
        assert scalar(key["enable_key_rotation"]) is True, f"{path}:{name}"


def test_notebook_reads_the_lake_with_explicit_hive_partitioning():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert notebooks, "notebooks/ should hold the SageMaker example"
    nb = json.loads(notebooks[0].read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert 'pa.schema([("dt", pa.string()), ("hour", pa.string())])' in code
    assert 'flavor="hive"' in code and "image_events" in code
    assert (TF / "README.md").read_text(encoding="utf-8").count("notebooks/") >= 1


# --- 5. The functions' environment is the contract documented in terraform/README.md ------------

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lambda_binaries  # noqa: E402

ENV_KEY = re.compile(r"\b([A-Z][A-Z0-9_]{2,})\s*=")


def module_locals(directory: Path) -> dict:
    out = {}
    for path in sorted(directory.glob("*.tf")):
        out.update(local_values(path))
    return out


def module_variables(directory: Path) -> dict:
    out = {}
    for path in sorted(directory.glob("*.tf")):
        out.update(variables(path))
    return out


def env_keys(value, directory: Path, caller) -> set[str]:
    """Names of the environment variables an expression builds: object keys, and the keys of
    the locals and variables it merges (a variable resolved through the module's caller)."""
    if isinstance(value, dict):
        return {k for k in value if re.fullmatch(r"[A-Z][A-Z0-9_]+", k)}
    if isinstance(value, list):
        return set().union(*(env_keys(v, directory, caller) for v in value)) if value else set()
    text = str(scalar(value))
    keys = set(ENV_KEY.findall(text))
    for name in re.findall(r"\blocal\.(\w+)", text):
        keys |= env_keys(module_locals(directory)[name], directory, caller)
    for name in re.findall(r"\bvar\.(\w+)", text):
        if caller is not None and name in caller[0]:
            keys |= env_keys(caller[0][name], caller[1], caller[2])
        elif "default" in module_variables(directory).get(name, {}):
            keys |= env_keys(module_variables(directory)[name]["default"], directory, None)
    return keys


@lru_cache(maxsize=None)
def terraform_environments() -> dict[str, frozenset]:
    """Environment variable names of every function, by binary, as terraform/ builds them."""
    root_calls = module_calls(TF / "main.tf")
    out = {}
    for module_dir in sorted(d for d in MODULES.iterdir() if d.is_dir()):
        caller = next(
            ((call, TF, None) for call in root_calls.values() if scalar(call["source"]) == f"./modules/{module_dir.name}"),
            None,
        )
        for path in sorted(module_dir.glob("*.tf")):
            for call in module_calls(path).values():
                if scalar(call["source"]).endswith("lambda_function"):
                    out[scalar(call["binary"])] = frozenset(env_keys(call.get("environment", {}), module_dir, caller))
    return out


def readme_environments() -> dict[str, set[str]]:
    """The table "What the functions are given" of terraform/README.md: binary -> variables."""
    text = (TF / "README.md").read_text(encoding="utf-8")
    section = text.split("### What the functions are given", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        binary = re.match(r"`([a-z-]+)`", cells[0]).group(1)
        names = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[1]))
        same = re.search(r"same as `([a-z-]+)`", cells[1])
        rows[binary] = (names, same.group(1) if same else None)
    return {b: names | (rows[same][0] if same else set()) for b, (names, same) in rows.items()}


def test_every_lambda_binary_is_deployed():
    assert set(terraform_environments()) == lambda_binaries.all_binaries(), (
        "modules/lambda_function calls and the crates' [[bin]] entries (plus NOT_YET_BUILT) differ"
    )


def test_function_environments_are_the_contract_in_the_readme():
    documented = readme_environments()
    deployed = {b: {n for n in env if not n.startswith("AWS_")} for b, env in terraform_environments().items()}
    assert set(documented) == set(deployed), "the README table and terraform/ list different functions"
    for binary in sorted(deployed):
        assert deployed[binary] == documented[binary], (
            f"{binary}: terraform sets {sorted(deployed[binary] - documented[binary])} not documented, "
            f"documents {sorted(documented[binary] - deployed[binary])} not set"
        )
    assert deployed["redrive"] == {
        "RUST_LOG", "IMGLAKE_LAKE_URL", "IMGLAKE_PARQUET_COMPRESSION", "IMGLAKE_GLUE_DATABASE",
        "IMGLAKE_GLUE_TABLE", "IMGLAKE_REDRIVE_QUEUE_URL", "IMGLAKE_STREAM_ARN",
        "IMGLAKE_REDRIVE_VISIBILITY_TIMEOUT",
    }
    assert deployed["reconcile"] == {
        "RUST_LOG", "IMGLAKE_LAKE_URL", "IMGLAKE_TABLE_ARN", "IMGLAKE_EXPORT_BUCKET",
        "IMGLAKE_EXPORT_PREFIX", "IMGLAKE_EXPORT_KMS_KEY_ARN", "IMGLAKE_METADATA_TTL_DAYS",
    }


def test_the_lambda_code_reads_what_terraform_sets():
    read = set()
    for crate_dir in lambda_binaries.lambda_crates().values():
        for path in (crate_dir / "src").rglob("*.rs"):
            read |= set(re.findall(r'"(IMGLAKE_[A-Z0-9_]+)"', path.read_text(encoding="utf-8")))
    envs = terraform_environments()
    set_for_built = set().union(*(v for b, v in envs.items() if b not in lambda_binaries.NOT_YET_BUILT))
    set_only_for_pending = set().union(*(envs[b] for b in lambda_binaries.NOT_YET_BUILT)) - set_for_built
    assert read, "found no IMGLAKE_ variable in the Lambda crates"
    missing = read - set_for_built - set_only_for_pending
    assert not missing, f"the Lambda code reads {sorted(missing)}, which terraform/ never sets"
    unread = {n for n in set_for_built if n.startswith("IMGLAKE_")} - read
    assert not unread, f"terraform/ sets {sorted(unread)}, which no Lambda code reads"
    now_built = lambda_binaries.NOT_YET_BUILT & set(lambda_binaries.built_binaries())
    assert not now_built, f"{sorted(now_built)} are built now: remove them from NOT_YET_BUILT in tests/python/lambda_binaries.py"


# --- 6. QuickSight datasets of the dashboards = sql/queries -----------------------------------------

QUERIES = REPO / "sql" / "queries"
# DataFusion's type of each result column -> QuickSight's input column type.
QUICKSIGHT_TYPE = [
    (re.compile(r"^U?Int\d+$"), "INTEGER"),
    (re.compile(r"^(Float\d+|Decimal.*)$"), "DECIMAL"),
    (re.compile(r"^(Utf8|LargeUtf8|Utf8View)$"), "STRING"),
    (re.compile(r"^(Date32|Date64|Timestamp.*)$"), "DATETIME"),
    (re.compile(r"^Boolean$"), "BOOLEAN"),
]


def dashboard_datasets() -> dict:
    return block(local_values(ANALYTICS / "dashboards.tf")["dashboard_datasets"])


@lru_cache(maxsize=None)
def fixture_lake() -> Path:
    import atexit
    import tempfile

    root = tempfile.mkdtemp(prefix="imglake-dashboards-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    lake = Path(root) / "lake"
    for fixture in (REPO / "exporter/tests/fixtures/lambda_lifecycle.json", REPO / "tests/fixtures/unhealthy.jsonl"):
        proc = subprocess.run(
            [str(imglake_bin()), "export", "--input", str(fixture), "--lake", str(lake)],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert proc.returncode == 0, proc.stderr
    return lake


def query(sql: str, fmt: str = "json") -> str:
    proc = subprocess.run(
        [str(imglake_bin()), "query", "--lake", str(fixture_lake()), "--format", fmt, sql],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, f"imglake query failed: {proc.stderr}"
    return proc.stdout


def test_every_dashboard_query_is_a_quicksight_dataset():
    datasets = dashboard_datasets()
    files = sorted(p.stem for p in QUERIES.glob("*.sql"))
    assert files and sorted(datasets) == files, f"sql/queries {files} vs datasets {sorted(datasets)}"
    for name, ds in datasets.items():
        header = (QUERIES / f"{name}.sql").read_text(encoding="utf-8").splitlines()[0]
        assert header.startswith(f'-- QuickSight dataset "{scalar(ds["title"])}"'), f"{name}: title differs from {header!r}"
    resource = resources(ANALYTICS / "dashboards.tf", "aws_quicksight_data_set")["dashboards"]
    assert expr(resource["for_each"]) == "${var.enable_quicksight?local.dashboard_datasets:{}}"
    custom = block(block(resource["physical_table_map"])["custom_sql"])
    assert scalar(custom["sql_query"]) == "${local.dashboard_sql[each.key]}"
    assert scalar(custom["data_source_arn"]) == "${aws_quicksight_data_source.athena[0].arn}"
    assert scalar(dynamic(custom, "columns")["for_each"]) == "${each.value.columns}"


@pytest.mark.parametrize("name", sorted(p.stem for p in QUERIES.glob("*.sql")))
def test_dashboard_dataset_columns_are_what_the_query_returns(name):
    sql = (QUERIES / f"{name}.sql").read_text(encoding="utf-8")
    header = query(sql, "csv").splitlines()[0].split(",")
    types = json.loads(query(f"SELECT {', '.join(f'arrow_typeof({c}) AS {c}' for c in header)} FROM ({sql}) q LIMIT 1").splitlines()[0])
    expected = []
    for column in header:
        quicksight = next((qs for rx, qs in QUICKSIGHT_TYPE if rx.match(types[column])), None)
        assert quicksight, f"{name}.{column}: no QuickSight type for {types[column]}"
        expected.append((column, quicksight))
    actual = [(scalar(c["name"]), scalar(c["type"])) for c in items(dashboard_datasets()[name]["columns"])]
    assert actual == expected, f"{name}: modules/analytics/dashboards.tf says {actual}, the query returns {expected}"


def test_dashboard_sql_reads_the_views_in_the_glue_database():
    import sqlglot
    from sqlglot import exp

    locals_ = local_values(ANALYTICS / "dashboards.tf")
    assert scalar(locals_["view_reference"]) == (
        '/(?i)\\b(FROM|JOIN)\\s+(${join("|", length(local.view_names) > 0 ? local.view_names : ["image_events"])})\\b/'
    )
    assert '"$1 \\"${local.database_name}\\".\\"$2\\""' in scalar(locals_["dashboard_sql"])
    views = sorted(p.stem for p in (REPO / "sql/athena/views").glob("*.sql"))
    pattern = re.compile(r"(?i)\b(FROM|JOIN)\s+(" + "|".join(views) + r")\b")
    for path in sorted(QUERIES.glob("*.sql")):
        qualified = pattern.sub(r'\1 "imglake_prod"."\2"', path.read_text(encoding="utf-8"))
        tables = list(sqlglot.parse_one(qualified, read="trino").find_all(exp.Table))
        assert tables, path
        for table in tables:
            assert table.db == "imglake_prod" and table.name in views, f"{path.name}: {table.sql()} is not a qualified view"


# --- 7. Recovery, packaging, network, access and replication settings -----------------------------

EXPORT = MODULES / "export"
NETWORK = MODULES / "network"
ACCESS = MODULES / "access"
REPLICATION = MODULES / "replication"


def policy_document(path: Path, name: str) -> dict:
    return next(doc for p, n, doc in policy_documents() if p == path and n == name)


def statement(doc: dict, sid: str) -> dict:
    return next(st for st in statements(doc) if scalar(st.get("sid")) == sid)


def object_default(var: dict) -> dict:
    """The defaults of an object variable's optional() attributes, from its type expression."""
    return dict(re.findall(r"(\w+)\s*=\s*optional\([^,]+,\s*([^)]+)\)", expr(var["type"]).replace(",", ", ")))


def test_optional_parts_are_off_by_default_and_recovery_is_on():
    root = variables(TF / "variables.tf")
    assert scalar(root["redrive_enabled"]["default"]) is True
    assert scalar(root["redrive_schedule"]["default"]) == "rate(15 minutes)"
    assert scalar(root["redrive_queue_age_alarm_seconds"]["default"]) == 3600
    assert scalar(root["reconcile_schedule"].get("default")) is None
    assert scalar(root["lambda_package_type"]["default"]) == "Zip"
    for var in ("network", "replication"):
        assert object_default(root[var])["enabled"] == "false", var
    assert object_default(root["access"])["mode"] == '"none"'
    calls = module_calls(TF / "main.tf")
    assert expr(calls["network"]["count"]) == "${var.network.enabled?1:0}"
    assert expr(calls["replication"]["count"]) == "${var.replication.enabled?1:0}"
    assert expr(calls["access"]["count"]) == '${var.access.mode=="none"?0:1}'
    assert expr(calls["images"]["count"]) == '${var.lambda_package_type=="Image"?1:0}'
    # PITR is what full and incremental exports read.
    table = resources(MODULES / "metadata" / "main.tf", "aws_dynamodb_table")["this"]
    assert scalar(block(table["point_in_time_recovery"])["enabled"]) is True


def test_redrive_is_scheduled_with_an_off_switch_and_least_privilege():
    schedules = expr(local_values(EXPORT / "main.tf")["schedules"])
    assert 'var.redrive_enabled?{redrive={function_arn=module.redrive[0].function_arn,expression=var.redrive_schedule' in schedules
    assert expr(module_calls(EXPORT / "main.tf")["redrive"]["count"]) == "${var.redrive_enabled?1:0}"
    schedule = resources(EXPORT / "main.tf", "aws_scheduler_schedule")["this"]
    assert scalar(schedule["for_each"]) == "${local.schedules}" and scalar(schedule["state"]) == "ENABLED"
    assert "var.redrive_enabled?{}:{" in expr(module_calls(TF / "main.tf")["monitoring"]["dead_letter_queue_names"])
    doc = policy_document(EXPORT / "main.tf", "redrive")
    grants = {scalar(s["sid"]): (sorted(items(s["actions"])), [scalar(r) for r in items(s["resources"])]) for s in statements(doc)}
    assert grants["ConsumeFailureQueue"] == (
        ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
        ["${module.failures.arn}"],
    )
    assert grants["RereadStream"] == (
        ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], ["${var.stream_arn}"]
    )
    stream_export = policy_document(EXPORT / "main.tf", "stream_export")
    for sid in ("WriteLakeAndQuarantine", "RegisterPartitions"):
        assert statement(doc, sid) == statement(stream_export, sid), f"redrive's {sid} differs from stream-export's"
    assert set(grants) == {"ConsumeFailureQueue", "RereadStream", "WriteLakeAndQuarantine", "RegisterPartitions", "UseDataKey"}
    redrive = module_calls(EXPORT / "main.tf")["redrive"]
    assert scalar(redrive["reserved_concurrency"]) == 1
    failures = module_calls(EXPORT / "main.tf")["failures"]
    assert expr(failures["visibility_timeout_seconds"]) == "${var.redrive_timeout+60}"


def test_reconcile_is_optional_and_exports_from_pitr_into_its_own_prefix():
    assert expr(local_values(EXPORT / "main.tf")["reconcile_enabled"]) == "${var.reconcile_schedule!=null}"
    assert expr(module_calls(EXPORT / "main.tf")["reconcile"]["count"]) == "${local.reconcile_enabled?1:0}"
    doc = policy_document(EXPORT / "main.tf", "reconcile")
    actions = {a for s in statements(doc) for a in items(s["actions"])}
    assert {"dynamodb:ExportTableToPointInTime", "dynamodb:DescribeExport", "dynamodb:ListExports"} <= actions
    assert not any(a.startswith(("s3:Delete", "dynamodb:Put", "dynamodb:Update", "dynamodb:Delete")) for a in actions)
    assert scalar(statement(doc, "WriteExportsAndReports")["resources"]) == "${var.lake_bucket.arn}/${local.reconcile_export_prefix}/*"
    assert expr(local_values(EXPORT / "main.tf")["reconcile_export_prefix"]) == "${var.table_export_prefix}/reconcile"
    lake_rules = expr(module_calls(MODULES / "storage" / "main.tf")["lake"]["expiration_rules"])
    assert 'prefix="${var.table_export_prefix}/",days=var.table_export_retention_days' in lake_rules


def test_recovery_alarms_reach_the_alarm_topic():
    alarms = resources(MODULES / "monitoring" / "main.tf", "aws_cloudwatch_metric_alarm")
    age = alarms["redrive_queue_age"]
    assert scalar(age["metric_name"]) == "ApproximateAgeOfOldestMessage" and scalar(age["namespace"]) == "AWS/SQS"
    assert scalar(age["threshold"]) == "${var.redrive_queue_age_threshold_seconds}"
    drift = alarms["reconcile_drift"]
    assert (scalar(drift["namespace"]), scalar(drift["metric_name"])) == ("imglake", "ReconcileDrift")
    assert block(drift["dimensions"]) == {"Function": "reconcile"}
    assert scalar(drift["threshold"]) == 0 and scalar(drift["comparison_operator"]) == "GreaterThanThreshold"
    for alarm in (age, drift):
        assert scalar(alarm["alarm_actions"]) == "${local.actions}"
    root = module_calls(TF / "main.tf")["monitoring"]
    assert scalar(root["redrive_queue_age_threshold_seconds"]) == "${var.redrive_queue_age_alarm_seconds}"


def test_container_images_are_immutable_scanned_and_encrypted():
    repo = resources(MODULES / "images" / "main.tf", "aws_ecr_repository")["this"]
    assert scalar(repo["image_tag_mutability"]) == "IMMUTABLE"
    assert scalar(block(repo["image_scanning_configuration"])["scan_on_push"]) is True
    assert scalar(block(repo["encryption_configuration"])["encryption_type"]) == "KMS"
    binaries = items(local_values(TF / "main.tf")["lambda_binaries"])
    assert set(binaries) == lambda_binaries.all_binaries()
    outputs = parse(MODULES / "images" / "outputs.tf")["output"]
    image_uris = next(o["image_uris"] for o in outputs if "image_uris" in o)
    assert "@${img.image_digest}" in scalar(image_uris["value"]), "images are pinned by digest"


def test_network_places_every_function_and_scopes_every_endpoint():
    calls = module_calls(TF / "main.tf")
    for name in ("ingest_api", "kafka_ingest", "processing", "export"):
        assert scalar(calls[name]["vpc_config"]) == "${local.vpc_config}", name
    assert expr(local_values(TF / "main.tf")["vpc_config"]) == "${local.network_enabled?module.network[0].vpc_config:var.lambda_vpc_config}"
    assert "AWS_ENDPOINT_URL_DYNAMODB_STREAMS=module.network[0].dynamodb_streams_endpoint_url" in expr(calls["export"]["redrive_extra_environment"])
    net = NETWORK / "main.tf"
    assert not resources(net, "aws_nat_gateway") and not resources(net, "aws_internet_gateway"), "no path to the internet"
    endpoints = resources(net, "aws_vpc_endpoint")
    assert scalar(endpoints["s3"]["vpc_endpoint_type"]) == scalar(endpoints["dynamodb"]["vpc_endpoint_type"]) == "Gateway"
    for name, key in (("s3", '"s3"'), ("dynamodb", '"dynamodb"'), ("interface", "each.key"), ("dynamodb_streams", '"dynamodb_streams"')):
        assert expr(endpoints[name]["policy"]) == f"${{data.aws_iam_policy_document.endpoint[{key}].json}}", name
    doc = policy_document(net, "endpoint")
    assert expr(doc["for_each"]) == "${toset(local.endpoints)}"
    content = block(dynamic(doc, "statement")["content"])
    cond = dynamic(content, "condition")
    assert expr(cond["for_each"]) == "${can(statement.value.principals)?[]:[local.account_id]}"
    cond = block(cond["content"])
    assert (scalar(cond["variable"]), items(cond["values"])) == ("aws:PrincipalAccount", ["${condition.value}"])
    assert scalar(content["resources"]) == "${statement.value.resources}"
    statements_by_endpoint = block(local_values(net)["endpoint_statements"])
    assert expr(local_values(net)["endpoints"]) == '${concat(["s3","dynamodb"],var.redrive_enabled?["dynamodb_streams"]:[],keys(local.interface_endpoints))}'
    for extra in ("kms", "logs", "monitoring", "xray"):
        assert extra in statements_by_endpoint, f"no policy for the optional {extra} endpoint"
    needed = expr(local_values(net)["interface_endpoints"])
    for service in ("glue=", "sqs=", "lambda=", "sts=", "secretsmanager=", "athena="):
        assert service in needed, service


def test_bucket_policies_refuse_the_functions_outside_the_vpc_except_presigned_browser_paths():
    doc = policy_document(NETWORK / "main.tf", "bucket")
    deny = statement(doc, "FunctionsOnlyThroughTheVpcEndpoint")
    assert scalar(deny["effect"]) == "Deny"
    conditions = {scalar(c["variable"]): (scalar(c["test"]), items(c["values"])) for c in blocks(deny["condition"])}
    assert conditions["aws:SourceVpce"] == ("StringNotEqualsIfExists", ["${aws_vpc_endpoint.s3.id}"])
    assert conditions["aws:PrincipalArn"][1] == ["${local.processor}"]
    assert conditions["aws:ViaAWSService"] == ("BoolIfExists", ["false"])
    processor = expr(local_values(NETWORK / "main.tf")["processor"])
    assert '"upload"' not in processor and all(f'"{b}"' in processor for b in lambda_binaries.all_binaries() - {"upload"})
    upload = block(dynamic(doc, "statement")["content"])
    assert scalar(upload["effect"]) == "Deny" and items(upload["not_actions"]) == ["${statement.value}"]
    assert expr(dynamic(doc, "statement")["for_each"]) == (
        '${contains(["raw","processed"],each.key)?[each.key=="raw"?"s3:PutObject":"s3:GetObject"]:[]}'
    )
    storage = module_calls(MODULES / "storage" / "main.tf")
    for bucket in ("raw", "processed", "lake", "athena_results"):
        assert expr(storage[bucket]["policy_documents"]) == f'${{compact([lookup(var.bucket_policy_documents,"{bucket}","")])}}'


def test_analysts_and_operators_never_read_images():
    for role in ("analyst", "operator"):
        doc = policy_document(ACCESS / "main.tf", role)
        assert "data.aws_iam_policy_document.no_images.json" in json.dumps(doc["source_policy_documents"]), role
    no_images = statement(policy_document(ACCESS / "main.tf", "no_images"), "ImagesStayWithTheProcessingFunctions")
    assert scalar(no_images["effect"]) == "Deny" and "s3:GetObject" in items(no_images["actions"])
    for p, n, doc in policy_documents():
        if p.parent == ACCESS:
            for st in statements(doc):
                if scalar(st.get("effect", "Allow")) == "Allow":
                    assert "image_bucket_arns" not in json.dumps(st), f"{n} {scalar(st.get('sid'))} grants image buckets"
    for rtype in ("aws_ssoadmin_permission_set", "aws_ssoadmin_permission_set_inline_policy", "aws_ssoadmin_account_assignment"):
        for r in resources(ACCESS / "main.tf", rtype).values():
            assert scalar(r["provider"]) == "${aws.identity_center}", rtype


def test_replicas_keep_the_seven_day_image_lifecycle_and_mirror_deletes():
    rules = block(local_values(REPLICATION / "main.tf")["expiration_rules"])
    assert scalar(items(rules["raw"])[0]["days"]) == "${var.raw_retention_days}"
    assert scalar(items(rules["processed"])[0]["days"]) == "${var.processed_retention_days}"
    assert all(scalar(items(rules[b])[0]["prefix"]) == "" for b in ("raw", "processed"))
    call = module_calls(TF / "main.tf")["replication"]
    assert scalar(call["raw_retention_days"]) == "${var.raw_image_retention_days}"
    assert scalar(call["processed_retention_days"]) == "${var.processed_image_retention_days}"
    config = resources(REPLICATION / "main.tf", "aws_s3_bucket_replication_configuration")["this"]
    rule = block(config["rule"])
    assert scalar(block(rule["delete_marker_replication"])["status"]) == "Enabled"
    assert expr(block(rule["filter"])["prefix"]) == '${each.key=="lake"?"${var.lake_prefix}/":""}'
    dest = block(rule["destination"])
    assert scalar(block(dest["encryption_configuration"])["replica_kms_key_id"]) == "${module.replica_key.key_arn}"
    replica = module_calls(REPLICATION / "main.tf")
    for name in ("replica_key", "replica_access_logs", "replica"):
        assert block(replica[name]["providers"]) == {"aws": "${aws.replica}"}, name


def test_every_checkov_skip_is_in_the_readme_table():
    text = (TF / "README.md").read_text(encoding="utf-8").split("Accepted checkov findings", 1)[1]
    documented = set()
    for first, rest in re.findall(r"\| (CKV2?_AWS_\d+)((?: / \d+)*)", text):
        prefix = first.rsplit("_", 1)[0]
        documented.add(first)
        documented.update(f"{prefix}_{n}" for n in re.findall(r"\d+", rest))
    skipped = {s for p in tf_files() for s in re.findall(r"checkov:skip=(CKV2?_AWS_\d+)", p.read_text(encoding="utf-8"))}
    assert skipped and skipped == documented, (
        f"skipped but not documented: {sorted(skipped - documented)}; documented but not skipped: {sorted(documented - skipped)}"
    )


def test_every_example_sets_only_declared_variables():
    declared = variables(TF / "variables.tf")
    examples = sorted((TF / "examples").glob("*.tfvars"))
    assert len(examples) >= 3
    for example in examples:
        values = parse(example)
        unknown = sorted(set(values) - set(declared))
        assert values and not unknown, f"{example.name} sets undeclared variables: {unknown}"


def cors_list(source: str, const: str) -> list[str]:
    value = re.search(rf'const {const}: &str = "([^"]*)"', source).group(1)
    return [v.strip() for v in value.split(",") if v.strip()]


def test_the_apis_cors_configuration_is_what_serve_answers():
    """A web app calling the upload API sees what serve's CORS layer (src/console/cors.rs) gives it:
    the same request headers and methods pass API Gateway's preflight, and the same response
    headers (Location of a created image, Retry-After of a 503) are readable by the page."""
    cors = (REPO / "src" / "console" / "cors.rs").read_text(encoding="utf-8")
    api = resources(MODULES / "ingest_api" / "main.tf", "aws_apigatewayv2_api")["this"]
    deployed = block(dynamic(api, "cors_configuration")["content"])
    for attribute, const, case in (
        ("allow_headers", "API_HEADERS", str.lower),
        ("allow_methods", "API_METHODS", str.upper),
        ("expose_headers", "API_EXPOSE", str.lower),
    ):
        assert attribute in deployed, f"cors_configuration has no {attribute} (serve's {const})"
        listed = sorted(case(scalar(v)) for v in items(deployed[attribute]))
        assert listed == sorted(case(v) for v in cors_list(cors, const)), attribute
    assert str(scalar(deployed["max_age"])) == cors_list(cors, "API_MAX_AGE")[0]


def test_the_raw_buckets_cors_rule_is_what_serve_answers_for_uploads():
    """The presigned POST goes to the raw bucket, whose CORS rule serve imitates on /upload/{bucket}
    (src/console/cors.rs: POST, any request header, UPLOAD_EXPOSE readable, UPLOAD_MAX_AGE)."""
    cors = (REPO / "src" / "console" / "cors.rs").read_text(encoding="utf-8")
    rule = block(resources(MODULES / "storage" / "main.tf", "aws_s3_bucket_cors_configuration")["raw"]["cors_rule"])
    assert items(rule["allowed_methods"]) == ["POST"] and items(rule["allowed_headers"]) == ["*"]
    assert 'HeaderValue::from_static("POST")' in cors, "serve's upload route allows POST only"
    assert sorted(h.lower() for h in items(rule["expose_headers"])) == sorted(cors_list(cors, "UPLOAD_EXPOSE"))
    assert str(scalar(rule["max_age_seconds"])) == cors_list(cors, "UPLOAD_MAX_AGE")[0]


# --- VPC endpoint policies admit every call the functions make ---------------------------------

# Every policy attached to a function's execution role (not the schedulers' or queues' policies).
FUNCTION_POLICIES = [
    (MODULES / "lambda_function" / "main.tf", "runtime"),
    (MODULES / "ingest_api" / "main.tf", "upload"),
    (MODULES / "kafka_ingest" / "main.tf", "kafka_ingest"),
    (MODULES / "processing" / "main.tf", "process"),
    (EXPORT / "main.tf", "stream_export"),
    (EXPORT / "main.tf", "compact"),
    (EXPORT / "main.tf", "redrive"),
    (EXPORT / "main.tf", "reconcile"),
]
# Services whose calls do not leave through an endpoint of modules/network: the Kafka and EC2 calls
# are made by Lambda's service (pollers, ENI management) with the role, not from the subnets.
NO_ENDPOINT_SERVICES = {"kafka", "kafka-cluster", "ec2"}
SERVICE_ENDPOINT = {"cloudwatch": "monitoring"}


def action_pattern(pattern: str) -> re.Pattern:
    """An IAM action pattern as a regex over action strings (case-insensitive, as IAM compares).

    Matching another *pattern* with it decides coverage: a `*` of the granted pattern is only
    matched by `.*`, so `s3:*` and `s3:Get*` cover `s3:Get*` and `s3:GetObject` does not."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "[^*]" if ch == "?" else re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE)


def allowed_by(actions: list[str], wanted: str) -> bool:
    return any(action_pattern(a).fullmatch(wanted) for a in actions)


def endpoint_for(action: str) -> str | None:
    service, _, name = action.partition(":")
    service = service.lower()
    if service in NO_ENDPOINT_SERVICES:
        return None
    if service == "dynamodb" and name.lower() in {"describestream", "getsharditerator", "getrecords", "liststreams"}:
        return "dynamodb_streams"
    return SERVICE_ENDPOINT.get(service, service)


def endpoint_allowed_actions() -> dict[str, list[str]]:
    """Allowed actions by endpoint, from the literal statements in modules/network's locals."""
    by_endpoint = block(local_values(NETWORK / "main.tf")["endpoint_statements"])
    out = {}
    for endpoint, sts in by_endpoint.items():
        acts = []
        for st in items(sts):
            acts.extend(scalar(a) for a in items(st["actions"]))
        out[endpoint] = acts
    return out


def test_the_action_matcher_expands_wildcards():
    assert allowed_by(["s3:Get*"], "s3:GetObjectVersion") and allowed_by(["s3:*"], "s3:Get*")
    assert allowed_by(["S3:getobject"], "s3:GetObject"), "IAM compares actions case-insensitively"
    assert not allowed_by(["s3:GetObject"], "s3:Get*"), "one action does not cover a wildcard grant"
    assert not allowed_by(["s3:GetObject"], "s3:GetObjectVersion")
    assert not allowed_by(["s3:Get?bject"], "s3:Get*bject")
    assert endpoint_for("dynamodb:GetRecords") == "dynamodb_streams" and endpoint_for("dynamodb:Scan") == "dynamodb"


def test_every_function_action_is_allowed_by_its_vpc_endpoint_policy():
    """With the network module on, each call a function's role allows leaves through an endpoint
    whose policy must allow it too, or the call is refused (e.g. process's GetObjectVersion)."""
    endpoints = endpoint_allowed_actions()
    assert {"s3", "dynamodb", "dynamodb_streams", "sqs", "glue", "kms", "logs"} <= set(endpoints)
    missing, checked = [], 0
    for path, name in FUNCTION_POLICIES:
        for st in statements(policy_document(path, name)):
            if scalar(st.get("effect", "Allow")) != "Allow":
                continue
            for action in (scalar(a) for a in items(st["actions"])):
                endpoint = endpoint_for(action)
                if endpoint is None:
                    continue
                checked += 1
                assert endpoint in endpoints, f"{name} calls {action} but the network module has no {endpoint} endpoint policy"
                if not allowed_by(endpoints[endpoint], action):
                    missing.append(f"{path.parent.name}/{name} {scalar(st.get('sid'))}: {action} (endpoint {endpoint})")
    assert checked > 30
    assert not missing, "refused by the VPC endpoint policies:\n" + "\n".join(missing)


def test_endpoints_take_over_dns_only_in_a_dedicated_vpc():
    """Private DNS on an interface endpoint answers the service's public name for the whole VPC,
    and these endpoint policies admit this deployment's resources only: in a shared VPC that
    would refuse every other workload's SQS, STS, Glue... calls. Safe default: dedicated only when
    the module creates the VPC; in a shared one the functions get the endpoints' own names."""
    net_vars = variables(NETWORK / "variables.tf")
    assert "default" in net_vars["dedicated_vpc"] and scalar(net_vars["dedicated_vpc"]["default"]) is None
    net_locals = local_values(NETWORK / "main.tf")
    assert expr(net_locals["dedicated"]) == "${var.dedicated_vpc==null?local.create_vpc:var.dedicated_vpc}"
    assert expr(net_locals["create_vpc"]) == "${var.vpc_id==null}"
    interface = resources(NETWORK / "main.tf", "aws_vpc_endpoint")["interface"]
    assert scalar(interface["private_dns_enabled"]) == "${local.dedicated}"
    assert scalar(resources(NETWORK / "main.tf", "aws_vpc_endpoint")["dynamodb_streams"]["private_dns_enabled"]) is False
    # The Kafka pollers' endpoints only work through private DNS: not created in a shared VPC.
    assert "var.kafka_in_vpc&&local.dedicated?{" in expr(net_locals["interface_endpoints"])
    # Every endpoint a function may address without private DNS has its SDK variable.
    names = block(net_locals["endpoint_env_names"])
    assert {"glue", "sqs", "athena", "kms", "logs", "monitoring", "xray"} <= set(names)
    assert all(re.fullmatch(r"AWS_ENDPOINT_URL_[A-Z_]+", v) for v in names.values())
    outputs = {k: v for o in parse(NETWORK / "outputs.tf")["output"] for k, v in o.items()}
    value = expr(outputs["endpoint_environment"]["value"])
    assert value.startswith("${local.dedicated?{}:{") and "local.endpoint_env_names[k]" in value
    root = module_calls(TF / "main.tf")
    assert scalar(root["network"]["dedicated_vpc"]) == "${var.network.dedicated_vpc}"
    assert "dedicated_vpc=optional(bool)" in expr(variables(TF / "variables.tf")["network"]["type"])
    assert expr(root["export"]["environment"]) == "${merge({RUST_LOG=var.log_level},local.endpoint_environment)}"
    assert "module.network[0].endpoint_environment" in expr(local_values(TF / "main.tf")["endpoint_environment"])
    readme = (TF / "README.md").read_text(encoding="utf-8")
    assert "network.dedicated_vpc" in readme


def test_kafka_pollers_reach_the_endpoints_made_for_them():
    """The pollers use the event source mapping's security groups (MSK: the cluster's), not the
    functions' group; the endpoints' group must admit them, and STS must let the Lambda service
    principal assume kafka-ingest's role (it has no aws:PrincipalAccount)."""
    rules = resources(NETWORK / "main.tf", "aws_vpc_security_group_ingress_rule")
    rule = rules["endpoints_from_kafka_pollers"]
    assert scalar(rule["security_group_id"]) == "${aws_security_group.endpoints.id}"
    assert scalar(rule["referenced_security_group_id"]) == "${each.value}"
    assert (scalar(rule["from_port"]), scalar(rule["to_port"]), scalar(rule["ip_protocol"])) == (443, 443, "tcp")
    # Only where the endpoints made for the pollers exist: in a dedicated VPC.
    assert expr(rule["for_each"]).startswith("${var.kafka_in_vpc&&local.dedicated?{fori,sginvar.kafka_security_group_ids:")
    var = variables(NETWORK / "variables.tf")["kafka_security_group_ids"]
    assert "length(var.kafka_security_group_ids)>0" in expr(block(var["validation"])["condition"])
    call = module_calls(TF / "main.tf")["network"]
    sgs = expr(call["kafka_security_group_ids"])
    assert "var.network.kafka_security_group_ids" in sgs and "var.kafka.vpc_security_group_ids" in sgs
    sts = items(block(local_values(NETWORK / "main.tf")["endpoint_statements"])["sts"])
    lambda_service = [st for st in sts if block(st.get("principals", {})).get("identifiers") in (["lambda.amazonaws.com"], "lambda.amazonaws.com")]
    assert lambda_service, "the STS endpoint policy does not admit the lambda.amazonaws.com service principal"
    st = lambda_service[0]
    assert scalar(block(st["principals"])["type"]) == "Service"
    assert [scalar(a) for a in items(st["actions"])] == ["sts:AssumeRole"]
    assert [scalar(r) for r in items(st["resources"])] == ["${local.role_arn}-kafka-ingest"]


def test_replication_is_configured_only_after_the_replicas_are_versioned():
    """S3 refuses a replication configuration whose destination bucket is not versioned yet; the
    destination's ARN alone only orders it after the bucket, not after modules/bucket's
    aws_s3_bucket_versioning: a first apply needs the whole replica module first."""
    config = resources(REPLICATION / "main.tf", "aws_s3_bucket_replication_configuration")["this"]
    depends = {expr(d) for d in items(config["depends_on"])}
    assert "${module.replica}" in depends or "module.replica" in depends, depends
    assert any(x in depends for x in ("${aws_iam_role_policy.replication}", "aws_iam_role_policy.replication"))
    assert "aws_s3_bucket_versioning" in {r for e in parse(MODULES / "bucket" / "main.tf")["resource"] for r in e}


def test_only_s3_for_this_account_assumes_the_replication_role():
    trust = block(policy_document(REPLICATION / "main.tf", "assume")["statement"])
    assert block(trust["principals"])["identifiers"] in (["s3.amazonaws.com"], "s3.amazonaws.com")
    cond = block(trust["condition"])
    assert (scalar(cond["test"]), scalar(cond["variable"])) == ("StringEquals", "aws:SourceAccount")
    assert items(cond["values"]) == ["${data.aws_caller_identity.current.account_id}"]


def test_operators_can_move_dead_letters_back_to_the_process_queue():
    """`aws sqs start-message-move-task` from the process DLQ sends to its source queue: the
    operator needs sqs:SendMessage there (only that: the process queue is not theirs to drain)."""
    root = module_calls(TF / "main.tf")["access"]
    outputs = {k: v for o in parse(MODULES / "processing" / "outputs.tf")["output"] for k, v in o.items()}
    assert scalar(outputs["queue_arn"]["value"]) == "${module.queue.arn}"
    targets = [expr(a) for a in items(root["move_target_queue_arns"])]
    assert targets == ["${module.processing.queue_arn}"]
    assert "${module.processing.dlq_arn}" in [expr(a) for a in items(root["queue_arns"])]
    st = statement(policy_document(ACCESS / "main.tf", "operator"), "MoveDeadLettersBack")
    assert scalar(st["resources"]) == "${var.move_target_queue_arns}"
    assert sorted(scalar(a) for a in items(st["actions"])) == ["sqs:GetQueueAttributes", "sqs:SendMessage"]


def test_the_region_loss_runbook_is_what_this_configuration_allows():
    """Redeploying in the replica region in the same account: IAM names are global and the replica
    buckets already hold the names a same-named deployment would give its own buckets there, so
    the runbook must change the name (environment); and it may only promise copies this
    configuration makes (no table backup leaves the region)."""
    # The collision the runbook avoids: replica buckets are named like the storage buckets with
    # the replica region's suffix; role names carry local.name, which carries the environment.
    replica = module_calls(REPLICATION / "main.tf")["replica"]
    assert scalar(replica["name"]) == "${var.name}-${var.bucket_suffix}-${each.key}"
    storage = module_calls(MODULES / "storage" / "main.tf")
    assert scalar(storage["lake"]["name"]) == "${var.name}-${var.bucket_suffix}-lake"
    call = module_calls(TF / "main.tf")["replication"]
    assert "coalesce(var.replication.region,var.aws_region)" in expr(call["bucket_suffix"])
    assert expr(local_values(TF / "main.tf")["name"]) == "${var.name_prefix}-${var.environment}"
    assert expr(local_values(TF / "main.tf")["bucket_suffix"]).endswith("-${data.aws_region.current.region}")
    copies_table = any(
        resources(p, t) for p in tf_files() for t in ("aws_backup_plan", "aws_dynamodb_table_replica", "aws_backup_selection")
    )
    readme = (TF / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| the region is unavailable"))
    if not copies_table:
        assert "backup" not in row.lower() or "no backup" in row.lower(), "the runbook relies on a table copy terraform never makes"
        assert "PITR restore" not in row or "not possible" in row
    for needed in ("`environment`", "`aws_region", "state key", "`replication.enabled = false`", "aws s3 sync"):
        assert needed in row, f"region-loss runbook lacks {needed}"


def test_the_deploy_checks_setup_names_checkov_too():
    """`eval "$(scripts/deploy-checks-setup.sh)"` is the documented set-up for running these tests
    by hand: it must name checkov as scripts/test.sh does, or checkov's test fails spuriously."""
    if not os.environ.get("IMGLAKE_TF_SCHEMA"):
        pytest.skip("the deploy checks are not set up here (their caches would be built from the network)")
    out = subprocess.run(
        ["bash", "scripts/deploy-checks-setup.sh"], cwd=REPO, capture_output=True, text=True, timeout=600, check=True
    ).stdout
    exported = dict(re.findall(r"^export (\w+)=(.*)$", out, re.MULTILINE))
    assert {"IMGLAKE_TF_SCHEMA", "IMGLAKE_HADOLINT", "IMGLAKE_CHECKOV"} <= set(exported), exported
    assert Path(exported["IMGLAKE_CHECKOV"]).name == "checkov" and Path(exported["IMGLAKE_CHECKOV"]).exists()


def test_people_reach_athena_through_its_endpoint_and_quicksight_needs_it():
    """With private_only, analysts and operators call Athena through the athena endpoint: every
    Athena action their permission sets allow must pass its policy (the console lists workgroups
    and catalogs, actions on "*"). QuickSight's VPC connection is useless without that endpoint."""
    athena = endpoint_allowed_actions()["athena"]
    missing = []
    for p, name, doc in policy_documents():
        if p.parent != ACCESS:
            continue
        for st in statements(doc):
            if scalar(st.get("effect", "Allow")) != "Allow" or "actions" not in st:
                continue
            for action in (scalar(a) for a in items(st["actions"])):
                if action.lower().startswith("athena:") and not allowed_by(athena, action):
                    missing.append(f"{name} {scalar(st.get('sid'))}: {action}")
    assert not missing, "refused by the Athena endpoint policy:\n" + "\n".join(missing)
    listings = [st for st in items(block(local_values(NETWORK / "main.tf")["endpoint_statements"])["athena"]) if items(st["resources"]) == ["*"]]
    assert listings and all(scalar(a).split(":")[1].startswith("List") for st in listings for a in items(st["actions"]))
    validations = [expr(v["condition"]) for v in blocks(variables(NETWORK / "variables.tf")["quicksight_vpc_connection"].get("validation", []))]
    assert "${!var.quicksight_vpc_connection||var.athena_endpoint}" in validations


def test_the_readme_states_the_limits_of_private_only_and_of_replication():
    readme = (TF / "README.md").read_text(encoding="utf-8")
    access = readme.split("## Analyst and operator access", 1)[1].split("\n## ", 1)[0]
    # Gateway endpoints carry traffic from the VPC's route tables only: with private_only, lake
    # reads from a VPN or Direct Connect are refused; on-premises DNS does not see private DNS.
    for needed in ("gateway endpoint", "Route 53 Resolver inbound endpoint", "Direct Connect", "console"):
        assert needed in access, f"private_only caveat missing: {needed}"
    replication = readme.split("## Replication", 1)[1].split("\n## ", 1)[0]
    for needed in ("Batch Replication", "S3ReplicateObject", "existing objects"):
        assert needed in replication, f"replication section lacks {needed}"


def test_the_stream_and_sqs_endpoints_are_made_only_for_their_callers():
    """Only redrive reads the table's stream and an SQS queue from the subnets (stream-export's
    stream reads and process's queue reads are Lambda's pollers, outside the VPC); the Kafka
    pollers in a dedicated VPC send kafka-ingest's failures to SQS by its public name. With
    redrive off, the DynamoDB Streams endpoint (and SQS, without those pollers) is not paid for."""
    net = NETWORK / "main.tf"
    variable = variables(NETWORK / "variables.tf")["redrive_enabled"]
    assert scalar(variable["default"]) is True, "without the root's value, keep the endpoints"
    calls = module_calls(TF / "main.tf")
    assert scalar(calls["network"]["redrive_enabled"]) == "${var.redrive_enabled}"
    assert expr(module_calls(EXPORT / "main.tf")["redrive"]["count"]) == "${var.redrive_enabled?1:0}", "the endpoint follows the function"
    streams = resources(net, "aws_vpc_endpoint")["dynamodb_streams"]
    assert expr(streams["count"]) == "${var.redrive_enabled?1:0}"
    lookup = next(d["aws_vpc_endpoint_service"]["dynamodb_streams"] for d in parse(net)["data"] if "aws_vpc_endpoint_service" in d)
    assert expr(lookup["count"]) == "${var.redrive_enabled?1:0}"
    assert expr(local_values(net)["endpoints"]).startswith('${concat(["s3","dynamodb"],var.redrive_enabled?["dynamodb_streams"]:[],')
    needed = expr(local_values(net)["interface_endpoints"])
    assert needed.count("sqs=") == 1 and "var.redrive_enabled||(var.kafka_in_vpc&&local.dedicated)?{sqs=" in needed
    assert "glue=" in needed.split("var.")[0], "glue stays unconditional: stream-export registers partitions"
    output = next(o["dynamodb_streams_endpoint_url"] for o in parse(NETWORK / "outputs.tf")["output"] if "dynamodb_streams_endpoint_url" in o)
    assert expr(output["value"]).startswith("${var.redrive_enabled?") and expr(output["value"]).endswith(":null}")
    assert expr(calls["export"]["redrive_extra_environment"]).startswith("${local.network_enabled&&var.redrive_enabled?")
