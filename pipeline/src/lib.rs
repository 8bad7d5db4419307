//! imglake-pipeline: the image half of imglake (metadata model, validation, processing,
//! ingestion and processing handlers, embedded stores).
//!
//! Not built yet: this crate holds the workspace slot that issue 3 fills. The metadata item's
//! attribute names are the lake's column names, defined once in
//! `imglake_exporter::schema::COLUMNS`.
