//! End-to-end tests of the workspace: the real `imglake` binary against real readers and
//! servers on 127.0.0.1. Shared helpers live in `util`.

mod moto;
mod util;

mod backfill;
mod console;
mod demo_serve;
mod export_query;
mod hostile;
mod kafka;
mod lambda_stream;
mod lambdas_aws;
mod process_cli;
mod readers;
mod reconcile_aws;
mod redrive;
mod s3_lake;
mod sql_views;
