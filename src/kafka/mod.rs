//! Kafka for `imglake serve` (consumer) and `imglake kafka-send` (producer), over rskafka: a
//! pure Rust client (TLS by rustls, SASL PLAIN and SCRAM-SHA-256/512 by rsasl), so the
//! default build needs no librdkafka, cmake or OpenSSL headers.
//!
//! - [`config`]: brokers, TLS (system or given CA, client certificates), SASL, timeouts.
//! - [`event`]: fetched records → the Lambda's Kafka event, for the one kafka handler.
//! - [`consumer`]: per-partition fetch → handle → commit loop, offsets in the embedded store.
//! - [`producer`]: batches within the broker's message limit, offsets reported back.
//!
//! rskafka has no consumer-group protocol (no group membership, no rebalancing, no offsets
//! committed to the broker): serve reads every partition itself and keeps its offsets in its
//! own metadata store, which is where they belong for a data directory (see
//! [`imglake_pipeline::store::EmbeddedStore::kafka_offsets`]). Not supported: MSK IAM
//! authentication (use SASL/SCRAM or mutual TLS), Kerberos (GSSAPI), transactions.

pub mod config;
pub mod consumer;
pub mod event;
pub mod producer;
