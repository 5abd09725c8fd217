//! A client of the running stack: the whole product (`ovation_cli::router`) served in-process on
//! a loopback port over either engine, and calls to it over real HTTP from any 127.x address
//! (the server sees each as its own client). Fixtures make tenants and users through the API.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use base64::Engine as _;
use ovation::Context;
use ovation::auth::credential;
use ovation::config::Settings;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::Engines;

/// The operator key of every test stack.
pub const OPERATOR_KEY: &str = "ovo_test-operator-key-0123456789abcdefghijklmnopq";
/// The password fixtures give every user.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Stack {
    pub ctx: Arc<Context>,
    pub url: String,
    /// Keeps the store's directory alive while the stack runs.
    _engines: Engines,
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// HTTP Basic of these raw `user:password` bytes.
    Basic(&'a str),
    /// This exact Authorization header value.
    Raw(&'a [u8]),
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    /// Reads a whole response: status, headers, text and (when it is JSON) body.
    pub async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
            text,
        }
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn str(&self, name: &str) -> String {
        self.body[name].as_str().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path (from `/v1/`) of the next page its `Link` header names, if any.
    pub fn next_page(&self) -> Option<String> {
        let link = self.header("link")?.split(';').next()?;
        let url = link.trim_matches(|c| c == '<' || c == '>' || c == ' ');
        Some(url[url.find("/v1/")?..].to_owned())
    }
}

/// A signed-in user of a fixture tenant.
pub struct Member {
    pub token: String,
    pub user_id: String,
}

impl Member {
    /// This member as an owner of `tenant` calling the services directly.
    pub fn owner_of(&self, tenant: &ovation::ids::TenantId) -> ovation::services::Caller {
        ovation::services::Caller {
            principal: ovation::auth::Principal {
                tenant: tenant.clone(),
                actor: ovation::auth::Actor::User {
                    id: self.user_id.clone(),
                    session: [0; 32],
                },
                role: ovation::auth::Role::Owner,
                restriction: None,
            },
            ip: None,
            sees_people: true,
            surveys: ovation::services::SurveyAccess::Every,
        }
    }
}

impl Stack {
    /// Serves the product over `engines` with test settings (generous sign-in budget, the test
    /// operator key), changed by `tweak`.
    pub async fn start(engines: Engines, tweak: impl FnOnce(&mut Settings)) -> Stack {
        Stack::start_knowing_url(engines, |settings, _| tweak(settings)).await
    }

    /// `start`, with `tweak` told the address the stack will answer at (for settings that name
    /// it, as a public URL does).
    pub async fn start_knowing_url(engines: Engines, tweak: impl FnOnce(&mut Settings, &str)) -> Stack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = Settings::local(engines.dir.path().to_owned());
        settings.login_rate_per_ip.per_second = 1000;
        settings.login_rate_per_ip.burst = 1000;
        settings.rate_per_ip.per_second = 10_000;
        settings.rate_per_ip.burst = 10_000;
        settings.site_rate_per_ip.per_second = 10_000;
        settings.site_rate_per_ip.burst = 10_000;
        settings.operator_keys = vec![credential::sha256(OPERATOR_KEY)];
        tweak(&mut settings, &url);
        let ctx = Context::with_adapters(settings, engines.store.clone(), engines.keyring.clone());
        crate::support::start_scheduler_at(&ctx, ovation::store::now_unix()).await;
        serve_on(listener, ctx.clone());
        Stack {
            ctx,
            url,
            _engines: engines,
        }
    }

    /// Calls from 127.0.0.`host`.
    pub async fn call(&self, host: u8, method: &str, path: &str, auth: Auth<'_>, body: Option<Value>) -> Answer {
        call(&self.url, host, method, path, auth, body).await
    }

    /// From 127.0.0.1.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(1, "GET", path, Auth::Bearer(token), None).await
    }

    pub async fn send(&self, method: &str, path: &str, token: &str, body: Value) -> Answer {
        self.call(1, method, path, Auth::Bearer(token), Some(body)).await
    }

    pub async fn sign_in(&self, host: u8, slug: &str, email: &str, password: &str) -> Answer {
        let body = json!({"tenant": slug, "email": email, "password": password});
        self.call(host, "POST", "/v1/auth/sign_in", Auth::None, Some(body))
            .await
    }

    /// A new tenant through the platform API (owner `owner@{slug}.example`).
    pub async fn create_tenant(&self, slug: &str) -> Answer {
        let body = json!({"slug": slug, "owner_email": format!("owner@{slug}.example")});
        let created = self
            .call(
                3,
                "POST",
                "/v1/platform/tenants",
                Auth::Bearer(OPERATOR_KEY),
                Some(body),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        created
    }

    /// A new tenant, and its owner signed in with `PASSWORD` (the one-time password changed).
    pub async fn tenant(&self, slug: &str) -> Member {
        let email = format!("owner@{slug}.example");
        let created = self.create_tenant(slug).await;
        let first = self.sign_in(1, slug, &email, &created.str("one_time_password")).await;
        assert_eq!(first.body["required_action"], "password_change", "{first:?}");
        let changed = self
            .send(
                "POST",
                "/v1/me/password",
                &first.str("token"),
                json!({"current_password": created.str("one_time_password"), "new_password": PASSWORD}),
            )
            .await;
        assert_eq!(changed.status, 200, "{changed:?}");
        Member {
            token: changed.str("token"),
            user_id: changed.str("user_id"),
        }
    }

    /// A user of `role` invited by `by` and signed in (through accepting the invitation).
    pub async fn member(&self, by: &Member, role: &str, email: &str) -> Member {
        let invited = self
            .send("POST", "/v1/users", &by.token, json!({"email": email, "role": role}))
            .await;
        assert_eq!(invited.status, 201, "{invited:?}");
        let accepted = self
            .call(
                1,
                "POST",
                "/v1/auth/accept_invite",
                Auth::None,
                Some(json!({"invite_token": invited.str("invite_token"), "password": PASSWORD})),
            )
            .await;
        assert_eq!(accepted.status, 200, "{accepted:?}");
        Member {
            token: accepted.str("token"),
            user_id: accepted.str("user_id"),
        }
    }

    /// An API key of `scope` made by `by`: the key and its id.
    pub async fn api_key(&self, by: &Member, scope: &str) -> (String, String) {
        self.api_key_from(1, by, scope).await
    }

    /// The same, asked from 127.0.0.`host`.
    pub async fn api_key_from(&self, host: u8, by: &Member, scope: &str) -> (String, String) {
        let body = json!({"name": "integration", "scope": scope});
        let made = self
            .call(host, "POST", "/v1/api_keys", Auth::Bearer(&by.token), Some(body))
            .await;
        assert_eq!(made.status, 201, "{made:?}");
        (made.str("key"), made.str("id"))
    }

    /// An admin API key of tenant `slug`, made by the operator (no sign-in needed).
    pub async fn tenant_key(&self, slug: &str) -> String {
        let body = json!({"name": "operator", "scope": "admin"});
        let path = format!("/v1/platform/tenants/{slug}/api_keys");
        let made = self
            .call(3, "POST", &path, Auth::Bearer(OPERATOR_KEY), Some(body))
            .await;
        assert_eq!(made.status, 201, "{made:?}");
        made.str("key")
    }
}

/// Serves `ctx`'s whole product on a free loopback port; returns its base URL.
pub async fn serve(ctx: Arc<Context>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    serve_on(listener, ctx);
    url
}

fn serve_on(listener: tokio::net::TcpListener, ctx: Arc<Context>) {
    let app = ovation_cli::local_app(ctx).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
}

pub async fn call(url: &str, host: u8, method: &str, path: &str, auth: Auth<'_>, body: Option<Value>) -> Answer {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)))
        .build()
        .unwrap();
    let mut request = client.request(method.parse().unwrap(), format!("{url}{path}"));
    match auth {
        Auth::None => {}
        Auth::Bearer(token) => request = request.bearer_auth(token),
        Auth::Basic(raw) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            request = request.header("authorization", format!("Basic {encoded}"));
        }
        Auth::Raw(value) => {
            request = request.header(
                "authorization",
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            );
        }
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Answer::read(request.send().await.unwrap()).await
}
