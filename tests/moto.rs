//! A moto server on 127.0.0.1 for tests that talk to AWS protocols. Used by these end-to-end
//! tests (`util` adds boto3 helpers) and, through `#[path]`, by
//! lambdas/tests/dynamo_store.rs (which adds an SDK config).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A program of the test virtualenv (`IMGLAKE_VENV`, default `~/.cache/imglake/venv`).
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
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
