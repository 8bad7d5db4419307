//! What both benchmarks (exporter/benches/export.rs, pipeline/benches/process.rs) share:
//! repeats, pinning to one core, peak memory, medians, the Python venvs. Included by each
//! with `#[path]`; a bench target cannot depend on another crate's bench code.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Timed runs per measurement: `IMGLAKE_BENCH_REPEATS`, or `default`.
pub fn repeats(default: usize) -> usize {
    std::env::var("IMGLAKE_BENCH_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether `taskset` is here to pin processes to one core.
pub fn can_pin() -> bool {
    Command::new("taskset").arg("-V").output().is_ok()
}

/// How the runs were pinned, for the table's heading.
pub fn pinning(pinned: bool) -> &'static str {
    if pinned {
        "yes (taskset -c 0)"
    } else {
        "NO (taskset missing)"
    }
}

/// A command running `program`, on core 0 when `pinned`.
pub fn pin(pinned: bool, program: &Path) -> Command {
    if pinned {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// This process's peak resident memory (VmHWM), KiB; 0 when unknown.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The median of some run times.
pub fn median(mut secs: Vec<f64>) -> f64 {
    assert!(!secs.is_empty(), "no runs");
    secs.sort_by(f64::total_cmp);
    secs[secs.len() / 2]
}

/// `$var`, or `~/.cache/imglake/<default>`.
pub fn home_cache(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/imglake").join(default))
        })
        .expect("the variable or HOME")
}

/// The Python of the venv in `$var` (default `~/.cache/imglake/<default>`); `fix` says how
/// to get it.
pub fn venv_python(var: &str, default: &str, fix: &str) -> PathBuf {
    let python = home_cache(var, default).join("bin/python");
    assert!(python.exists(), "{} is missing: {fix}", python.display());
    python
}
