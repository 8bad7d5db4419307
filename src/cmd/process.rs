//! `imglake process`: validation and processing of local files, one JSON line per input.
//! Rejected inputs are handled outcomes (exit 0); only the tool's own failures (an unreadable
//! input, an unwritable output, an invalid recipe) make the exit code non-zero.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use imglake_pipeline::process::{process, ProcessError, Recipe};
use imglake_pipeline::validate::{Limits, Rejection};
use serde_json::json;

use crate::cli::ProcessArgs;

pub fn run(args: ProcessArgs) -> anyhow::Result<ExitCode> {
    let recipe = match &args.recipe {
        Some(path) => load_recipe(path)?,
        None => Recipe::default(),
    };
    let limits = args.limits.limits();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create --out {}", args.out.display()))?;
    let mut used = HashSet::new();
    let mut own_failures = 0;
    for input in &args.files {
        let line = match handle(input, &args.out, &recipe, &limits, &mut used) {
            Ok(line) => line,
            Err(err) => {
                own_failures += 1;
                // The tool's own failure (an unreadable input, an unwritable output): the same
                // keys as every other line, so that line-by-line readers need no special case.
                json!({
                    "input": input.display().to_string(),
                    "status": "error",
                    "error_code": null,
                    "error_message": format!("{err:#}"),
                    "width": null,
                    "height": null,
                    "format": null,
                    "variants": [],
                })
            }
        };
        outln!("{line}");
    }
    Ok(if own_failures == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {own_failures} of {} inputs could not be handled (see their lines)",
            args.files.len()
        );
        ExitCode::FAILURE
    })
}

fn load_recipe(path: &Path) -> anyhow::Result<Recipe> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --recipe {}", path.display()))?;
    let recipe = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        Recipe::from_json(&text)
    } else {
        Recipe::from_toml(&text)
    };
    recipe.with_context(|| format!("invalid recipe {}", path.display()))
}

/// Processes one file; `Ok` for processed and rejected inputs alike.
fn handle(
    input: &Path,
    out: &Path,
    recipe: &Recipe,
    limits: &Limits,
    used: &mut HashSet<String>,
) -> anyhow::Result<serde_json::Value> {
    let name = input.display().to_string();
    // Read at most one byte over the size limit: a huge file (or /dev/zero) is rejected
    // without being held in memory.
    let mut bytes = Vec::new();
    std::fs::File::open(input)
        .and_then(|file| {
            file.take(limits.max_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
        })
        .with_context(|| format!("cannot read {}", input.display()))?;
    if bytes.len() as u64 > limits.max_bytes {
        let size = std::fs::metadata(input)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let err = ProcessError::Rejected(Rejection::too_large(size, limits));
        return Ok(rejected(&name, &err));
    }
    match process(&bytes, recipe, limits) {
        Ok(done) => {
            let dir = out.join(unique_stem(input, used));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut variants = Vec::new();
            for v in &done.variants {
                let path: PathBuf = dir.join(format!("{}.{}", v.name, v.format.extension()));
                std::fs::write(&path, &v.bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                variants.push(json!({
                    "name": v.name,
                    "path": path.display().to_string(),
                    "width": v.width,
                    "height": v.height,
                    "bytes": v.bytes.len(),
                }));
            }
            Ok(json!({
                "input": name,
                "status": "processed",
                "error_code": null,
                "error_message": null,
                "width": done.features.width,
                "height": done.features.height,
                "format": done.probe.format.name(),
                "variants": variants,
            }))
        }
        Err(err) if err.is_permanent() => Ok(rejected(&name, &err)),
        Err(err) => Err(err).with_context(|| format!("processing {name}")),
    }
}

fn rejected(input: &str, err: &ProcessError) -> serde_json::Value {
    json!({
        "input": input,
        "status": "rejected",
        "error_code": err.code(),
        "error_message": err.to_string(),
        "width": null,
        "height": null,
        "format": null,
        "variants": [],
    })
}

/// The input's file stem, made unique among this run's inputs (`photo`, `photo-2`, …).
fn unique_stem(input: &Path, used: &mut HashSet<String>) -> String {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        // `...` has the stem `..`, and `..jpg` the stem `.`: as directory names they would put
        // the variants above or at the top of --out.
        .filter(|s| !s.is_empty() && !s.chars().all(|c| c == '.'))
        .unwrap_or_else(|| "image".to_owned());
    let mut candidate = stem.clone();
    let mut n = 1;
    while !used.insert(candidate.clone()) {
        n += 1;
        candidate = format!("{stem}-{n}");
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_directories_stay_inside_out() {
        let mut used = HashSet::new();
        let stems: Vec<String> = [
            "a/photo.jpg",
            "b/photo.png",
            "...",
            "..jpg",
            ".",
            "x/.hidden",
        ]
        .into_iter()
        .map(|p| unique_stem(Path::new(p), &mut used))
        .collect();
        assert_eq!(
            stems,
            ["photo", "photo-2", "image", "image-2", "image-3", ".hidden"]
        );
    }
}
