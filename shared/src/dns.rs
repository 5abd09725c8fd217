//! Reading a name's TXT records (an email domain's proof of ownership) through the system's
//! resolvers, or the servers `OVATION_DNS_SERVERS` names; plain DNS over UDP, then TCP when an
//! answer is truncated. Each read asks the servers afresh (no cache of ours).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

use crate::error::{Error, Result};

/// How long one server has to answer, and how often it is asked again (hickory's `attempts`
/// counts the tries after the first).
const TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPTS: usize = 1;
/// How long a whole read may take (within a function's 10 seconds).
const WHOLE_READ: Duration = Duration::from_secs(7);
/// The most TXT records read from one answer.
const MAX_RECORDS: usize = 100;

fn unavailable(reason: impl std::fmt::Display) -> Error {
    Error::Unavailable {
        service: "DNS",
        reason: reason.to_string(),
    }
}

/// A resolver over `servers`, or the system's when none are named.
fn resolver(servers: &[SocketAddr]) -> Result<TokioResolver> {
    let mut builder = if servers.is_empty() {
        Resolver::builder_tokio().map_err(unavailable)?
    } else {
        let named = servers
            .iter()
            .map(|server| {
                let mut config = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut config.connections {
                    connection.port = server.port();
                }
                config
            })
            .collect();
        Resolver::builder_with_config(
            ResolverConfig::from_name_servers(named),
            TokioRuntimeProvider::default(),
        )
    };
    let options = builder.options_mut();
    options.timeout = TIMEOUT;
    options.attempts = ATTEMPTS;
    options.cache_size = 0;
    builder.build().map_err(unavailable)
}

/// The TXT records of `name` (a fully qualified name, without the final dot), each record's
/// strings joined as RFC 7208 §3.3 reads them; none when the name or its records do not exist.
pub async fn txt_records(servers: &[SocketAddr], name: &str) -> Result<Vec<String>> {
    let resolver = resolver(servers)?;
    let answer = tokio::time::timeout(WHOLE_READ, resolver.txt_lookup(format!("{name}.")))
        .await
        .map_err(|_| unavailable("no answer in time"))?;
    let lookup = match answer {
        Ok(lookup) => lookup,
        Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
        Err(e) => return Err(unavailable(e)),
    };
    Ok(lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part))
                    .collect::<String>(),
            ),
            _ => None,
        })
        .take(MAX_RECORDS)
        .collect())
}
