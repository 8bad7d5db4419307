//! Helpers shared by the end-to-end tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub use crate::moto::{venv_bin, Moto};

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

/// Environment variables for a command (e.g. [`Moto::env`]); empty for a local lake.
pub type Env = Vec<(&'static str, String)>;

/// `imglake export --input FIXTURE --lake LAKE [extra…]`, returning stdout.
pub fn export(lake: &str, fixture_name: &str, extra: &[&str]) -> String {
    export_with(&Env::new(), lake, fixture_name, extra)
}

/// [`export`] with extra environment (an S3 endpoint, credentials).
pub fn export_with(env: &Env, lake: &str, fixture_name: &str, extra: &[&str]) -> String {
    run_ok(
        imglake()
            .args(["export", "--input"])
            .arg(fixture(fixture_name))
            .args(["--lake", lake])
            .args(extra)
            .envs(env.iter().cloned()),
    )
}

/// `imglake query --lake LAKE --format FORMAT SQL`, returning stdout.
pub fn query(lake: &str, format: &str, sql: &str) -> String {
    query_with(&Env::new(), lake, format, sql)
}

/// [`query`] with extra environment (an S3 endpoint, credentials).
pub fn query_with(env: &Env, lake: &str, format: &str, sql: &str) -> String {
    run_ok(
        imglake()
            .args(["query", "--lake", lake, "--format", format, sql])
            .envs(env.iter().cloned()),
    )
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

impl Moto {
    /// Environment for AWS clients (ours and boto3) pointed at this server.
    pub fn env(&self) -> Env {
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

/// A Lambda Runtime API on 127.0.0.1 that hands one event to a Lambda binary and returns its
/// response: enough of the protocol (`/next`, `/response`, `/error`) to run the real binary
/// as Lambda would.
pub struct RuntimeApi {
    pub addr: String,
    handle: std::thread::JoinHandle<(String, String)>,
}

impl RuntimeApi {
    /// Serves `event` to the first `/next` poll.
    pub fn serve_one(event: String) -> RuntimeApi {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let handle = std::thread::spawn(move || {
            let mut served = false;
            loop {
                let (stream, _) = listener.accept().expect("accept");
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                reader.read_line(&mut request_line).expect("request line");
                let mut content_length = 0usize;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).expect("header");
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            content_length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; content_length];
                reader.read_exact(&mut body).expect("body");
                let mut stream = stream;
                if request_line.contains("/invocation/next") {
                    if served {
                        // The binary polls again after answering: leave it waiting.
                        std::thread::sleep(Duration::from_secs(600));
                        continue;
                    }
                    served = true;
                    let deadline = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .expect("clock")
                        .as_millis()
                        + 60_000;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         lambda-runtime-aws-request-id: req-1\r\n\
                         lambda-runtime-deadline-ms: {deadline}\r\n\
                         lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:stream-export\r\n\
                         lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{event}",
                        event.len()
                    );
                    stream.write_all(reply.as_bytes()).expect("write event");
                } else {
                    let kind = if request_line.contains("/error") {
                        "error"
                    } else {
                        "response"
                    };
                    let _ = stream.write_all(
                        b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    return (kind.to_owned(), String::from_utf8_lossy(&body).into_owned());
                }
            }
        });
        RuntimeApi { addr, handle }
    }

    /// Environment a Lambda binary needs to talk to this runtime API.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.addr.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", "stream-export".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/stream-export".into(),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".into()),
        ]
    }

    /// Waits for the binary's answer: ("response" | "error", body).
    pub fn outcome(self) -> (String, String) {
        self.handle.join().expect("runtime API thread")
    }
}

/// A binary of another workspace package, built next to `imglake` by the workspace build.
pub fn sibling_binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_imglake")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace (cargo build --workspace) first",
        path.display()
    );
    path
}

/// What one run of a Lambda binary answered, and what it logged.
pub struct LambdaRun {
    /// `response` or `error`.
    pub kind: String,
    pub body: String,
    pub stdout: String,
    pub stderr: String,
}

/// Runs Lambda binary `name` once through a [`RuntimeApi`] that hands it `event`, with `env`
/// (applied in order, so a later pair wins) and the API's address.
pub fn run_lambda_once(name: &str, env: &[(&'static str, String)], event: String) -> LambdaRun {
    use std::process::Stdio;
    let api = RuntimeApi::serve_one(event);
    let mut child = Command::new(sibling_binary(name))
        .envs(env.iter().cloned())
        .envs(api.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let (kind, body) = api.outcome();
    let _ = child.kill();
    let output = child.wait_with_output().expect("wait");
    LambdaRun {
        kind,
        body,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs Lambda binary `name` once on a scheduled event, as its EventBridge schedule would:
/// the outcome (`response` or `error`), its body (JSON when it parses) and the binary's logs.
pub fn run_scheduled_lambda(
    name: &str,
    env: &[(&'static str, String)],
) -> (String, serde_json::Value, String) {
    let run = run_lambda_once(
        name,
        env,
        r#"{"source":"aws.scheduler","detail-type":"Scheduled Event"}"#.to_owned(),
    );
    let body = serde_json::from_str(&run.body).unwrap_or(serde_json::Value::String(run.body));
    (run.kind, body, run.stdout + &run.stderr)
}

/// An HTTP proxy in front of moto's S3 that refuses (403, as S3 does) every `method` request
/// whose path contains `refuse`, one request per connection; everything else is passed
/// through.
pub fn faulty_s3_proxy(upstream: &str, method: &'static str, refuse: &'static str) -> String {
    use std::io::{BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    let upstream = upstream.trim_start_matches("http://").to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().expect("clone"));
                let Some((mut head, body)) = read_request(&mut reader) else {
                    return;
                };
                let mut client = client;
                // object_store percent-encodes `=` in keys.
                let encoded = refuse.replace('=', "%3D");
                if head[0].starts_with(&format!("{method} "))
                    && (head[0].contains(refuse) || head[0].contains(&encoded))
                {
                    let xml = "<Error><Code>AccessDenied</Code><Message>injected</Message></Error>";
                    let _ = write!(
                        client,
                        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                        xml.len()
                    );
                    return;
                }
                let Ok(mut up) = TcpStream::connect(&upstream) else {
                    return;
                };
                // Each request on a connection of its own: the answer ends at EOF.
                head.retain(|line| !line.to_ascii_lowercase().starts_with("connection:"));
                head.push("Connection: close\r\n\r\n".into());
                let _ = up.write_all(head.concat().as_bytes());
                let _ = up.write_all(&body);
                let mut response = Vec::new();
                let _ = up.read_to_end(&mut response);
                let _ = client.write_all(&response);
            });
        }
    });
    format!("http://{addr}")
}

/// One HTTP/1.1 request from `reader`, as the stand-ins for AWS endpoints read it: its head
/// lines (the request line first, each with its `\r\n`, without the blank line that ends
/// the head) and its body (Content-Length bytes); `None` when the client went away first.
pub fn read_request(reader: &mut impl std::io::BufRead) -> Option<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push(line);
    }
    let length = header(&head, "content-length").map_or(0, |v| v.parse().unwrap_or(0));
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// The value of header `name` (lower case) among a request's head lines.
pub fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}
