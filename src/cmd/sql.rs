//! `imglake sql`: the SQL of `sql/` that this binary carries.

use std::process::ExitCode;

use crate::cli::{SqlArgs, SqlDialect};
use crate::sql::{SqlFile, CHECKS, QUERIES, VIEWS};

pub fn run(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let groups: [(&str, &[SqlFile]); 3] = [("view", VIEWS), ("query", QUERIES), ("check", CHECKS)];
    let Some(name) = args.name else {
        for (kind, files) in groups {
            for file in files {
                outln!("{kind:<6} {:<28} {}", file.name, file.path);
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let found = groups
        .iter()
        .flat_map(|(_, files)| files.iter())
        .find(|f| f.name == name);
    match found {
        Some(file) => {
            match args.dialect {
                SqlDialect::Athena => out!("{}", file.text),
                SqlDialect::Datafusion => outln!("{}", file.for_datafusion()),
            }
            Ok(ExitCode::SUCCESS)
        }
        None => anyhow::bail!("no SQL named `{name}`: run `imglake sql` to list them"),
    }
}
