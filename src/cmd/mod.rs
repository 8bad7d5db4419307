//! One module per subcommand.

pub mod check;
pub mod compact;
pub mod demo;
pub mod export;
pub mod process;
pub mod query;
pub mod schema;
pub mod serve;
pub mod sql;
