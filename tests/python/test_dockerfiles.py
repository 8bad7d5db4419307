"""docker/Dockerfile, one target stage per Lambda binary (the crates' [[bin]] entries) over one
build stage that builds what scripts/build-lambdas.sh builds: linted with hadolint, checked for
the layout the Lambda provided.al2023 base image expects, and each image's entrypoint emulated
without Docker: the binary the Dockerfile builds is put where its target's COPY puts it, started the way the base image's /lambda-entrypoint.sh starts the bootstrap (the handler
name from CMD in _HANDLER, AWS_LAMBDA_RUNTIME_API set), with exactly the environment terraform/
gives that function, and it must serve one invocation through a Lambda Runtime API on
127.0.0.1.

Needs the workspace's debug binaries (scripts/test.sh builds them; IMGLAKE_BIN or
CARGO_TARGET_DIR locate them) and hadolint (IMGLAKE_HADOLINT, installed by
scripts/deploy-checks-setup.sh into ~/.cache/imglake/venv-docker).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DOCKER = REPO / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
sys.path.insert(0, str(HERE))

import lambda_binaries  # noqa: E402
from test_terraform import terraform_environments  # noqa: E402

BUILD_BASE = "public.ecr.aws/amazonlinux/amazonlinux:2023"
LAMBDA_BASE = "public.ecr.aws/lambda/provided:al2023"
# What the Lambda base image defines (its ENV), and where its entrypoint looks for the runtime.
BASE_ENV = {"LAMBDA_RUNTIME_DIR": "/var/runtime", "LAMBDA_TASK_ROOT": "/var/task"}
RUNTIME_ENTRYPOINT = "/var/runtime/bootstrap"


# --- Reading a Dockerfile -------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; comments dropped, continuation lines joined."""
    out, pending = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return out


def stages(path: Path) -> list[dict]:
    args, result = {}, []
    for word, rest in instructions(path):
        if word == "ARG" and not result:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            image, _, alias = rest.partition(" AS ")
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image.strip())
            result.append({"from": image, "name": alias.strip() or None, "body": []})
        else:
            assert result, f"{path}: {word} before FROM"
            result[-1]["body"].append((word, rest))
    return result


def substitute(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), text)


def target_stages() -> dict[str, dict]:
    """The image targets of docker/Dockerfile (every stage after the build stage), by name."""
    return {st["name"]: st for st in stages(DOCKERFILE)[1:]}


def image_layout(binary: str) -> dict:
    """What the image of `binary` (its target) runs: the binary's path, CMD, ENTRYPOINT and ENV."""
    path = DOCKERFILE
    build = stages(path)[0]
    assert binary in target_stages(), f"{path}: no target stage {binary!r}"
    final = target_stages()[binary]
    assert build["from"] == BUILD_BASE and build["name"], f"{path}: build stage must be a named {BUILD_BASE} stage"
    assert final["from"] == LAMBDA_BASE, f"{path}: the image must be built on {LAMBDA_BASE}, not {final['from']}"
    env = dict(BASE_ENV)
    copies, cmd, entrypoint = [], None, None
    for word, rest in final["body"]:
        if word == "ENV":
            key, _, value = rest.partition("=")
            env[key.strip()] = value.strip().strip('"')
        elif word == "COPY":
            copies.append(rest)
        elif word == "CMD":
            cmd = json.loads(rest)
        elif word == "ENTRYPOINT":
            entrypoint = rest
    assert len(copies) == 1, f"{path}: the image should copy exactly the bootstrap, got {copies}"
    m = re.fullmatch(r"--from=(\S+)\s+(\S+)\s+(\S+)", copies[0])
    assert m and m.group(1) == build["name"], f"{path}: COPY --from={build['name']} <built binary> <dest>"
    source, dest = m.group(2), substitute(m.group(3), env)
    runs = [rest for word, rest in build["body"] if word == "RUN" and "cargo build" in rest]
    assert len(runs) == 1, f"{path}: one RUN with cargo build"
    return {"path": path, "source": source, "dest": dest, "cmd": cmd, "entrypoint": entrypoint, "env": env, "cargo": runs[0]}


# --- Every binary has its Dockerfile ------------------------------------------------------------------


def test_every_lambda_binary_has_a_target_and_every_target_a_binary():
    built = set(lambda_binaries.built_binaries())
    assert built, "no Lambda binary found in the crates' [[bin]] entries"
    assert sorted(p.relative_to(DOCKER).as_posix() for p in DOCKER.rglob("Dockerfile*")) == ["Dockerfile"], (
        "one docker/Dockerfile, no per-binary copies"
    )
    targets = set(target_stages())
    missing = built - targets
    assert not missing, f"Lambda binaries without a target in docker/Dockerfile: {sorted(missing)}"
    unknown = targets - lambda_binaries.all_binaries()
    assert not unknown, f"docker/Dockerfile has targets of no Lambda binary: {sorted(unknown)}"
    now_built = lambda_binaries.NOT_YET_BUILT & built
    assert not now_built, f"{sorted(now_built)} are built now: remove them from NOT_YET_BUILT in tests/python/lambda_binaries.py"


def test_the_targets_are_one_stage_with_another_binary_name():
    targets = target_stages()
    shapes = {
        name: (st["from"], [(w, re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", "BINARY", r)) for w, r in st["body"]])
        for name, st in targets.items()
    }
    reference = next(iter(shapes.values()))
    for name, shape in shapes.items():
        assert shape == reference, f"target {name} differs from the others beyond the binary name: {shape} vs {reference}"


def build_lambdas_packages() -> list[str]:
    """The `-p` packages of scripts/build-lambdas.sh's cargo lambda build."""
    script = (REPO / "scripts" / "build-lambdas.sh").read_text(encoding="utf-8")
    builds = [line for line in script.splitlines() if line.strip().startswith("cargo lambda build")]
    assert len(builds) == 1, builds
    return re.findall(r"(?:-p|--package)\s+(\S+)", builds[0])


def test_the_images_build_exactly_what_the_zips_build():
    """Features unify over the packages a cargo build selects: the images must select the same
    packages as scripts/build-lambdas.sh (not, say, the exporter too), and build no subset."""
    cargo = image_layout(sorted(target_stages())[0])["cargo"]
    packages = re.findall(r"(?:-p|--package)\s+(\S+)", cargo)
    assert packages and sorted(packages) == sorted(build_lambdas_packages()), (packages, build_lambdas_packages())
    assert "--bin " not in cargo and "--features" not in cargo and "--no-default-features" not in cargo, cargo
    script = (REPO / "scripts" / "build-lambdas.sh").read_text(encoding="utf-8")
    listed = re.search(r"^lambdas=\(([^)]*)\)", script, re.MULTILINE).group(1).split()
    assert set(listed) == set(target_stages()), "build-lambdas.sh and docker/Dockerfile know different binaries"


@pytest.mark.parametrize("binary", sorted(lambda_binaries.all_binaries()))
def test_the_image_runs_the_binary_as_the_base_images_bootstrap(binary):
    layout = image_layout(binary)
    text = layout["path"].read_text(encoding="utf-8")
    assert text.startswith("# syntax=docker/dockerfile:1\n"), "RUN --mount needs the dockerfile:1 syntax"
    assert layout["dest"] == RUNTIME_ENTRYPOINT, f"the binary must become {RUNTIME_ENTRYPOINT}, not {layout['dest']}"
    assert layout["entrypoint"] is None, "keep the base image's /lambda-entrypoint.sh"
    assert layout["cmd"] == [binary], "CMD is the handler name, one argument"
    cargo = layout["cargo"]
    assert "--release" in cargo and "--locked" in cargo
    installed = re.search(r"install -D -m 0755 -t (\S+) (.*)$", cargo)
    assert installed, f"the build stage must install the binaries into one directory: {cargo}"
    assert f"target/release/{binary}" in installed.group(2).split(), f"target/release/{binary} is not installed"
    assert layout["source"] == f"{installed.group(1)}/{binary}", (
        f"the {binary} target must copy {installed.group(1)}/{binary}, not {layout['source']}"
    )
    crate = lambda_binaries.built_binaries().get(binary)
    if crate is not None:
        assert f"-p {crate}" in cargo, f"{binary} is built by {crate}: the Dockerfile must select it (-p {crate})"


# --- hadolint -------------------------------------------------------------------------------------------


def hadolint() -> str:
    configured = os.environ.get("IMGLAKE_HADOLINT")
    if configured and Path(configured).exists():
        return configured
    found = shutil.which("hadolint") or str(Path.home() / ".cache/imglake/venv-docker/bin/hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed: run scripts/deploy-checks-setup.sh (or set IMGLAKE_HADOLINT)")
    return found


def test_hadolint_finds_nothing_in_the_dockerfiles():
    files = [str(DOCKERFILE)]
    proc = subprocess.run([hadolint(), "--no-color", *files], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"hadolint:\n{proc.stdout}{proc.stderr}"
    # Every suppression names a rule and sits under a comment that says why.
    for path in files:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if "hadolint ignore" in line:
                assert re.fullmatch(r"# hadolint ignore=DL\d{4}(,DL\d{4})*", line.strip()), f"{path}:{i + 1}"
                assert lines[i - 1].startswith("#") and "hadolint" not in lines[i - 1], f"{path}:{i + 1}: say why"


def test_hadolint_fails_on_a_careless_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install curl\nRUN cd /tmp && curl http://x | sh\n")
    proc = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    for rule in ("DL3007", "DL3008", "DL4006"):
        assert rule in proc.stdout, f"hadolint did not report {rule}:\n{proc.stdout}"


# --- The entrypoint, emulated: one invocation through the Lambda Runtime API ---------------------------


class RuntimeApi:
    """The Lambda Runtime API (2018-06-01) on 127.0.0.1, serving one event."""

    def __init__(self, event: dict):
        self.event = json.dumps(event).encode()
        self.outcome: tuple[str, dict | str] | None = None
        self.polls = 0
        self.done = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict | None = None):
                try:
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the binary was stopped while polling for its next event

            def do_GET(self):
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self._reply(404)
                api.polls += 1
                if api.polls > 1:
                    # The binary polls for its next event after answering: hold it until the end.
                    api.done.wait(30)
                    return self._reply(500)
                deadline = int(time.time() * 1000) + 30_000
                self._reply(
                    200,
                    api.event,
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-1:123456789012:function:imglake-test",
                        "Lambda-Runtime-Trace-Id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
                    },
                )

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                kind = self.path.rsplit("/", 1)[-1]
                if kind in ("response", "error"):
                    try:
                        api.outcome = (kind, json.loads(body))
                    except json.JSONDecodeError:
                        api.outcome = (kind, body)
                    self._reply(202, b'{"status":"OK"}')
                    api.done.set()
                else:
                    self._reply(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.done.set()
        self.server.shutdown()
        self.server.server_close()


def debug_binary(binary: str) -> Path:
    if os.environ.get("IMGLAKE_BIN"):
        directory = Path(os.environ["IMGLAKE_BIN"]).parent
    else:
        directory = Path(os.environ.get("CARGO_TARGET_DIR") or Path.home() / ".cache/imglake/target") / "debug"
    path = directory / binary
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the workspace's binaries first (cargo build --workspace --bins)")
    return path


def function_environment(binary: str, lake: Path) -> dict[str, str]:
    """Exactly the variables terraform/ gives the function, with values a deployment would have."""
    values = {
        "RUST_LOG": "info",
        "IMGLAKE_RAW_BUCKET": "imglake-prod-111122223333-eu-west-1-raw",
        "IMGLAKE_PROCESSED_BUCKET": "imglake-prod-111122223333-eu-west-1-processed",
        "IMGLAKE_METADATA_TABLE": "imglake-prod-images",
        "IMGLAKE_KMS_KEY_ID": "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555",
        "IMGLAKE_METADATA_TTL_DAYS": "7",
        "IMGLAKE_MAX_UPLOAD_BYTES": "10485760",
        "IMGLAKE_MAX_MEGAPIXELS": "50",
        "IMGLAKE_ALLOW_TIFF": "false",
        "IMGLAKE_MAX_JPEG_SCANS": "64",
        "IMGLAKE_UPLOAD_FORM_EXPIRES_SECS": "900",
        "IMGLAKE_MEMORY_BUDGET": "1061MB",
        "IMGLAKE_CLAIM_CHECK_BUCKETS": "",
        "IMGLAKE_MAX_ATTEMPTS": "5",
        "IMGLAKE_LAKE_URL": str(lake),
        "IMGLAKE_PARQUET_COMPRESSION": "zstd",
        "IMGLAKE_GLUE_DATABASE": "imglake_prod",
        "IMGLAKE_GLUE_TABLE": "image_events",
        "IMGLAKE_COMPACT_TARGET_SIZE": "128MB",
        "IMGLAKE_COMPACT_HOURS": "3",
        "IMGLAKE_REDRIVE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111122223333/imglake-prod-stream-export-failures",
        "IMGLAKE_REDRIVE_VISIBILITY_TIMEOUT": "960",
        "IMGLAKE_STREAM_ARN": "arn:aws:dynamodb:eu-west-1:111122223333:table/imglake-prod-images/stream/2026-11-01T00:00:00.000",
        "IMGLAKE_TABLE_ARN": "arn:aws:dynamodb:eu-west-1:111122223333:table/imglake-prod-images",
        "IMGLAKE_EXPORT_BUCKET": "imglake-prod-111122223333-eu-west-1-lake",
        "IMGLAKE_EXPORT_PREFIX": "table-exports/reconcile",
        "IMGLAKE_EXPORT_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555",
    }
    names = terraform_environments()[binary]
    unknown = names - set(values) - {n for n in names if n.startswith("AWS_")}
    assert not unknown, f"give {sorted(unknown)} a value in function_environment()"
    return {n: values[n] for n in names if n in values}


def lambda_service_environment(api: RuntimeApi, binary: str) -> dict[str, str]:
    """What Lambda itself sets in every execution environment. AWS calls go to a closed port on
    127.0.0.1, so a handler that tried one would fail here instead of reaching anything."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": f"imglake-prod-{binary}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/imglake-prod-{binary}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/05/[$LATEST]0123456789abcdef",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEXAMPLE",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "_X_AMZN_TRACE_ID": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
    }


def entrypoint(rootfs: Path, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    """The base image's /lambda-entrypoint.sh: exactly one argument, the handler name, exported as
    _HANDLER; with AWS_LAMBDA_RUNTIME_API set it execs the runtime's bootstrap."""
    if len(cmd) != 1:
        raise AssertionError("entrypoint requires the handler name to be the first argument (exit 142)")
    assert env.get("AWS_LAMBDA_RUNTIME_API"), "without the Runtime API the base image would start its emulator"
    return subprocess.Popen(
        [str(rootfs / RUNTIME_ENTRYPOINT.lstrip("/"))],
        env={**env, "_HANDLER": cmd[0]},
        cwd=rootfs / "var" / "task",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def fixture(name: str) -> dict:
    return json.loads((REPO / "pipeline" / "tests" / "fixtures" / "events" / name).read_text(encoding="utf-8"))


def upload_event() -> dict:
    return fixture("apigw_post_images.json")


def kafka_event() -> dict:
    event = fixture("msk_batch.json")
    event["records"] = {}
    return event


def upload_unavailable(r: dict) -> bool:
    # POST /images records the new image before answering with its form; the table is out of
    # reach here (AWS_ENDPOINT_URL is a closed local port), which the API answers as 503 with
    # Retry-After, not as a crash.
    error = json.loads(r["body"])["error"]
    return r["statusCode"] == 503 and r["headers"].get("retry-after") and error["code"] == "temporarily_unavailable"


def unreachable(error_type: str):
    # The scheduled recovery functions start by calling AWS (the on-failure queue, ListExports);
    # with every endpoint a closed local port the run fails as a whole, naming the call.
    return lambda r: r.get("errorType") == error_type and "127.0.0.1:9" in r.get("errorMessage", "")


# An event each function answers (an empty batch, an empty lake, an upload whose table is out of
# reach), what the answer must be, and whether it is a response or an invocation error.
INVOCATIONS = {
    "upload": (upload_event, upload_unavailable),
    "kafka-ingest": (kafka_event, lambda r: r["batchItemFailures"] == []),
    "process": (lambda: {"Records": []}, lambda r: r == {"batchItemFailures": []}),
    "stream-export": (lambda: {"Records": []}, lambda r: r == {"batchItemFailures": []}),
    "compact": (lambda: {"source": "imglake.schedule"}, lambda r: r is not None),
    "redrive": (lambda: {"source": "imglake.schedule"}, unreachable("imglake.RedriveError"), "error"),
    "reconcile": (lambda: {"source": "imglake.schedule"}, unreachable("imglake.ReconcileError"), "error"),
}


def run_image(binary: str, event: dict, tmp_path: Path) -> tuple[tuple, str]:
    layout = image_layout(binary)
    rootfs = tmp_path / "rootfs"
    dest = rootfs / layout["dest"].lstrip("/")
    dest.parent.mkdir(parents=True)
    (rootfs / "var" / "task").mkdir(parents=True)
    shutil.copy2(debug_binary(binary), dest)
    lake = tmp_path / "lake"
    lake.mkdir()
    api = RuntimeApi(event)
    env = {**layout["env"], **function_environment(binary, lake), **lambda_service_environment(api, binary)}
    proc = entrypoint(rootfs, layout["cmd"], env)
    try:
        answered = api.done.wait(60)
        exited = proc.poll()
    finally:
        api.close()
        proc.kill()
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert answered, f"{binary} never answered its invocation (exit {exited}):\n{output[-3000:]}"
    return api.outcome, output


@pytest.mark.parametrize("binary", sorted(lambda_binaries.built_binaries()))
def test_the_image_entrypoint_serves_an_invocation(binary, tmp_path):
    assert binary in INVOCATIONS, f"give {binary} an invocation in INVOCATIONS"
    make_event, accept, *expected = INVOCATIONS[binary]
    expected_kind = expected[0] if expected else "response"
    (kind, body), output = run_image(binary, make_event(), tmp_path)
    assert kind == expected_kind, f"{binary} answered {kind}: {body}\n{output[-3000:]}"
    assert accept(body), f"{binary} answered {body!r}"
    # Lambda's logs are JSON lines (tracing's JSON format).
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert lines and all(isinstance(json.loads(line), dict) for line in lines), output[-2000:]


def test_an_event_of_the_wrong_shape_is_an_invocation_error(tmp_path):
    (kind, body), _ = run_image("stream-export", {"Records": "not a list"}, tmp_path)
    assert kind == "error" and isinstance(body, dict) and body.get("errorType"), body


# --- scripts/build-images.sh ------------------------------------------------------------------------


def build_images(*args: str, repositories: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRY_RUN": "1", "IMGLAKE_IMAGE_REPOSITORIES": json.dumps(repositories)}
    return subprocess.run(
        [str(REPO / "scripts" / "build-images.sh"), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_build_images_pushes_every_target_to_its_repository_with_the_tag():
    binaries = list(target_stages())
    repos = {b: f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/imglake-prod/{b}" for b in binaries}
    proc = build_images("3f2a9c1", repositories=repos)
    assert proc.returncode == 0, proc.stderr
    commands = proc.stdout.strip().splitlines()
    assert len(commands) == len(binaries)
    for b, command in zip(binaries, commands):
        assert command.startswith("docker buildx build --platform linux/arm64 --provenance=false ")
        assert f"-f docker/Dockerfile --target {b} -t {repos[b]}:3f2a9c1 --push ." in command


def test_build_images_refuses_a_missing_repository_and_a_bad_tag():
    missing = build_images("3f2a9c1", "upload", repositories={})
    assert missing.returncode == 1 and "no repository for upload" in missing.stderr
    bad = build_images("not a tag", repositories={})
    assert bad.returncode == 2 and "not a valid image tag" in bad.stderr
