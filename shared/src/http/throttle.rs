//! Throttling per source IP: a token bucket per client address, in this process. The address is
//! the one API Gateway saw (its request context) on Lambda and the socket's peer locally, never
//! a header a client can write (`X-Forwarded-For`). Every answer carries `X-RateLimit-Limit` and
//! `X-RateLimit-Remaining`; a refused request gets `429` with `Retry-After`. Across Lambda
//! instances the WAF's rate rule bounds an address; this bounds what reaches one instance.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

use crate::config::RateLimit;
use crate::error::Error;

/// Addresses remembered at the most; idle (full) buckets are dropped beyond it.
const MAX_TRACKED: usize = 100_000;

/// The client's address, as the platform saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// API Gateway's source IP on Lambda, else the socket's peer; `None` when neither is known.
    pub fn of(extensions: &axum::http::Extensions) -> Option<ClientIp> {
        let from_gateway = extensions.request_context_ref().and_then(|ctx| match ctx {
            RequestContext::ApiGatewayV1(c) => c.identity.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
            RequestContext::ApiGatewayV2(c) => c.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
            _ => None,
        });
        from_gateway
            .or_else(|| extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
            .map(ClientIp)
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets, one per address: `burst` requests at once, refilled at `per_second`.
pub struct Throttle {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// What one request may do: go on with `remaining` tokens, or wait.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Allowed { remaining: u32 },
    Refused { retry_after: Duration },
}

impl Throttle {
    pub fn new(limit: RateLimit) -> Self {
        Throttle {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one token for `ip` at `now`.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Verdict {
        let burst = f64::from(self.limit.burst);
        let rate = f64::from(self.limit.per_second);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&ip) {
            // A bucket refilled to the brim says nothing a new one would not.
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket { tokens: burst, at: now });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Allowed {
                remaining: bucket.tokens as u32,
            }
        } else {
            Verdict::Refused {
                retry_after: Duration::from_secs_f64((1.0 - bucket.tokens) / rate),
            }
        }
    }
}

/// The middleware: refuses over-limit requests, labels every answer with the limit.
pub async fn throttle_by_ip(State(throttle): State<Arc<Throttle>>, req: Request, next: Next) -> Response {
    // Without a known address (only in-process tests) there is nothing to key a bucket on.
    let Some(ClientIp(ip)) = ClientIp::of(req.extensions()) else {
        return next.run(req).await;
    };
    let limit = throttle.limit().burst;
    let (mut response, remaining) = match throttle.take(ip, Instant::now()) {
        Verdict::Allowed { remaining } => (next.run(req).await, remaining),
        Verdict::Refused { retry_after } => (Error::RateLimited { retry_after }.into_response(), 0),
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_second: u32, burst: u32) -> Throttle {
        Throttle::new(RateLimit { per_second, burst })
    }

    #[test]
    fn a_burst_then_the_refill_rate() {
        let t = throttle(10, 3);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let start = Instant::now();
        for left in [2, 1, 0] {
            assert_eq!(t.take(ip, start), Verdict::Allowed { remaining: left });
        }
        match t.take(ip, start) {
            Verdict::Refused { retry_after } => assert_eq!(retry_after, Duration::from_millis(100)),
            other => panic!("{other:?}"),
        }
        // 100 ms later one token has come back, and only one.
        let later = start + Duration::from_millis(100);
        assert_eq!(t.take(ip, later), Verdict::Allowed { remaining: 0 });
        assert!(matches!(t.take(ip, later), Verdict::Refused { .. }));
        // Another address has its own bucket.
        assert_eq!(
            t.take("2001:db8::1".parse().unwrap(), later),
            Verdict::Allowed { remaining: 2 }
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let t = throttle(1000, 1);
        let start = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 10) {
            t.take(IpAddr::from(i.to_be_bytes()), start);
        }
        // Every bucket refills within a millisecond: the idle ones are dropped to make room.
        let later = start + Duration::from_millis(5);
        t.take("198.51.100.1".parse().unwrap(), later);
        assert!(t.buckets.lock().unwrap().len() < MAX_TRACKED);
    }
}
