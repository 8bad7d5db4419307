//! Helpers shared by the end-to-end tests.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `imglake` binary built for these tests.
pub fn imglake() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imglake"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// A file in `exporter/tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("exporter/tests/fixtures")
        .join(name)
}

/// Runs a command, asserts success, returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert_success(&out, cmd);
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

pub fn assert_success(out: &Output, cmd: &Command) {
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `imglake export --input FIXTURE --lake LAKE [extra…]`, returning stdout.
pub fn export(lake: &str, fixture_name: &str, extra: &[&str]) -> String {
    run_ok(
        imglake()
            .args(["export", "--input"])
            .arg(fixture(fixture_name))
            .args(["--lake", lake])
            .args(extra),
    )
}

/// `imglake query --lake LAKE --format FORMAT SQL`, returning stdout.
pub fn query(lake: &str, format: &str, sql: &str) -> String {
    run_ok(imglake().args(["query", "--lake", lake, "--format", format, sql]))
}

/// The Python of the test virtualenv that `scripts/test.sh` installs.
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("IMGLAKE_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/imglake/venv")))
        .expect("IMGLAKE_VENV or HOME must be set");
    let bin = venv.join("bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which installs the Python test tools (moto, pyarrow, duckdb)",
        bin.display()
    );
    bin
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(
                    path.strip_prefix(base)
                        .expect("prefix")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// A moto server (S3, DynamoDB, …) on a free port of 127.0.0.1, stopped on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Environment for AWS clients (ours and boto3) pointed at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Runs a Python snippet with boto3 against this server; returns stdout.
    pub fn boto3(&self, code: &str) -> String {
        run_ok(
            Command::new(venv_bin("python"))
                .args(["-c", code])
                .envs(self.env()),
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
