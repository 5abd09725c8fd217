//! SAML 2.0 single sign-on against a real SAML identity provider on loopback, built on npm's
//! samlify (`tests/clients/saml_idp.mjs`, which reads this workspace's metadata to answer it):
//! the settings (owners only, the metadata read strictly, DTDs refused), sign-in started here by
//! the workspace's name, a user made just in time, sign-in started at the provider only when
//! allowed, and every attack refused and audited with its reason: unsigned, signed by another
//! key, altered after signing, wrong audience, recipient, destination or issuer, expired,
//! replayed, an unknown or used request, wrapped signatures, an XXE payload, a transform that is
//! not taken, another account with the user's email, another workspace's service.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::api::{Member, Stack};
use crate::clients::Chromium;
use crate::sso::{Seen, answer_to, audited, last_refusal, post_form, start};
use crate::support::Engines;

/// The test identity provider, stopped when dropped.
struct Idp {
    child: Child,
    url: String,
    entity_id: String,
    _dir: tempfile::TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    fn start(chromium: &Chromium) -> Idp {
        let dir = tempfile::tempdir().unwrap();
        let mut command = chromium.node(dir.path(), &["saml_idp.mjs"]);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}"));
        Idp {
            child,
            url: started["url"].as_str().unwrap().to_owned(),
            entity_id: started["entity_id"].as_str().unwrap().to_owned(),
            _dir: dir,
        }
    }

    async fn metadata(&self) -> String {
        reqwest::get(format!("{}/metadata", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Who signs in next.
    async fn user(&self, user: Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/__test/user", self.url))
            .json(&user)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }

    /// A Response made as `options` say (see the script), signed by this provider: its base64
    /// and its XML.
    async fn crafted(&self, options: Value) -> (String, String) {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/__test/response", self.url))
            .json(&options)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            answer["saml_response"].as_str().unwrap().to_owned(),
            answer["xml"].as_str().unwrap().to_owned(),
        )
    }
}

/// The self-submitting form of a provider's page: its action and fields.
fn form_of(page: &str) -> (String, Vec<(String, String)>) {
    let attr = |text: &str, name: &str| {
        text.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|v| v.split('"').next())
            .map(str::to_owned)
    };
    let action = attr(page, "action").unwrap_or_else(|| panic!("{page}"));
    let fields = page
        .split("<input ")
        .skip(1)
        .filter_map(|input| Some((attr(input, "name")?, attr(input, "value")?)))
        .collect();
    (action, fields)
}

/// Posts an answer to a workspace's assertion consumer service, as the provider's page does,
/// from the browser holding `flow` (the cookie its sign-in's start set).
async fn post_answer(acs: &str, saml_response: &str, flow: Option<&str>) -> Seen {
    answer_to(post_form(acs, flow, &[("SAMLResponse", saml_response)])).await
}

/// The flow cookie a start set, as the browser sends it back.
fn flow_of(started: &Seen) -> String {
    format!(
        "__Host-ovation_sso={}",
        started.cookie("ovation_sso").expect("the flow's cookie")
    )
}

/// A sign-in started at the app (by the workspace's name) and answered by the provider's page:
/// the answer's base64, the app's answer to it, and the browser's flow cookie.
async fn sign_in(s: &Stack, idp: &Idp, return_to: &str) -> (String, Seen, String) {
    let started = start(s, "acme", return_to).await;
    assert_eq!(started.status, 200, "{}", started.text);
    let cookie = started
        .cookies
        .iter()
        .find(|c| c.contains("ovation_sso="))
        .expect("a flow cookie");
    assert!(
        cookie.contains("SameSite=None") && cookie.contains("Secure"),
        "sent on the provider's post: {cookie}"
    );
    let flow = flow_of(&started);
    let at_idp = started.refresh.expect("on to the provider");
    assert!(at_idp.starts_with(&format!("{}/sso?SAMLRequest=", idp.url)), "{at_idp}");
    let page = reqwest::get(&at_idp).await.unwrap().text().await.unwrap();
    let (action, fields) = form_of(&page);
    assert_eq!(action, format!("{}/sso/acme/saml/acs", s.url));
    let response = fields.iter().find(|(n, _)| n == "SAMLResponse").unwrap().1.clone();
    let seen = post_answer(&action, &response, Some(&flow)).await;
    (response, seen, flow)
}

/// A request of the app's, fresh: its ID (read from the provider's answer to it), and the flow
/// cookie of the browser that asked.
async fn fresh_request(s: &Stack, idp: &Idp) -> (String, String) {
    let started = start(s, "acme", "").await;
    let flow = flow_of(&started);
    let at_idp = started.refresh.unwrap();
    assert!(at_idp.starts_with(&idp.url), "{at_idp}");
    let page = reqwest::get(at_idp).await.unwrap().text().await.unwrap();
    let (_, fields) = form_of(&page);
    let xml = String::from_utf8(
        STANDARD
            .decode(&fields.iter().find(|(n, _)| n == "SAMLResponse").unwrap().1)
            .unwrap(),
    )
    .unwrap();
    let id = xml
        .split("InResponseTo=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(id.starts_with('_'), "{id}");
    (id, flow)
}

fn encoded(xml: &str) -> String {
    STANDARD.encode(xml)
}

async fn stack_with_idp() -> Option<(Stack, Member, Idp)> {
    let chromium = Chromium::installed()?;
    let s = Stack::start(Engines::embedded(), |settings| {
        settings.webhooks.allow_loopback = true;
    })
    .await;
    let owner = s.tenant("acme").await;
    let idp = Idp::start(&chromium);
    Some((s, owner, idp))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_sign_in_and_every_forgery_refused() {
    let Some((s, owner, idp)) = stack_with_idp().await else {
        return;
    };
    let acs = format!("{}/sso/acme/saml/acs", s.url);
    let sp = format!("{}/sso/acme/saml", s.url);
    // This workspace's metadata, for the provider: its entity ID and assertion consumer service.
    let metadata = reqwest::get(&sp).await.unwrap();
    assert_eq!(metadata.headers()["content-type"], "application/samlmetadata+xml");
    let metadata = metadata.text().await.unwrap();
    assert!(
        metadata.contains(&format!("entityID=\"{sp}\"")) && metadata.contains(&format!("Location=\"{acs}\"")),
        "{metadata}"
    );
    assert_eq!(
        reqwest::get(format!("{}/sso/nosuch/saml", s.url))
            .await
            .unwrap()
            .status(),
        404
    );

    // Settings: owners only; the provider's metadata read strictly.
    let idp_metadata = idp.metadata().await;
    let settings = json!({"metadata_xml": idp_metadata, "default_role": "editor", "create_users": true,
        "email_domains": ["acme.example"]});
    let admin = s.member(&owner, "admin", "admin@acme.example").await;
    assert_eq!(
        s.send("PUT", "/v1/sso/saml", &admin.token, settings.clone())
            .await
            .status,
        403
    );
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        idp_metadata.trim_start_matches(|c| c != '<')
    );
    let no_certificate =
        idp_metadata.split("<KeyDescriptor").next().unwrap().to_owned() + "</IDPSSODescriptor></EntityDescriptor>";
    for (field, change) in [
        ("metadata_xml", json!({"metadata_xml": "not xml"})),
        ("metadata_xml", json!({"metadata_xml": xxe})),
        ("metadata_xml", json!({"metadata_xml": no_certificate})),
        ("default_role", json!({"default_role": "owner"})),
        ("email_domains", json!({"email_domains": []})),
    ] {
        let mut body = settings.clone();
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let answer = s.send("PUT", "/v1/sso/saml", &owner.token, body).await;
        assert_eq!(
            (answer.status, answer.body["field"].as_str()),
            (422, Some(field)),
            "{:?}",
            answer.body
        );
    }
    let saved = s.send("PUT", "/v1/sso/saml", &owner.token, settings.clone()).await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(saved.body["idp_entity_id"], json!(idp.entity_id));
    assert_eq!(saved.body["sso_url"], json!(format!("{}/sso", idp.url)));
    assert_eq!(
        (saved.body["sp_entity_id"].as_str(), saved.body["acs_url"].as_str()),
        (Some(sp.as_str()), Some(acs.as_str()))
    );
    assert_eq!(saved.body["certificates"].as_array().map(Vec::len), Some(1));
    assert_eq!(saved.body["allow_idp_initiated"], false);
    assert_eq!(
        s.get("/v1/sso/oidc", &owner.token).await.status,
        404,
        "one provider: SAML"
    );
    assert_eq!(audited(&s, &owner, "sso.saml_saved").await.len(), 1);

    // Started here by the workspace's name: a user made just in time, an editor.
    let (answer, seen, first_flow) = sign_in(&s, &idp, "/responses").await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.refresh.as_deref(), Some(format!("{}/responses", s.url).as_str()));
    let session = seen.cookie("ovation_session").expect("a session");
    let me = s.get("/v1/me", &session).await;
    assert_eq!(
        (me.str("role"), me.body["user"]["email"].as_str()),
        ("editor".into(), Some("ana@acme.example"))
    );
    assert_eq!(me.body["user"]["name"], "Ana Lima");
    assert_eq!(audited(&s, &owner, "user.created_at_sign_in").await.len(), 1);
    assert_eq!(audited(&s, &owner, "sign_in.sso").await.len(), 1);
    // The same answer again: its request is used up.
    let replayed = post_answer(&acs, &answer, Some(&first_flow)).await;
    assert_eq!(replayed.status, 403, "{}", replayed.text);
    assert!(replayed.cookie("ovation_session").is_none());
    assert_eq!(last_refusal(&s, &owner).await, "request_unknown");
    // Signed as a whole Response (not the assertion), or both: taken too.
    for sign in ["response", "both"] {
        let (request, flow) = fresh_request(&s, &idp).await;
        let (b64, _) = idp
            .crafted(
                json!({"acs": acs, "sp": sp, "email": "ana@acme.example", "in_response_to": request, "sign": sign}),
            )
            .await;
        let seen = post_answer(&acs, &b64, Some(&flow)).await;
        assert!(seen.cookie("ovation_session").is_some(), "{sign}: {}", seen.text);
    }

    // The answer to a request counts only in the browser that asked (login CSRF).
    let (request, flow) = fresh_request(&s, &idp).await;
    let (b64, _) = idp
        .crafted(json!({"acs": acs, "sp": sp, "email": "ana@acme.example", "in_response_to": request}))
        .await;
    let (_, another_browser) = fresh_request(&s, &idp).await;
    for stranger in [None, Some(another_browser.as_str())] {
        let seen = post_answer(&acs, &b64, stranger).await;
        assert!(seen.cookie("ovation_session").is_none(), "{}", seen.text);
        assert_eq!(last_refusal(&s, &owner).await, "browser_mismatch");
    }
    assert!(
        post_answer(&acs, &b64, Some(&flow))
            .await
            .cookie("ovation_session")
            .is_some()
    );
    // A comment in the signed NameID (c14n leaves it out of the digest) reads as it was signed.
    let (request, flow) = fresh_request(&s, &idp).await;
    let (_, xml) = idp
        .crafted(json!({"acs": acs, "sp": sp, "email": "ana@acme.example", "in_response_to": request}))
        .await;
    let commented = xml.replacen(
        "ana@acme.example</saml:NameID>",
        "ana@acme<!--.evil.example-->.example</saml:NameID>",
        1,
    );
    assert_ne!(commented, xml);
    let seen = post_answer(&acs, &encoded(&commented), Some(&flow)).await;
    let session = seen.cookie("ovation_session").expect("signed as it reads");
    assert_eq!(
        s.get("/v1/me", &session).await.body["user"]["email"],
        "ana@acme.example"
    );

    // Every forgery refused, audited with its reason, no session.
    let forged = |request: &str, change: Value| {
        let mut options = json!({"acs": acs, "sp": sp, "email": "ana@acme.example", "in_response_to": request});
        options
            .as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        options
    };
    let cases = [
        ("assertion_unsigned", json!({"sign": "none"})),
        ("audience", json!({"audience": "https://evil.example/sp"})),
        ("recipient", json!({"recipient": "https://evil.example/acs"})),
        ("destination", json!({"destination": "https://evil.example/acs"})),
        ("issuer", json!({"issuer": "https://evil.example/idp"})),
        ("expired", json!({"not_on_or_after": -600})),
        ("not_yet_valid", json!({"not_before": 900})),
        (
            "subject_transient",
            json!({"name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient", "name_id": "_t1"}),
        ),
    ];
    for (reason, change) in cases {
        let (request, flow) = fresh_request(&s, &idp).await;
        let (b64, _) = idp.crafted(forged(&request, change)).await;
        let seen = post_answer(&acs, &b64, Some(&flow)).await;
        assert_eq!(seen.status, 403, "{reason}: {}", seen.text);
        assert!(seen.cookie("ovation_session").is_none(), "{reason}");
        assert_eq!(last_refusal(&s, &owner).await, reason);
    }
    // Made from a valid signed answer: altered after signing, wrapped, an XXE payload, a
    // transform not taken, an answer to no request of ours, another key's signature.
    let (request, flow) = fresh_request(&s, &idp).await;
    let (_, signed) = idp.crafted(forged(&request, json!({}))).await;
    let assertion_at = signed.find("<saml:Assertion").unwrap();
    let assertion_end = signed.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let original = &signed[assertion_at..assertion_end];
    let assertion_id = original
        .split(" ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let signature = {
        let at = original.find("<ds:Signature").unwrap();
        let end = original.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        original[at..end].to_owned()
    };
    let evil = original
        .replace("ana@acme.example", "eve@acme.example")
        .replace(" ID=\"", " ID=\"evil");
    let evil_unsigned = {
        let at = evil.find("<ds:Signature").unwrap();
        let end = evil.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        format!("{}{}", &evil[..at], &evil[end..])
    };
    let other_idp = Idp::start(&Chromium::installed().unwrap());
    let (_, other_key) = other_idp
        .crafted(json!({"acs": acs, "sp": sp, "email": "ana@acme.example", "in_response_to": request, "issuer": idp.entity_id}))
        .await;
    let attacks = [
        ("signature", signed.replace("ana@acme.example", "eve@acme.example")),
        // XSW: an unsigned assertion beside the signed one.
        (
            "assertion_count",
            signed.replace(original, &format!("{evil_unsigned}{original}")),
        ),
        // XSW: the signed assertion hidden in the Response's Extensions, an unsigned one in its place.
        (
            "assertion_count",
            signed.replace(
                original,
                &format!("<samlp:Extensions>{original}</samlp:Extensions>{evil_unsigned}"),
            ),
        ),
        // XSW: the signed assertion moved into the evil one's SubjectConfirmationData.
        (
            "assertion_count",
            signed.replace(
                original,
                &evil_unsigned.replace(
                    "/></saml:SubjectConfirmation>",
                    &format!(">{original}</saml:SubjectConfirmationData></saml:SubjectConfirmation>"),
                ),
            ),
        ),
        (
            "xml_refused",
            format!(
                "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
                signed.replacen("ana@acme.example", "&x;", 1)
            ),
        ),
        (
            "signature_algorithm",
            signed.replacen(
                "http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>",
                "http://www.w3.org/TR/1999/REC-xpath-19991116\"/></ds:Transforms>",
                1,
            ),
        ),
        ("signature", other_key),
        // A reference to anything but the Response or its assertion (here a file).
        (
            "signature_algorithm",
            signed.replacen(&format!("URI=\"#{assertion_id}\""), "URI=\"Cargo.toml\"", 1),
        ),
        // A transform in another namespace (it would still run): refused all the same.
        (
            "signature_algorithm",
            signed.replacen(
                "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                "<Transform xmlns=\"\" Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><XPath>1</XPath></Transform>",
                1,
            ),
        ),
        // More signatures than the Response's and its assertion's.
        (
            "signature_count",
            signed.replacen(
                "<samlp:Status>",
                &format!("<samlp:Extensions>{signature}{signature}</samlp:Extensions><samlp:Status>"),
                1,
            ),
        ),
    ];
    for (reason, xml) in attacks {
        let seen = post_answer(&acs, &encoded(&xml), Some(&flow)).await;
        assert_eq!(seen.status, 403, "{reason}: {}", seen.text);
        assert!(seen.cookie("ovation_session").is_none(), "{reason}");
        assert_eq!(last_refusal(&s, &owner).await, reason, "{xml}");
    }
    let (unknown, _) = idp.crafted(forged("_nosuchrequest", json!({}))).await;
    assert_eq!(post_answer(&acs, &unknown, None).await.status, 403);
    assert_eq!(last_refusal(&s, &owner).await, "request_unknown");
    assert_eq!(post_answer(&acs, "not base64!", None).await.status, 403);
    assert_eq!(last_refusal(&s, &owner).await, "response_unreadable");

    // Another account of the provider with ana's email is not ana.
    let (request, flow) = fresh_request(&s, &idp).await;
    let (b64, _) = idp.crafted(forged(&request, json!({"name_id": "someone-else"}))).await;
    assert_eq!(post_answer(&acs, &b64, Some(&flow)).await.status, 403);
    assert_eq!(last_refusal(&s, &owner).await, "subject_mismatch");
    // Another workspace's service, with the same provider, takes none of acme's answers.
    let bravo = s.tenant("bravo").await;
    let theirs = json!({"metadata_xml": idp_metadata});
    assert_eq!(s.send("PUT", "/v1/sso/saml", &bravo.token, theirs).await.status, 200);
    let (request, flow) = fresh_request(&s, &idp).await;
    let (b64, _) = idp.crafted(forged(&request, json!({}))).await;
    assert_eq!(
        post_answer(&format!("{}/sso/bravo/saml/acs", s.url), &b64, Some(&flow))
            .await
            .status,
        403
    );
    assert_eq!(last_refusal(&s, &bravo).await, "destination");

    // Started at the provider: refused until the owner allows it, then taken once.
    let initiate = format!(
        "{}/initiate?sp={}",
        idp.url,
        url::form_urlencoded::byte_serialize(sp.as_bytes()).collect::<String>()
    );
    let unsolicited = || async {
        let page = reqwest::get(&initiate).await.unwrap().text().await.unwrap();
        form_of(&page)
            .1
            .into_iter()
            .find(|(n, _)| n == "SAMLResponse")
            .unwrap()
            .1
    };
    let b64 = unsolicited().await;
    assert_eq!(post_answer(&acs, &b64, Some(&flow)).await.status, 403);
    assert_eq!(last_refusal(&s, &owner).await, "unsolicited");
    let mut allowing = settings.clone();
    allowing["allow_idp_initiated"] = json!(true);
    assert_eq!(s.send("PUT", "/v1/sso/saml", &owner.token, allowing).await.status, 200);
    let b64 = unsolicited().await;
    let seen = post_answer(&acs, &b64, Some(&flow)).await;
    assert!(seen.cookie("ovation_session").is_some(), "{}", seen.text);
    assert_eq!(seen.refresh.as_deref(), Some(format!("{}/overview", s.url).as_str()));
    let again = post_answer(&acs, &b64, Some(&flow)).await;
    assert_eq!(again.status, 403);
    assert_eq!(last_refusal(&s, &owner).await, "assertion_replayed");

    // One provider at a time; removed, passwords again.
    assert_eq!(
        s.send("DELETE", "/v1/sso/oidc", &owner.token, json!({})).await.status,
        404
    );
    assert_eq!(
        s.send("DELETE", "/v1/sso/saml", &owner.token, json!({})).await.status,
        204
    );
    assert_eq!(s.get("/v1/sso/saml", &owner.token).await.status, 404);
    let started = start(&s, "acme", "").await;
    assert_eq!(started.status, 422, "{}", started.text);
}

/// In Chromium: the owner signs in by the workspace's name through the provider's self-posting
/// page; the settings page shows the SAML provider and what to give it; axe-core and overflow at
/// desktop and phone widths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_sign_in_in_chromium() {
    let Some((s, owner, idp)) = stack_with_idp().await else {
        return;
    };
    let settings = json!({"metadata_xml": idp.metadata().await});
    assert_eq!(s.send("PUT", "/v1/sso/saml", &owner.token, settings).await.status, 200);
    idp.user(json!({"email": "owner@acme.example", "name_id": "owner@acme.example", "name": "The owner"}))
        .await;
    let chromium = Chromium::installed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = chromium.node(dir.path(), &["saml_login.mjs", "web-steps.mjs"]);
    command.args([s.url.as_str(), "acme"]);
    let seen = crate::clients::run(command).await;
    assert_eq!(seen["landed"], json!("/overview"), "{seen}");
    assert_eq!(seen["authnRequest"], json!(format!("{}/sso", idp.url)), "{seen}");
    assert_eq!(seen["posted"], json!("/sso/acme/saml/acs"), "{seen}");
    assert_eq!(seen["entityId"], json!(format!("{}/sso/acme/saml", s.url)), "{seen}");
    assert_eq!(seen["acs"], json!(format!("{}/sso/acme/saml/acs", s.url)), "{seen}");
    assert!(seen["notice"].as_str().unwrap().contains("SAML 2.0"), "{seen}");
    assert_eq!(seen["audits"].as_array().map(Vec::len), Some(4), "{seen}");
    for audit in seen["audits"].as_array().unwrap() {
        assert_eq!(audit["violations"], json!([]), "{audit}");
        assert!(audit["overflow"].as_i64().unwrap() <= 0, "{audit}");
    }
    assert_eq!(audited(&s, &owner, "sign_in.sso").await.len(), 1);
}
