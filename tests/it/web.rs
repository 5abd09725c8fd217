//! The staff web app over real HTTP, driven as a browser would (cookies, CSRF tokens, no
//! redirects followed): signing in (password, second factor, the password change a session
//! owes), the overview's figures against `GET /v1/metrics`, signing out, and the attacks: forms
//! from other sites or without their token, cookies of one workspace on another's pages, API
//! keys in the session cookie, markup in names. Then the pages in Chromium with axe-core.

use std::collections::BTreeMap;

use ovation::http::routes::{Access, ROUTES};
use ovation::store::now_unix;
use serde_json::{Value, json};

use crate::api::{PASSWORD, Stack};
use crate::support::Engines;

// Staff notifications and the page's imports: their conditional writes and sealed files on both
// engines.
on_every_engine!(
    staff_notifications_are_chosen_batched_mailed_and_stopped,
    people_are_imported_from_a_csv_in_pages
);

const DAY: i64 = 86_400;

/// A browser's view of the app: its cookies, kept as the answers set them.
pub(crate) struct Browser {
    url: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` seen, as sent.
    set: Vec<String>,
}

pub(crate) struct Seen {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) text: String,
    headers: reqwest::header::HeaderMap,
}

impl Browser {
    pub(crate) fn new(s: &Stack) -> Browser {
        Browser {
            url: s.url.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            set: vec![],
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Seen {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap().to_owned();
            let (pair, _) = text.split_once(';').unwrap_or((&text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
            self.set.push(text);
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers.get("location").map(|v| v.to_str().unwrap().to_owned());
        Seen {
            status,
            location,
            text: response.text().await.unwrap(),
            headers,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Seen {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .header("cookie", self.cookie_header())
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Seen {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        self.keep(response).await
    }

    /// Signs in through the pages: the sign-in page, then its form.
    pub(crate) async fn sign_in(&mut self, workspace: &str, email: &str, password: &str) -> Seen {
        let page = self.get("/sign-in").await;
        let csrf = csrf(&page.text);
        self.post(
            "/sign-in",
            &[
                ("csrf", &csrf),
                ("workspace", workspace),
                ("email", email),
                ("password", password),
            ],
            None,
        )
        .await
    }
}

/// The CSRF token of a page's (first) form.
pub(crate) fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The overview's key figures as shown: NPS and responses.
fn shown(html: &str) -> (String, String) {
    let mut figures = html
        .split("<p class=\"figure\">")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_owned());
    (figures.next().unwrap(), figures.next().unwrap())
}

async fn answered(s: &Stack, key: &str, survey: &str, scores: &[i64]) {
    for (i, score) in scores.iter().enumerate() {
        let person = s
            .send(
                "POST",
                "/v1/people",
                key,
                json!({"email": format!("p{i}-{survey}@example.com"), "send": false}),
            )
            .await
            .str("id");
        let body = json!({"person": person, "score": score, "survey_id": survey, "created_at": now_unix() - 2 * DAY});
        assert_eq!(s.send("POST", "/v1/survey_responses", key, body).await.status, 201);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_pages_shows_the_figures_the_api_counts() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "<script>alert(1)</script>{{ 7*7 }}"}),
        )
        .await
        .str("id");
    answered(&s, &key, &survey, &[10, 10, 0, 9, 3]).await;
    let bravo = s.tenant("bravo").await;
    s.send(
        "POST",
        "/v1/surveys",
        &bravo.token,
        json!({"name": "Bravo's secret plans"}),
    )
    .await;

    let mut b = Browser::new(&s);
    // Not signed in: to the sign-in page, which sets its form cookie.
    let away = b.get("/overview").await;
    assert_eq!((away.status, away.location.as_deref()), (303, Some("sign-in")));
    let front = b.get("/").await;
    assert_eq!(front.location.as_deref(), Some("overview"));
    let page = b.get("/sign-in").await;
    assert_eq!(page.status, 200);
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("script-src 'nonce-") && !policy.contains("unsafe"),
        "{policy}"
    );
    let stylesheet = page
        .text
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        stylesheet.starts_with("assets/app.") && stylesheet.ends_with(".css"),
        "{stylesheet}"
    );
    let css = b.get(&format!("/{stylesheet}")).await;
    assert_eq!(css.headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(b.get("/assets/app.0000000000000000.css").await.status, 404);
    let token = csrf(&page.text);

    // Forms from elsewhere, or without their token, are refused.
    let fields = [
        ("csrf", token.as_str()),
        ("workspace", "acme"),
        ("email", "owner@acme.example"),
        ("password", PASSWORD),
    ];
    let crossed = b.post("/sign-in", &fields, Some("https://evil.example")).await;
    assert_eq!(crossed.status, 403, "{}", crossed.text);
    let tokenless = b.post("/sign-in", &fields[1..], None).await;
    assert_eq!(tokenless.status, 403, "{}", tokenless.text);
    // A wrong password says what the API says, and keeps the workspace and email.
    let wrong = b
        .post(
            "/sign-in",
            &[
                ("csrf", &token),
                ("workspace", "acme"),
                ("email", "owner@acme.example"),
                ("password", "nope"),
            ],
            None,
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert!(wrong.text.contains("role=\"alert\"") && wrong.text.contains("value=\"owner@acme.example\""));

    let signed = b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    assert_eq!(
        (signed.status, signed.location.as_deref()),
        (303, Some("overview")),
        "{}",
        signed.text
    );
    let session = b
        .set
        .iter()
        .find(|c| c.starts_with("__Host-ovation_session="))
        .expect("a session cookie")
        .clone();
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    assert!(
        b.set.iter().any(|c| c.starts_with("__Host-ovation_workspace=acme")),
        "{:?}",
        b.set
    );

    // The overview's figures are the API's for the same filter.
    let overview = b.get("/overview").await;
    assert_eq!(overview.status, 200, "{}", overview.text);
    let now = now_unix();
    let api = s
        .get(&format!("/v1/metrics?since={}&until={now}", now - 30 * DAY + 1), &key)
        .await;
    assert_eq!(
        shown(&overview.text),
        (api.body["nps"].to_string(), api.body["response_count"].to_string()),
        "{}",
        api.text
    );
    let week = b
        .get(&format!(
            "/overview?survey={survey}&period=7&by=week&zone=Europe%2FParis"
        ))
        .await;
    let api = s
        .get(
            &format!("/v1/metrics?trend={survey}&since={}&until={now}", now - 7 * DAY + 1),
            &key,
        )
        .await;
    assert_eq!(
        shown(&week.text),
        (api.body["nps"].to_string(), api.body["response_count"].to_string())
    );
    assert!(week.text.contains("Times in Europe&#x2f;Paris"));
    // Markup in a name is text; another workspace's names never show.
    assert!(
        overview.text.contains("&lt;script&gt;alert(1)&lt;") && overview.text.contains("{{ 7*7 }}"),
        "{}",
        overview.text
    );
    assert!(!overview.text.contains("<script>alert(1)") && !overview.text.contains("Bravo"));
    let bad = b.get("/overview?period=custom&from=2026-13-01&to=2026-12-01").await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(
        bad.text.contains("<h1>Please check what you asked for</h1>")
            && bad.text.contains("From: must be a date")
            && bad.text.contains("<nav"),
        "{}",
        bad.text
    );

    // Signing out needs the page's token; then the session is over.
    let old = b.cookies.clone();
    let token = csrf(&overview.text);
    assert_eq!(b.post("/sign-out", &[], None).await.status, 403);
    let out = b.post("/sign-out", &[("csrf", &token)], None).await;
    assert_eq!((out.status, out.location.as_deref()), (303, Some("sign-in")));
    assert!(!b.cookies.contains_key("__Host-ovation_session"));
    b.cookies = old;
    assert_eq!(b.get("/overview").await.location.as_deref(), Some("sign-in"));

    // Bravo's session shows Bravo; an API key in the cookie is no session.
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    let theirs = other.get("/overview").await;
    assert!(
        theirs.text.contains("Bravo&#x27;s secret plans") && !theirs.text.contains("alert(1)"),
        "{}",
        theirs.text
    );
    let mut keyed = Browser::new(&s);
    keyed.cookies.insert("__Host-ovation_session".into(), key.clone());
    assert_eq!(keyed.get("/overview").await.location.as_deref(), Some("sign-in"));
    // A browser asking for a page no route has gets a page.
    let missing = b.get("/no-such-page").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

/// Every page route: signed out, to sign in; a user of each role, in (every role reads
/// results today); an API key in the cookie, to sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_by_role() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let exports =
        crate::support::TestQueue::new(s.ctx.store.clone(), None, ovation::messaging::local_queue::EXPORTS).await;
    let owner = s.tenant("acme").await;
    let mut sessions = vec![("owner", "owner@acme.example".to_owned(), owner.token.clone())];
    for role in ["admin", "editor", "analyst"] {
        let email = format!("{role}@acme.example");
        let member = s.member(&owner, role, &email).await;
        sessions.push((role, email, member.token));
    }
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send("POST", "/v1/surveys", &owner.token, json!({"name": "S"}))
        .await
        .str("id");
    answered(&s, &key, &survey, &[7]).await;
    let response = s.get("/v1/survey_responses", &key).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let person = s.get("/v1/people", &key).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook = s
        .send(
            "POST",
            "/v1/webhooks",
            &owner.token,
            json!({"url": "https://hooks.example.com/ovation"}),
        )
        .await
        .str("id");
    let import = reqwest::Client::new()
        .post(format!("{}/v1/people/imports", s.url))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body("email\nq@acme.example\nbad\n")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for route in ROUTES.iter().filter(|r| r.page && r.method == "GET") {
        let named = match route.path {
            p if p.starts_with("/surveys/") => &survey,
            p if p.starts_with("/people/imports/") => &import,
            p if p.starts_with("/people/") => &person,
            p if p.starts_with("/settings/webhooks/") => &webhook,
            _ => &response,
        };
        let path = route.path.replace("{id}", named);
        let mut anonymous = Browser::new(&s);
        let seen = anonymous.get(&path).await;
        match route.access {
            Access::Public | Access::Throttled | Access::Site => assert_ne!(seen.status, 401, "{}", route.path),
            _ => assert_eq!(
                seen.location,
                Some(ovation::http::pages::relative(route.path, "sign-in")),
                "{}",
                route.path
            ),
        }
        if !matches!(route.access, Access::Tenant(_)) {
            continue;
        }
        for (role, email, token) in &sessions {
            let mut b = Browser::new(&s);
            let signed = b.sign_in("acme", email, PASSWORD).await;
            assert_eq!(signed.status, 303, "{role}: {}", signed.text);
            // An export's pages name an export of the role's own.
            let path = if route.path.starts_with("/exports/") {
                let export = s
                    .send("POST", "/v1/exports/responses?format=csv", token, json!({}))
                    .await;
                assert_eq!(export.status, 202, "{role}: {export:?}");
                // Run at once, so that the next role's is not held up by the active jobs' bound.
                let taken = exports.take().await;
                job_exports::handle(&s.ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
                route.path.replace("{id}", &export.str("id"))
            } else {
                path.clone()
            };
            let seen = b.get(&path).await;
            let allowed = match route.access {
                Access::Tenant(needs) => ovation::auth::Role::parse(role).unwrap().allows(needs),
                _ => true,
            };
            let expected = if allowed { 200 } else { 403 };
            assert_eq!(seen.status, expected, "{role} {}: {}", route.path, seen.text);
        }
        // An id that cannot be read is refused as a page, never as the API's JSON.
        if route.path.contains("{id}") {
            let mut b = Browser::new(&s);
            b.sign_in("acme", "owner@acme.example", PASSWORD).await;
            let seen = b.get(&route.path.replace("{id}", "not-an-id")).await;
            assert!(matches!(seen.status, 404 | 422), "{}: {}", route.path, seen.text);
            assert!(
                seen.headers["content-type"].to_str().unwrap().starts_with("text/html"),
                "{}: {}",
                route.path,
                seen.text
            );
        }
    }
    // Every form: refused from another site, and without its token, whoever is signed in.
    let (_, key_id) = s.api_key(&owner, "read").await;
    let client = s
        .send(
            "POST",
            "/v1/oauth_clients",
            &owner.token,
            json!({"name": "c", "scope": "read"}),
        )
        .await
        .str("client_id");
    let colleague = s.member(&owner, "analyst", "colleague@acme.example").await.user_id;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    for route in ROUTES.iter().filter(|r| r.page && r.method == "POST") {
        let named = match route.path {
            p if p.starts_with("/settings/keys/") => &key_id,
            p if p.starts_with("/settings/clients/") => &client,
            p if p.starts_with("/team/") => &colleague,
            p if p.starts_with("/surveys/") => &survey,
            p if p.starts_with("/people/imports/") => &import,
            p if p.starts_with("/people/") => &person,
            p if p.starts_with("/settings/webhooks/") => &webhook,
            _ => &response,
        };
        let path = route.path.replace("{id}", named).replace("{platform}", "email");
        let crossed = b.post(&path, &[("csrf", "x")], Some("https://evil.example")).await;
        assert_eq!(crossed.status, 403, "{}: {}", route.path, crossed.text);
        let untokened = b.post(&path, &[("name", "x")], None).await;
        assert_eq!(untokened.status, 403, "{}: {}", route.path, untokened.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_and_owed_password_change_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    // A new owner signs in with the one-time password and must choose one first.
    let created = s.create_tenant("newco").await;
    let mut b = Browser::new(&s);
    let first = b
        .sign_in("newco", "owner@newco.example", &created.str("one_time_password"))
        .await;
    assert_eq!(first.location.as_deref(), Some("password"), "{}", first.text);
    assert_eq!(b.get("/overview").await.location.as_deref(), Some("password"));
    let form = b.get("/password").await;
    assert_eq!(form.status, 200, "{}", form.text);
    let token = csrf(&form.text);
    let one_time = created.str("one_time_password");
    let differ = b
        .post(
            "/password",
            &[
                ("csrf", &token),
                ("current_password", &one_time),
                ("new_password", PASSWORD),
                ("confirm_password", "other"),
            ],
            None,
        )
        .await;
    assert_eq!(differ.status, 422);
    let changed = b
        .post(
            "/password",
            &[
                ("csrf", &token),
                ("current_password", &one_time),
                ("new_password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(changed.location.as_deref(), Some("overview"), "{}", changed.text);
    assert_eq!(b.get("/overview").await.status, 200);

    // With TOTP: the password leads to the code, the code to the overview.
    let owner = s.tenant("acme").await;
    let enrol = s.send("POST", "/v1/me/mfa/totp", &owner.token, json!({})).await;
    let uri = enrol.str("provisioning_uri");
    let totp = totp_rs::TOTP::from_url(&uri).unwrap();
    let confirmed = s
        .send(
            "POST",
            "/v1/me/mfa/totp/confirm",
            &owner.token,
            json!({"code": totp.generate_current().unwrap()}),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let recovery: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let mut b = Browser::new(&s);
    let asked = b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    assert_eq!(asked.location.as_deref(), Some("second-factor"), "{}", asked.text);
    assert!(!b.cookies.contains_key("__Host-ovation_session"));
    let page = b.get("/second-factor").await;
    let token = csrf(&page.text);
    let wrong = b
        .post("/second-factor", &[("csrf", &token), ("code", "000000")], None)
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    let done = b
        .post("/second-factor", &[("csrf", &token), ("code", &recovery[0])], None)
        .await;
    let alert = done.text.split("role=\"alert\"").nth(1).unwrap_or_default();
    assert_eq!(done.location.as_deref(), Some("overview"), "{} {alert}", done.status);
    assert_eq!(b.get("/overview").await.status, 200);
    // Without a challenge the code page sends back to sign in.
    assert_eq!(
        Browser::new(&s).get("/second-factor").await.location.as_deref(),
        Some("sign-in")
    );
}

/// The pages in Chromium as `ovation serve` runs them (plain http on loopback): sign in, the
/// overview (in the viewer's time zone), its menu, security, segments, the feed filtered, a
/// response tagged and noted, sign out, a missing page, the forgotten-password page; a colleague
/// accepting the mailed invitation, turning on a second factor and signing in with its code; the
/// owner resetting a forgotten password from the mail in the outbox. axe-core at 1280 and 375 px
/// finds nothing on any page, nothing overflows, the CSP reports nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_in_chromium() {
    let Some(chromium) = crate::clients::Chromium::installed() else {
        return;
    };
    let s = Stack::start(Engines::embedded(), |settings| {
        settings.public_url = Some("http://127.0.0.1".into());
    })
    .await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send("POST", "/v1/surveys", &owner.token, json!({"name": "Support"}))
        .await
        .str("id");
    answered(&s, &key, &survey, &[10, 9, 6, 10]).await;
    let invited = s
        .send(
            "POST",
            "/v1/users",
            &owner.token,
            json!({"email": "nina@acme.example", "role": "editor"}),
        )
        .await;
    assert_eq!(invited.status, 201);
    let accept = format!("{}{}", s.url, link_in(&mails_to(&s, "nina@acme.example")[0], "accept"));
    let dir = tempfile::tempdir().unwrap();
    // The export job runs once the script has seen (and audited) its page waiting.
    let signal = dir.path().join("export-audited");
    let exports =
        crate::support::TestQueue::new(s.ctx.store.clone(), None, ovation::messaging::local_queue::EXPORTS).await;
    let worker = {
        let (ctx, signal) = (s.ctx.clone(), signal.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                if !signal.exists() {
                    continue;
                }
                let taken = exports.take().await;
                if !taken.is_empty() {
                    let answer = job_exports::handle(&ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
                    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
                }
            }
        })
    };
    let mut command = chromium.node(dir.path(), &["web.mjs", "web-steps.mjs"]);
    command
        .args([s.url.as_str(), "acme", "owner@acme.example", PASSWORD, accept.as_str()])
        .arg(outbox_dir(&s))
        .arg(&signal);
    let seen: Value = crate::clients::run(command).await;
    worker.abort();
    assert_eq!(seen["landed"], "/overview", "{seen}");
    assert_eq!(seen["nps"], "50", "{seen}");
    assert_eq!(
        (&seen["signedOut"], &seen["afterSignOut"]),
        (&json!("/sign-in"), &json!("/sign-in")),
        "{seen}"
    );
    assert_eq!(seen["firstTab"], "skip", "{seen}");
    assert_eq!(seen["zone"], "Europe/Copenhagen", "{seen}");
    assert_eq!(seen["csp"], json!([]), "{seen}");
    assert_eq!(
        (&seen["detractors"], &seen["tagged"], &seen["notes"]),
        (&json!(1), &json!("follow-up"), &json!(1)),
        "{seen}"
    );
    assert_eq!(seen["joined"], "/overview", "{seen}");
    assert_eq!(
        (&seen["recovery"], &seen["withCode"], &seen["afterReset"]),
        (&json!(10), &json!("/overview"), &json!("/overview")),
        "{seen}"
    );
    assert_eq!(seen["qr"], 1, "{seen}");
    // The four responses as a file, directly and through a job.
    for file in [&seen["direct"], &seen["exported"]] {
        assert_eq!(file["type"], "text/csv; charset=utf-8", "{seen}");
        assert_eq!(file["lines"], 5, "a header and four responses: {seen}");
    }
    assert!(seen["job"].as_str().unwrap().starts_with("/exports/"), "{seen}");
    assert_eq!(seen["missing"], "Not found", "{seen}");
    assert_eq!(seen["usedInvitation"], "This invitation cannot be used", "{seen}");
    assert_eq!(seen["team"], 2, "the owner and the invited colleague: {seen}");
    let teams = seen["teams"].as_str().unwrap();
    assert!(
        teams.starts_with("Support 1 member"),
        "a team made, one member added: {seen}"
    );
    assert_eq!(
        seen["notifications"], "detractors true",
        "chosen by keyboard and saved: {seen}"
    );
    let built = &seen["surveyBuilt"];
    assert_eq!(
        (&built["before"], &built["after"], &built["entries"], &built["saved"]),
        (&json!(true), &json!(true), &json!(0), &json!("Survey created.")),
        "the preview followed the form: {seen}"
    );
    assert_eq!(
        built["limitedTo"],
        json!(["Support"]),
        "limited to the team, by keyboard: {seen}"
    );
    assert_eq!(
        seen["keyCalls"],
        json!([200, 401]),
        "the key worked, then was refused: {seen}"
    );
    assert!(
        seen["personSaved"].as_str().unwrap().contains("a survey is scheduled"),
        "{seen}"
    );
    assert!(seen["hookSecret"].as_str().unwrap().starts_with("whsec_"), "{seen}");
    let snippet = seen["siteKey"].as_str().unwrap_or_default();
    assert!(
        snippet.contains("/w/v1/") && snippet.contains("pk_") && snippet.contains("ovation.survey({"),
        "the site key's snippet: {seen}"
    );
    assert!(
        seen["newSecret"]
            .as_str()
            .unwrap_or_default()
            .starts_with("New identity secret made"),
        "{seen}"
    );
    all_passed(&seen, 94);
}

/// A Chromium script's axe-core audits: as many as it made, each without a violation or a page
/// wider than the screen.
pub(crate) fn all_passed(seen: &Value, count: usize) {
    let audits = seen["audits"].as_array().unwrap();
    assert_eq!(audits.len(), count, "{seen}");
    for audit in audits {
        assert_eq!(audit["violations"], json!([]), "{audit}");
        assert!(audit["overflow"].as_i64().unwrap() <= 0, "{audit}");
    }
}

/// The responses feed and a response's page: filters, the comment search, tags and notes by
/// those who may, contact details only for those who may see them, the API's permalink, and
/// another workspace's responses out of reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_filters_and_a_response_page_edits() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send("POST", "/v1/surveys", &owner.token, json!({"name": "Support"}))
        .await
        .str("id");
    let mut ids = vec![];
    for (i, (score, comment)) in [
        (10, "Lovely <script>x()</script>"),
        (2, "Slow delivery"),
        (8, ""),
        (0, "Delivery was late"),
    ]
    .into_iter()
    .enumerate()
    {
        let person = s
            .send(
                "POST",
                "/v1/people",
                &key,
                json!({"email": format!("c{i}@example.com"), "name": format!("Customer {i}"), "send": false,
                       "properties": {"plan": if i % 2 == 0 { "pro" } else { "free" }}}),
            )
            .await
            .str("id");
        let body = json!({"person": person, "score": score, "comment": comment, "survey_id": survey,
                          "created_at": now_unix() - 3600 + i as i64});
        let made = s.send("POST", "/v1/survey_responses", &key, body).await;
        ids.push(made.str("id"));
    }
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let feed = b.get("/responses").await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    // Newest first, markup as text, people shown to the owner.
    let order: Vec<usize> = ids
        .iter()
        .rev()
        .map(|id| feed.text.find(&format!("responses/{id}?")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "newest first");
    assert!(feed.text.contains("&lt;script&gt;x()") && !feed.text.contains("<script>x()"));
    assert!(feed.text.contains("c3@example.com") && feed.text.contains("Customer 3"));
    let count = |html: &str| html.matches("class=\"item\"").count();
    assert_eq!(count(&b.get("/responses?group=detractor").await.text), 2);
    assert_eq!(count(&b.get("/responses?comment=without").await.text), 1);
    assert_eq!(count(&b.get("/responses?q=DELIVERY").await.text), 2);
    assert_eq!(count(&b.get("/responses?property=plan&value=pro").await.text), 2);
    assert_eq!(
        count(&b.get("/responses?group=detractor&q=late&channel=api").await.text),
        1
    );
    // The feed's filter as a file.
    let csv = b.get("/responses/export?group=detractor&format=csv").await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.headers["content-disposition"].to_str().unwrap().contains(".csv"));
    assert_eq!(
        csv.text.lines().count(),
        3,
        "a header and the two detractors: {}",
        csv.text
    );
    assert!(csv.text.contains("Slow delivery") && !csv.text.contains("Lovely"));
    let xlsx = b.get("/responses/export?format=xlsx").await;
    assert!(xlsx.headers["content-type"].to_str().unwrap().contains("spreadsheetml"));
    assert_eq!(b.get("/responses/export?format=pdf").await.status, 422);
    // The response's page, reached by the API's permalink; tags and a note through its form.
    let permalink = s
        .get(&format!("/v1/survey_responses/{}", ids[1]), &key)
        .await
        .str("permalink");
    let path = &permalink[permalink.find("/responses/").unwrap()..];
    let page = b.get(path).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Slow delivery") && page.text.contains("c1@example.com"));
    let token = csrf(&page.text);
    let saved = b
        .post(
            path,
            &[
                ("csrf", &token),
                ("tags", "billing, urgent"),
                ("note", "Called back <b>today</b>"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (saved.status, saved.location.as_deref()),
        (303, Some(ids[1].as_str())),
        "{}",
        saved.text
    );
    let page = b.get(path).await;
    assert!(
        page.text.contains("billing, urgent") && page.text.contains("Called back &lt;b&gt;today"),
        "{}",
        page.text
    );
    assert_eq!(count(&b.get("/responses?tag=urgent").await.text), 1);
    let api = s.get(&format!("/v1/survey_responses/{}", ids[1]), &key).await;
    assert_eq!(api.body["tags"], json!(["billing", "urgent"]));
    // An analyst reads without contact details and cannot edit.
    s.member(&owner, "analyst", "ann@acme.example").await;
    let mut analyst = Browser::new(&s);
    analyst.sign_in("acme", "ann@acme.example", PASSWORD).await;
    let theirs = analyst.get("/responses").await;
    assert!(
        theirs.text.contains("Slow delivery") && !theirs.text.contains("@example.com"),
        "{}",
        theirs.text
    );
    let page = analyst.get(path).await;
    assert!(!page.text.contains("name=\"note\""));
    let theirs_csv = analyst.get("/responses/export?format=csv").await;
    assert!(theirs_csv.text.contains("Slow delivery") && !theirs_csv.text.contains("@example.com"));
    let refused = analyst
        .post(path, &[("csrf", &csrf(&theirs.text)), ("tags", "x")], None)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    // Another workspace's session finds nothing there.
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    assert_eq!(other.get(path).await.status, 404);
    assert_eq!(count(&other.get("/responses").await.text), 0);
    // A cursor from another query is refused, not followed.
    let forged = b.get("/responses?cursor=AAAA").await;
    assert_eq!(forged.status, 400, "{}", forged.text);
}

/// Segments: NPS by a property's values, as `GET /v1/metrics?segment=` counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_show_what_the_api_counts() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Plans", "segments": ["plan"]}),
        )
        .await
        .str("id");
    for (i, (plan, score)) in [("pro", 10), ("pro", 9), ("free", 0), ("free", 10), ("free", 3)]
        .into_iter()
        .enumerate()
    {
        let person = s
            .send(
                "POST",
                "/v1/people",
                &key,
                json!({"email": format!("s{i}@example.com"), "send": false, "properties": {"plan": plan}}),
            )
            .await
            .str("id");
        let body = json!({"person": person, "score": score, "survey_id": survey, "created_at": now_unix() - 60});
        assert_eq!(s.send("POST", "/v1/survey_responses", &key, body).await.status, 201);
    }
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/segments").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let now = now_unix();
    let api = s
        .get(
            &format!(
                "/v1/metrics?trend={survey}&segment=plan&since={}&until={now}",
                now - 30 * DAY + 1
            ),
            &key,
        )
        .await;
    for segment in api.body["segments"].as_array().unwrap() {
        let row = format!(
            "<th scope=\"row\">{}</th><td>{}</td><td>{}</td>",
            segment["value"].as_str().unwrap(),
            segment["nps"],
            segment["response_count"]
        );
        assert!(page.text.contains(&row), "{row} not in {}", page.text);
    }
    // Sorted by NPS: pro (100) before free (-33).
    assert!(page.text.find(">pro</th>").unwrap() < page.text.find(">free</th>").unwrap());
}

/// The local outbox's folder.
fn outbox_dir(s: &Stack) -> std::path::PathBuf {
    let ovation::config::Backend::Embedded { data_dir } = &s.ctx.settings.backend else {
        panic!("the outbox is local")
    };
    data_dir.join(ovation::messaging::outbox::FOLDER)
}

/// The mails in the local outbox (their plain-text parts), oldest first, to `to`.
fn mails_to(s: &Stack, to: &str) -> Vec<String> {
    use base64::Engine;
    let dir = outbox_dir(s);
    let mut found: Vec<(std::time::SystemTime, String)> = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let raw = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if !raw.contains(&format!("To: <{to}>")) && !raw.contains(&format!("To: {to}")) {
            continue;
        }
        let at = raw.find("text/plain").expect("a text part");
        let body = raw[at..]
            .split("\r\n\r\n")
            .nth(1)
            .unwrap()
            .split("\r\n--")
            .next()
            .unwrap();
        let text = base64::engine::general_purpose::STANDARD
            .decode(body.replace("\r\n", ""))
            .unwrap();
        found.push((
            entry.metadata().unwrap().modified().unwrap(),
            String::from_utf8(text).unwrap(),
        ));
    }
    found.sort();
    found.into_iter().map(|(_, t)| t).collect()
}

/// The app path of the link in a mail (`/accept?token=…`).
fn link_in(mail: &str, page: &str) -> String {
    let at = mail.find(&format!("/{page}?token=")).expect("a link");
    mail[at..].split_whitespace().next().unwrap().to_owned()
}

/// An invitation is mailed and accepted in pages; resending one ends the earlier link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_mailed_and_accepted_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let invited = s
        .send(
            "POST",
            "/v1/users",
            &owner.token,
            json!({"email": "new@acme.example", "role": "analyst"}),
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let mails = mails_to(&s, "new@acme.example");
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].contains("join acme") || mails[0].contains("Join") || mails[0].contains("join"),
        "{}",
        mails[0]
    );
    let first = link_in(&mails[0], "accept");
    // Sent again: a new link, and the first one stops working.
    let user = invited.body["user"]["id"].as_str().unwrap();
    let again = s
        .send("POST", &format!("/v1/users/{user}/invitation"), &owner.token, json!({}))
        .await;
    assert_eq!(again.status, 200, "{again:?}");
    let mails = mails_to(&s, "new@acme.example");
    assert_eq!(mails.len(), 2);
    let second = link_in(&mails[1], "accept");
    assert_ne!(first, second);
    let mut b = Browser::new(&s);
    // The live link names its workspace; the stale one says at once that it cannot be used.
    let live = b.get(&second).await;
    assert!(live.text.contains("<h1>Join acme</h1>"));
    let page = b.get(&first).await;
    assert_eq!(page.status, 410);
    assert!(
        page.text.contains("<h1>This invitation cannot be used</h1>"),
        "{}",
        page.text
    );
    let token = csrf(&live.text);
    let stale = first.split("token=").nth(1).unwrap().to_owned();
    let fields = |t: &str, confirm: &str| {
        vec![
            ("csrf".to_owned(), token.clone()),
            ("token".to_owned(), t.to_owned()),
            ("name".to_owned(), "Nina New".to_owned()),
            ("password".to_owned(), PASSWORD.to_owned()),
            ("confirm_password".to_owned(), confirm.to_owned()),
        ]
    };
    let refused = b.post("/accept", &pairs(&fields(&stale, PASSWORD)), None).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    let fresh = second.split("token=").nth(1).unwrap().to_owned();
    let differ = b.post("/accept", &pairs(&fields(&fresh, "something else")), None).await;
    assert_eq!(differ.status, 422);
    // The page shown again carries its own form token (a new form cookie came with it).
    let mut retry = fields(&fresh, PASSWORD);
    retry[0].1 = csrf(&differ.text);
    let joined = b.post("/accept", &pairs(&retry), None).await;
    assert_eq!(joined.location.as_deref(), Some("overview"), "{}", joined.text);
    assert_eq!(b.get("/overview").await.status, 200);
    // Used once: the link is spent.
    let mut other = Browser::new(&s);
    other.get(&second).await;
    let reused = other.post("/accept", &pairs(&fields(&fresh, PASSWORD)), None).await;
    assert_eq!(reused.status, 403, "no form token of its own: {}", reused.text);
    let page = other.get(&second).await;
    assert_eq!(page.status, 410, "{}", page.text);
    let token2 = csrf(&other.get("/sign-in").await.text);
    let mut again_fields = fields(&fresh, PASSWORD);
    again_fields[0].1 = token2;
    let reused = other.post("/accept", &pairs(&again_fields), None).await;
    assert_eq!(reused.status, 401, "{}", reused.text);
}

/// A forgotten password: the same answer whether or not the account exists, a mailed link that
/// works once, a new password under the policy, every session ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_through_a_mailed_link() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let mut b = Browser::new(&s);
    let known = ask_for_link(&mut b, "owner@acme.example").await;
    let unknown = ask_for_link(&mut b, "nobody@acme.example").await;
    assert_eq!((known.status, unknown.status), (200, 200));
    let strip = |t: &str| {
        t.split("<main")
            .nth(1)
            .unwrap()
            .split("</main>")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(strip(&known.text), strip(&unknown.text), "the same answer");
    assert!(mails_to(&s, "nobody@acme.example").is_empty());
    let mails = mails_to(&s, "owner@acme.example");
    assert_eq!(mails.len(), 1, "{mails:?}");
    let link = link_in(&mails[0], "reset");
    let form = b.get(&link).await;
    assert_eq!(form.status, 200, "{}", form.text);
    let token = csrf(&form.text);
    let reset = link.split("token=").nth(1).unwrap().to_owned();
    let weak = b
        .post(
            "/reset",
            &[
                ("csrf", &token),
                ("token", &reset),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
            None,
        )
        .await;
    assert_eq!(weak.status, 422, "{}", weak.text);
    let token = csrf(&weak.text);
    let new = "a brand new passphrase of mine";
    let done = b
        .post(
            "/reset",
            &[
                ("csrf", &token),
                ("token", &reset),
                ("new_password", new),
                ("confirm_password", new),
            ],
            None,
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("sign-in?done=reset"), "{}", done.text);
    assert!(b.get("/sign-in?done=reset").await.text.contains("new password is set"));
    // Every session ended; the old password is gone, the new one works; the link is spent.
    assert_eq!(s.get("/v1/me", &owner.token).await.status, 401);
    assert_eq!(
        Browser::new(&s)
            .sign_in("acme", "owner@acme.example", PASSWORD)
            .await
            .status,
        401
    );
    let signed = Browser::new(&s).sign_in("acme", "owner@acme.example", new).await;
    assert_eq!(signed.location.as_deref(), Some("overview"));
    assert_eq!(b.get(&link).await.status, 410);
    // At most three live links at once: a fourth request sends nothing.
    for _ in 0..4 {
        ask_for_link(&mut b, "owner@acme.example").await;
    }
    assert_eq!(mails_to(&s, "owner@acme.example").len(), 1 + 3);
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// Asks for a password reset link through the pages.
async fn ask_for_link(b: &mut Browser, email: &str) -> Seen {
    let page = b.get("/forgot").await;
    let token = csrf(&page.text);
    b.post(
        "/forgot",
        &[("csrf", &token), ("workspace", "acme"), ("email", email)],
        None,
    )
    .await
}

/// The second factor turned on in pages (a QR code drawn on the server, the recovery codes
/// once), asked at the next sign-in, and turned off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_factor_is_turned_on_and_off_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    s.tenant("acme").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/security").await;
    assert!(page.text.contains("second factor is off"), "{}", page.text);
    let started = b.post("/security/totp", &[("csrf", &csrf(&page.text))], None).await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert!(started.text.contains("<svg role=\"img\"") && !started.text.contains("<?xml"));
    let secret = started
        .text
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    let bytes = totp_rs::Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let step = (now_unix() / 30) as u64;
    let code = ovation::auth::totp::code_at(&bytes, step).unwrap();
    let done = b
        .post(
            "/security/totp/confirm",
            &[("csrf", &csrf(&started.text)), ("code", &code)],
            None,
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let codes: Vec<&str> = done
        .text
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap())
        .collect();
    assert_eq!(codes.len(), 10, "{}", done.text);
    // The next sign-in asks for a code; a recovery code works once.
    let mut next = Browser::new(&s);
    let asked = next.sign_in("acme", "owner@acme.example", PASSWORD).await;
    assert_eq!(asked.location.as_deref(), Some("second-factor"));
    let form = next.get("/second-factor").await;
    let signed = next
        .post(
            "/second-factor",
            &[("csrf", &csrf(&form.text)), ("code", codes[0])],
            None,
        )
        .await;
    assert_eq!(signed.location.as_deref(), Some("overview"), "{}", signed.text);
    // Off again with the password and another recovery code.
    let page = next.get("/security").await;
    assert!(page.text.contains("second factor is on"), "{}", page.text);
    let off = next
        .post(
            "/security/totp/disable",
            &[("csrf", &csrf(&page.text)), ("password", PASSWORD), ("code", codes[1])],
            None,
        )
        .await;
    assert_eq!(off.location.as_deref(), Some("../../security"), "{}", off.text);
    assert!(next.get("/security").await.text.contains("second factor is off"));
}

/// An export of any size from the feed: a job, its page while it runs, its file once done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_export_runs_as_a_job_from_the_feed() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let taker =
        crate::support::TestQueue::new(s.ctx.store.clone(), None, ovation::messaging::local_queue::EXPORTS).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send("POST", "/v1/surveys", &owner.token, json!({"name": "Big"}))
        .await
        .str("id");
    answered(&s, &key, &survey, &[10, 3, 8, 0]).await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let feed = b.get(&format!("/responses?survey={survey}&group=detractor")).await;
    assert!(
        feed.text.contains("name=\"group\" value=\"detractor\""),
        "the job's form keeps the filters"
    );
    let token = csrf(&feed.text);
    let started = b
        .post(
            "/responses/export",
            &[
                ("csrf", &token),
                ("survey", &survey),
                ("period", "30"),
                ("group", "detractor"),
                ("format", "csv"),
            ],
            None,
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.text);
    let at = started.location.unwrap();
    assert!(at.starts_with("../exports/"), "{at}");
    let path = &at[2..];
    let waiting = b.get(path).await;
    assert_eq!(waiting.status, 200, "{}", waiting.text);
    assert!(waiting.text.contains("Waiting to start") && waiting.headers.contains_key("refresh"));
    // Another workspace does not see it.
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    assert_eq!(other.get(path).await.status, 404);
    // The job runs; the page offers the file.
    let taken = taker.take().await;
    assert_eq!(taken.len(), 1);
    let answer = job_exports::handle(&s.ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let done = b.get(path).await;
    assert!(
        done.text.contains("Done: 2 responses"),
        "the two detractors: {}",
        done.text
    );
    let file = b.get(&format!("{path}/file")).await;
    assert_eq!(file.status, 200, "{}", file.text);
    assert_eq!(file.text.lines().count(), 3, "{}", file.text);
    assert_eq!(other.get(&format!("{path}/file")).await.status, 404);
}

/// The team page: the owner invites (mailed), sends again, changes a role, disables (the session
/// ends) and enables, deletes with the email typed; an admin neither makes nor touches owners;
/// editors and analysts see no team; forms without their token and other workspaces' users are
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_is_managed_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let admin = s.member(&owner, "admin", "admin@acme.example").await;
    let analyst = s.member(&owner, "analyst", "analyst@acme.example").await;
    let editor = s.member(&owner, "editor", "editor@acme.example").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let team = b.get("/team").await;
    assert_eq!(team.status, 200, "{}", team.text);
    assert!(team.text.contains("admin@acme.example") && team.text.contains("analyst@acme.example"));
    let changes = |html: &str, id: &str| html.contains(&format!("action=\"team/{id}\""));
    assert!(changes(&team.text, &admin.user_id), "the owner changes the admin");
    assert!(!changes(&team.text, &owner.user_id), "nobody changes themselves here");
    assert_eq!(team.text.matches("(you:").count(), 1, "the viewer's own row says so");
    let token = csrf(&team.text);
    let invited = b
        .post(
            "/team/invite",
            &[
                ("csrf", &token),
                ("email", "nina@acme.example"),
                ("role", "editor"),
                ("name", "Nina <b>"),
            ],
            None,
        )
        .await;
    assert_eq!(
        invited.location.as_deref(),
        Some("../team?done=invited"),
        "{}",
        invited.text
    );
    assert_eq!(mails_to(&s, "nina@acme.example").len(), 1);
    let listed = b.get("/team?done=invited").await;
    assert!(listed.text.contains("Invitation sent.") && listed.text.contains("Nina &lt;b&gt;"));
    let users = s.get("/v1/users", &owner.token).await;
    let nina = users.body["users"]
        .as_array()
        .or(users.body.as_array())
        .unwrap()
        .iter()
        .find(|u| u["email"] == "nina@acme.example")
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .unwrap();
    let act = |action: &'static str, extra: Option<(&'static str, &'static str)>| {
        let mut fields = vec![("csrf", token.clone()), ("action", action.to_owned())];
        if let Some((name, value)) = extra {
            fields.push((name, value.to_owned()));
        }
        fields
    };
    let post = async |b: &mut Browser, path: &str, fields: Vec<(&str, String)>| {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        b.post(path, &pairs, None).await
    };
    let again = post(&mut b, &format!("/team/{nina}"), act("resent", None)).await;
    assert_eq!(again.location.as_deref(), Some("../team?done=resent"), "{}", again.text);
    assert_eq!(mails_to(&s, "nina@acme.example").len(), 2);
    let role = post(&mut b, &format!("/team/{nina}"), act("role", Some(("role", "analyst")))).await;
    assert_eq!(role.status, 303, "{}", role.text);
    assert_eq!(
        s.get(&format!("/v1/users/{nina}"), &owner.token).await.body["role"],
        "analyst"
    );
    // Disabling ends the admin's sessions at once; enabling lets them sign in again.
    assert_eq!(s.get("/v1/users", &admin.token).await.status, 200);
    let off = post(&mut b, &format!("/team/{}", admin.user_id), act("disabled", None)).await;
    assert_eq!(off.location.as_deref(), Some("../team?done=disabled"), "{}", off.text);
    assert_eq!(s.get("/v1/users", &admin.token).await.status, 401);
    let on = post(&mut b, &format!("/team/{}", admin.user_id), act("enabled", None)).await;
    assert_eq!(on.status, 303, "{}", on.text);
    // A changed role signs its holder out; so does removing a lost second factor.
    let mut editing = Browser::new(&s);
    editing.sign_in("acme", "editor@acme.example", PASSWORD).await;
    assert_eq!(editing.get("/team").await.status, 403, "editors have no team page");
    let token_of_editor = csrf(&editing.get("/overview").await.text);
    let team_made = editing
        .post("/teams", &[("csrf", &token_of_editor), ("name", "Mine")], None)
        .await;
    assert_eq!(team_made.status, 403, "nor make teams: {}", team_made.text);
    let role = post(
        &mut b,
        &format!("/team/{}", editor.user_id),
        act("role", Some(("role", "analyst"))),
    )
    .await;
    assert_eq!(role.location.as_deref(), Some("../team?done=role"), "{}", role.text);
    assert_eq!(s.get("/v1/me", &editor.token).await.status, 401);
    let enrol = s.send("POST", "/v1/me/mfa/totp", &analyst.token, json!({})).await;
    let code = crate::access::totp_code(&enrol.str("provisioning_uri"), 0);
    let on = s
        .send("POST", "/v1/me/mfa/totp/confirm", &analyst.token, json!({"code": code}))
        .await;
    assert_eq!(on.status, 200, "{on:?}");
    let session = on.body["token"].as_str().map_or(analyst.token.clone(), str::to_owned);
    assert_eq!(s.get("/v1/me", &session).await.status, 200);
    assert!(b.get("/team").await.text.contains("second factor on"));
    let reset = post(&mut b, &format!("/team/{}", analyst.user_id), act("reset_mfa", None)).await;
    assert_eq!(
        reset.location.as_deref(),
        Some("../team?done=reset_mfa"),
        "{}",
        reset.text
    );
    assert_eq!(
        s.get("/v1/me", &session).await.status,
        401,
        "the lost phone's session ends"
    );
    let user = s.get(&format!("/v1/users/{}", analyst.user_id), &owner.token).await;
    assert_eq!(user.body["mfa_enabled"], false);
    // Resetting a single sign-on binding (the button shows for a bound user only: sso.rs binds).
    assert_eq!(user.body["sso_bound"], false);
    assert!(!b.get("/team").await.text.contains("Reset the single sign-on binding"));
    let unbound = post(&mut b, &format!("/team/{}", analyst.user_id), act("reset_sso", None)).await;
    assert_eq!(
        unbound.location.as_deref(),
        Some("../team?done=reset_sso"),
        "{}",
        unbound.text
    );
    // The last owner cannot demote themselves, even by a crafted form.
    let myself = post(
        &mut b,
        &format!("/team/{}", owner.user_id),
        act("role", Some(("role", "admin"))),
    )
    .await;
    assert_eq!(myself.status, 422, "{}", myself.text);
    assert_eq!(
        s.get(&format!("/v1/users/{}", owner.user_id), &owner.token).await.body["role"],
        "owner"
    );
    // Deleting takes the email typed.
    let wrong = post(
        &mut b,
        &format!("/team/{nina}/delete"),
        vec![("csrf", token.clone()), ("confirm", "nina".into())],
    )
    .await;
    assert_eq!(wrong.status, 422, "{}", wrong.text);
    assert!(
        wrong.text.contains("type the user") && wrong.text.contains("<nav"),
        "{}",
        wrong.text
    );
    let gone = post(
        &mut b,
        &format!("/team/{nina}/delete"),
        vec![("csrf", token.clone()), ("confirm", "NINA@acme.example".into())],
    )
    .await;
    assert_eq!(
        gone.location.as_deref(),
        Some("../../team?done=deleted"),
        "{}",
        gone.text
    );
    assert_eq!(s.get(&format!("/v1/users/{nina}"), &owner.token).await.status, 404);
    // A form without its token, and an unknown action, are refused.
    let forged = b
        .post(&format!("/team/{}", admin.user_id), &[("action", "disabled")], None)
        .await;
    assert_eq!(forged.status, 403);
    let odd = post(&mut b, &format!("/team/{}", admin.user_id), act("promote", None)).await;
    assert_eq!(odd.status, 422, "{}", odd.text);
    // An admin offers no owner role and may not change an owner.
    let mut a = Browser::new(&s);
    a.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let theirs = a.get("/team").await;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    assert!(!theirs.text.contains("value=\"owner\"") && !changes(&theirs.text, &owner.user_id));
    assert!(changes(&theirs.text, &analyst.user_id), "an admin changes others");
    let crowned = a
        .post(
            &format!("/team/{}", analyst.user_id),
            &[("csrf", &csrf(&theirs.text)), ("action", "role"), ("role", "owner")],
            None,
        )
        .await;
    assert_eq!(crowned.status, 403, "{}", crowned.text);
    let unmade = a
        .post(
            &format!("/team/{}/delete", owner.user_id),
            &[("csrf", &csrf(&theirs.text)), ("confirm", "owner@acme.example")],
            None,
        )
        .await;
    assert_eq!(unmade.status, 403, "{}", unmade.text);
    let admin_token = csrf(&theirs.text);
    let demote = a
        .post(
            &format!("/team/{}", owner.user_id),
            &[("csrf", &admin_token), ("action", "role"), ("role", "analyst")],
            None,
        )
        .await;
    assert_eq!(demote.status, 403, "{}", demote.text);
    let crown = a
        .post(
            "/team/invite",
            &[
                ("csrf", &admin_token),
                ("email", "king@acme.example"),
                ("role", "owner"),
            ],
            None,
        )
        .await;
    assert_eq!(crown.status, 403, "{}", crown.text);
    // Analysts have no team page, nor its link.
    let mut viewer = Browser::new(&s);
    viewer.sign_in("acme", "analyst@acme.example", PASSWORD).await;
    assert_eq!(viewer.get("/team").await.status, 403);
    assert!(!viewer.get("/overview").await.text.contains("href=\"team\""));
    assert!(b.get("/overview").await.text.contains("href=\"team\""));
    // Another workspace's owner reaches none of these users.
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    let page = other.get("/team").await;
    assert_eq!(page.status, 200);
    assert!(!page.text.contains("acme.example"), "{}", page.text);
    let reach = other
        .post(
            &format!("/team/{}", admin.user_id),
            &[("csrf", &csrf(&page.text)), ("action", "disabled")],
            None,
        )
        .await;
    assert_eq!(reach.status, 404, "{}", reach.text);
    let erase = other
        .post(
            &format!("/team/{}/delete", admin.user_id),
            &[("csrf", &csrf(&page.text)), ("confirm", "admin@acme.example")],
            None,
        )
        .await;
    assert_eq!(erase.status, 404, "{}", erase.text);
    assert_eq!(
        s.get(&format!("/v1/users/{}", admin.user_id), &owner.token)
            .await
            .status,
        200
    );
}

/// The fields of a survey form as the page would post them: a name, English and French, one
/// single-choice question in both.
fn survey_fields(csrf: &str, name: &str, op: &str) -> Vec<(&'static str, String)> {
    [
        ("csrf", csrf),
        ("name", name),
        ("status", "active"),
        ("close_at", ""),
        ("default_language", "en"),
        ("lang_en", "on"),
        ("lang_fr", "on"),
        ("question_en", "How likely are you to recommend {{ product_name }}?"),
        ("question_fr", "Recommanderiez-vous {{ product_name }} ?"),
        ("question_count", "1"),
        ("q0_id", "plan"),
        ("q0_kind", "single"),
        ("q0_text_en", "Which plan are you on?"),
        ("q0_text_fr", "Quelle offre avez-vous ?"),
        ("q0_choices_en", "Free\nPaid"),
        ("q0_choices_fr", "Gratuite\nPayante"),
        ("sender_name", "Acme Support"),
        ("reply_to", ""),
        ("brand_color", "#0f766e"),
        ("logo_url", ""),
        ("throttle_days", "30"),
        ("reminder_days", "5"),
        ("link_days", "90"),
        ("segments", "plan, region"),
        ("op", op),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

fn with(mut fields: Vec<(&'static str, String)>, changes: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    for (name, value) in changes {
        fields.retain(|(n, _)| n != name);
        fields.push((name, (*value).to_owned()));
    }
    fields
}

async fn post_fields(b: &mut Browser, path: &str, fields: &[(&'static str, String)]) -> Seen {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    b.post(path, &pairs, None).await
}

/// Surveys are listed, built (a question added, moved and removed without script; two
/// languages), saved as the API keeps them, and previewed as typed, in either language, by the
/// sender's and the respondent page's own code. Analysts read and preview but change nothing;
/// forms without their token, from other sites or for other workspaces' surveys are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surveys_are_built_and_previewed_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "analyst", "analyst@acme.example").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let list = b.get("/surveys").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.text.contains("Net Promoter Score") && list.text.contains("href=\"surveys/new\""));

    // Without script: a button adds a question and the form comes back unsaved, as typed.
    let new = b.get("/surveys/new").await;
    assert_eq!(new.status, 200, "{}", new.text);
    let token = csrf(&new.text);
    let blank = with(
        survey_fields(&token, "Onboarding <b>", "add"),
        &[("question_count", "0"), ("add_kind", "csat")],
    );
    let added = post_fields(&mut b, "/surveys/new", &blank).await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert!(added.text.contains("not saved yet") && added.text.contains("name=\"q0_id\" value=\"csat\""));
    assert!(
        added.text.contains("value=\"Onboarding &lt;b&gt;\""),
        "the name as typed"
    );
    assert_eq!(s.get("/v1/surveys", &key).await.text.matches("Onboarding").count(), 0);
    let two = with(
        survey_fields(&token, "Onboarding", "up:1"),
        &[
            ("question_count", "2"),
            ("q1_id", "csat"),
            ("q1_kind", "csat"),
            ("q1_text_en", "Satisfied?"),
        ],
    );
    let moved = post_fields(&mut b, "/surveys/new", &two).await;
    let first = moved.text.find("name=\"q0_id\" value=\"csat\"");
    assert!(
        first.is_some() && moved.text.contains("name=\"q1_id\" value=\"plan\""),
        "{}",
        moved.text
    );
    let removed = post_fields(&mut b, "/surveys/new", &with(two.clone(), &[("op", "remove:1")])).await;
    assert!(!removed.text.contains("name=\"q1_id\"") && removed.text.contains("value=\"plan\""));

    // Saved: what the API reads back.
    let created = post_fields(&mut b, "/surveys/new", &survey_fields(&token, "Onboarding", "save")).await;
    assert_eq!(created.status, 303, "{}", created.text);
    let location = created.location.unwrap();
    let id = location
        .strip_prefix("../surveys/")
        .and_then(|rest| rest.strip_suffix("?done=created"))
        .unwrap()
        .to_owned();
    let api = s.get(&format!("/v1/surveys/{id}"), &key).await;
    assert_eq!(api.body["languages"], json!(["en", "fr"]), "{}", api.text);
    assert_eq!(
        api.body["texts"]["fr"]["question"],
        "Recommanderiez-vous {{ product_name }} ?"
    );
    assert_eq!(
        api.body["questions"][0]["choices"][1],
        json!({"en": "Paid", "fr": "Payante"})
    );
    assert_eq!(
        (api.body["reminder_days"].clone(), api.body["segments"].clone()),
        (json!(5), json!(["plan", "region"]))
    );
    let page = b.get(&format!("/surveys/{id}?done=created")).await;
    let text = page.text.replace("&#x2f;", "/");
    assert!(text.contains("Survey created."), "{text}");
    assert_eq!(
        api.body["web_link"].as_str().map(|l| text.contains(l)),
        Some(true),
        "the API's web link"
    );

    // The preview of the form as typed, in French on a phone: the sender's subject and the
    // respondent page's question, framed by the app only, sandboxed.
    let draft = with(
        survey_fields(&token, "Onboarding", ""),
        &[
            ("question_fr", "Nous recommanderiez-vous ?"),
            ("preview_language", "fr"),
            ("preview_device", "phone"),
        ],
    );
    let preview = post_fields(&mut b, &format!("/surveys/{id}/preview"), &draft).await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    assert!(
        preview.text.contains("<dd>Nous recommanderiez-vous ?</dd>"),
        "the subject: {}",
        preview.text
    );
    assert!(preview.text.contains("Quelle offre avez-vous ?") && preview.text.contains("class=\"phone\""));
    assert!(preview.text.contains("<dd>Acme Support &lt;"), "the sender");
    let csp = preview.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("frame-ancestors 'self'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(preview.headers["x-frame-options"], "SAMEORIGIN");
    let saved = s.get(&format!("/v1/surveys/{id}"), &key).await;
    assert_eq!(
        saved.body["texts"]["fr"]["question"], "Recommanderiez-vous {{ product_name }} ?",
        "a preview saves nothing"
    );
    let stored = b.get(&format!("/surveys/{id}/preview?language=fr")).await;
    assert!(
        stored.text.contains("<dd>Recommanderiez-vous acme ?</dd>"),
        "{}",
        stored.text
    );
    let english = b.get(&format!("/surveys/{id}/preview")).await;
    assert!(english.text.contains("Which plan are you on?") && !english.text.contains("class=\"phone\""));
    let wrong = post_fields(
        &mut b,
        &format!("/surveys/{id}/preview"),
        &with(draft.clone(), &[("q0_choices_en", "Only one")]),
    )
    .await;
    assert_eq!(wrong.status, 422, "{}", wrong.text);
    assert!(
        wrong.text.contains("once this is fixed") && wrong.text.contains("needs a text in the default language"),
        "{}",
        wrong.text
    );

    // A refused save shows the form as typed with what was wrong.
    let bad = post_fields(
        &mut b,
        &format!("/surveys/{id}"),
        &with(survey_fields(&token, "Renamed", "save"), &[("brand_color", "teal")]),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(bad.text.contains("Not saved.") && bad.text.contains("value=\"Renamed\"") && bad.text.contains("#rrggbb"));
    let renamed = post_fields(
        &mut b,
        &format!("/surveys/{id}"),
        &survey_fields(&token, "Renamed <i>", "save"),
    )
    .await;
    assert_eq!(
        renamed.location.as_deref(),
        Some(format!("../surveys/{id}?done=saved").as_str())
    );
    let listed = b.get("/surveys").await;
    assert!(listed.text.contains("Renamed &lt;i&gt;") && !listed.text.contains("Renamed <i>"));
    // A form opened before someone else's change does not undo it.
    let opened = b.get(&format!("/surveys/{id}")).await;
    let version = opened
        .text
        .split("name=\"version\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let elsewhere = s
        .send(
            "PATCH",
            &format!("/v1/surveys/{id}"),
            &key,
            json!({"sender_name": "Their change"}),
        )
        .await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text);
    let stale = post_fields(
        &mut b,
        &format!("/surveys/{id}"),
        &with(survey_fields(&token, "Mine", "save"), &[("version", &version)]),
    )
    .await;
    assert_eq!(stale.status, 422, "{}", stale.text);
    assert!(
        stale.text.contains("changed by someone else") && stale.text.contains("value=\"Mine\""),
        "{}",
        stale.text
    );
    assert_eq!(
        s.get(&format!("/v1/surveys/{id}"), &key).await.body["sender_name"],
        "Their change"
    );
    assert!(listed.text.contains("en, fr"), "the languages spoken");

    // The attacks: no token, another site, another workspace's session.
    let before = s.get(&format!("/v1/surveys/{id}"), &key).await.text;
    let mut untokened = survey_fields("", "Hijacked", "save");
    untokened.retain(|(n, _)| *n != "csrf");
    assert_eq!(
        post_fields(&mut b, &format!("/surveys/{id}"), &untokened).await.status,
        403
    );
    let hijack = survey_fields(&token, "Hijacked", "save");
    let pairs: Vec<(&str, &str)> = hijack.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let crossed = b
        .post(&format!("/surveys/{id}"), &pairs, Some("https://evil.example"))
        .await;
    assert_eq!(crossed.status, 403, "{}", crossed.text);
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    let theirs = other.get("/surveys").await;
    assert!(!theirs.text.contains("Renamed"), "{}", theirs.text);
    let their_token = csrf(&other.get("/surveys/new").await.text);
    assert_eq!(other.get(&format!("/surveys/{id}")).await.status, 404);
    assert_eq!(other.get(&format!("/surveys/{id}/preview")).await.status, 404);
    let reach = post_fields(
        &mut other,
        &format!("/surveys/{id}"),
        &survey_fields(&their_token, "Hijacked", "save"),
    )
    .await;
    assert_eq!(reach.status, 404, "{}", reach.text);
    let peek = post_fields(
        &mut other,
        &format!("/surveys/{id}/preview"),
        &survey_fields(&their_token, "Hijacked", ""),
    )
    .await;
    assert_eq!(peek.status, 404, "{}", peek.text);
    assert_eq!(
        s.get(&format!("/v1/surveys/{id}"), &key).await.text,
        before,
        "nothing changed"
    );

    // Analysts read a survey and its preview; they change nothing.
    let mut analyst = Browser::new(&s);
    analyst.sign_in("acme", "analyst@acme.example", PASSWORD).await;
    let read = analyst.get(&format!("/surveys/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert!(read.text.contains("<fieldset disabled") && !read.text.contains("value=\"save\""));
    assert!(!analyst.get("/surveys").await.text.contains("surveys/new"));
    assert_eq!(
        analyst
            .get(&format!("/surveys/{id}/preview?language=fr&device=phone"))
            .await
            .status,
        200
    );
    let their = csrf(&read.text);
    let refused = post_fields(
        &mut analyst,
        &format!("/surveys/{id}"),
        &survey_fields(&their, "Analysed", "save"),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(analyst.get("/surveys/new").await.status, 403);
    assert_eq!(s.get(&format!("/v1/surveys/{id}"), &key).await.text, before);
}

/// The text of the element with `id` on a page (a secret shown once).
fn element_text(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id}: {html}"))
        + id.len()
        + 6;
    html[at..at + html[at..].find('<').unwrap()].to_owned()
}

/// API keys and OAuth clients in the settings page: made with their secret shown once, working
/// at once in the API within their scope, revoked (or deleted) from the page and refused at the
/// very next call. Analysts see no settings and their direct POST is refused; other workspaces
/// revoke nothing; forms without their token are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_made_and_revoked_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "analyst", "analyst@acme.example").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/settings/keys").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("No API keys yet.")
            && page
                .text
                .replace("&#x2f;", "/")
                .contains("href=\"../settings/keys\" aria-current=\"page\"")
    );
    let token = csrf(&page.text);
    let fields = |kind: &'static str, name: &'static str, scope: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("kind", kind.to_owned()),
            ("name", name.to_owned()),
            ("scope", scope.to_owned()),
        ]
    };
    let made = post_fields(&mut b, "/settings/keys", &fields("api_key", "CRM <b>", "read")).await;
    assert_eq!(made.status, 200, "{}", made.text);
    let key = element_text(&made.text, "secret");
    assert!(key.len() > 40 && made.text.contains("CRM &lt;b&gt;"), "{}", made.text);
    assert_eq!(s.get("/v1/metrics", &key).await.status, 200, "the key works at once");
    let write = s
        .send("POST", "/v1/people", &key, json!({"email": "x@example.com"}))
        .await;
    assert_eq!(write.status, 403, "a read key writes nothing: {}", write.text);
    let listed = b.get("/settings/keys").await;
    assert!(!listed.text.contains(&key), "shown once only");
    assert!(listed.text.contains(&format!("…{}", &key[key.len() - 4..])), "its hint");
    let id = listed
        .text
        .split("action=\"keys/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Another workspace's owner revokes nothing of Acme's; a form without its token neither.
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    let theirs = other.get("/settings/keys").await;
    assert!(!theirs.text.contains("CRM &lt;b"), "{}", theirs.text);
    let reach = other
        .post(&format!("/settings/keys/{id}"), &[("csrf", &csrf(&theirs.text))], None)
        .await;
    assert_eq!(reach.status, 404, "{}", reach.text);
    assert_eq!(b.post(&format!("/settings/keys/{id}"), &[], None).await.status, 403);
    assert_eq!(s.get("/v1/metrics", &key).await.status, 200, "still works");

    // Revoked in the page: the next call is refused.
    let revoked = b.post(&format!("/settings/keys/{id}"), &[("csrf", &token)], None).await;
    assert_eq!(
        revoked.location.as_deref(),
        Some("../../settings/keys?done=revoked"),
        "{}",
        revoked.text
    );
    assert_eq!(s.get("/v1/metrics", &key).await.status, 401);
    assert!(
        b.get("/settings/keys?done=revoked")
            .await
            .text
            .contains("API key revoked")
    );

    // An OAuth client: its secret once, a token, then deleted and its token refused.
    let client = post_fields(&mut b, "/settings/keys", &fields("oauth_client", "Warehouse", "write")).await;
    assert_eq!(client.status, 200, "{}", client.text);
    let (client_id, secret) = (
        element_text(&client.text, "client-id"),
        element_text(&client.text, "secret"),
    );
    let granted: Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = granted["access_token"].as_str().expect("a token").to_owned();
    assert_eq!(s.get("/v1/metrics", &bearer).await.status, 200);
    let deleted = b
        .post(&format!("/settings/clients/{client_id}"), &[("csrf", &token)], None)
        .await;
    assert_eq!(
        deleted.location.as_deref(),
        Some("../../settings/keys?done=deleted"),
        "{}",
        deleted.text
    );
    assert_eq!(s.get("/v1/metrics", &bearer).await.status, 401);
    let bad = post_fields(&mut b, "/settings/keys", &fields("api_key", "", "read")).await;
    assert_eq!(bad.status, 422, "a key needs a name: {}", bad.text);

    // Analysts: no settings in the navigation, the page and its forms refused.
    let mut analyst = Browser::new(&s);
    analyst.sign_in("acme", "analyst@acme.example", PASSWORD).await;
    let overview = analyst.get("/overview").await;
    assert!(
        !overview.text.replace("&#x2f;", "/").contains("settings/keys"),
        "{}",
        overview.text
    );
    assert_eq!(analyst.get("/settings/keys").await.status, 403);
    let theirs = csrf(&overview.text);
    let forged = analyst
        .post(
            "/settings/keys",
            &[
                ("csrf", &theirs),
                ("kind", "api_key"),
                ("name", "Mine"),
                ("scope", "admin"),
            ],
            None,
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert_eq!(
        s.get("/v1/api_keys", &owner.token).await.body,
        json!([]),
        "nothing made"
    );
}

/// People in pages: added with properties and sent a survey (mailed in their language by the
/// real scheduler and deliverer), found again by exact email, their page with the send's status,
/// a second send skipped by the re-survey window and saying why, pending sends canceled, and
/// erased with their email typed (the API then knows them no more). Other workspaces, forms
/// without their token and analysts reach none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_added_sent_to_and_erased_in_pages() {
    let (s, send, data_dir) =
        crate::sending::sending_stack(Engines::embedded(), "surveys@acme.example", true, |_| {}).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "analyst", "analyst@acme.example").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s.get("/v1/surveys", &key).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let people = b.get("/people").await;
    assert_eq!(people.status, 200, "{}", people.text);
    assert!(people.text.contains("No one yet"), "{}", people.text);
    let token = csrf(&people.text);
    let added = b
        .post(
            "/people",
            &[
                ("csrf", &token),
                ("email", "ada@example.com"),
                ("name", "Ada <b>"),
                ("properties", "plan: pro\nlocale: fr"),
                ("send", "on"),
                ("survey_id", &survey),
                ("channel", "email"),
                ("when", "now"),
            ],
            None,
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.text);
    let location = added.location.unwrap();
    assert!(
        location.starts_with("people/") && location.ends_with("?done=sent&zone="),
        "{location}"
    );
    let id = location["people/".len()..location.len() - "?done=sent&zone=".len()].to_owned();

    // The real scheduler and deliverer send it: in French, to Ada.
    job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap();
    let event = crate::sending::receive(&send).await;
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    crate::sending::settle(&send, &event, &answer).await;
    let mail: Vec<_> = crate::sending::sent_mail(&send, &data_dir)
        .await
        .iter()
        .filter_map(|raw| ovation::messaging::mime::parse(raw))
        .filter(|m| m.header("To").is_some_and(|to| to.contains("ada@example.com")))
        .collect();
    assert_eq!(mail.len(), 1, "one survey mailed to Ada");
    assert!(mail[0].text.contains("Choisissez"), "{}", mail[0].text);

    // Found by exact email; the page lists the send as sent.
    let found = b.get("/people?q=ADA%40example.com").await;
    assert_eq!(
        found.location.as_deref(),
        Some(format!("people/{id}?zone=UTC").as_str()),
        "{}",
        found.text
    );
    let page = b.get(&format!("/people/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("Ada &lt;b&gt;") && page.text.contains("<dd>pro</dd>"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("Net Promoter Score") && page.text.contains("sent"),
        "{}",
        page.text
    );
    let unsearchable = b.get("/people?q=Ada").await;
    assert_eq!(unsearchable.status, 200, "{}", unsearchable.text);
    assert!(
        unsearchable.text.contains("Type a whole email address"),
        "{}",
        unsearchable.text
    );
    // Their email changed from their page: the same person, the new address.
    let moved = b
        .post(
            "/people",
            &[
                ("csrf", &token),
                ("lookup_email", "ada@example.com"),
                ("email", "ada.l@example.com"),
                ("send", ""),
            ],
            None,
        )
        .await;
    assert_eq!(
        moved.location.as_deref(),
        Some(format!("people/{id}?done=saved&zone=").as_str()),
        "{}",
        moved.text
    );
    let moved_back = [
        ("csrf", token.as_str()),
        ("lookup_email", "ada.l@example.com"),
        ("email", "ada@example.com"),
    ];
    assert_eq!(b.post("/people", &moved_back, None).await.status, 303);
    assert_eq!(
        s.get("/v1/people", &key).await.body.as_array().unwrap().len(),
        1,
        "no second person"
    );
    let missing = b.get("/people?q=nobody%40example.com").await;
    assert!(
        missing.text.contains("No one has nobody@example.com"),
        "{}",
        missing.text
    );

    // Asked again at once: the re-survey window skips it, and the page says why.
    let again = b
        .post(
            "/people",
            &[
                ("csrf", &token),
                ("email", "ada@example.com"),
                ("send", "on"),
                ("when", "now"),
                ("survey_id", &survey),
            ],
            None,
        )
        .await;
    assert_eq!(again.status, 303, "{}", again.text);
    job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap();
    let page = b.get(&format!("/people/{id}")).await;
    assert!(
        page.text
            .contains("not sent: asked recently (the survey&#x27;s re-survey window)"),
        "{}",
        page.text
    );

    // A send in a day, canceled from the page.
    let later = [
        ("csrf", token.as_str()),
        ("email", "ada@example.com"),
        ("send", "on"),
        ("when", "delay"),
        ("delay_hours", "24"),
        ("survey_id", &survey),
    ];
    assert_eq!(b.post("/people", &later, None).await.status, 303);
    let page = b.get(&format!("/people/{id}")).await;
    assert!(page.text.contains("Cancel their pending surveys"), "{}", page.text);
    let canceled = b.post(&format!("/people/{id}/cancel"), &[("csrf", &token)], None).await;
    assert_eq!(
        canceled.location.as_deref(),
        Some(format!("../../people/{id}?done=canceled&zone=").as_str())
    );
    assert!(b.get(&format!("/people/{id}")).await.text.contains("canceled"));

    // Others: another workspace, a form without its token, an analyst.
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    assert_eq!(other.get(&format!("/people/{id}")).await.status, 404);
    let theirs = csrf(&other.get("/people").await.text);
    assert!(
        other
            .get("/people?q=ada%40example.com")
            .await
            .text
            .contains("No one has")
    );
    let reach = other
        .post(
            &format!("/people/{id}/erase"),
            &[("csrf", &theirs), ("confirm", "ada@example.com")],
            None,
        )
        .await;
    assert_eq!(reach.status, 404, "{}", reach.text);
    assert_eq!(
        b.post(&format!("/people/{id}/erase"), &[("confirm", "ada@example.com")], None)
            .await
            .status,
        403
    );
    let mut analyst = Browser::new(&s);
    analyst.sign_in("acme", "analyst@acme.example", PASSWORD).await;
    assert_eq!(analyst.get("/people").await.status, 403);
    assert_eq!(analyst.get(&format!("/people/{id}")).await.status, 403);

    // Erased once the email is typed: the API knows them no more.
    let wrong = b
        .post(
            &format!("/people/{id}/erase"),
            &[("csrf", &token), ("confirm", "someone else")],
            None,
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.text);
    let erased = b
        .post(
            &format!("/people/{id}/erase"),
            &[("csrf", &token), ("confirm", "Ada@Example.com")],
            None,
        )
        .await;
    assert_eq!(
        erased.location.as_deref(),
        Some("../../people?done=erased"),
        "{}",
        erased.text
    );
    assert_eq!(b.get(&format!("/people/{id}")).await.status, 404);
    let listed = s.get("/v1/people", &key).await;
    assert_eq!(listed.body, json!([]), "{}", listed.text);
}

/// The workspace's security, privacy and retention settings in their page: saved as the API
/// reads them back, the allow-list's lock-out guard holding, and audited; editors and analysts
/// neither see nor post them; a form without its token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_settings_are_saved_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "editor", "editor@acme.example").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/settings/workspace").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let token = csrf(&page.text);
    let fields = |allow: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("display_name", "Acme <Support>".to_owned()),
            ("lang_en", "on".to_owned()),
            ("lang_fr", "on".to_owned()),
            ("min_length", "14".to_owned()),
            ("expiry_days", "".to_owned()),
            ("ip_allow_list", allow.to_owned()),
            ("store_respondent_ip", "on".to_owned()),
            ("retention_days", "365".to_owned()),
            ("retention_action", "delete".to_owned()),
        ]
    };
    let saved = post_fields(&mut b, "/settings/workspace", &fields("127.0.0.1/32\n::1/128")).await;
    assert_eq!(
        saved.location.as_deref(),
        Some("../settings/workspace?done=saved"),
        "{}",
        saved.text
    );
    let tenant = s.get("/v1/tenant", &owner.token).await.body;
    let settings = &tenant["settings"];
    assert_eq!(settings["display_name"], "Acme <Support>");
    assert_eq!(settings["languages"], json!(["en", "fr"]));
    assert_eq!(settings["ip_allow_list"], json!(["127.0.0.1/32", "::1/128"]));
    assert_eq!(
        (&settings["retention_days"], &settings["retention_action"]),
        (&json!(365), &json!("delete"))
    );
    assert_eq!(settings["privacy"]["store_respondent_ip"], true);
    assert_eq!(
        settings["password_policy"],
        json!({"min_length": 14, "expiry_days": null})
    );
    let shown = b.get("/settings/workspace?done=saved").await;
    assert!(shown.text.contains("Settings saved.") && shown.text.contains("value=\"Acme &lt;Support&gt;\""));
    // A list without the viewer's own address is refused: nobody locks themselves out.
    let locked = post_fields(&mut b, "/settings/workspace", &fields("203.0.113.0/24")).await;
    assert_eq!(locked.status, 422, "{}", locked.text);
    assert!(locked.text.contains("lock yourself out"), "{}", locked.text);
    let bad = post_fields(&mut b, "/settings/workspace", &with(fields(""), &[("min_length", "8")])).await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert_eq!(s.get("/v1/tenant", &owner.token).await.body, tenant, "nothing changed");
    let events = s.get("/v1/audit_events", &owner.token).await.text;
    assert!(events.contains("tenant.settings_updated"), "{events}");
    // A form opened before another admin's change does not undo it.
    let opened = b.get("/settings/workspace").await;
    let version = opened
        .text
        .split("name=\"version\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let elsewhere = s
        .send("PATCH", "/v1/tenant", &owner.token, json!({"support_access": true}))
        .await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text);
    let stale = post_fields(
        &mut b,
        "/settings/workspace",
        &with(fields("127.0.0.1/32\n::1/128"), &[("version", &version)]),
    )
    .await;
    assert_eq!(stale.status, 422, "{}", stale.text);
    assert!(stale.text.contains("changed by someone else"), "{}", stale.text);
    let tenant = s.get("/v1/tenant", &owner.token).await.body;
    assert_eq!(tenant["settings"]["support_access"], true, "their change stands");
    // No token, no change; editors neither see nor post settings.
    assert_eq!(
        b.post("/settings/workspace", &[("display_name", "x")], None)
            .await
            .status,
        403
    );
    let mut editor = Browser::new(&s);
    editor.sign_in("acme", "editor@acme.example", PASSWORD).await;
    let theirs = editor.get("/overview").await;
    assert!(
        !theirs.text.replace("&#x2f;", "/").contains("settings/"),
        "{}",
        theirs.text
    );
    assert_eq!(editor.get("/settings/workspace").await.status, 403);
    let forged = post_fields(
        &mut editor,
        "/settings/workspace",
        &with(fields(""), &[("csrf", &csrf(&theirs.text))]),
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert_eq!(s.get("/v1/tenant", &owner.token).await.body, tenant);
}

/// Webhooks in the settings page: an endpoint added (its secret shown once, and the one the
/// receiver verifies), a test event sent from the page and delivered signed, the delivery log,
/// a URL that reaches inside refused, a new secret, pausing, deleting. Editors have no webhooks
/// page, other workspaces change nothing, forms without their token are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_managed_in_pages() {
    let s = Stack::start(Engines::embedded(), |settings| {
        settings.webhooks.allow_loopback = true;
    })
    .await;
    let (base, receiver) = crate::webhooks::start_receiver().await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "editor", "editor@acme.example").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/settings/webhooks").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let token = csrf(&page.text);
    let inside = b
        .post(
            "/settings/webhooks",
            &[
                ("csrf", &token),
                ("url", "https://169.254.169.254/latest/"),
                ("event_survey_response.created", "on"),
            ],
            None,
        )
        .await;
    assert_eq!(inside.status, 422, "{}", inside.text);
    assert!(inside.text.contains("link-local"), "{}", inside.text);
    let url = format!("{base}/hook");
    let made = b
        .post(
            "/settings/webhooks",
            &[("csrf", &token), ("url", &url), ("event_survey_response.created", "on")],
            None,
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let secret = element_text(&made.text, "secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    *receiver.secret.lock().unwrap() = secret.clone();
    let endpoints = s.get("/v1/webhooks", &owner.token).await.body;
    assert_eq!(
        endpoints[0]["events"],
        json!(["survey_response.created"]),
        "{endpoints}"
    );
    let id = endpoints[0]["id"].as_str().unwrap().to_owned();
    let listed = b.get("/settings/webhooks").await;
    assert!(!listed.text.contains(&secret), "shown once only");

    // A test event from the page: delivered, signed with that secret, and in the log.
    let tested = b
        .post(
            &format!("/settings/webhooks/{id}"),
            &[
                ("csrf", &token),
                ("action", "test"),
                ("event_type", "survey_response.created"),
            ],
            None,
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.text);
    assert!(
        tested.text.contains("delivered") && tested.text.contains("It answered 200"),
        "{}",
        tested.text
    );
    assert!(
        receiver
            .seen
            .lock()
            .unwrap()
            .calls
            .iter()
            .any(|(verified, ..)| *verified),
        "signed with the page's secret"
    );
    let log = b.get(&format!("/settings/webhooks/{id}")).await;
    assert_eq!(log.status, 200, "{}", log.text);
    assert!(
        log.text.contains("survey_response.created") && log.text.contains("(test)"),
        "{}",
        log.text
    );

    // A new secret (the old one stops), paused, then deleted.
    let rotated = b
        .post(
            &format!("/settings/webhooks/{id}"),
            &[("csrf", &token), ("action", "secret")],
            None,
        )
        .await;
    let fresh = element_text(&rotated.text, "secret");
    assert!(fresh.starts_with("whsec_") && fresh != secret, "{}", rotated.text);
    let paused = b
        .post(
            &format!("/settings/webhooks/{id}"),
            &[("csrf", &token), ("action", "paused")],
            None,
        )
        .await;
    assert_eq!(
        paused.location.as_deref(),
        Some("../../settings/webhooks?done=paused"),
        "{}",
        paused.text
    );
    assert_eq!(
        s.get(&format!("/v1/webhooks/{id}"), &owner.token).await.body["active"],
        false
    );
    let shown = b.get("/settings/webhooks?done=paused").await;
    assert!(
        shown.text.contains("<span class=\"tag\">paused</span>") && !shown.text.contains("Disabled "),
        "a paused endpoint says so: {}",
        shown.text
    );

    // Others reach nothing.
    assert_eq!(
        b.post(&format!("/settings/webhooks/{id}"), &[("action", "delete")], None)
            .await
            .status,
        403
    );
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    let theirs = csrf(&other.get("/settings/webhooks").await.text);
    let reach = other
        .post(
            &format!("/settings/webhooks/{id}"),
            &[("csrf", &theirs), ("action", "delete")],
            None,
        )
        .await;
    assert_eq!(reach.status, 404, "{}", reach.text);
    assert_eq!(other.get(&format!("/settings/webhooks/{id}")).await.status, 404);
    let mut editor = Browser::new(&s);
    editor.sign_in("acme", "editor@acme.example", PASSWORD).await;
    assert_eq!(editor.get("/settings/webhooks").await.status, 403);
    let deleted = b
        .post(
            &format!("/settings/webhooks/{id}"),
            &[("csrf", &token), ("action", "delete")],
            None,
        )
        .await;
    assert_eq!(
        deleted.location.as_deref(),
        Some("../../settings/webhooks?done=deleted"),
        "{}",
        deleted.text
    );
    assert_eq!(s.get("/v1/webhooks", &owner.token).await.body, json!([]));
}

/// The audit log in its settings page: the workspace's events newest first with who did them,
/// narrowed by action and person, and the same events as a JSON-lines file matching the API's
/// export; editors see neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_read_and_exported_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "editor", "editor@acme.example").await;
    for name in ["One", "Two"] {
        let made = s.send("POST", "/v1/surveys", &owner.token, json!({"name": name})).await;
        assert_eq!(made.status, 201, "{}", made.text);
    }
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/settings/audit").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("survey.created") && page.text.contains("owner@acme.example"),
        "{}",
        page.text
    );
    let narrowed = b
        .get(&format!(
            "/settings/audit?period=7&action=survey.created&actor={}",
            owner.user_id
        ))
        .await;
    assert_eq!(
        narrowed.text.matches("<code>survey.created</code>").count(),
        2,
        "{}",
        narrowed.text
    );
    assert!(
        !narrowed.text.contains("<code>user.invited</code>"),
        "{}",
        narrowed.text
    );
    let file = b.get("/settings/audit/export?period=7&action=survey.created").await;
    assert_eq!(file.status, 200, "{}", file.text);
    assert_eq!(file.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = file.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let api = s
        .get("/v1/audit_events?action=survey.created&format=jsonl", &owner.token)
        .await;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines.len(), api.text.lines().count(), "the API's export");
    assert!(lines.iter().all(|e| e["action"] == "survey.created"));
    let mut editor = Browser::new(&s);
    editor.sign_in("acme", "editor@acme.example", PASSWORD).await;
    assert_eq!(editor.get("/settings/audit").await.status, 403);
    assert_eq!(editor.get("/settings/audit/export").await.status, 403);
}

/// Autopilot in its page: switched on for email with a frequency, a member added (their first
/// survey scheduled) and removed, as the API reads them back; analysts see the settings but no
/// members and change nothing; other workspaces and forms without their token change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopilot_is_run_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "analyst", "analyst@acme.example").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/autopilot").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("Email: off") && page.text.contains("SMS: off"),
        "{}",
        page.text
    );
    let token = csrf(&page.text);
    let zero = b
        .post(
            "/autopilot/email",
            &[("csrf", &token), ("active", "on"), ("days", "0"), ("survey_id", "")],
            None,
        )
        .await;
    assert_eq!(zero.status, 422, "{}", zero.text);
    let on = b
        .post(
            "/autopilot/email",
            &[("csrf", &token), ("active", "on"), ("days", "30"), ("survey_id", "")],
            None,
        )
        .await;
    assert_eq!(on.location.as_deref(), Some("../autopilot?done=saved"), "{}", on.text);
    let config = s.get("/v1/autopilot/email", &owner.token).await.body;
    assert_eq!(
        (&config["active"], &config["frequency"]),
        (&json!(true), &json!(30 * DAY)),
        "{config}"
    );
    let joined = b
        .post(
            "/autopilot/email/members",
            &[("csrf", &token), ("action", "join"), ("email", "zoe@example.com")],
            None,
        )
        .await;
    assert_eq!(
        joined.location.as_deref(),
        Some("../../autopilot?done=joined"),
        "{}",
        joined.text
    );
    let members = s.get("/v1/autopilot/email/memberships", &owner.token).await.body;
    assert_eq!(members[0]["person"]["email"], "zoe@example.com", "{members}");
    assert!(
        members[0]["next_survey_request"].is_object(),
        "scheduled at once: {members}"
    );
    let person = members[0]["person"]["id"].as_str().unwrap().to_owned();
    let listed = b.get("/autopilot?done=joined").await;
    assert!(
        listed.text.contains("zoe@example.com") && listed.text.contains("Member added"),
        "{}",
        listed.text
    );

    // Others change nothing.
    assert_eq!(b.post("/autopilot/email", &[("active", "")], None).await.status, 403);
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    let theirs = other.get("/autopilot").await;
    assert!(!theirs.text.contains("zoe@example.com"), "{}", theirs.text);
    let reach = other
        .post(
            "/autopilot/email/members",
            &[
                ("csrf", &csrf(&theirs.text)),
                ("action", "leave"),
                ("person_id", &person),
            ],
            None,
        )
        .await;
    assert_eq!(reach.status, 404, "{}", reach.text);
    let mut analyst = Browser::new(&s);
    analyst.sign_in("acme", "analyst@acme.example", PASSWORD).await;
    let read = analyst.get("/autopilot").await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert!(
        read.text.contains("Email: on")
            && !read.text.contains("zoe@example.com")
            && !read.text.contains("<form method=\"post\" action=\"autopilot")
    );
    let forged = analyst
        .post(
            "/autopilot/email",
            &[("csrf", &csrf(&read.text)), ("active", ""), ("days", "30")],
            None,
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert_eq!(s.get("/v1/autopilot/email", &owner.token).await.body["active"], true);

    // Removed: their next survey canceled, no longer a member.
    let left = b
        .post(
            "/autopilot/email/members",
            &[("csrf", &token), ("action", "leave"), ("person_id", &person)],
            None,
        )
        .await;
    assert_eq!(
        left.location.as_deref(),
        Some("../../autopilot?done=left"),
        "{}",
        left.text
    );
    assert_eq!(
        s.get("/v1/autopilot/email/memberships", &owner.token).await.body,
        json!([])
    );

    // From the person's page: their membership shown, added and removed again, back to it.
    let page = b.get(&format!("/people/{person}")).await;
    assert!(page.text.contains("Email: not a member"), "{}", page.text);
    let form = [
        ("csrf", token.as_str()),
        ("action", "join"),
        ("person_id", person.as_str()),
        ("back", "person"),
    ];
    let joined = b.post("/autopilot/email/members", &form, None).await;
    assert_eq!(
        joined.location,
        Some(format!("../../people/{person}?done=autopilot_joined")),
        "{}",
        joined.text
    );
    let page = b.get(&format!("/people/{person}?done=autopilot_joined")).await;
    assert!(
        page.text.contains("Email: a member") && page.text.contains("Added to the autopilot"),
        "{}",
        page.text
    );
    assert_eq!(
        s.get("/v1/autopilot/email/memberships", &owner.token).await.body[0]["person"]["id"],
        person
    );
    let left = b
        .post(
            "/autopilot/email/members",
            &[
                ("csrf", &token),
                ("action", "leave"),
                ("person_id", &person),
                ("back", "person"),
            ],
            None,
        )
        .await;
    assert_eq!(
        left.location,
        Some(format!("../../people/{person}?done=autopilot_left"))
    );
    assert!(
        b.get(&format!("/people/{person}"))
            .await
            .text
            .contains("Email: not a member")
    );
}

/// The owner exports the whole workspace from "Your data": a job whose page waits, then offers
/// the file of JSON lines; admins neither see the page nor start it, nor see the owner's job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_exports_the_workspace_from_a_page() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let taker =
        crate::support::TestQueue::new(s.ctx.store.clone(), None, ovation::messaging::local_queue::EXPORTS).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "admin", "admin@acme.example").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/settings/data").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(b.post("/settings/data/export", &[], None).await.status, 403, "no token");
    let started = b
        .post("/settings/data/export", &[("csrf", &csrf(&page.text))], None)
        .await;
    let at = started.location.expect("a redirect to the job");
    assert!(at.starts_with("../../exports/"), "{at}");
    let path = &at[5..];
    let waiting = b.get(path).await;
    assert!(
        waiting.text.contains("Everything in the workspace") && waiting.text.contains("Waiting to start"),
        "{}",
        waiting.text
    );
    let mut admin = Browser::new(&s);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    assert_eq!(admin.get("/settings/data").await.status, 403);
    let theirs = csrf(&admin.get("/settings/keys").await.text);
    assert_eq!(
        admin
            .post("/settings/data/export", &[("csrf", &theirs)], None)
            .await
            .status,
        403
    );
    assert_eq!(admin.get(path).await.status, 404, "the owner's export is the owner's");
    let taken = taker.take().await;
    assert_eq!(taken.len(), 1);
    let answer = job_exports::handle(&s.ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let done = b.get(path).await;
    assert!(
        done.text.contains("items") && done.text.contains("Download the file"),
        "{}",
        done.text
    );
    let file = b.get(&format!("{path}/file")).await;
    assert_eq!(file.status, 200, "{}", file.text);
    let first: Value = serde_json::from_str(file.text.lines().next().unwrap()).unwrap();
    assert!(
        first.is_object(),
        "JSON lines: {}",
        &file.text[..200.min(file.text.len())]
    );
    assert!(file.text.contains("owner@acme.example"), "decrypted");
}

/// Who gets no more surveys, in a page: someone unsubscribed at their request (as
/// `POST /v1/unsubscribes`), then listed as the API lists them; the bounced list; analysts and
/// other workspaces see none of it; a form without its token changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribes_are_listed_and_made_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "analyst", "analyst@acme.example").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/people/suppressed").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("No one."), "{}", page.text);
    assert_eq!(
        b.post("/people/unsubscribe", &[("email", "ann@example.com")], None)
            .await
            .status,
        403
    );
    let done = b
        .post(
            "/people/unsubscribe",
            &[("csrf", &csrf(&page.text)), ("email", "ann@example.com")],
            None,
        )
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("../people/suppressed?done=unsubscribed"),
        "{}",
        done.text
    );
    let api = s.get("/v1/unsubscribes", &owner.token).await.body;
    assert_eq!(api[0]["email"], "ann@example.com", "{api}");
    let listed = b.get("/people/suppressed?done=unsubscribed").await;
    assert!(
        listed.text.contains("ann@example.com") && listed.text.contains("Unsubscribed: no survey"),
        "{}",
        listed.text
    );
    let bounced = b.get("/people/suppressed?kind=bounced").await;
    assert!(
        bounced.text.contains("No one.") && !bounced.text.contains("ann@example.com"),
        "{}",
        bounced.text
    );
    let mut analyst = Browser::new(&s);
    analyst.sign_in("acme", "analyst@acme.example", PASSWORD).await;
    assert_eq!(analyst.get("/people/suppressed").await.status, 403);
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    assert!(!other.get("/people/suppressed").await.text.contains("ann@example.com"));
}

/// The mails the deliverer sent to `to`, parsed.
pub(crate) async fn mailed_to(
    send: &crate::sending::Sending,
    data_dir: &std::path::Path,
    to: &str,
) -> Vec<ovation::messaging::mime::Parsed> {
    crate::sending::sent_mail(send, data_dir)
        .await
        .iter()
        .filter_map(|raw| ovation::messaging::mime::parse(raw))
        .filter(|m| m.header("To").is_some_and(|t| t.contains(to)))
        .collect()
}

/// Runs the deliverer over what its queue holds, as Lambda would; how many messages it took.
pub(crate) async fn deliver_queued(s: &Stack, send: &crate::sending::Sending) -> usize {
    let event = crate::sending::receive(send).await;
    let taken = event.records.len();
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    crate::sending::settle(send, &event, &answer).await;
    taken
}

async fn staff_notifications_are_chosen_batched_mailed_and_stopped(e: Engines) {
    use ovation::services::notifications::notifier::{self, Pace};
    let (s, send, data_dir) = crate::sending::sending_stack(e, "surveys@notify.example", true, |_| {}).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "analyst", "analyst@acme.example").await;
    s.member(&owner, "editor", "editor@acme.example").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s.get("/v1/surveys", &key).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The owner: detractors and the digest; the analyst: answers with a comment; the editor
    // looks and chooses nothing.
    for (email, answers, digest) in [
        ("owner@acme.example", "detractors", "on"),
        ("analyst@acme.example", "comments", ""),
        ("editor@acme.example", "none", ""),
    ] {
        let mut b = Browser::new(&s);
        b.sign_in("acme", email, PASSWORD).await;
        let page = b.get("/notifications").await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.text.contains("Your notifications"), "{}", page.text);
        let answers_field = format!("answers.{survey}");
        let digest_field = format!("digest.{survey}");
        let token = csrf(&page.text);
        let mut fields = vec![("csrf", token.as_str()), (answers_field.as_str(), answers)];
        if !digest.is_empty() {
            fields.push((digest_field.as_str(), digest));
        }
        // Without the form's token: refused, nothing chosen.
        let forged = b.post("/notifications", &fields[1..], None).await;
        assert_eq!(forged.status, 403, "{}", forged.text);
        let saved = b.post("/notifications", &fields, None).await;
        assert_eq!(
            saved.location.as_deref(),
            Some("notifications?done=saved"),
            "{}",
            saved.text
        );
        let again = b.get("/notifications?done=saved").await;
        assert!(
            again.text.contains(&format!("value=\"{answers}\" selected")),
            "{}",
            again.text
        );
    }
    // A choice for another workspace's survey is refused.
    let other = s.tenant("globex").await;
    let (other_key, _) = s.api_key(&other, "write").await;
    let foreign = s.get("/v1/surveys", &other_key).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let token = csrf(&b.get("/notifications").await.text);
    let field = format!("answers.{foreign}");
    let refused = b
        .post("/notifications", &[("csrf", &token), (&field, "every")], None)
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);

    // A detractor without a comment and a promoter: after they settle, one mail to the owner.
    let tenant = s.get("/v1/tenant", &key).await.str("id");
    for score in [3, 10] {
        let person = s
            .send(
                "POST",
                "/v1/people",
                &key,
                json!({"email": format!("p{score}@example.com"), "send": false}),
            )
            .await
            .str("id");
        let body = json!({"person": person, "score": score, "survey_id": survey});
        assert_eq!(s.send("POST", "/v1/survey_responses", &key, body).await.status, 201);
    }
    let now = now_unix();
    let queue = send.messaging.queue.as_ref();
    let early = notifier::run_due(&s.ctx, queue, now + 30, Pace::default())
        .await
        .unwrap();
    assert_eq!(early.answer_mails, 0, "answers settle for two minutes first");
    let report = notifier::run_due(&s.ctx, queue, now + 121, Pace::default())
        .await
        .unwrap();
    assert_eq!(
        report.answer_mails, 2,
        "the owner's and the analyst's: the survey was answered"
    );
    assert_eq!(deliver_queued(&s, &send).await, 2);
    let owners = mailed_to(&send, &data_dir, "owner@acme.example").await;
    let notification: Vec<_> = owners
        .iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.contains("new detractor")))
        .collect();
    assert_eq!(notification.len(), 1, "one mail to the owner");
    let mail = notification[0];
    assert!(
        mail.header("Subject").unwrap().contains("1 new detractor"),
        "{:?}",
        mail.headers
    );
    assert!(
        mail.text.contains("Score 3 (detractor) through the API"),
        "{}",
        mail.text
    );
    assert!(
        mail.text.contains("p3@example.com"),
        "the owner sees people: {}",
        mail.text
    );
    assert!(!mail.text.contains("Score 10"), "{}", mail.text);
    assert!(mail.header("List-Unsubscribe-Post").is_some(), "{:?}", mail.headers);
    for other in ["analyst@acme.example", "editor@acme.example"] {
        let notified = mailed_to(&send, &data_dir, other)
            .await
            .iter()
            .filter(|m| m.header("Subject").is_some_and(|s| s.contains(" new ")))
            .count();
        assert_eq!(notified, 0, "{other}: the analyst chose comments, the editor nothing");
    }
    // Nothing more until new answers; a message received twice mails once.
    let quiet = notifier::run_due(&s.ctx, queue, now + 200, Pace::default())
        .await
        .unwrap();
    assert_eq!(quiet.answer_mails, 0);
    let body = serde_json::to_string(&notifier::StaffMail::Answers(notifier::AnswersMail {
        notify: tenant.clone(),
        survey: survey.clone(),
        user: owner.user_id.clone(),
        since: now - 60,
        until: now + 2,
    }))
    .unwrap();
    queue.send_batch(std::slice::from_ref(&body)).await.unwrap();
    assert_eq!(deliver_queued(&s, &send).await, 1);
    queue.send_batch(&[body]).await.unwrap();
    assert_eq!(deliver_queued(&s, &send).await, 1);
    let after = mailed_to(&send, &data_dir, "owner@acme.example").await.len();
    assert_eq!(after, owners.len() + 1, "a message received twice mails once");

    // A burst within the batch window waits for it: one mail for three detractors (recorded
    // after the first mail's window).
    while now_unix() < now + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for i in 0..3 {
        let person = s
            .send(
                "POST",
                "/v1/people",
                &key,
                json!({"email": format!("burst{i}@example.com"), "send": false}),
            )
            .await
            .str("id");
        let body = json!({"person": person, "score": 1, "survey_id": survey, "comment": "Slow"});
        assert_eq!(s.send("POST", "/v1/survey_responses", &key, body).await.status, 201);
    }
    let held = notifier::run_due(&s.ctx, queue, now + 300, Pace::default())
        .await
        .unwrap();
    assert_eq!(held.answer_mails, 0, "five minutes since the last mail have not passed");
    let batched = notifier::run_due(&s.ctx, queue, now + 421, Pace::default())
        .await
        .unwrap();
    assert_eq!(batched.answer_mails, 2);
    assert_eq!(deliver_queued(&s, &send).await, 2);
    let analyst = mailed_to(&send, &data_dir, "analyst@acme.example").await;
    let with_comments = analyst.last().unwrap();
    assert!(
        with_comments
            .header("Subject")
            .unwrap()
            .contains("3 new answers with a comment"),
        "{:?}",
        with_comments.headers
    );
    assert!(with_comments.text.contains("“Slow”"), "{}", with_comments.text);
    assert!(
        !with_comments.text.contains("burst0@example.com"),
        "analysts see no people: {}",
        with_comments.text
    );

    // The team page shows owners and admins who receives what.
    let team = b.get("/team").await;
    assert!(team.text.contains("Notifications: who receives what"), "{}", team.text);
    assert!(team.text.contains("answers with a comment"), "{}", team.text);

    // The stop link: asks first, then stops the analyst's mails at once.
    let stop = with_comments
        .text
        .split_whitespace()
        .find(|w| w.contains("/n/"))
        .unwrap()
        .trim_end_matches('.');
    let path = &stop[stop.find("/n/").unwrap()..];
    let client = reqwest::Client::new();
    let asked = client.get(format!("{}{path}", s.url)).send().await.unwrap();
    assert_eq!(asked.status(), 200);
    assert!(asked.text().await.unwrap().contains("Stop mails about the answers to"));
    let other = if path.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{}{}{other}", s.url, &path[..path.len() - 1]);
    assert_eq!(client.post(&tampered).send().await.unwrap().status(), 404);
    let stopped = client
        .post(format!("{}{path}", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 200);
    assert!(stopped.text().await.unwrap().contains("Stopped"));
    let team = b.get("/team").await;
    assert!(!team.text.contains("answers with a comment"), "{}", team.text);

    // Monday's digest: the owner's, with the week's NPS.
    let week = ovation::services::notifications::state::digest_week(now + 421);
    let monday = ovation::services::notifications::state::digest_due(week + 1) + 60;
    let digests = notifier::run_due(&s.ctx, queue, monday, Pace::default()).await.unwrap();
    assert_eq!(digests.digests, 1);
    deliver_queued(&s, &send).await;
    let digest = mailed_to(&send, &data_dir, "owner@acme.example").await;
    let digest = digest.last().unwrap();
    assert!(
        digest.header("Subject").unwrap().contains("NPS -60 last week"),
        "{:?} {}",
        digest.headers,
        digest.text
    );
    assert!(digest.text.contains("“Slow”"), "{}", digest.text);
}

impl Browser {
    /// Posts a file as a page's upload form does (`multipart/form-data`).
    pub(crate) async fn upload(&mut self, path: &str, csrf: Option<&str>, file: &str) -> Seen {
        let boundary = "----OvationTestBoundary7MA4YWxk";
        let mut body = String::new();
        if let Some(csrf) = csrf {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            ));
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
        ));
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .header("cookie", self.cookie_header())
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }
}

/// A CSV imported in pages: uploaded, its columns shown and mapped, run as a job with its
/// progress page, its refused rows as a file, the import listed; refused without the token, for
/// an analyst, from another workspace; a file that cannot be imported is refused at once.
async fn people_are_imported_from_a_csv_in_pages(e: Engines) {
    let s = Stack::start(e, |_| {}).await;
    let taker =
        crate::support::TestQueue::new(s.ctx.store.clone(), None, ovation::messaging::local_queue::EXPORTS).await;
    let owner = s.tenant("acme").await;
    s.member(&owner, "analyst", "analyst@acme.example").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/people/imports").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("No imports yet"), "{}", page.text);
    let token = csrf(&page.text);
    let file = "E-mail,Full name,Tier,Notes\nann@example.com,Ann Lee,pro,x\nnot-an-email,Bob,free,y\n\
                cy@example.com,=HYPERLINK(\"x\"),free,z\ndee@example.com,Dee,basic\n";
    assert_eq!(b.upload("/people/imports", None, file).await.status, 403, "no token");
    let uploaded = b.upload("/people/imports", Some(&token), file).await;
    assert_eq!(uploaded.status, 303, "{}", uploaded.text);
    let at = uploaded.location.unwrap();
    assert!(at.starts_with("../people/imports/"), "{at}");
    let path = &at[2..];
    // The mapping: each column with its first values and its guessed target.
    let mapping = b.get(path).await;
    assert_eq!(mapping.status, 200, "{}", mapping.text);
    assert!(mapping.text.contains("Import of 4 rows"), "{}", mapping.text);
    assert!(
        mapping.text.contains("<span class=\"tag\">Ann Lee</span>"),
        "{}",
        mapping.text
    );
    assert!(
        mapping.text.contains("<option value=\"email\" selected>"),
        "{}",
        mapping.text
    );
    assert!(
        mapping.text.contains("<option value=\"properties.Tier\" selected>"),
        "{}",
        mapping.text
    );
    // Another workspace and an analyst see nothing of it.
    s.tenant("bravo").await;
    let mut other = Browser::new(&s);
    other.sign_in("bravo", "owner@bravo.example", PASSWORD).await;
    assert_eq!(other.get(path).await.status, 404);
    let mut analyst = Browser::new(&s);
    analyst.sign_in("acme", "analyst@acme.example", PASSWORD).await;
    assert_eq!(analyst.get(path).await.status, 403);
    // A mapping without an email or phone column is refused; then mapped and started.
    let token = csrf(&mapping.text);
    let no_contact = [
        ("csrf", token.as_str()),
        ("map.0", "ignore"),
        ("map.1", "name"),
        ("map.2", "properties.plan"),
        ("map.3", "ignore"),
    ];
    let refused = b.post(path, &no_contact, None).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused.text.contains("email or phone_number column"),
        "{}",
        refused.text
    );
    let mapped = [
        ("csrf", token.as_str()),
        ("map.0", "email"),
        ("map.1", "name"),
        ("map.2", "properties.plan"),
        ("map.3", "ignore"),
    ];
    let started = b.post(path, &mapped, None).await;
    assert_eq!(started.status, 303, "{}", started.text);
    let waiting = b.get(path).await;
    assert!(
        waiting.text.contains("Waiting to start") && waiting.headers.contains_key("refresh"),
        "{}",
        waiting.text
    );
    assert_eq!(b.post(path, &mapped, None).await.status, 422, "started once");
    // The job runs it: one person added, three rows refused, each with its reason (a bad
    // email, a formula, a row short of a cell).
    let taken = taker.take().await;
    assert_eq!(taken.len(), 1);
    let answer = job_exports::handle(&s.ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let done = b.get(path).await;
    assert!(!done.headers.contains_key("refresh"));
    assert!(
        done.text.contains("<h2>Added</h2><p class=\"figure\">1</p>")
            && done.text.contains("<h2>Refused</h2><p class=\"figure\">3</p>"),
        "{}",
        done.text
    );
    let errors = b.get(&format!("{path}/errors")).await;
    assert_eq!(errors.status, 200, "{}", errors.text);
    assert_eq!(errors.headers["content-type"], "text/csv; charset=utf-8");
    let lines: Vec<&str> = errors.text.lines().collect();
    assert_eq!(lines[0], "row,field,reason");
    assert!(
        lines[1].starts_with("3,email,") && lines[2].starts_with("4,name,") && lines[3].starts_with("5,row,"),
        "{}",
        errors.text
    );
    assert_eq!(other.get(&format!("{path}/errors")).await.status, 404);
    let people = s.get("/v1/people", &key).await;
    let ann = people
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "ann@example.com")
        .unwrap()
        .clone();
    assert_eq!(
        (ann["name"].as_str(), ann["properties"]["plan"].as_str()),
        (Some("Ann Lee"), Some("pro"))
    );
    assert!(ann["properties"].get("Notes").is_none(), "the column left out");
    // Listed with its results; the API reads the same counts.
    let listed = b.get("/people/imports").await;
    assert!(
        listed.text.contains("done") && listed.text.contains("/errors"),
        "{}",
        listed.text
    );
    let id = path.rsplit('/').next().unwrap();
    let summary = s.get(&format!("/v1/people/imports/{id}"), &key).await;
    assert_eq!(
        (summary.body["created"].as_u64(), summary.body["failed"].as_u64()),
        (Some(1), Some(3)),
        "{summary:?}"
    );
    // An attempt that failed after its first rows: the retry goes on after them, and sends no
    // survey twice (the first row's person was surveyed by that attempt).
    let token = csrf(&b.get("/people/imports").await.text);
    let retried = b
        .upload(
            "/people/imports",
            Some(&token),
            "email\nfirst@example.com\nsecond@example.com\n",
        )
        .await;
    let at = retried.location.unwrap();
    let path = &at[2..];
    let id = path.rsplit('/').next().unwrap().to_owned();
    let token = csrf(&b.get(path).await.text);
    let surveyed = [
        ("csrf", token.as_str()),
        ("map.0", "email"),
        ("send", "on"),
        ("channel", "email"),
        ("delay_hours", "1"),
    ];
    assert_eq!(b.post(path, &surveyed, None).await.status, 303);
    let tenant: ovation::ids::TenantId = s.get("/v1/tenant", &key).await.str("id").parse().unwrap();
    let store = s.ctx.tenant_store(&tenant);
    let done_before = json!({"id": id, "rows": 1, "created": 1, "updated": 0, "unchanged": 0, "failed": 0,
        "scheduled": 1, "created_at": now_unix(), "finished_at": 0});
    store
        .update(
            &ovation::services::people::imports::import_key(&store, &id).unwrap(),
            &[ovation::store::Update::Set(
                "progress".into(),
                done_before.to_string().into(),
            )],
            None,
        )
        .await
        .unwrap();
    let taken = taker.take().await;
    let answer = job_exports::handle(&s.ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let summary = s.get(&format!("/v1/people/imports/{id}"), &key).await.body;
    assert_eq!(
        (&summary["rows"], &summary["created"], &summary["scheduled"]),
        (&json!(2), &json!(2), &json!(2)),
        "the counts of both attempts: {summary}"
    );
    let people = s.get("/v1/people", &key).await.body;
    assert!(
        !people
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["email"] == "first@example.com"),
        "the first row was not imported again: {people}"
    );

    // Files that cannot be imported are refused on upload, with the reason.
    let token = csrf(&listed.text);
    for (file, reason) in [
        ("", "choose a CSV file"),
        ("name\n", "has a header but no rows"),
        ("\u{feff}email\n", "has a header but no rows"),
        ("email\na@b.co\n".repeat(323_000).as_str(), "is over 4 MiB"),
    ] {
        let refused = b.upload("/people/imports", Some(&token), file).await;
        assert_eq!(refused.status, 422, "{file:?}: {}", refused.text);
        assert!(refused.text.contains(reason), "{file:?}: {}", refused.text);
    }
    // Beyond the route's limit the body is not read (its length is enough): refused as a page
    // too. Sent by hand, headers only, so that the answer is read before any body is written.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(s.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /people/imports HTTP/1.1\r\nHost: localhost\r\nCookie: {}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 5000000\r\n\r\n",
        b.cookie_header()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("content-type: text/html"),
        "{answer}"
    );
}

/// The owner deletes the workspace, its name typed and their password given again: from the
/// page (or `DELETE /v1/tenant`), never by an admin, without the form's token, with another name
/// or a wrong password; afterwards nothing of it answers and the other workspaces go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_deletes_the_workspace_from_a_page() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let admin = s.member(&owner, "admin", "admin@acme.example").await;
    let other = s.tenant("bravo").await;
    for (token, confirm, password, status) in [
        (&admin.token, "acme", PASSWORD, 403),
        (&owner.token, "", PASSWORD, 422),
        (&owner.token, "bravo", PASSWORD, 422),
        (&owner.token, "acme", "not the password", 422),
    ] {
        let body = json!({"confirm": confirm, "password": password});
        let refused = s.send("DELETE", "/v1/tenant", token, body).await;
        assert_eq!(refused.status, status, "{confirm}: {refused:?}");
    }
    let mut a = Browser::new(&s);
    a.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let admin_token = csrf(&a.get("/overview").await.text);
    let fields = |csrf: &str, confirm: &str, password: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("confirm".to_owned(), confirm.to_owned()),
            ("password".to_owned(), password.to_owned()),
        ]
    };
    let refused = a
        .post(
            "/settings/data/delete",
            &pairs(&fields(&admin_token, "acme", PASSWORD)),
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/settings/data").await;
    assert!(page.text.contains("Delete the workspace"), "{}", page.text);
    let token = csrf(&page.text);
    let no_token = b
        .post("/settings/data/delete", &pairs(&fields("", "acme", PASSWORD)), None)
        .await;
    assert_eq!(no_token.status, 403);
    let wrong = b
        .post("/settings/data/delete", &pairs(&fields(&token, "acm", PASSWORD)), None)
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.text);
    assert!(wrong.text.contains("type the workspace"), "{}", wrong.text);
    let guessed = b
        .post(
            "/settings/data/delete",
            &pairs(&fields(&token, "acme", "a guess")),
            None,
        )
        .await;
    assert_eq!(guessed.status, 422, "{}", guessed.text);
    assert!(guessed.text.contains("is wrong"), "{}", guessed.text);
    assert_eq!(s.get("/v1/tenant", &owner.token).await.status, 200, "still there");
    let deleted = b
        .post(
            "/settings/data/delete",
            &pairs(&fields(&token, " ACME ", PASSWORD)),
            None,
        )
        .await;
    assert_eq!(
        deleted.location.as_deref(),
        Some("../../sign-in?done=deleted"),
        "{}",
        deleted.text
    );
    assert!(
        b.set.last().is_some_and(|c| c.contains("Max-Age=0")),
        "the session cookie is cleared"
    );
    let notice = b.get("/sign-in?done=deleted").await;
    assert!(notice.text.contains("The workspace is deleted"), "{}", notice.text);
    // Nothing of it answers: its sessions, its tokens, signing in.
    assert!(a.get("/overview").await.location.is_some_and(|l| l.contains("sign-in")));
    assert_eq!(s.get("/v1/tenant", &owner.token).await.status, 401);
    let again = Browser::new(&s).sign_in("acme", "owner@acme.example", PASSWORD).await;
    assert_ne!(again.status, 303, "{}", again.text);
    // The other workspace goes on.
    assert_eq!(s.get("/v1/tenant", &other.token).await.status, 200);
}

/// A journey a role in Chromium beside the owner's (`tests/clients/web-roles.mjs`): the admin
/// invites (accepted from the outbox) and makes and revokes a key; the editor builds a survey,
/// imports a CSV and sends to a person (the mail in the outbox page); the analyst sees no
/// settings, is refused them by page and by a direct POST, and gets the one notification mail a
/// detractor's answer makes, while no one else does. The scheduler, the deliverer and the
/// export job run as `ovation serve` runs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_by_role_in_chromium() {
    use ovation::services::notifications::notifier::{self, Pace};
    let Some(chromium) = crate::clients::Chromium::installed() else {
        return;
    };
    let (s, send, data_dir) =
        crate::sending::sending_stack(Engines::embedded(), "surveys@acme.example", true, |_| {}).await;
    let send = std::sync::Arc::new(send);
    let owner = s.tenant("acme").await;
    for role in ["admin", "editor", "analyst"] {
        s.member(&owner, role, &format!("{role}@acme.example")).await;
    }
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send("POST", "/v1/surveys", &owner.token, json!({"name": "Support"}))
        .await
        .str("id");
    let dir = tempfile::tempdir().unwrap();
    let exports =
        crate::support::TestQueue::new(s.ctx.store.clone(), None, ovation::messaging::local_queue::EXPORTS).await;
    let worker = {
        let (ctx, send, url, signal) = (s.ctx.clone(), send.clone(), s.url.clone(), dir.path().join("answer"));
        tokio::spawn(async move {
            let mut answered = false;
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let taken = exports.take().await;
                if !taken.is_empty() {
                    job_exports::handle(&ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
                }
                job_scheduler::handle(&ctx, &send.messaging).await.unwrap();
                let event = crate::sending::receive(&send).await;
                if !event.records.is_empty() {
                    let answer = job_deliver::handle(&ctx, &send.messaging, event.clone()).await;
                    crate::sending::settle(&send, &event, &answer).await;
                }
                if signal.exists() && !answered {
                    answered = true;
                    let client = reqwest::Client::new();
                    let person: Value = client
                        .post(format!("{url}/v1/people"))
                        .bearer_auth(&key)
                        .json(&json!({"email": "unhappy@example.com", "send": false}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let body = json!({"person": person["id"], "score": 2, "survey_id": survey, "comment": "Too slow"});
                    let recorded = client
                        .post(format!("{url}/v1/survey_responses"))
                        .bearer_auth(&key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(recorded.status(), 201);
                    // Two minutes on: the answer has settled.
                    let queued =
                        notifier::run_due(&ctx, send.messaging.queue.as_ref(), now_unix() + 121, Pace::default())
                            .await
                            .unwrap();
                    assert_eq!(queued.answer_mails, 1, "the analyst's, the only one subscribed");
                }
            }
        })
    };
    let mut command = chromium.node(dir.path(), &["web-roles.mjs", "web-steps.mjs"]);
    command
        .args([s.url.as_str(), "acme", PASSWORD])
        .arg(outbox_dir(&s))
        .arg(dir.path());
    let seen: Value = crate::clients::run(command).await;
    worker.abort();
    let nav = |role: &str| {
        seen[format!("{role}Nav")]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(
        nav("admin").contains(&"Settings".to_owned()) && nav("admin").contains(&"Team".to_owned()),
        "{seen}"
    );
    assert!(
        !nav("editor").contains(&"Settings".to_owned()) && nav("editor").contains(&"People".to_owned()),
        "{seen}"
    );
    for hidden in ["Settings", "Team", "People"] {
        assert!(!nav("analyst").contains(&hidden.to_owned()), "{hidden}: {seen}");
    }
    assert_eq!(seen["invited"], "Invitation sent.", "{seen}");
    assert_eq!(seen["joined"], "/overview", "{seen}");
    assert_eq!(
        seen["adminKeys"],
        json!([200, 401]),
        "the key worked, then was refused: {seen}"
    );
    let built = &seen["editorSurvey"];
    assert_eq!(
        (&built["before"], &built["after"], &built["saved"]),
        (&json!(true), &json!(true), &json!("Survey created.")),
        "the preview followed the form: {seen}"
    );
    assert_eq!(
        seen["editorImport"]["lines"], 3,
        "the two refused rows under their header: {seen}"
    );
    assert!(
        seen["editorSent"].as_str().unwrap().contains("a survey is scheduled"),
        "{seen}"
    );
    assert_eq!(
        seen["editorMail"], true,
        "the survey's mail to the person, in the outbox page: {seen}"
    );
    assert_eq!(
        (&seen["analystSettingsPage"], &seen["analystSettingsPost"]),
        (&json!(403), &json!(403)),
        "{seen}"
    );
    assert_eq!(
        seen["analystMail"], true,
        "the notification, in the outbox page: {seen}"
    );
    // One notification, to the one who chose it.
    let notifications: Vec<String> = crate::sending::sent_mail(&send, &data_dir)
        .await
        .iter()
        .filter_map(|raw| ovation::messaging::mime::parse(raw))
        .filter(|m| m.header("Subject").is_some_and(|s| s.contains("new detractor")))
        .map(|m| m.header("To").unwrap())
        .collect();
    assert_eq!(notifications, ["<analyst@acme.example>"], "{seen}");
    all_passed(&seen, 32);
}

/// The same choices over the API: a user's own (`/v1/me/notifications`, sessions only) and who
/// receives what (`GET /v1/notifications`, owners and admins), with the page's rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_chosen_over_the_api_as_in_pages() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let analyst = s.member(&owner, "analyst", "analyst@acme.example").await;
    let (key, _) = s.api_key(&owner, "admin").await;
    let survey = s.get("/v1/surveys", &key).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let choice = json!([{"survey_id": survey, "answers": "detractors", "digest": true}]);
    let chosen = s
        .send("PUT", "/v1/me/notifications", &owner.token, choice.clone())
        .await;
    assert_eq!(chosen.status, 200, "{chosen:?}");
    assert_eq!(chosen.body[0]["answers"], "detractors", "{chosen:?}");
    assert_eq!(s.get("/v1/me/notifications", &owner.token).await.body, chosen.body);
    // The page shows what the API chose.
    let mut b = Browser::new(&s);
    b.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let page = b.get("/notifications").await;
    assert!(page.text.contains("value=\"detractors\" selected"), "{}", page.text);
    // Refused: an API key (no mailbox), an unknown choice, another workspace's survey, a field
    // the API does not know.
    assert_eq!(s.send("PUT", "/v1/me/notifications", &key, choice).await.status, 403);
    let other = s.tenant("bravo").await;
    let foreign = s.get("/v1/surveys", &other.token).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (body, field) in [
        (json!([{"survey_id": survey, "answers": "all"}]), "answers"),
        (json!([{"survey_id": foreign, "answers": "every"}]), "survey"),
        (json!([{"survey_id": survey, "when": "now"}]), "when"),
    ] {
        let refused = s.send("PUT", "/v1/me/notifications", &analyst.token, body).await;
        assert_eq!(refused.status, 422, "{refused:?}");
        assert!(refused.text.contains(field), "{field}: {refused:?}");
    }
    assert_eq!(s.get("/v1/me/notifications", &analyst.token).await.body, json!([]));
    // A session that still owes its password change chooses nothing.
    let created = s.create_tenant("charlie").await;
    let owed = s
        .sign_in(1, "charlie", "owner@charlie.example", &created.str("one_time_password"))
        .await
        .str("token");
    let survey_c = s.get("/v1/surveys", &owed).await;
    assert_eq!(survey_c.status, 403, "{survey_c:?}");
    let refused = s
        .send(
            "PUT",
            "/v1/me/notifications",
            &owed,
            json!([{"survey_id": survey, "answers": "every"}]),
        )
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    // Who receives what: owners and admins (and admin keys), not analysts.
    let all = s.get("/v1/notifications", &key).await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(all.body[0]["user_id"], owner.user_id, "{all:?}");
    assert_eq!(s.get("/v1/notifications", &analyst.token).await.status, 403);
    assert_eq!(
        s.get("/v1/notifications", &other.token).await.body,
        json!([]),
        "each workspace its own"
    );
}
