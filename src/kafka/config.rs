//! How to reach a Kafka cluster: brokers, TLS and SASL, shared by `serve` and `kafka-send`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Client id the brokers see (in their request logs and quotas).
pub const CLIENT_ID: &str = "imglake";

/// Largest response frame read from a broker: bounds the memory of one fetch (a broker
/// returns a whole record batch even when it is larger than the fetch asked for).
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// SASL mechanisms the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaslMechanism {
    /// Username and password in clear text (use with --kafka-tls).
    Plain,
    /// SCRAM-SHA-256.
    #[value(name = "scram-sha-256")]
    ScramSha256,
    /// SCRAM-SHA-512 (what MSK's SASL/SCRAM authentication uses).
    #[value(name = "scram-sha-512")]
    ScramSha512,
}

/// The connection to a cluster: TLS, SASL and timeouts (the brokers and topic are given by
/// each command).
#[derive(Debug, Clone, Args)]
pub struct KafkaConnArgs {
    /// Connect with TLS (MSK: port 9094 for TLS, 9096 for SASL/SCRAM). Trusts the system's
    /// CA certificates unless --kafka-tls-ca is given. Any --kafka-tls-* option implies it.
    #[arg(long, env = "IMGLAKE_KAFKA_TLS")]
    pub kafka_tls: bool,

    /// PEM file of the CA certificates that sign the brokers' certificates (instead of the
    /// system's).
    #[arg(long, env = "IMGLAKE_KAFKA_TLS_CA", value_name = "PEM")]
    pub kafka_tls_ca: Option<PathBuf>,

    /// PEM file of this client's certificate chain, for brokers that require TLS client
    /// authentication (MSK mutual TLS); needs --kafka-tls-key.
    #[arg(
        long,
        env = "IMGLAKE_KAFKA_TLS_CERT",
        value_name = "PEM",
        requires = "kafka_tls_key"
    )]
    pub kafka_tls_cert: Option<PathBuf>,

    /// PEM file of this client's private key (PKCS#8, PKCS#1 or SEC1); needs --kafka-tls-cert.
    #[arg(
        long,
        env = "IMGLAKE_KAFKA_TLS_KEY",
        value_name = "PEM",
        requires = "kafka_tls_cert"
    )]
    pub kafka_tls_key: Option<PathBuf>,

    /// SASL mechanism; needs --kafka-sasl-username and a password. MSK IAM authentication is
    /// not supported.
    #[arg(
        long,
        env = "IMGLAKE_KAFKA_SASL_MECHANISM",
        value_enum,
        requires = "kafka_sasl_username"
    )]
    pub kafka_sasl_mechanism: Option<SaslMechanism>,

    /// SASL username.
    #[arg(
        long,
        env = "IMGLAKE_KAFKA_SASL_USERNAME",
        requires = "kafka_sasl_mechanism"
    )]
    pub kafka_sasl_username: Option<String>,

    /// SASL password (prefer the environment variable or --kafka-sasl-password-file: a
    /// command line is visible to other users of the machine).
    #[arg(long, env = "IMGLAKE_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<String>,

    /// File whose first line is the SASL password.
    #[arg(
        long,
        env = "IMGLAKE_KAFKA_SASL_PASSWORD_FILE",
        conflicts_with = "kafka_sasl_password"
    )]
    pub kafka_sasl_password_file: Option<PathBuf>,

    /// How long one broker request may keep failing (broker down, leader moving) before it
    /// is reported; requests are retried with backoff until then (e.g. 10s, 1m).
    #[arg(long, env = "IMGLAKE_KAFKA_TIMEOUT", default_value = "15s", value_parser = crate::cli::parse_duration)]
    pub kafka_timeout: Duration,
}

impl KafkaConnArgs {
    fn tls_wanted(&self) -> bool {
        self.kafka_tls
            || self.kafka_tls_ca.is_some()
            || self.kafka_tls_cert.is_some()
            || self.kafka_tls_key.is_some()
    }

    /// Connects to `brokers` (bootstrap list) and reads the cluster's metadata. Errors name
    /// the option to fix.
    pub async fn connect(&self, brokers: &[String]) -> anyhow::Result<Client> {
        if brokers.is_empty() {
            bail!("no Kafka brokers: give --kafka-brokers HOST:PORT[,HOST:PORT…]");
        }
        for broker in brokers {
            check_broker(broker)?;
        }
        let mut builder = ClientBuilder::new(brokers.to_vec())
            .client_id(CLIENT_ID)
            .max_message_size(MAX_FRAME_BYTES)
            .backoff_config(rskafka::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
                deadline: Some(self.kafka_timeout),
            });
        if self.tls_wanted() {
            builder = builder.tls_config(Arc::new(self.tls_config()?));
        }
        if let Some(sasl) = self.sasl_config()? {
            builder = builder.sasl_config(sasl);
        }
        let list = brokers.join(",");
        builder.build().await.map_err(|e| {
            let text = format!("{e:?}");
            let hint = if text.contains("Sasl") {
                "check --kafka-sasl-mechanism, --kafka-sasl-username and the password"
            } else if text.contains("certificate") || text.contains("InvalidCertificate") {
                "the brokers' certificate is not trusted: give their CA with --kafka-tls-ca"
            } else if self.tls_wanted() {
                "check --kafka-brokers, that those ports speak TLS, and --kafka-tls-ca"
            } else {
                "check --kafka-brokers and that the broker runs; brokers that require TLS need --kafka-tls"
            };
            anyhow::anyhow!(
                "cannot connect to Kafka at {list} within {:?} ({hint}): {e}",
                self.kafka_timeout
            )
        })
    }

    fn tls_config(&self) -> anyhow::Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.kafka_tls_ca {
            Some(path) => {
                for cert in read_certs(path, "--kafka-tls-ca")? {
                    roots.add(cert).with_context(|| {
                        format!(
                            "--kafka-tls-ca {}: a certificate is not valid",
                            path.display()
                        )
                    })?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(native.certs);
                if added == 0 {
                    bail!(
                        "no CA certificates found in the system's trust store ({}); give the brokers' CA with --kafka-tls-ca PEM",
                        native
                            .errors
                            .first()
                            .map_or_else(|| "it is empty".to_owned(), ToString::to_string)
                    );
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS set-up")?
            .with_root_certificates(roots);
        Ok(match (&self.kafka_tls_cert, &self.kafka_tls_key) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "--kafka-tls-cert")?;
                let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
                    format!(
                        "--kafka-tls-key {}: no PEM private key could be read",
                        key.display()
                    )
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .context("--kafka-tls-cert and --kafka-tls-key do not make a usable pair")?
            }
            _ => builder.with_no_client_auth(),
        })
    }

    fn sasl_config(&self) -> anyhow::Result<Option<SaslConfig>> {
        let (Some(mechanism), Some(username)) =
            (self.kafka_sasl_mechanism, &self.kafka_sasl_username)
        else {
            return Ok(None);
        };
        let password = match (&self.kafka_sasl_password, &self.kafka_sasl_password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| {
                    format!("cannot read --kafka-sasl-password-file {}", path.display())
                })?
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
            (None, None) => bail!(
                "--kafka-sasl-mechanism needs a password: set IMGLAKE_KAFKA_SASL_PASSWORD or give --kafka-sasl-password-file"
            ),
        };
        let credentials = Credentials::new(username.clone(), password);
        Ok(Some(match mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(credentials),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
        }))
    }
}

/// `HOST:PORT` with a port: a missing port is the commonest slip, and the client's own
/// error for it says little.
fn check_broker(broker: &str) -> anyhow::Result<()> {
    let port = broker
        .rsplit_once(':')
        .and_then(|(host, port)| (!host.is_empty()).then_some(port));
    match port.map(str::parse::<u16>) {
        Some(Ok(p)) if p > 0 => Ok(()),
        _ => bail!("--kafka-brokers: `{broker}` is not HOST:PORT (e.g. 127.0.0.1:9092)"),
    }
}

fn read_certs(path: &Path, option: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read {option} {}", path.display()))?;
    if certs.is_empty() {
        bail!("{option} {}: no PEM certificate in it", path.display());
    }
    Ok(certs)
}

/// A topic name Kafka accepts: 1 to 249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`.
pub fn parse_topic(s: &str) -> Result<String, String> {
    let ok = (1..=249).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("a topic is 1 to 249 of a-z A-Z 0-9 . _ - (and not . or ..)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_need_a_host_and_a_port() {
        assert!(check_broker("127.0.0.1:9092").is_ok());
        assert!(check_broker("b-1.cluster.kafka.us-east-1.amazonaws.com:9096").is_ok());
        assert!(check_broker("[::1]:9092").is_ok());
        for bad in [
            "127.0.0.1",
            "localhost:",
            ":9092",
            "host:0",
            "host:99999",
            "host:x",
        ] {
            let err = check_broker(bad).expect_err(bad).to_string();
            assert!(err.contains("HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(parse_topic("images.v1_raw-2").is_ok());
        for bad in ["", ".", "..", "a b", "ä", &"x".repeat(250)] {
            assert!(parse_topic(bad).is_err(), "{bad}");
        }
    }
}
