//! Authentication figures: argon2id hash and verify time and the process's peak memory while
//! hashing; what authenticating a request adds on the embedded store (parse, one store read, the
//! cached tenant), for an API key and for a session; and a whole authenticated request through
//! the router, in process.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use ovation::auth::credential;
use ovation::auth::password::{self, Password};
use ovation::config::Settings;
use ovation::services::accounts::credentials::{self, NewCredential};
use ovation::services::accounts::sessions;
use ovation::services::accounts::sign_in;
use ovation::services::accounts::sign_in::{SignInRequest, SignInResult};
use ovation::services::lifecycle::tenants::{self, NewTenant};
use ovation::{Context, Error, Result};
use tower::ServiceExt;

use super::report;

/// The process's peak resident memory so far (VmHWM), in MiB.
pub(super) fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn per_call(what: &str, count: usize, started: Instant) {
    let micros = started.elapsed().as_secs_f64() * 1e6 / count as f64;
    println!("{what:<44} {count:>9} calls: {micros:>9.1} µs each");
}

pub async fn figures(dir: &std::path::Path, n: usize) -> Result<()> {
    println!("# authentication");
    let before = peak_rss_mib();
    let pw = Password::new("correct horse battery staple".into(), password::MIN_LEN)?;
    let runs = 20;
    let started = Instant::now();
    let mut phc = String::new();
    for _ in 0..runs {
        phc = password::hash(&pw).await?;
    }
    per_call("argon2id hash (m=19 MiB, t=2, p=1)", runs, started);
    let started = Instant::now();
    for _ in 0..runs {
        password::verify(pw.as_str(), &phc).await?;
    }
    per_call("argon2id verify", runs, started);
    // As many at once as the process allows (two): the memory a burst of sign-ins costs.
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let pw = Password::new("correct horse battery staple".into(), password::MIN_LEN);
            tokio::spawn(async move { password::hash(&pw?).await })
        })
        .collect();
    for task in burst {
        task.await.map_err(Error::internal)??;
    }
    println!(
        "{:<44} {:>9.1} MiB (before hashing {before:.1} MiB)",
        "peak resident memory after 8 concurrent hashes",
        peak_rss_mib()
    );

    let mut settings = Settings::local(dir.join("auth"));
    // The figures are of the work, not of the tenant's request budget.
    settings.rate_per_tenant_minute = u32::MAX;
    let ctx = Context::from_settings(settings).await?;
    let created = tenants::create(
        &ctx,
        NewTenant {
            slug: "bench".into(),
            owner_email: "owner@bench.example".into(),
            display_name: None,
        },
    )
    .await?;
    let store = ctx.tenant_store(&created.tenant.id);
    let request = NewCredential {
        name: "bench".into(),
        scope: ovation::auth::Scope::Read,
    };
    let key = credentials::create_api_key(&store, None, request).await?.key;
    let signed = sign_in::sign_in(
        &ctx,
        SignInRequest {
            tenant: "bench".into(),
            email: "owner@bench.example".into(),
            password: created.one_time_password.clone(),
        },
        None,
    )
    .await?;
    let SignInResult::SignedIn { token: session, .. } = signed else {
        return Err(Error::internal("the bench owner has no second factor"));
    };
    for (what, token) in [("authenticate an API key", &key), ("authenticate a session", &session)] {
        let presented = credential::parse(token)?;
        sessions::authenticate(&ctx, &presented, None).await?;
        let started = Instant::now();
        for _ in 0..n {
            let presented = credential::parse(token)?;
            sessions::authenticate(&ctx, &presented, None).await?;
        }
        per_call(what, n, started);
    }
    let app = crate::router(Arc::clone(&ctx));
    let request = |path: &str, token: Option<&str>| {
        let mut r = Request::get(path);
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(Body::empty()).map_err(Error::internal)
    };
    for (what, path, token) in [
        ("request without credential (GET /openapi.json)", "/openapi.json", None),
        ("request with an API key (GET /v1/me)", "/v1/me", Some(key.as_str())),
    ] {
        let started = Instant::now();
        for _ in 0..n {
            let response = app
                .clone()
                .oneshot(request(path, token)?)
                .await
                .map_err(Error::internal)?;
            if !response.status().is_success() {
                return Err(Error::internal(format!("{path} answered {}", response.status())));
            }
        }
        report(what, n, started);
    }
    Ok(())
}
