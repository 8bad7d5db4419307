//! The SQL of `sql/`, embedded at build time, and the one place where Athena (Trino) SQL is
//! adapted for DataFusion. The files are written in the SQL both engines run; where a function
//! differs, [`to_datafusion`] rewrites it, and each rewrite is tested.

/// One embedded SQL file.
#[derive(Debug, Clone, Copy)]
pub struct SqlFile {
    /// File stem, e.g. `images_current`.
    pub name: &'static str,
    /// Path in the repository, for messages.
    pub path: &'static str,
    /// The statement as deployed to Athena.
    pub text: &'static str,
}

impl SqlFile {
    /// The statement as `imglake` runs it: trailing `;` dropped, adapted for DataFusion.
    pub fn for_datafusion(&self) -> String {
        to_datafusion(self.text.trim().trim_end_matches(';'))
    }
}

include!(concat!(env!("OUT_DIR"), "/sql_files.rs"));

/// Rewrites of Trino functions whose DataFusion spelling differs: (Trino function name, the
/// DataFusion text that replaces `name(`). Matched case-insensitively on the function name
/// followed by `(`; the arguments and the closing parenthesis stay as they are.
const FUNCTION_REWRITES: &[(&str, &str)] = &[
    ("approx_percentile", "approx_percentile_cont("),
    // Trino's to_unixtime(ts) is epoch seconds as a double, milliseconds in the fraction;
    // DataFusion's truncates to whole seconds, its date_part('epoch', ts) keeps the fraction.
    ("to_unixtime", "date_part('epoch', "),
];

/// Adapts one Athena statement for DataFusion.
pub fn to_datafusion(sql: &str) -> String {
    let mut out = sql.to_owned();
    for (trino, datafusion) in FUNCTION_REWRITES {
        out = replace_call(&out, trino, datafusion);
    }
    out
}

/// Replaces calls `name(` (whole identifier, any case) with `replacement`, which includes the
/// opening parenthesis.
fn replace_call(sql: &str, name: &str, replacement: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let pattern = format!("{name}(");
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    let mut search = 0;
    while let Some(pos) = lower[search..].find(&pattern) {
        let start = search + pos;
        let boundary = start == 0
            || !lower.as_bytes()[start - 1].is_ascii_alphanumeric()
                && lower.as_bytes()[start - 1] != b'_';
        if boundary {
            out.push_str(&sql[last..start]);
            out.push_str(replacement);
            last = start + pattern.len();
        }
        search = start + pattern.len();
    }
    out.push_str(&sql[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trino_percentiles_become_datafusion_percentiles() {
        assert_eq!(
            to_datafusion(
                "select APPROX_PERCENTILE(processing_ms, 0.5), my_approx_percentile(x) from t"
            ),
            "select approx_percentile_cont(processing_ms, 0.5), my_approx_percentile(x) from t"
        );
        assert_eq!(to_datafusion("select 1"), "select 1");
    }

    #[test]
    fn trino_unixtime_keeps_its_milliseconds_in_datafusion() {
        assert_eq!(
            to_datafusion(
                "round((TO_UNIXTIME(processed_at) - to_unixtime(received_at)) * 1000), \
                 from_unixtime(x), my_to_unixtime(y)"
            ),
            "round((date_part('epoch', processed_at) - date_part('epoch', received_at)) * 1000), \
             from_unixtime(x), my_to_unixtime(y)"
        );
    }
}
