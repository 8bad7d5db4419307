"""terraform/README.md's Cost table is what scripts/cost-estimate.py computes from the benchmark
tables (BENCHMARKS.md or README.md), terraform/cost/inputs.json and prices.json; and the inputs measured with
`imglake demo` still hold for the code as it is (the demo is run again here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cost-estimate.py"
INPUTS = REPO / "terraform" / "cost" / "inputs.json"


def imglake_bin() -> Path:
    if os.environ.get("IMGLAKE_BIN"):
        return Path(os.environ["IMGLAKE_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "imglake" / "target")
    return Path(target) / "debug" / "imglake"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_the_readme_cost_table_is_the_scripts_output():
    proc = run("--check", check=False)
    assert proc.returncode == 0, proc.stderr


def test_a_stale_table_is_refused(tmp_path):
    target = tmp_path / "README.md"
    text = (REPO / "terraform" / "README.md").read_text(encoding="utf-8")
    target.write_text(text.replace("| **total** |", "| **total (edited)** |"), encoding="utf-8")
    proc = run("--check", "--target", str(target), check=False)
    assert proc.returncode == 1 and "stale" in proc.stderr
    run("--write", "--target", str(target))
    assert run("--check", "--target", str(target), check=False).returncode == 0


def test_the_table_shows_its_arithmetic_and_every_price_has_a_page():
    table = run().stdout
    assert "ms measured + " in table and "records/s" in table
    assert "| **total** |" in table and "per thousand images" in table
    prices = json.loads((REPO / "terraform" / "cost" / "prices.json").read_text(encoding="utf-8"))["prices"]
    assert all(p["page"].startswith("https://aws.amazon.com/") for p in prices.values())
    inputs = json.loads(INPUTS.read_text(encoding="utf-8"))
    assert all(len(v["source"]) > 20 for section in ("demo", "assumptions") for v in inputs[section].values())


def test_the_demo_measurements_still_hold(tmp_path):
    binary = imglake_bin()
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build the workspace (cargo build) or set IMGLAKE_BIN")
    data = tmp_path / "imglake-data"
    demo = subprocess.run([str(binary), "demo", "--data-dir", str(data)], capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr[-3000:]
    measured = json.loads(run("--measure-demo", str(data), "--imglake", str(binary)).stdout)
    recorded = {k: v["value"] for k, v in json.loads(INPUTS.read_text(encoding="utf-8"))["demo"].items()}
    for key, value in recorded.items():
        tolerance = 0.25 if key == "lake_bytes_per_row" else 0.1
        assert abs(measured[key] - value) <= tolerance * value, (
            f"{key}: inputs.json says {value}, the demo now measures {measured[key]:.1f}: update terraform/cost/inputs.json "
            "and rerun scripts/cost-estimate.py --write"
        )
    shutil.rmtree(data, ignore_errors=True)
