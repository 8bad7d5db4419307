//! A real Kafka-protocol broker (tansu), `imglake serve` consuming from it, `imglake
//! kafka-send` producing to it, a TLS proxy in front of it, and test images: all on
//! 127.0.0.1 free ports, stopped on drop, every wait bounded.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{assert_success, imglake, venv_bin};

/// The tansu binary: `IMGLAKE_TANSU`, else where scripts/tansu.sh builds it.
pub fn tansu_bin() -> PathBuf {
    let bin = std::env::var_os("IMGLAKE_TANSU")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/imglake/tansu-0.6.0/bin/tansu"))
        })
        .expect("IMGLAKE_TANSU or HOME must be set");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/tansu.sh (scripts/test.sh does), which builds the tansu broker once",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening on {port}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits for `child` at most `limit`, killing it after that; `None` when it had to be killed.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tansu broker on a free port of 127.0.0.1.
pub struct Tansu {
    child: Option<Child>,
    pub port: u16,
    storage: String,
    dir: PathBuf,
    /// Flags of the running broker, and the port it advertises.
    flags: Vec<String>,
    advertised: u16,
}

impl Tansu {
    /// In-memory storage: a restart loses every topic.
    pub fn memory(dir: &Path) -> Tansu {
        Tansu::start(dir, "memory://tansu/")
    }

    /// SQLite storage in `dir`: topics, records and SCRAM users survive a restart.
    pub fn sqlite(dir: &Path) -> Tansu {
        Tansu::start(dir, "sqlite://tansu.db")
    }

    fn start(dir: &Path, storage: &str) -> Tansu {
        let port = free_port();
        let mut tansu = Tansu {
            child: None,
            port,
            storage: storage.to_owned(),
            dir: dir.to_owned(),
            flags: Vec::new(),
            advertised: port,
        };
        tansu.spawn();
        tansu
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("tansu-{}.log", self.port)))
            .expect("tansu log");
        let mut child = Command::new(tansu_bin())
            .args(["broker", "--silent", "--storage-engine", &self.storage])
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.advertised))
            .args(&self.flags)
            .current_dir(&self.dir)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tansu");
        wait_for_port(self.port, "tansu", &mut child);
        self.child = Some(child);
    }

    /// SIGKILL: the broker goes away without a word.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Restarts it with `flags` (e.g. `--authentication`), advertising `advertised` (a proxy
    /// in front of it) to clients instead of its own port.
    pub fn restart_with(&mut self, flags: &[&str], advertised: u16) {
        self.flags = flags.iter().map(|f| (*f).to_owned()).collect();
        self.advertised = advertised;
        self.restart();
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs a `tansu` admin command against this broker (its own tool, not our client).
    fn admin(&self, args: &[&str]) {
        let mut child = Command::new(tansu_bin())
            .args(args)
            .arg("--broker")
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .stdout(Stdio::null())
            .spawn()
            .expect("tansu admin command");
        let status = wait_bounded(&mut child, Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "tansu {args:?} failed: {status:?}"
        );
    }

    /// `tansu topic create`.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let partitions = partitions.to_string();
        self.admin(&["topic", "create", topic, "--partitions", &partitions]);
    }

    /// `tansu user create` with SCRAM-SHA-512 credentials (needs SQLite storage).
    pub fn create_user(&self, name: &str, password: &str) {
        self.admin(&["user", "create", name, password, "--mechanism", "scram512"]);
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `imglake serve` consuming a topic.
pub struct Serve {
    child: Option<Child>,
    pub addr: String,
    stderr: PathBuf,
}

impl Serve {
    /// Starts serve over `data` consuming `topic` at `brokers` with the flags in `extra`,
    /// and waits until it answers /healthz (it connects to Kafka before listening).
    pub fn start(data: &Path, brokers: &str, topic: &str, extra: &[&str]) -> Serve {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let stderr = data.with_extension(format!("serve-{port}.log"));
        let log = std::fs::File::create(&stderr).expect("serve log");
        let mut child = imglake()
            .args(["serve", "--addr", &addr, "--flush-age", "1s"])
            .arg("--data-dir")
            .arg(data)
            .args(["--kafka-brokers", brokers, "--kafka-topic", topic])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn imglake serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut serve = loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "imglake serve exited with {status}:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            if TcpStream::connect(&addr).is_ok() {
                break Serve {
                    child: Some(child),
                    addr,
                    stderr,
                };
            }
            assert!(Instant::now() < deadline, "imglake serve did not come up");
            std::thread::sleep(Duration::from_millis(50));
        };
        serve.wait_for("/healthz", Duration::from_secs(30), |_| true);
        serve
    }

    /// What serve logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// GET /healthz as JSON.
    pub fn health(&self) -> Option<Value> {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(&self.addr).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let head = format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(head.as_bytes()).ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).ok()?;
        let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
        serde_json::from_slice(&response[split + 4..]).ok()
    }

    /// Polls /healthz until `done` holds; panics after `limit` with the last answer and the log.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        let mut last = None;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "imglake serve exited with {status} while waiting for {what}:\n{}",
                        self.log()
                    );
                }
            }
            if let Some(health) = self.health() {
                if done(&health) {
                    return health;
                }
                last = Some(health);
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; last /healthz: {last:?}\nserve log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until every partition's committed offset reaches `expected` (partition →
    /// offset after its last record) and the processing queue is empty.
    pub fn wait_until_consumed(&mut self, expected: &BTreeMap<i64, i64>) -> Value {
        let expected = expected.clone();
        self.wait_for(
            &format!("offsets {expected:?} committed"),
            Duration::from_secs(180),
            move |h| {
                expected.iter().all(|(p, want)| {
                    h["kafka"]["partitions"][p.to_string()]["committed"].as_i64() == Some(*want)
                }) && h["queued"].as_u64() == Some(0)
            },
        )
    }

    /// Waits until serve's log contains `text`.
    pub fn wait_for_log(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no `{text}` in serve's log after 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until some partition has a batch whose items are stored and whose offset is not
    /// committed yet (its images waiting for room in the processing queue); returns that
    /// /healthz answer.
    pub fn wait_until_a_batch_is_stored_not_committed(&mut self) -> Value {
        self.wait_for(
            "a batch stored but not committed",
            Duration::from_secs(120),
            |h| {
                h["kafka"]["partitions"].as_object().is_some_and(|parts| {
                    parts
                        .values()
                        .any(|p| p["stored"].as_i64() > p["committed"].as_i64())
                })
            },
        )
    }

    /// SIGKILL: no chance to commit, flush or drain anything.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGINT, as Ctrl-C sends: waits (bounded) for a successful exit and returns the log.
    pub fn stop(mut self) -> String {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid}");
        let status = wait_bounded(&mut child, Duration::from_secs(120));
        let log = self.log();
        assert!(
            status.is_some_and(|s| s.success()),
            "serve did not stop cleanly on SIGINT ({status:?}):\n{log}"
        );
        log
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A number from serve's closing summary, e.g. `summary(log, "duplicates")`.
pub fn summary(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("imglake serve: stopped."))
        .unwrap_or_else(|| panic!("no closing summary in:\n{log}"));
    let rest = &line[line
        .find(&format!(" {name} "))
        .unwrap_or_else(|| panic!("no `{name}` in {line}"))
        + name.len()
        + 2..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{name}` in {line}"))
}

/// Runs `imglake ARGS…` to its end; returns its exit code, stdout and stderr.
pub fn run_imglake(args: &[&str]) -> (Option<i32>, String, String) {
    let out = imglake().args(args).output().expect("spawn imglake");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `imglake ARGS…`, which must fail; returns its stderr.
pub fn imglake_fails(args: &[&str]) -> String {
    let (code, _, stderr) = run_imglake(args);
    assert!(
        code.is_some_and(|c| c != 0),
        "{args:?} succeeded:\n{stderr}"
    );
    stderr
}

/// What kafka-send reported for one file.
#[derive(Debug, Clone)]
pub struct SentRecord {
    pub file: String,
    pub partition: i64,
    pub offset: i64,
    pub route: String,
}

/// `imglake kafka-send --json` with `extra` flags; returns each record's placement.
pub fn kafka_send(
    brokers: &str,
    topic: &str,
    inputs: &[&Path],
    data: &Path,
    extra: &[&str],
) -> Vec<SentRecord> {
    let mut cmd = imglake();
    cmd.arg("kafka-send")
        .args(inputs)
        .args(["--kafka-brokers", brokers, "--kafka-topic", topic, "--json"])
        .arg("--data-dir")
        .arg(data)
        .args(extra);
    let out = cmd.output().expect("spawn kafka-send");
    assert_success(&out, &cmd);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("JSON line");
            SentRecord {
                file: v["file"].as_str().expect("file").to_owned(),
                partition: v["partition"].as_i64().expect("partition"),
                offset: v["offset"].as_i64().expect("offset"),
                route: v["route"].as_str().expect("route").to_owned(),
            }
        })
        .collect()
}

/// Partition → the offset after its last record, over everything sent.
pub fn ends(sent: &[SentRecord]) -> BTreeMap<i64, i64> {
    let mut ends = BTreeMap::new();
    for s in sent {
        let end = ends.entry(s.partition).or_insert(0);
        *end = (*end).max(s.offset + 1);
    }
    ends
}

/// `n` small JPEG photographs in `dir` (distinct by `seed`).
pub fn small_images(dir: &Path, n: u32, seed: u32) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("mkdir");
    (0..n)
        .map(|i| {
            let img = imglake_pipeline::samples::photo(160 + 8 * (i % 5), 120, seed * 100 + i);
            let path = dir.join(format!("photo-{seed}-{i:03}.jpg"));
            std::fs::write(&path, imglake_pipeline::samples::jpeg(&img, 85)).expect("write");
            path
        })
        .collect()
}

/// A JPEG of noise larger than Kafka's default 1 MB message limit.
pub fn large_image(path: &Path, seed: u32) -> PathBuf {
    let mut state = 0x9e37_79b9_u32 ^ seed;
    let img = image::RgbImage::from_fn(900, 700, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let bytes = imglake_pipeline::samples::jpeg(&img, 92);
    assert!(
        bytes.len() > 1_100_000,
        "the large image is only {} bytes",
        bytes.len()
    );
    std::fs::write(path, bytes).expect("write");
    path.to_owned()
}

/// Kafka rows of the lake's current state, by source_ref: (image_id, status, error_code).
pub fn lake_kafka_images(lake: &Path) -> BTreeMap<String, (String, String, Option<String>)> {
    let out = crate::util::query(
        &lake.display().to_string(),
        "json",
        "select image_id, source_ref, status, error_code from images_current where source = 'kafka'",
    );
    let mut rows = BTreeMap::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("JSON row");
        let source_ref = v["source_ref"].as_str().expect("source_ref").to_owned();
        let row = (
            v["image_id"].as_str().expect("image_id").to_owned(),
            v["status"].as_str().expect("status").to_owned(),
            v["error_code"].as_str().map(str::to_owned),
        );
        assert!(
            rows.insert(source_ref.clone(), row).is_none(),
            "two images from {source_ref}"
        );
    }
    rows
}

/// Image ids with more than one INSERT event (a record that became two images would).
pub fn images_inserted_twice(lake: &Path) -> String {
    crate::util::query(
        &lake.display().to_string(),
        "csv",
        "select image_id, count(distinct event_id) as inserts from image_events \
         where event_name = 'INSERT' group by image_id having count(distinct event_id) > 1",
    )
}

/// Asserts the lake holds every sent record exactly once, as an image whose source_ref is
/// its topic/partition/offset, with status `PROCESSED` unless `rejected` names its code.
pub fn assert_lake_has_each_once(
    lake: &Path,
    topic: &str,
    sent: &[SentRecord],
    rejected: &BTreeMap<&str, &str>,
) {
    let rows = lake_kafka_images(lake);
    let mut ids = std::collections::BTreeSet::new();
    for s in sent {
        let source_ref = format!("{topic}/{}/{}", s.partition, s.offset);
        let (id, status, code) = rows
            .get(&source_ref)
            .unwrap_or_else(|| panic!("{} ({source_ref}) is not in the lake: {rows:?}", s.file));
        assert!(ids.insert(id.clone()), "image id {id} appears twice");
        let name = Path::new(&s.file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match rejected.get(name.as_str()) {
            Some(want) => {
                assert_eq!(status, "REJECTED", "{}: {code:?}", s.file);
                assert_eq!(code.as_deref(), Some(*want), "{}", s.file);
            }
            None => assert_eq!(status, "PROCESSED", "{}: {code:?}", s.file),
        }
    }
    assert_eq!(
        rows.len(),
        sent.len(),
        "the lake has images nobody sent: {rows:?}"
    );
    let twice = images_inserted_twice(lake);
    assert_eq!(twice.lines().count(), 1, "images inserted twice:\n{twice}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with the
/// openssl command.
pub struct Certs {
    pub ca: PathBuf,
    pub server: PathBuf,
    pub server_key: PathBuf,
    pub client: PathBuf,
    pub client_key: PathBuf,
    pub other_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian: apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    pub fn make(dir: &Path) -> Certs {
        std::fs::create_dir_all(dir).expect("mkdir");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            let subject = format!("/CN=imglake test {ca}");
            let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
            args.extend([
                "-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subject,
            ]);
            openssl(dir, &args);
        }
        std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
        for who in ["server", "client"] {
            let (key, csr, pem, ext) = (
                format!("{who}.key"),
                format!("{who}.csr"),
                format!("{who}.pem"),
                format!("{who}.ext"),
            );
            let subject = format!("/CN={who}");
            let mut args = vec!["req"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
            openssl(dir, &args);
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
            );
        }
        Certs {
            ca: dir.join("ca.pem"),
            server: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            other_ca: dir.join("other-ca.pem"),
        }
    }
}

/// tests/tools/tls_proxy.py: TLS (OpenSSL) on a free port, relayed in clear to `upstream`.
pub struct TlsProxy {
    child: Child,
    pub port: u16,
}

impl TlsProxy {
    pub fn start(port: u16, upstream: u16, certs: &Certs) -> TlsProxy {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/tls_proxy.py");
        let mut child = Command::new(venv_bin("python"))
            .arg(script)
            .arg(port.to_string())
            .arg(upstream.to_string())
            .args([&certs.server, &certs.server_key, &certs.ca])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tls_proxy.py");
        wait_for_port(port, "tls_proxy.py", &mut child);
        TlsProxy { child, port }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stores `next` as group `imglake`'s offset of `topic`/`partition` in the data directory, as
/// serve commits it.
pub fn commit_offset(data: &Path, topic: &str, partition: i32, next: i64) {
    std::fs::create_dir_all(data).expect("mkdir");
    let store = imglake_pipeline::store::EmbeddedStore::open(
        data.join("metadata.sqlite3"),
        imglake_pipeline::store::DEFAULT_TABLE_NAME,
        std::sync::Arc::new(chrono::Utc::now),
    )
    .expect("open the metadata store");
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(store.commit_kafka_offset("imglake", topic, partition, next))
        .expect("commit");
}
