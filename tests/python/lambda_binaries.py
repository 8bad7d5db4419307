"""The Lambda binaries of the workspace, read from the crates' Cargo.toml `[[bin]]` entries: every
binary of a crate that depends on `lambda_runtime` is a Lambda function. Terraform
(modules/lambda_function), the targets of docker/Dockerfile and the environment contract in
terraform/README.md are tested against this list, so a new binary without its image target,
repository or documented environment fails the suite.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Binaries that terraform/ and docker/ already provide for but no crate builds yet (issue 19's
# Lambdas). Empty this list when they land in a crate's [[bin]] entries: the tests then check
# them like every other binary, and fail while a name here is already built.
NOT_YET_BUILT: set[str] = set()


def workspace_members() -> list[Path]:
    root = tomllib.loads((REPO / "Cargo.toml").read_text(encoding="utf-8"))
    members = [REPO]
    for pattern in root.get("workspace", {}).get("members", []):
        members.extend(sorted(p for p in REPO.glob(pattern) if (p / "Cargo.toml").is_file()))
    return members


def lambda_crates() -> dict[str, Path]:
    """Package name -> directory of every workspace crate that links the Lambda runtime."""
    out = {}
    for member in workspace_members():
        manifest = tomllib.loads((member / "Cargo.toml").read_text(encoding="utf-8"))
        deps = manifest.get("dependencies", {})
        if "lambda_runtime" in deps and "package" in manifest:
            out[manifest["package"]["name"]] = member
    return out


def built_binaries() -> dict[str, str]:
    """Lambda binary name -> its crate, from the `[[bin]]` entries of the Lambda crates."""
    out = {}
    for crate, member in lambda_crates().items():
        manifest = tomllib.loads((member / "Cargo.toml").read_text(encoding="utf-8"))
        for entry in manifest.get("bin", []):
            out[entry["name"]] = crate
    return out


def all_binaries() -> set[str]:
    """Every Lambda binary the deployment knows: built ones and those expected from issue 19."""
    return set(built_binaries()) | NOT_YET_BUILT
