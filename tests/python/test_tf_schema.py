"""terraform/ checked against the AWS provider's schema (6.25.0) and for module wiring, by
tests/python/tf_schema.py; and the checker itself shown catching each kind of mistake on a
broken copy of terraform/.

The schema is built once by scripts/tf-provider-schema.sh (IMGLAKE_TF_SCHEMA names it; without
it the test runs the script, which caches under ~/.cache/imglake).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tf_schema  # noqa: E402


@lru_cache(maxsize=None)
def schema() -> dict:
    path = os.environ.get("IMGLAKE_TF_SCHEMA")
    if not path:
        proc = subprocess.run(
            [str(REPO / "scripts" / "tf-provider-schema.sh")], capture_output=True, text=True, timeout=900, check=False
        )
        if proc.returncode != 0:
            pytest.fail(f"scripts/tf-provider-schema.sh failed:\n{proc.stderr[-3000:]}")
        path = proc.stdout.strip().splitlines()[-1]
    return json.loads(Path(path).read_text(encoding="utf-8"))


def test_the_schema_is_the_aws_provider_6_25():
    s = schema()
    assert s["version"] == "6.25.0" and s["provider"] == "hashicorp/aws"
    assert len(s["resources"]) > 1500 and len(s["data_sources"]) > 600
    table = s["resources"]["aws_dynamodb_table"]
    assert table["a"]["name"] == 1, "name is required on aws_dynamodb_table"
    assert table["a"]["billing_mode"] == 0
    assert "point_in_time_recovery" in table["b"] and "stream_arn" in table["c"]
    # Nested blocks keep their own schema: a scheduler target needs arn and role_arn.
    target = s["resources"]["aws_scheduler_schedule"]["b"]["target"]
    assert target[0] == 1 and target[1] == 1, "target is one required block"
    assert target[2]["a"]["role_arn"] == 1 and target[2]["a"]["arn"] == 1
    statement = s["data_sources"]["aws_iam_policy_document"]["b"]["statement"][2]
    assert "condition" in statement["b"] and statement["b"]["condition"][2]["a"]["test"] == 1


def test_terraform_matches_the_provider_schema_and_its_module_wiring():
    findings = tf_schema.check_tree(TF, schema())
    assert not findings, "terraform/ does not match hashicorp/aws 6.25.0:\n" + "\n".join(map(str, findings))


def test_the_check_reads_every_module():
    tf_schema.check_tree(TF, schema())
    read = {m.directory for m in tf_schema._MODULES.values()}
    on_disk = {TF.resolve()} | {d.resolve() for d in (TF / "modules").iterdir() if any(d.glob("*.tf"))}
    assert read == on_disk, f"modules not reached from the root: {sorted(map(str, on_disk - read))}"


# --- The checker catches each kind of mistake (a broken copy of terraform/ each) -----------------

BROKEN = {
    "misspelt_argument": (
        "modules/metadata/main.tf",
        'billing_mode                = "PAY_PER_REQUEST"',
        'biling_mode                 = "PAY_PER_REQUEST"',
        "aws_dynamodb_table.this: unknown argument or block 'biling_mode' (did you mean 'billing_mode'?)",
    ),
    "missing_required_argument": (
        "modules/metadata/main.tf",
        '    name = "image_id"\n',
        "",
        "aws_dynamodb_table.this.attribute: missing required argument 'name'",
    ),
    "missing_required_argument_of_a_nested_block": (
        "modules/export/main.tf",
        "    role_arn = aws_iam_role.scheduler.arn\n",
        "",
        "aws_scheduler_schedule.this.target: missing required argument 'role_arn'",
    ),
    "unknown_resource_type": (
        "modules/queue/main.tf",
        'resource "aws_sqs_queue" "dlq"',
        'resource "aws_sqs_queues" "dlq"',
        "the AWS provider 6.25.0 has no resource type 'aws_sqs_queues' (did you mean 'aws_sqs_queue'?)",
    ),
    "unknown_block_in_dynamic": (
        "modules/lambda_function/main.tf",
        'dynamic "vpc_config"',
        'dynamic "vpc_configuration"',
        'aws_lambda_function.this: dynamic "vpc_configuration": no such block',
    ),
    "misspelt_argument_inside_dynamic_content": (
        "modules/analytics/main.tf",
        "      name    = partition_keys.value.name",
        "      nmae    = partition_keys.value.name",
        "aws_glue_catalog_table.image_events.partition_keys: unknown argument or block 'nmae'",
    ),
    "argument_written_as_a_block": (
        "modules/metadata/main.tf",
        '  hash_key                    = "image_id"\n',
        '  hash_key {\n  }\n',
        "'hash_key' is an argument: write `hash_key = ...`",
    ),
    "block_written_as_an_argument": (
        "modules/metadata/main.tf",
        "  point_in_time_recovery {\n    enabled = true\n  }",
        "  point_in_time_recovery = { enabled = true }",
        "'point_in_time_recovery' is a block",
    ),
    "module_argument_not_a_variable": (
        "main.tf",
        "  alias       = \"${local.name}-data\"",
        "  alias_name  = \"${local.name}-data\"",
        "module data_key: kms/ has no variable 'alias_name'",
    ),
    "required_module_variable_not_passed": (
        "main.tf",
        "  alias       = \"${local.name}-data\"\n",
        "",
        "module data_key: required variable 'alias' of kms/ is not passed",
    ),
    "undeclared_variable": (
        "modules/monitoring/main.tf",
        "threshold           = var.queue_age_threshold_seconds",
        "threshold           = var.queue_age_threshold",
        "var.queue_age_threshold is not declared in monitoring/",
    ),
    "unknown_module_output": (
        "modules/export/main.tf",
        "function_name                      = module.stream_export.function_arn",
        "function_name                      = module.stream_export.lambda_arn",
        "module.stream_export.lambda_arn: lambda_function/ has no output 'lambda_arn'",
    ),
    "unknown_resource_attribute": (
        "modules/metadata/outputs.tf",
        "aws_dynamodb_table.this.stream_arn",
        "aws_dynamodb_table.this.stream_id",
        "aws_dynamodb_table.this.stream_id: no such attribute",
    ),
    "unknown_data_source": (
        "modules/kms/main.tf",
        'data "aws_partition" "current" {}',
        'data "aws_partitions" "current" {}',
        "no data source 'aws_partitions'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_check_catches(case, tmp_path):
    rel, old, new, expected = BROKEN[case]
    copy = tmp_path / "terraform"
    shutil.copytree(TF, copy, ignore=shutil.ignore_patterns(".terraform"))
    path = copy / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{rel} no longer contains {old!r}: update this case"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    findings = [str(f) for f in tf_schema.check_tree(copy, schema())]
    assert any(expected in f and str(path) in f for f in findings), (
        f"{case}: expected a finding with {expected!r} in {rel}, got:\n" + "\n".join(findings)
    )


def test_the_cli_exits_1_on_findings_and_names_file_and_line(tmp_path):
    copy = tmp_path / "terraform"
    shutil.copytree(TF, copy, ignore=shutil.ignore_patterns(".terraform"))
    path = copy / "modules" / "metadata" / "main.tf"
    path.write_text(path.read_text(encoding="utf-8").replace("billing_mode ", "biling_mode "), encoding="utf-8")
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(schema()), encoding="utf-8")
    cli = [sys.executable, str(Path(tf_schema.__file__)), "check", str(copy), "--schema", str(schema_file)]
    proc = subprocess.run(cli, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(i + 1 for i, s in enumerate(path.read_text().splitlines()) if "biling_mode" in s)
    assert f"{path}:{line}: aws_dynamodb_table.this: unknown argument or block 'biling_mode'" in proc.stdout
    clean = subprocess.run(cli[:3] + [str(TF)] + cli[4:], capture_output=True, text=True, timeout=300, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
