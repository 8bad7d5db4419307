//! End-to-end tests of the workspace: the real `imglake` binary against real readers and
//! servers on 127.0.0.1. Shared helpers live in `util`.

mod util;

mod export_query;
mod lambda_stream;
mod process_cli;
mod readers;
mod s3_lake;
mod sql_views;
