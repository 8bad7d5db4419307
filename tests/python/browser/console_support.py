"""Shared by the console's browser tests and scripts: the imglake binary, `imglake serve` as a
process on a free loopback port, Debian's chromium under Playwright, and test images.

Needs Playwright for Python and /usr/bin/chromium: `scripts/setup-browser.sh` installs both
(chromium with apt, Playwright into ~/.cache/imglake/venv-browser) and prints the venv.
Playwright's own browser download is never used.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
# Flags that work on these machines: no sandbox (root in a container), no GPU, and nothing that
# reaches out on its own (QUIC, component updates, sync, background networking).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def imglake_bin() -> Path:
    """IMGLAKE_BIN, else the debug build under $CARGO_TARGET_DIR or ~/.cache/imglake/target."""
    if os.environ.get("IMGLAKE_BIN"):
        return Path(os.environ["IMGLAKE_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "imglake" / "target")
    return Path(target) / "debug" / "imglake"


def screenshot_dir() -> Path:
    """Where the test run saves each page's screenshot: IMGLAKE_SCREENSHOTS (e.g. docs/console to
    refresh the README's pictures), else <target dir>/console-screenshots."""
    if os.environ.get("IMGLAKE_SCREENSHOTS"):
        d = Path(os.environ["IMGLAKE_SCREENSHOTS"])
    else:
        target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "imglake" / "target")
        d = Path(target) / "console-screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30):
    """One request; (status, headers, body bytes), HTTP errors included."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(url: str):
    status, _, body = http("GET", url)
    assert status == 200, f"GET {url}: {status} {body[:300]!r}"
    return json.loads(body)


def wait_for(what: str, check, timeout: float = 60, every: float = 0.2):
    """Polls `check` until it returns a true value, which is returned; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Serve:
    """`imglake serve` over a data directory, on a free port of 127.0.0.1."""

    def __init__(self, data_dir: Path, *args: str):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lake = self.data_dir / "lake"
        self.log = tempfile.NamedTemporaryFile(prefix="imglake-serve-", suffix=".log", delete=False)
        binary = imglake_bin()
        if not binary.is_file():
            raise AssertionError(f"imglake binary not found at {binary}: build it (cargo build) or set IMGLAKE_BIN")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMGLAKE_")}
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--addr", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir), *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_for("imglake serve to answer /healthz", self._up, timeout=60)
        except AssertionError:
            self.stop(check=False)
            raise

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"imglake serve exited with {self.proc.returncode}: {self.output()}")
        try:
            return http("GET", self.base + "/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def lake_state(self):
        return get_json(self.base + "/console/api/lake")

    def wait_settled(self, image_ids=(), timeout: float = 90):
        """Until every image in `image_ids` is terminal and the feed is in the lake."""

        def settled():
            for image_id in image_ids:
                status, _, body = http("GET", f"{self.base}/images/{image_id}")
                if status != 200 or json.loads(body)["status"] not in ("PROCESSED", "REJECTED", "FAILED"):
                    return False
            lake = self.lake_state()
            return lake if lake["pending_changes"] == 0 and lake["files"] > 0 else False

        return wait_for("the images to settle and the lake to catch up", settled, timeout=timeout)

    def stop(self, check: bool = True) -> str:
        """SIGINT (Ctrl-C), as a user stops it: it drains and flushes, then exits 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"imglake serve did not stop within 60 s: {self.output()}")
        out = self.output()
        os.unlink(self.log.name)
        if check:
            assert self.proc.returncode == 0, f"imglake serve exited with {self.proc.returncode}: {out}"
        return out


def imglake(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(imglake_bin()), *args], capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert proc.returncode == 0, f"imglake {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
    return proc


def launch(playwright, *extra_args: str):
    """Debian's chromium, headless, with a new empty profile (Playwright makes one per launch)."""
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"{CHROMIUM} is missing: run scripts/setup-browser.sh (installs chromium with apt)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args])


# --- Test images ------------------------------------------------------------------------------


def png(width: int, height: int, seed: int = 0) -> bytes:
    """An RGB PNG: a smooth gradient whose colours depend on `seed`, with a little noise (so
    no two are alike and thumbnails show something)."""
    rnd = random.Random(seed)
    base = [rnd.randrange(256) for _ in range(3)]
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            r = (base[0] + 255 * x // max(width - 1, 1)) % 256
            g = (base[1] + 255 * y // max(height - 1, 1)) % 256
            b = (base[2] + rnd.randrange(24)) % 256
            row += bytes((r, g, b))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 6)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def truncated_png(width: int = 400, height: int = 300) -> bytes:
    """A PNG whose header promises more than its data holds."""
    whole = png(width, height, seed=99)
    return whole[: len(whole) // 3]


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
