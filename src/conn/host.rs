//! The `Host` check of `imglake serve`: a request whose `Host` names a server other than this
//! one is refused (421), so a page that rebinds its own DNS name to 127.0.0.1 (DNS rebinding)
//! cannot read the console or the API as a same-origin page.
//!
//! Accepted: any IP address (v4, or v6 in brackets; a rebinding page always sends its own
//! name), `localhost` and names under `.localhost`, and the names given with `--allowed-host`;
//! any port. A request without `Host` (HTTP/1.0) is accepted: browsers always send one.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// The host names this server answers to besides IP addresses and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    names: Vec<String>,
}

impl HostPolicy {
    pub fn new(names: &[String]) -> HostPolicy {
        HostPolicy {
            names: names
                .iter()
                .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// Whether a `Host` header value names this server.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim();
        let name = if let Some(rest) = host.strip_prefix('[') {
            // An IPv6 literal, with or without a port.
            return rest.split_once(']').is_some_and(|(v6, port)| {
                v6.parse::<std::net::Ipv6Addr>().is_ok()
                    && (port.is_empty() || valid_port(port.strip_prefix(':')))
            });
        } else {
            match host.rsplit_once(':') {
                Some((name, port)) if valid_port(Some(port)) => name,
                Some(_) => return false,
                None => host,
            }
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name.parse::<std::net::Ipv4Addr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.names.contains(&name)
    }

    /// The accepted hosts, for messages.
    pub fn describe(&self) -> String {
        let mut all = vec![
            "IP addresses".to_owned(),
            "localhost".to_owned(),
            "*.localhost".to_owned(),
        ];
        all.extend(self.names.iter().cloned());
        all.join(", ")
    }
}

fn valid_port(port: Option<&str>) -> bool {
    port.is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_ok())
}

/// The middleware: 421 for a `Host` that is not this server.
pub async fn check(
    State(policy): State<Arc<HostPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request.headers().get(HOST).map(|v| v.to_str());
    match host {
        None => next.run(request).await,
        Some(Ok(host)) if policy.allows(host) => next.run(request).await,
        Some(host) => {
            let shown = host
                .unwrap_or("(not text)")
                .chars()
                .take(100)
                .collect::<String>();
            tracing::warn!(host = shown, "request for another host refused");
            super::json_error(
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                format!(
                    "this server does not answer to Host {shown} (a page rebinding its DNS \
                     name to this address would); it answers to {}. Start imglake serve \
                     with --allowed-host NAME to add a name",
                    policy.describe()
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_localhost_and_named_hosts_are_accepted_and_others_refused() {
        let policy = HostPolicy::new(&["Imglake.Test".to_owned()]);
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "10.1.2.3:80",
            "[::1]",
            "[::1]:8080",
            "localhost",
            "localhost:3000",
            "LOCALHOST.:3000",
            "app.localhost:1",
            "imglake.test:8080",
            "imglake.test",
        ] {
            assert!(policy.allows(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.nip.io:8080",
            "localhost.evil.example",
            "imglake.test.evil.example",
            "[::1]x",
            "[zz]:80",
            "127.0.0.1:99999",
            "127.0.0.1:",
            "",
        ] {
            assert!(!policy.allows(host), "{host}");
        }
    }
}
