//! Outbound HTTP to URLs that tenants give (webhook endpoints, identity providers), safe against
//! server-side request forgery: https only, every address a name resolves to checked and the connection made to a
//! checked one (no second lookup to rebind), no redirects, no proxies, bounded time and answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::{Error, Result};

/// The longest endpoint URL taken.
pub const MAX_URL: usize = 2048;
/// Time to connect (TCP and TLS), and for the whole call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The part of an answer's body kept (for the delivery log); the rest is never read.
pub const ANSWER_KEPT: usize = 1024;

/// Checks a URL a tenant gives as an endpoint: `https://` with a host and no credentials; an IP
/// literal must be a public address. `http://` on a loopback address only when `allow_loopback`
/// (local development). Names are checked again when they are resolved, at every call.
pub fn check_url(field: &'static str, text: &str, allow_loopback: bool) -> Result<Url> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_URL {
        return Err(Error::invalid(
            field,
            format!("give an https URL of at most {MAX_URL} characters"),
        ));
    }
    let url = Url::parse(text).map_err(|e| Error::invalid(field, format!("is not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            field,
            "must not carry a user name or password; use the signing secret",
        ));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(Error::invalid(field, "has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && literal.is_some_and(|ip| ip.is_loopback()) => {}
        "http" if allow_loopback => {
            return Err(Error::invalid(
                field,
                "must be https (http only to 127.0.0.1 or [::1] in local development)",
            ));
        }
        _ => return Err(Error::invalid(field, "must be https")),
    }
    if let Some(ip) = literal
        && !allowed(ip, allow_loopback)
    {
        return Err(Error::invalid(field, refusal(ip)));
    }
    Ok(url)
}

/// Why an address is refused, for the caller.
fn refusal(ip: IpAddr) -> String {
    format!("{ip} is a private, loopback, link-local or reserved address; endpoints must be public")
}

/// True for a public unicast address (and a loopback one when `allow_loopback`). Refused: this
/// network, private (10/8, 172.16/12, 192.168/16, fc00::/7 with AWS's fd00:ec2::254), shared
/// (100.64/10), loopback, link-local (169.254/16 with the instance metadata 169.254.169.254,
/// fe80::/10), documentation, benchmarking, multicast, reserved and broadcast; IPv4 inside IPv6
/// (mapped, compatible, NAT64, 6to4, Teredo) by the IPv4 rules or refused.
pub fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => allowed_v4(v4, allow_loopback),
        IpAddr::V6(v6) => allowed_v6(v6, allow_loopback),
    }
}

fn allowed_v4(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let [a, b, c, _] = ip.octets();
    let refused = a == 0
        || a == 10
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 192 && b == 88 && c == 99)
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224;
    !refused
}

fn allowed_v6(ip: Ipv6Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return allowed_v4(v4, allow_loopback);
    }
    let s = ip.segments();
    let refused = ip.is_unspecified()
        // IPv4-compatible (deprecated), IPv4-translated (::ffff:0:0/96), NAT64 (64:ff9b::/96,
        // 64:ff9b:1::/48), discard (100::/64)
        || (s[0..6] == [0; 6])
        || (s[0..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
        || (s[0] == 0x64 && s[1] == 0xff9b)
        || (s[0] == 0x100 && s[1..4] == [0; 3])
        // Teredo, documentation, 6to4
        || (s[0] == 0x2001 && (s[1] == 0 || s[1] == 0xdb8))
        || s[0] == 0x2002
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] & 0xff00) == 0xff00;
    !refused
}

/// The resolver of every outbound call: a name whose addresses include one that is not allowed
/// is refused whole (a mixed answer is how rebinding attacks start); the client then connects
/// to the addresses returned here, never looking the name up again.
struct CheckedResolver {
    allow_loopback: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            if let Some(bad) = addrs.iter().find(|a| !allowed(a.ip(), allow_loopback)) {
                // Which address is not said: a tenant must not learn internal names' addresses.
                let kind = if bad.ip().is_loopback() {
                    "a loopback"
                } else {
                    "a private or reserved"
                };
                return Err(format!("{host} resolves to {kind} address; endpoints must be public").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// What an endpoint answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The start of the body (at most `ANSWER_KEPT` bytes, lossy UTF-8).
    pub body: String,
    pub millis: u64,
}

/// The SSRF-safe client, made once per process.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl Outbound {
    pub fn new(allow_loopback: bool) -> Result<Outbound> {
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok());
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .dns_resolver(Arc::new(CheckedResolver { allow_loopback }))
            .tls_certs_only(roots)
            .user_agent(concat!("Ovation-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::internal)?;
        Ok(Outbound { client, allow_loopback })
    }

    /// POSTs `body` as JSON with `headers`; a refusal or a failed connection is an `Err` with
    /// its reason (no personal data: the URL's host at most).
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> std::result::Result<Answer, String> {
        let url = check_url("url", url, self.allow_loopback).map_err(|e| e.to_string())?;
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let started = Instant::now();
        let mut response = request.send().await.map_err(|e| reason(&e.without_url()))?;
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        while kept.len() < ANSWER_KEPT {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(ANSWER_KEPT - kept.len())]),
                Ok(None) => break,
                // The status is the answer; a body cut short changes nothing.
                Err(_) => break,
            }
        }
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&kept).into_owned(),
            millis: started.elapsed().as_millis() as u64,
        })
    }
}

/// The most of an answer `send` reads (a provider's discovery document, keys or tokens).
const ANSWER_READ: usize = 256 * 1024;

/// A call `send` could not make or read, with its reason (no personal data).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CallFailed(String);

impl Outbound {
    /// Checks a URL this client is to call (`check_url` under its loopback rule).
    pub fn check(&self, field: &'static str, text: &str) -> Result<Url> {
        check_url(field, text, self.allow_loopback)
    }

    /// Sends `request` as given and reads its whole answer (at most `ANSWER_READ` bytes): the
    /// calls of a sign-in to an identity provider (`openidconnect` makes them through this).
    pub async fn send(
        &self,
        request: axum::http::Request<Vec<u8>>,
    ) -> std::result::Result<axum::http::Response<Vec<u8>>, CallFailed> {
        let url = self
            .check("url", &request.uri().to_string())
            .map_err(|e| CallFailed(e.to_string()))?;
        let (parts, body) = request.into_parts();
        let mut call = self.client.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            call = call.header(name, value);
        }
        let mut response = call.send().await.map_err(|e| CallFailed(reason(&e.without_url())))?;
        let mut answer = axum::http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| CallFailed(reason(&e)))? {
            if body.len() + chunk.len() > ANSWER_READ {
                return Err(CallFailed(format!("the answer is longer than {ANSWER_READ} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        answer.body(body).map_err(|e| CallFailed(e.to_string()))
    }
}

/// The client `openidconnect` makes a sign-in's calls with (discovery, keys, the code's
/// exchange): a named future, boxed, so that the handlers' futures stay `Send`.
impl<'c> openidconnect::AsyncHttpClient<'c> for Outbound {
    type Error = CallFailed;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = std::result::Result<openidconnect::HttpResponse, CallFailed>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// A failed call's reason: the innermost cause (the resolver's refusal, a TLS or connect error).
fn reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    format!("{kind}: {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_reach_inside_are_refused() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.0.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(!allowed(ip.parse().unwrap(), false), "{ip} allowed");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(allowed(ip.parse().unwrap(), false), "{ip} refused");
        }
        assert!(allowed("127.0.0.1".parse().unwrap(), true));
        assert!(!allowed("10.0.0.1".parse().unwrap(), true));
    }

    #[test]
    fn urls_are_https_public_and_without_credentials() {
        let refused = |url: &str, loopback: bool| check_url("url", url, loopback).unwrap_err().to_string();
        assert!(check_url("url", "https://hooks.example.com/ovation?x=1", false).is_ok());
        assert!(refused("http://hooks.example.com/", false).contains("must be https"));
        assert!(refused("ftp://hooks.example.com/", false).contains("must be https"));
        assert!(refused("https://user:pw@hooks.example.com/", false).contains("password"));
        assert!(refused("https://169.254.169.254/latest/meta-data", false).contains("link-local"));
        assert!(refused("https://[fd00:ec2::254]/", false).contains("private"));
        assert!(refused("https://127.0.0.1/", false).contains("loopback"));
        assert!(refused("https://0x7f000001/", false).contains("loopback"));
        assert!(refused("not a url", false).contains("not a URL"));
        assert!(refused(&format!("https://a.example/{}", "x".repeat(MAX_URL)), false).contains("at most"));
        // Local development: http to a loopback literal only.
        assert!(check_url("url", "http://127.0.0.1:8080/hook", true).is_ok());
        assert!(refused("http://localhost:8080/hook", true).contains("127.0.0.1"));
        assert!(refused("http://10.0.0.1/hook", true).contains("must be https"));
        assert!(refused("http://127.0.0.1:8080/hook", false).contains("must be https"));
    }
}
