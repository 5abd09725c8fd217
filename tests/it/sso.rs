//! Single sign-on against a real OpenID Connect provider: npm's `oidc-provider` (OpenID
//! Certified), started on loopback by the test (`tests/clients/oidc_provider.mjs`), its sign-in
//! form passed by `oidc_leg.mjs` (or by Chromium). The settings (owners only, the secret never
//! shown), sign-in by workspace, a user created just in time, the return path kept inside the
//! app, and every attack refused and audited with its reason: forged, unsigned, misaddressed,
//! expired and replayed tokens, a wrong nonce, an unverified email, a replayed callback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::api::{Member, Stack};
use crate::clients::Chromium;
use crate::dns::DnsServer;
use crate::support::Engines;

const CLIENT_ID: &str = "ovation-test";
const SECRET: &str = "a-client-secret-for-the-test-provider-0123456789";

/// The test identity provider, stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
    dir: tempfile::TempDir,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts the provider for the app at `app` (its redirect URI registered), with its accounts.
    fn start(chromium: &Chromium, app: &str) -> Provider {
        let dir = tempfile::tempdir().unwrap();
        let accounts = json!({
            "ana@acme.example": {"email": "ana@acme.example", "email_verified": true, "name": "Ana Lima"},
            // Another account of the provider that took Ana's email (its administrator changed it).
            "ana.again": {"email": "ana@acme.example", "email_verified": true},
            "owner@acme.example": {"email": "owner@acme.example", "email_verified": true},
            "bo@acme.example": {"email": "bo@acme.example", "email_verified": false},
            "ivy@acme.example": {"email": "ivy@acme.example", "email_verified": true},
            "ed@acme.example": {"email": "ed@acme.example", "email_verified": true},
            // As Microsoft Entra ID sends them: no email_verified, its xms_edov instead.
            "eli@acme.example": {"email": "eli@acme.example", "xms_edov": true},
            "una@acme.example": {"email": "una@acme.example", "xms_edov": false},
            "eve@elsewhere.example": {"email": "eve@elsewhere.example", "email_verified": true},
        });
        let mut command = chromium.node(dir.path(), &["oidc_provider.mjs", "oidc_leg.mjs", "oidc_login.mjs"]);
        command
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", SECRET)
            .env("OIDC_REDIRECT_URI", format!("{app}/sso/acme/callback"))
            .env("OIDC_ACCOUNTS", accounts.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let issuer = serde_json::from_str::<Value>(&line).unwrap()["issuer"]
            .as_str()
            .unwrap()
            .to_owned();
        Provider { child, issuer, dir }
    }

    /// Makes the provider's next ID tokens forged as `mode` (`None`: honest again).
    async fn tamper(&self, mode: Option<&str>) {
        let answer = reqwest::Client::new()
            .post(format!("{}/__test/tamper", self.issuer))
            .json(&json!({ "mode": mode }))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{mode:?}");
    }

    /// The provider's leg: signs in at `authorization` as `login`, and the URL it sends the
    /// browser back to the app with.
    async fn sign_in(&self, authorization: &str, login: &str, app: &str) -> String {
        let mut command = Command::new("node");
        command.arg(self.dir.path().join("oidc_leg.mjs")).args([
            authorization,
            login,
            &format!("{app}/sso/acme/callback"),
        ]);
        crate::clients::run(command).await["callback"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// A browser's view of one answer: status, the cookies it set, where it moves on to, its text.
pub(crate) struct Seen {
    pub(crate) status: u16,
    pub(crate) cookies: Vec<String>,
    pub(crate) refresh: Option<String>,
    pub(crate) text: String,
}

impl Seen {
    /// The value of the cookie `name` it set (`__Host-` prefixed: the stack's cookies are secure).
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|c| {
            let value = c.strip_prefix(&format!("__Host-{name}="))?.split(';').next()?;
            Some(value.to_owned()).filter(|v| !v.is_empty())
        })
    }
}

pub(crate) async fn browse(url: &str, cookie: Option<&str>) -> Seen {
    answer_to(request(reqwest::Method::GET, url, cookie)).await
}

fn request(method: reqwest::Method, url: &str, cookie: Option<&str>) -> reqwest::RequestBuilder {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.request(method, url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request
}

pub(crate) async fn answer_to(request: reqwest::RequestBuilder) -> Seen {
    let answer = request.send().await.unwrap();
    let cookies = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let refresh = answer
        .headers()
        .get("refresh")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("0;url="))
        .map(str::to_owned);
    Seen {
        status: answer.status().as_u16(),
        cookies,
        refresh,
        text: answer.text().await.unwrap(),
    }
}

/// A form posted as a browser posts it.
pub(crate) fn post_form(url: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    request(reqwest::Method::POST, url, cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

/// The sign-in page's single sign-on form sent for `workspace` (with `return_to`): its token
/// from the page, under the page's cookie.
pub(crate) async fn start(s: &Stack, workspace: &str, return_to: &str) -> Seen {
    let page = browse(&format!("{}/sign-in", s.url), None).await;
    let csrf = page
        .text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let cookie = format!("__Host-ovation_form={}", page.cookie("ovation_form").unwrap());
    let form = [("csrf", csrf), ("workspace", workspace), ("return_to", return_to)];
    answer_to(post_form(&format!("{}/sso", s.url), Some(&cookie), &form)).await
}

/// The flow cookie a start set, as the browser sends it back.
fn flow_of(started: &Seen) -> String {
    format!(
        "__Host-ovation_sso={}",
        started.cookie("ovation_sso").expect("the flow's cookie")
    )
}

/// A sign-in from start to the app's answer to the provider's callback, as `login`; with the
/// callback URL and flow cookie, for a replay.
async fn single_sign_on(s: &Stack, provider: &Provider, login: &str, return_to: &str) -> (Seen, String, String) {
    let started = start(s, "acme", return_to).await;
    assert_eq!(started.status, 200, "{}", started.text);
    let flow = flow_of(&started);
    let authorization = started.refresh.expect("on to the provider");
    assert!(authorization.starts_with(&provider.issuer), "{authorization}");
    for part in ["code_challenge_method=S256", "state=", "nonce=", "scope=openid"] {
        assert!(authorization.contains(part), "{part} in {authorization}");
    }
    let callback = provider.sign_in(&authorization, login, &s.url).await;
    (browse(&callback, Some(&flow)).await, callback, flow)
}

/// A sign-in started and passed at the provider as ana: the start, and the provider's answer
/// (not yet brought to the app).
async fn answered(s: &Stack, provider: &Provider) -> (Seen, String) {
    let started = start(s, "acme", "").await;
    let callback = provider
        .sign_in(started.refresh.as_deref().unwrap(), "ana@acme.example", &s.url)
        .await;
    (started, callback)
}

pub(crate) async fn audited(s: &Stack, owner: &Member, action: &str) -> Vec<Value> {
    let events = s
        .get(&format!("/v1/audit_events?action={action}&per_page=100"), &owner.token)
        .await;
    events.body.as_array().cloned().unwrap_or_default()
}

/// The reason of the newest refused single sign-on.
pub(crate) async fn last_refusal(s: &Stack, owner: &Member) -> Value {
    audited(s, owner, "sign_in.sso_failed").await[0]["target_id"].clone()
}

async fn stack_with_provider() -> Option<(Stack, Member, Provider)> {
    let chromium = Chromium::installed()?;
    let s = Stack::start(Engines::embedded(), |settings| {
        settings.webhooks.allow_loopback = true;
    })
    .await;
    let owner = s.tenant("acme").await;
    let provider = Provider::start(&chromium, &s.url);
    Some((s, owner, provider))
}

fn settings_of(provider: &Provider) -> Value {
    json!({"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": SECRET,
        "default_role": "editor", "create_users": true, "email_domains": ["Acme.example"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_creates_users_and_refuses_every_forgery() {
    let Some((s, owner, provider)) = stack_with_provider().await else {
        return;
    };
    // Settings: owners only; the issuer's discovery document read at once; the secret never shown.
    let admin = s.member(&owner, "admin", "admin@acme.example").await;
    let settings = settings_of(&provider);
    assert_eq!(
        s.send("PUT", "/v1/sso/oidc", &admin.token, settings.clone())
            .await
            .status,
        403
    );
    let wrong = [
        ("issuer", json!({"issuer": "http://127.0.0.1:9/nothing"})),
        ("issuer", json!({"issuer": "https://10.0.0.1/"})),
        ("default_role", json!({"default_role": "owner"})),
        ("email_domains", json!({"email_domains": []})),
        ("email_domains", json!({"email_domains": ["not a domain"]})),
    ];
    for (field, change) in wrong {
        let mut body = settings.clone();
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let answer = s.send("PUT", "/v1/sso/oidc", &owner.token, body).await;
        assert_eq!(
            (answer.status, answer.body["field"].as_str()),
            (422, Some(field)),
            "{:?}",
            answer.body
        );
    }
    let saved = s.send("PUT", "/v1/sso/oidc", &owner.token, settings.clone()).await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(saved.body["redirect_uri"], format!("{}/sso/acme/callback", s.url));
    assert_eq!(saved.body["email_domains"], json!(["acme.example"]));
    assert!(!saved.text.contains(SECRET), "the secret is never shown");
    assert_eq!(audited(&s, &owner, "sso.oidc_saved").await.len(), 1);
    // The secret goes only where it was given for: another client ID needs it again.
    let mut moved = settings.clone();
    moved["client_id"] = json!("another-client");
    moved.as_object_mut().unwrap().remove("client_secret");
    let answer = s.send("PUT", "/v1/sso/oidc", &owner.token, moved).await;
    assert_eq!(
        (answer.status, answer.body["field"].as_str()),
        (422, Some("client_secret"))
    );

    // A verified email at the workspace's domain with no user here: one is made, an editor.
    let (seen, callback, flow) = single_sign_on(&s, &provider, "ana@acme.example", "/responses").await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.refresh.as_deref(), Some(format!("{}/responses", s.url).as_str()));
    let session = seen.cookie("ovation_session").expect("a session");
    let me = s.get("/v1/me", &session).await;
    assert_eq!((me.status, me.str("role")), (200, "editor".to_owned()), "{:?}", me.body);
    assert_eq!(audited(&s, &owner, "user.created_at_sign_in").await.len(), 1);
    assert_eq!(audited(&s, &owner, "sign_in.sso").await.len(), 1);
    // The same answer again: the flow is used up.
    let replayed = browse(&callback, Some(&flow)).await;
    assert_eq!(replayed.status, 403, "{}", replayed.text);
    assert!(replayed.cookie("ovation_session").is_none());
    assert_eq!(last_refusal(&s, &owner).await, "flow_unknown");
    // An existing user (the owner) signs in as themselves, keeping their role.
    let (seen, ..) = single_sign_on(&s, &provider, "owner@acme.example", "").await;
    let session = seen.cookie("ovation_session").expect("a session");
    assert_eq!(s.get("/v1/me", &session).await.str("role"), "owner");
    assert_eq!(seen.refresh.as_deref(), Some(format!("{}/overview", s.url).as_str()));
    // An invited user: the provider vouches for the email, so the invitation is taken up.
    let invited = s
        .send(
            "POST",
            "/v1/users",
            &owner.token,
            json!({"email": "ivy@acme.example", "role": "analyst"}),
        )
        .await;
    assert_eq!(invited.status, 201);
    let (seen, ..) = single_sign_on(&s, &provider, "ivy@acme.example", "").await;
    let session = seen.cookie("ovation_session").expect("a session");
    assert_eq!(s.get("/v1/me", &session).await.str("role"), "analyst");
    let accept = accept_with_password(&s, &invited).await;
    assert_eq!(accept.status, 401, "the invitation is spent: {accept:?}");
    // A verified email at another domain is not made a user.
    let (seen, ..) = single_sign_on(&s, &provider, "eve@elsewhere.example", "").await;
    assert_eq!(seen.status, 403);
    assert_eq!(last_refusal(&s, &owner).await, "no_account");

    // A signing key the provider added since its keys were read is fetched (once they are a
    // few seconds old).
    let rotated: Value = reqwest::Client::new()
        .post(format!("{}/__test/rotate", provider.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(rotated["kid"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(5500)).await;
    let (seen, ..) = single_sign_on(&s, &provider, "ana@acme.example", "").await;
    assert_eq!(seen.status, 200, "after the key's rotation: {}", seen.text);

    // Each forgery refused, nobody signed in, and the reason audited.
    let forgeries = [
        ("alg_none", "token_signature"),
        ("unsigned_hs256", "token_signature"),
        ("unknown_key", "token_signature"),
        ("wrong_audience", "token_audience"),
        ("wrong_issuer", "token_issuer"),
        ("expired", "token_expired"),
        ("wrong_nonce", "token_nonce"),
        ("unverified_email", "email_unverified"),
    ];
    for (mode, reason) in forgeries {
        provider.tamper(Some(mode)).await;
        let (seen, ..) = single_sign_on(&s, &provider, "ana@acme.example", "").await;
        assert_eq!(seen.status, 403, "{mode}: {}", seen.text);
        assert!(seen.cookie("ovation_session").is_none(), "{mode}");
        assert!(seen.text.contains("Single sign-on failed"), "{mode}: {}", seen.text);
        let failed = audited(&s, &owner, "sign_in.sso_failed").await;
        assert_eq!(failed[0]["target_id"], reason, "{mode}: {failed:?}");
        assert_eq!(failed[0]["outcome"], "failure");
    }
    provider.tamper(None).await;
    // An email the provider does not vouch for.
    let (seen, ..) = single_sign_on(&s, &provider, "bo@acme.example", "").await;
    assert_eq!(seen.status, 403);
    assert_eq!(last_refusal(&s, &owner).await, "email_unverified");
    // Entra ID's way: no email_verified, but xms_edov (the domain's owner verified it) vouches;
    // without it, or false, nothing does.
    let (seen, ..) = single_sign_on(&s, &provider, "eli@acme.example", "").await;
    assert_eq!(seen.status, 200, "xms_edov: {}", seen.text);
    let (seen, ..) = single_sign_on(&s, &provider, "una@acme.example", "").await;
    assert_eq!(seen.status, 403);
    assert_eq!(last_refusal(&s, &owner).await, "email_unverified");
    // A callback without the browser's flow cookie, or with another flow's cookie.
    let (_, callback) = answered(&s, &provider).await;
    assert_eq!(browse(&callback, None).await.status, 403, "no flow cookie");
    let another = start(&s, "acme", "").await;
    let seen = browse(&callback, Some(&flow_of(&another))).await;
    assert_eq!(seen.status, 403, "another flow's cookie: {}", seen.text);
    assert_eq!(last_refusal(&s, &owner).await, "state");
    // Mix-up: a provider's answer brought to another workspace's callback is refused before its
    // code goes anywhere.
    let (started, callback) = answered(&s, &provider).await;
    let elsewhere = callback.replace("/sso/acme/callback", "/sso/globex/callback");
    let seen = browse(&elsewhere, Some(&flow_of(&started))).await;
    assert_eq!(seen.status, 403, "{}", seen.text);
    assert_eq!(last_refusal(&s, &owner).await, "callback_mismatch");
    // An answer naming another issuer (RFC 9207).
    let (started, callback) = answered(&s, &provider).await;
    // (oidc-provider sends `iss`; the answer's is replaced.)
    let mut other_issuer = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = other_issuer
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "https://evil.example".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    assert!(pairs.iter().any(|(k, _)| k == "iss"), "{callback}");
    other_issuer.query_pairs_mut().clear().extend_pairs(pairs);
    let other_issuer = other_issuer.to_string();
    assert_eq!(browse(&other_issuer, Some(&flow_of(&started))).await.status, 403);
    assert_eq!(last_refusal(&s, &owner).await, "issuer_mismatch");
    // A start without the sign-in page's token (another site's form) starts nothing.
    let forged = answer_to(post_form(&format!("{}/sso", s.url), None, &[("workspace", "acme")])).await;
    assert!(matches!(forged.status, 403 | 422), "{}: {}", forged.status, forged.text);
    assert!(forged.refresh.is_none() && forged.cookie("ovation_sso").is_none());

    // A return path outside the app is refused before anything starts.
    for outside in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let seen = start(&s, "acme", outside).await;
        assert_eq!(seen.status, 422, "{outside}: {}", seen.text);
        assert!(
            seen.refresh.is_none() && seen.cookie("ovation_sso").is_none(),
            "{outside}"
        );
    }
    // A workspace without single sign-on, or none at all: said alike, nothing started.
    let _other = s.tenant("globex").await;
    for workspace in ["globex", "nowhere"] {
        let seen = start(&s, workspace, "").await;
        assert_eq!(seen.status, 422, "{workspace}: {}", seen.text);
        assert!(seen.text.contains("signs in with single sign-on"), "{workspace}");
    }
    // Ana is bound to the provider's account she first signed in with: another account of the
    // provider with her email is refused until an admin resets her binding, then binds anew.
    let (seen, ..) = single_sign_on(&s, &provider, "ana.again", "").await;
    assert_eq!(seen.status, 403, "{}", seen.text);
    assert_eq!(last_refusal(&s, &owner).await, "subject_mismatch");
    let users = s.get("/v1/users?per_page=100", &owner.token).await;
    let ana = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "ana@acme.example" && u["sso_bound"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reset = s
        .send(
            "PATCH",
            &format!("/v1/users/{ana}"),
            &owner.token,
            json!({"reset_sso": true}),
        )
        .await;
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_eq!(reset.body["sso_bound"], false, "{reset:?}");
    let (seen, ..) = single_sign_on(&s, &provider, "ana.again", "").await;
    assert_eq!(seen.status, 200, "rebound: {}", seen.text);
    let (seen, ..) = single_sign_on(&s, &provider, "ana@acme.example", "").await;
    assert_eq!(seen.status, 403, "the earlier account, now another: {}", seen.text);
    assert_eq!(last_refusal(&s, &owner).await, "subject_mismatch");

    // Removed: sign-in with it stops at once.
    assert_eq!(remove_sso(&s, &owner).await, 204);
    assert_eq!(start(&s, "acme", "").await.status, 422);
}

/// Lists `domain` for `owner`'s workspace, publishes its record in `dns`, and checks it: the
/// answer to the check.
async fn verify_domain(s: &Stack, owner: &Member, dns: &DnsServer, domain: &str) -> crate::api::Answer {
    let added = s
        .send("POST", "/v1/sso/domains", &owner.token, json!({ "domain": domain }))
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let record = &added.body["record"];
    dns.publish(record["name"].as_str().unwrap(), record["value"].as_str().unwrap());
    s.send(
        "POST",
        &format!("/v1/sso/domains/{domain}/verify"),
        &owner.token,
        json!({}),
    )
    .await
}

/// The invitation of `invited` (`POST /v1/users`'s answer) taken up with a password.
async fn accept_with_password(s: &Stack, invited: &crate::api::Answer) -> crate::api::Answer {
    let body = json!({"invite_token": invited.str("invite_token"), "password": "a long enough password 1"});
    s.call(1, "POST", "/v1/auth/accept_invite", crate::api::Auth::None, Some(body))
        .await
}

/// Removes the workspace's single sign-on as `owner`; the answer's status.
async fn remove_sso(s: &Stack, owner: &Member) -> u16 {
    s.call(
        1,
        "DELETE",
        "/v1/sso/oidc",
        crate::api::Auth::Bearer(&owner.token),
        None,
    )
    .await
    .status
}

/// Sets up a second factor for `member`; the provisioning URI its codes come from.
async fn enrol_totp(s: &Stack, member: &Member) -> String {
    let enrol = s.send("POST", "/v1/me/mfa/totp", &member.token, json!({})).await;
    let uri = enrol.str("provisioning_uri");
    let code = crate::access::totp_code(&uri, 0);
    let confirmed = s
        .send("POST", "/v1/me/mfa/totp/confirm", &member.token, json!({"code": code}))
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    uri
}

/// Settings that require single sign-on with `break_glass` as the owner who keeps a password.
fn requiring(provider: &Provider, break_glass: Option<&str>) -> Value {
    let mut settings = settings_of(provider);
    settings["require_sso"] = json!(true);
    if let Some(id) = break_glass {
        settings["break_glass_owner"] = json!(id);
    }
    settings
}

/// Email domains proved by a TXT record in DNS (the test's server on loopback): owners only;
/// a domain is pending until its own record is found (none, another value, a failing server
/// said as such); verified, a work email at it finds the workspace's provider from the sign-in
/// page (the email its `login_hint`), and a user is made just in time; one workspace holds a
/// domain at a time; removed, emails at it find nothing and another workspace may prove it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_domains_proved_in_dns_find_single_sign_on() {
    let Some(chromium) = Chromium::installed() else {
        return;
    };
    let dns = DnsServer::start().await;
    let s = Stack::start(Engines::embedded(), |settings| {
        settings.webhooks.allow_loopback = true;
        settings.dns_servers = vec![dns.addr];
    })
    .await;
    let owner = s.tenant("acme").await;
    let provider = Provider::start(&chromium, &s.url);
    assert_eq!(
        s.send("PUT", "/v1/sso/oidc", &owner.token, settings_of(&provider))
            .await
            .status,
        200
    );
    let admin = s.member(&owner, "admin", "admin@acme.example").await;
    let add = |token: &str, domain: &str| {
        let (token, body) = (token.to_owned(), json!({ "domain": domain }));
        let s = &s;
        async move { s.send("POST", "/v1/sso/domains", &token, body).await }
    };
    let verify = |token: &str, domain: &str| {
        let (token, path) = (token.to_owned(), format!("/v1/sso/domains/{domain}/verify"));
        let s = &s;
        async move { s.send("POST", &path, &token, json!({})).await }
    };
    assert_eq!(add(&admin.token, "acme.example").await.status, 403);
    for wrong in [
        "acme",
        "ana@acme.example",
        "*.acme.example",
        "bücher.example",
        "acme..example",
        // A name whose record's name would not fit in DNS.
        format!("{}example", format!("{}.", "a".repeat(56)).repeat(4)).as_str(),
    ] {
        let answer = add(&owner.token, wrong).await;
        assert_eq!(
            (answer.status, answer.str("field")),
            (422, "domain".to_owned()),
            "{wrong}: {:?}",
            answer.body
        );
    }

    // Listed: pending, with the record to publish.
    let added = add(&owner.token, " Acme.Example ").await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(
        (added.str("domain"), added.str("status")),
        ("acme.example".to_owned(), "pending".to_owned())
    );
    let record = added.body["record"].clone();
    assert_eq!(
        (&record["name"], &record["type"]),
        (&json!("_ovation-challenge.acme.example"), &json!("TXT"))
    );
    let value = record["value"].as_str().unwrap();
    assert!(
        value.starts_with("ovation-domain-verification=") && value.len() == 28 + 43,
        "{value}"
    );
    assert_eq!(add(&owner.token, "acme.example").await.status, 409);
    assert_eq!(audited(&s, &owner, "sso.domain_added").await.len(), 1);

    // Pending, an email at it finds nothing: the answer of a domain no one has.
    let unknown = start(&s, "ana@nobody.example", "").await;
    let pending = start(&s, "ana@acme.example", "").await;
    assert_eq!((unknown.status, pending.status), (422, 422), "{}", pending.text);
    assert!(pending.refresh.is_none() && pending.cookie("ovation_sso").is_none());
    assert!(
        unknown
            .text
            .contains("no workspace signs in with single sign-on for this email"),
        "{}",
        unknown.text
    );
    assert_eq!(problem_of(&pending.text), problem_of(&unknown.text), "the same answer");

    // Checked before its record is published, with another's value, with a failing server.
    let none = verify(&owner.token, "acme.example").await;
    assert_eq!(none.status, 422, "{:?}", none.body);
    assert!(
        none.str("message")
            .contains("no TXT record found at _ovation-challenge.acme.example"),
        "{:?}",
        none.body
    );
    dns.publish(
        "_ovation-challenge.acme.example",
        "ovation-domain-verification=another-workspaces-token",
    );
    let other_value = verify(&owner.token, "acme.example").await;
    assert_eq!(other_value.status, 422);
    assert!(
        other_value.str("message").contains("but not this one"),
        "{:?}",
        other_value.body
    );
    assert_eq!(add(&owner.token, "failing.example").await.status, 201);
    dns.fail("_ovation-challenge.failing.example");
    let failing = verify(&owner.token, "failing.example").await;
    assert_eq!(
        (failing.status, failing.str("code")),
        (503, "unavailable".to_owned()),
        "{:?}",
        failing.body
    );
    assert_eq!(verify(&owner.token, "nothing.example").await.status, 404);

    // Its record published: verified, audited once, and checking again changes nothing.
    dns.publish("_ovation-challenge.acme.example", value);
    let verified = verify(&owner.token, "acme.example").await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(verified.str("status"), "verified");
    assert!(verified.body["verified_at"].as_i64().is_some());
    assert_eq!(verify(&owner.token, "acme.example").await.body, verified.body);
    assert_eq!(audited(&s, &owner, "sso.domain_verified").await.len(), 1);
    let listed = s.get("/v1/sso/domains", &owner.token).await;
    let statuses: Vec<(&str, &str)> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["domain"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("acme.example", "verified"), ("failing.example", "pending")]);

    // Another workspace that proves it too is refused while acme holds it.
    let umbrella = s.tenant("umbrella").await;
    let remove = |token: &str, domain: &str| {
        let (token, path) = (token.to_owned(), format!("/v1/sso/domains/{domain}"));
        let s = &s;
        async move { s.call(1, "DELETE", &path, crate::api::Auth::Bearer(&token), None).await }
    };
    // Acme's domain is nothing to another workspace until it lists it itself.
    assert_eq!(verify(&umbrella.token, "acme.example").await.status, 404);
    assert_eq!(remove(&umbrella.token, "acme.example").await.status, 404);
    let theirs = add(&umbrella.token, "acme.example").await;
    dns.publish(
        "_ovation-challenge.acme.example",
        theirs.body["record"]["value"].as_str().unwrap(),
    );
    let taken = verify(&umbrella.token, "acme.example").await;
    assert_eq!(taken.status, 409, "{:?}", taken.body);
    assert!(taken.str("message").contains("another workspace"), "{:?}", taken.body);

    // A work email at it finds acme's provider, the email its login hint; a user is made.
    let started = start(&s, "Ana@Acme.Example", "/responses").await;
    assert_eq!(started.status, 200, "{}", started.text);
    let authorization = started.refresh.clone().expect("on to the provider");
    assert!(authorization.starts_with(&provider.issuer), "{authorization}");
    assert!(
        authorization.contains("login_hint=ana%40acme.example"),
        "{authorization}"
    );
    assert_eq!(started.cookie("ovation_workspace").as_deref(), Some("acme"));
    let callback = provider.sign_in(&authorization, "ana@acme.example", &s.url).await;
    let seen = browse(&callback, Some(&flow_of(&started))).await;
    assert_eq!(seen.refresh.as_deref(), Some(format!("{}/responses", s.url).as_str()));
    let session = seen.cookie("ovation_session").expect("a session");
    let me = s.get("/v1/me", &session).await;
    assert_eq!(
        (&me.body["user"]["email"], &me.body["role"], &me.body["tenant_slug"]),
        (&json!("ana@acme.example"), &json!("editor"), &json!("acme"))
    );
    // An email at a domain still pending finds nothing.
    assert_eq!(start(&s, "ana@failing.example", "").await.status, 422);

    // Removed, and verified again by acme (a double click answered alike).
    assert_eq!(remove(&owner.token, "acme.example").await.status, 204);
    assert_eq!(audited(&s, &owner, "sso.domain_removed").await.len(), 1);
    assert_eq!(start(&s, "ana@acme.example", "").await.status, 422);
    let again = add(&owner.token, "acme.example").await;
    dns.publish(
        "_ovation-challenge.acme.example",
        again.body["record"]["value"].as_str().unwrap(),
    );
    let (first, second) = tokio::join!(
        verify(&owner.token, "acme.example"),
        verify(&owner.token, "acme.example")
    );
    assert_eq!(
        (first.status, second.status),
        (200, 200),
        "{:?} {:?}",
        first.body,
        second.body
    );
    assert_eq!(start(&s, "ana@acme.example", "").await.status, 200);
    // Acme's record taken down (the domain changed hands): whoever proves it now takes it over;
    // acme's list shows it waiting for its record again.
    dns.unpublish(
        "_ovation-challenge.acme.example",
        again.body["record"]["value"].as_str().unwrap(),
    );
    let taken_over = verify(&umbrella.token, "acme.example").await;
    assert_eq!(taken_over.str("status"), "verified", "{:?}", taken_over.body);
    let told = audited(&s, &owner, "sso.domain_taken_over").await;
    assert_eq!(
        (told.len(), &told[0]["actor_type"], &told[0]["target_id"]),
        (1, &json!("system"), &json!("acme.example")),
        "{told:?}"
    );
    let acme_sees = s.get("/v1/sso/domains", &owner.token).await;
    assert_eq!(acme_sees.body[0]["status"], json!("pending"), "{:?}", acme_sees.body);
    assert!(acme_sees.body[0]["verified_at"].is_null());
    // Umbrella has no provider: its domain's emails are told as much.
    assert_eq!(start(&s, "ana@acme.example", "").await.status, 422);
    // Acme removes its listing: umbrella's claim stays whole.
    assert_eq!(remove(&owner.token, "acme.example").await.status, 204);
    let held = verify(&umbrella.token, "acme.example").await;
    assert_eq!(held.str("status"), "verified");

    // A deleted workspace's domains are free at once.
    let deleted = s.tenant("deleted").await;
    let proved = verify_domain(&s, &deleted, &dns, "gone.example").await;
    assert_eq!(proved.str("status"), "verified");
    let gone = s
        .send(
            "DELETE",
            "/v1/tenant",
            &deleted.token,
            json!({"confirm": "deleted", "password": crate::api::PASSWORD}),
        )
        .await;
    assert_eq!(gone.status, 204, "{:?}", gone.body);
    let claim = ovation::store::keys::domain_claim("gone.example");
    assert!(
        s.ctx.store.get(&claim).await.unwrap().is_none(),
        "released with the workspace"
    );
    let freed = verify_domain(&s, &owner, &dns, "gone.example").await;
    assert_eq!(freed.str("status"), "verified", "{:?}", freed.body);
    assert_eq!(remove(&admin.token, "acme.example").await.status, 403);
    assert_eq!(remove(&owner.token, "nothing.example").await.status, 404);

    // At most twenty domains a workspace.
    for n in 1..20 {
        assert_eq!(add(&umbrella.token, &format!("d{n}.example")).await.status, 201);
    }
    let over = add(&umbrella.token, "d20.example").await;
    assert_eq!((over.status, over.str("field")), (422, "domain".to_owned()));
}

/// The problem a sign-in page shows.
fn problem_of(page: &str) -> &str {
    page.split("id=\"problem\">")
        .nth(1)
        .and_then(|p| p.split('<').next())
        .unwrap_or_default()
}

/// Single sign-on required: passwords refused (and password sessions ended) for everyone but the
/// break-glass owner, whose password and second factor still open the workspace, audited; no
/// reset links, no invitation taken up with a password; lifted by saving without it or by
/// removing the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_sso_refuses_passwords_but_the_break_glass_owners() {
    let Some((s, owner, provider)) = stack_with_provider().await else {
        return;
    };
    let editor = s.member(&owner, "editor", "ed@acme.example").await;
    let other_owner = s.member(&owner, "owner", "olga@acme.example").await;
    // The break-glass owner must be named, be an active owner, and have a second factor.
    for (named, why) in [
        (None, "name the owner"),
        (Some(editor.user_id.as_str()), "not an active owner"),
        (Some("01HZZZZZZZZZZZZZZZZZZZZZZZ"), "not an active owner"),
        (Some(owner.user_id.as_str()), "second factor"),
    ] {
        let answer = s
            .send("PUT", "/v1/sso/oidc", &owner.token, requiring(&provider, named))
            .await;
        assert_eq!(answer.status, 422, "{named:?}: {:?}", answer.body);
        assert_eq!(answer.body["field"], "break_glass_owner");
        assert!(answer.str("message").contains(why), "{named:?}: {:?}", answer.body);
    }
    assert!(s.get("/v1/sso/oidc", &owner.token).await.status == 404, "nothing saved");
    let totp = enrol_totp(&s, &owner).await;
    enrol_totp(&s, &other_owner).await;
    let saved = s
        .send(
            "PUT",
            "/v1/sso/oidc",
            &owner.token,
            requiring(&provider, Some(&owner.user_id)),
        )
        .await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(
        (&saved.body["require_sso"], &saved.body["break_glass_owner"]),
        (&json!(true), &json!(owner.user_id))
    );
    assert_eq!(audited(&s, &owner, "sso.required").await.len(), 1);

    // Everyone else's password session ends at once; their passwords are refused unchecked, as
    // is an email with no user (the answer says where to sign in), each audited.
    for member in [&editor, &other_owner] {
        assert_eq!(s.get("/v1/me", &member.token).await.status, 401);
    }
    for email in ["ed@acme.example", "olga@acme.example", "nobody@acme.example"] {
        let refused = s.sign_in(1, "acme", email, crate::api::PASSWORD).await;
        assert_eq!(refused.status, 403, "{email}: {refused:?}");
        assert_eq!(refused.str("code"), "sso_required", "{email}");
        assert!(refused.str("message").contains("single sign-on"), "{email}");
    }
    assert_eq!(audited(&s, &owner, "sign_in.sso_required").await.len(), 3);
    // No link to set a password is mailed; an invitation is not taken up with a password.
    ovation::services::accounts::password_reset::request(&s.ctx, "acme", "ed@acme.example", None, &s.url)
        .await
        .unwrap();
    assert!(audited(&s, &owner, "user.password_reset_requested").await.is_empty());
    let invited = s
        .send(
            "POST",
            "/v1/users",
            &owner.token,
            json!({"email": "new@acme.example", "role": "analyst"}),
        )
        .await;
    let accept = accept_with_password(&s, &invited).await;
    assert_eq!((accept.status, accept.str("code").as_str()), (403, "sso_required"));
    // Through the provider, the editor signs in as before.
    let (seen, ..) = single_sign_on(&s, &provider, "ed@acme.example", "").await;
    let session = seen.cookie("ovation_session").expect("a session");
    assert_eq!(s.get("/v1/me", &session).await.str("role"), "editor");
    // The break-glass owner's session lives on; their password and second factor still sign in,
    // audited as what it is.
    assert_eq!(s.get("/v1/me", &owner.token).await.status, 200);
    let first = s.sign_in(1, "acme", "owner@acme.example", crate::api::PASSWORD).await;
    assert_eq!(first.str("status"), "mfa_required", "{first:?}");
    let code = crate::access::totp_code(&totp, 1);
    let second = s
        .call(
            1,
            "POST",
            "/v1/auth/mfa",
            crate::api::Auth::None,
            Some(json!({"mfa_token": first.str("mfa_token"), "code": code})),
        )
        .await;
    assert_eq!(second.str("status"), "signed_in", "{second:?}");
    let break_glass = audited(&s, &owner, "sign_in.break_glass").await;
    assert_eq!(break_glass.len(), 1, "{break_glass:?}");
    assert_eq!(break_glass[0]["target_id"], json!(owner.user_id));
    // Their wrong password answers as everyone's does.
    let wrong = s
        .sign_in(1, "acme", "owner@acme.example", "not the password at all")
        .await;
    assert_eq!((wrong.status, wrong.str("code").as_str()), (403, "sso_required"));
    // They stay what they were chosen as: no removing their second factor, demoting, disabling
    // or deleting them while they are the break-glass owner.
    let own = format!("/v1/users/{}", owner.user_id);
    let attempts = [
        (
            "POST",
            "/v1/me/mfa/totp/disable".to_owned(),
            Some(json!({"password": crate::api::PASSWORD})),
        ),
        ("PATCH", own.clone(), Some(json!({"reset_mfa": true}))),
        ("PATCH", own.clone(), Some(json!({"role": "admin"}))),
        ("PATCH", own.clone(), Some(json!({"disabled": true}))),
        ("DELETE", own.clone(), None),
    ];
    for (method, path, body) in attempts {
        let refused = s
            .call(1, method, &path, crate::api::Auth::Bearer(&owner.token), body)
            .await;
        assert_eq!(
            (refused.status, refused.str("code").as_str()),
            (403, "break_glass_owner"),
            "{method} {path}"
        );
    }
    // Saved without saying: the requirement stays. Another owner with a second factor can take
    // over as the break-glass owner (audited, naming them).
    let kept = s
        .send("PUT", "/v1/sso/oidc", &owner.token, settings_of(&provider))
        .await;
    assert_eq!((kept.status, &kept.body["require_sso"]), (200, &json!(true)));
    let moved = requiring(&provider, Some(&other_owner.user_id));
    let moved = s.send("PUT", "/v1/sso/oidc", &owner.token, moved).await;
    assert_eq!(moved.status, 200, "{moved:?}");
    let now_refused = s.sign_in(1, "acme", "owner@acme.example", crate::api::PASSWORD).await;
    assert_eq!(now_refused.status, 403, "no longer the break-glass owner");
    assert_eq!(
        s.get("/v1/me", &owner.token).await.status,
        401,
        "their password session ended"
    );
    let (seen, ..) = single_sign_on(&s, &provider, "owner@acme.example", "").await;
    let owner = Member {
        token: seen.cookie("ovation_session").expect("a session"),
        user_id: owner.user_id.clone(),
    };
    let changed = audited(&s, &owner, "sso.break_glass_changed").await;
    assert_eq!(changed[0]["target_id"], json!(other_owner.user_id));

    // Saved without the requirement: passwords work again.
    let mut off = settings_of(&provider);
    off["require_sso"] = json!(false);
    let lifted = s.send("PUT", "/v1/sso/oidc", &owner.token, off).await;
    assert_eq!((lifted.status, &lifted.body["require_sso"]), (200, &json!(false)));
    assert_eq!(audited(&s, &owner, "sso.no_longer_required").await.len(), 1);
    let again = s.sign_in(1, "acme", "ed@acme.example", crate::api::PASSWORD).await;
    assert_eq!(again.status, 200, "{again:?}");
    // Removing the provider lifts the requirement with it.
    let saved = s
        .send(
            "PUT",
            "/v1/sso/oidc",
            &owner.token,
            requiring(&provider, Some(&owner.user_id)),
        )
        .await;
    assert_eq!(saved.status, 200);
    assert_eq!(
        s.sign_in(1, "acme", "ed@acme.example", crate::api::PASSWORD)
            .await
            .status,
        403
    );
    assert_eq!(remove_sso(&s, &owner).await, 204);
    assert_eq!(
        s.sign_in(1, "acme", "ed@acme.example", crate::api::PASSWORD)
            .await
            .status,
        200
    );
    assert_eq!(audited(&s, &owner, "sso.no_longer_required").await.len(), 2);
}

/// The journey in Chromium, by keyboard, in a workspace that requires single sign-on: the sign-in
/// page's single sign-on form, the provider's sign-in, the overview (a first-time user made on
/// the way); the owner on the settings page; a colleague's password refused on the sign-in page;
/// axe-core and overflow at phone and desktop widths on each page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_in_chromium() {
    let Some(chromium) = Chromium::installed() else {
        return;
    };
    // The browser's cookies are plain (not `__Host-`) at a loopback public URL.
    let dns = DnsServer::start().await;
    let s = Stack::start_knowing_url(Engines::embedded(), |settings, url| {
        settings.webhooks.allow_loopback = true;
        settings.public_url = Some(url.to_owned());
        settings.dns_servers = vec![dns.addr];
    })
    .await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "editor", "ed@acme.example").await;
    let provider = Provider::start(&chromium, &s.url);
    enrol_totp(&s, &owner).await;
    let required = requiring(&provider, Some(&owner.user_id));
    assert_eq!(s.send("PUT", "/v1/sso/oidc", &owner.token, required).await.status, 200);
    let verified = verify_domain(&s, &owner, &dns, "acme.example").await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    let scim = s
        .send("POST", "/v1/scim/token", &owner.token, json!({}))
        .await
        .str("token");
    let dir = tempfile::tempdir().unwrap();
    let mut command = chromium.node(dir.path(), &["sso.mjs", "web-steps.mjs", "oidc_login.mjs"]);
    command.args([
        s.url.as_str(),
        "acme",
        "ana@acme.example",
        "owner@acme.example",
        "ed@acme.example",
        crate::api::PASSWORD,
        scim.as_str(),
    ]);
    let seen = crate::clients::run(command).await;
    assert_eq!(
        (&seen["landed"], &seen["ownerLanded"]),
        (&json!("/overview"), &json!("/overview")),
        "{seen}"
    );
    assert_eq!(
        (&seen["loginHint"], &seen["ownerHint"]),
        (&json!("ana@acme.example"), &Value::Null),
        "found by the email's domain, the email is the provider's hint: {seen}"
    );
    let domains = seen["domains"].as_array().unwrap();
    assert!(
        domains.len() == 1 && domains[0].as_str().unwrap().contains("acme.example Verified"),
        "{seen}"
    );
    assert_eq!(seen["settingsIssuer"], json!(provider.issuer), "{seen}");
    assert_eq!(
        seen["redirectUri"],
        json!(format!("{}/sso/acme/callback", s.url)),
        "{seen}"
    );
    assert!(seen["unknown"].as_str().unwrap().contains("single sign-on"), "{seen}");
    assert_eq!(seen["refusedPath"], json!("/sign-in"), "{seen}");
    assert!(
        seen["passwordRefused"]
            .as_str()
            .unwrap()
            .contains("requires single sign-on"),
        "{seen}"
    );
    assert_eq!(
        (&seen["deprovisioned"], &seen["signedOut"]),
        (&json!(200), &json!(true)),
        "deprovisioned by SCIM, the open page signs out: {seen}"
    );
    for audit in seen["audits"].as_array().unwrap() {
        assert_eq!(audit["violations"], json!([]), "{audit}");
        assert!(audit["overflow"].as_i64().unwrap() <= 0, "{audit}");
    }
    let me = s.get("/v1/users?per_page=100", &owner.token).await;
    assert!(
        me.text.contains("ana@acme.example"),
        "made at first sign-in: {}",
        me.text
    );
}
