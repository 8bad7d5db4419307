//! Embeds the SQL files of `sql/` into the CLI, so that `imglake query` and `imglake check`
//! run exactly the statements that are deployed to Athena, wherever the binary is installed.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=sql");
    let mut out = String::new();
    for (constant, dir) in [
        ("VIEWS", "sql/athena/views"),
        ("QUERIES", "sql/queries"),
        ("CHECKS", "sql/checks"),
    ] {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "sql"))
                    .map(|p| p.display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let _ = writeln!(out, "pub const {constant}: &[SqlFile] = &[");
        for file in files {
            let name = Path::new(&file)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            // The text itself, not an include_str! of an absolute path: a target directory
            // shared between checkouts must never point one checkout at another's files.
            let text = std::fs::read_to_string(&file).expect("sql file is UTF-8 text");
            let _ = writeln!(
                out,
                "    SqlFile {{ name: {name:?}, path: {file:?}, text: {text:?} }},"
            );
        }
        let _ = writeln!(out, "];");
    }
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("sql_files.rs");
    std::fs::write(dest, out).expect("write sql_files.rs");
}
