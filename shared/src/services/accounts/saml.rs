//! Single sign-on with a workspace's SAML 2.0 identity provider, as its service provider: the
//! provider's metadata uploaded by an owner (entity ID, HTTP-Redirect sign-on URL, signing
//! certificates), this workspace's own metadata to give it, sign-in started here (an
//! AuthnRequest by HTTP-Redirect, its ID kept ten minutes) or at the provider (only when the
//! owner allows it), and the provider's answer posted to the workspace's assertion consumer
//! service. The answer is parsed with no DTD (no entities: XXE has nothing to expand), its
//! algorithms are checked before any signature is (no XPath or XSLT transform runs on what
//! anyone sent), its signatures are checked by `bergshamra` against the uploaded certificates
//! only (never one the message carries), and the assertion read is the one the checked signature
//! covers (the Response's, or its own), the only one in the message: signature wrapping finds
//! nothing to swap. Issuer, audience, recipient, destination, times, status and InResponseTo
//! are checked; the assertion's ID is kept until it expires (no replay). Then the sign-in ends
//! as OpenID Connect's (`sso::sign_in_as`), every refusal audited with its reason.

use std::io::Write;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bergshamra_dsig::{DsigContext, VerifyResult};
use serde::{Deserialize, Serialize};
use uppsala::{Document, NodeId};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::Role;
use crate::auth::credential;
use crate::domain::Email;
use crate::domain::tenant::Tenant;
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::accounts::sso::{
    self, CREATE_USERS, Chosen, DEFAULT_ROLE, EMAIL_DOMAINS, FLOW_SECONDS, Finished, ISSUER, NOT_PROVEN, PROTOCOL,
    RETURN_TO, Refusal, SAML, START_AGAIN, Started, UPDATED_AT, Vouched, refused,
};
use crate::services::audit::{self, Target};
use crate::store::{Condition, Item, TenantStore, TxOp, Value, keys, now_unix};

const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const TRANSIENT_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// The only algorithms a signature may name: exclusive canonicalization and the enveloped
/// signature as its transforms, SHA-2 digests, RSA or ECDSA with SHA-2.
const TRANSFORMS: [&str; 3] = [
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
];
const DIGESTS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
const SIGNATURES: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];

/// The largest metadata document taken.
const MAX_METADATA: usize = 256 * 1024;
/// The largest answer taken (base64, as posted).
pub const MAX_RESPONSE: usize = 256 * 1024;
/// Signing certificates one provider may list (a rollover shows two).
const MAX_CERTIFICATES: usize = 4;
/// How far the provider's clock may be from ours.
const CLOCK_SKEW_SECONDS: i64 = 120;
/// The deepest element nesting parsed.
const MAX_DEPTH: u32 = 64;

const SSO_URL: &str = "sso_url";
/// The hash of the token of the browser that started a sign-in (its cookie).
const BROWSER: &str = "browser";
const CERTIFICATES: &str = "certificates";
const IDP_INITIATED: &str = "idp_initiated";

/// A workspace's SAML identity provider, as an owner sets it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SamlInput {
    /// The provider's metadata XML, as Okta, Microsoft Entra ID, OneLogin, Ping or Google export
    /// it: its entity ID, its HTTP-Redirect sign-on URL and its signing certificates are taken.
    pub metadata_xml: String,
    /// Whether a sign-in started at the provider (IdP-initiated: no request of ours to answer)
    /// is taken; false when left out.
    pub allow_idp_initiated: Option<bool>,
    /// As `OidcInput`'s.
    pub default_role: Option<Role>,
    pub create_users: Option<bool>,
    pub email_domains: Option<Vec<String>>,
    pub require_sso: Option<bool>,
    pub break_glass_owner: Option<String>,
}

/// A signing certificate of the provider, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SigningCertificate {
    /// SHA-256 of the certificate (DER), hex, as providers show it.
    pub sha256: String,
}

/// The provider's settings as shown, with what to give it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SamlSettings {
    /// The provider's entity ID (its issuer).
    pub idp_entity_id: String,
    /// Where sign-ins are sent (HTTP-Redirect).
    pub sso_url: String,
    pub certificates: Vec<SigningCertificate>,
    pub allow_idp_initiated: bool,
    pub default_role: Role,
    pub create_users: bool,
    pub email_domains: Vec<String>,
    pub require_sso: bool,
    pub break_glass_owner: Option<String>,
    /// This workspace's entity ID at the provider (also where its metadata is).
    pub sp_entity_id: String,
    /// This workspace's assertion consumer service (HTTP-POST).
    pub acs_url: String,
    pub updated_at: i64,
}

/// This workspace's entity ID: the address of its metadata.
pub fn sp_entity_id(base: &str, slug: &str) -> String {
    format!("{base}/sso/{slug}/saml")
}

/// This workspace's assertion consumer service.
pub fn acs_url(base: &str, slug: &str) -> String {
    format!("{base}/sso/{slug}/saml/acs")
}

/// The caller's workspace's entity ID and assertion consumer service, to give its provider.
pub async fn own_service(ctx: &Context, caller: &Caller, base: &str) -> Result<(String, String)> {
    let (tenant, _) = sso::own_workspace(ctx, caller).await?;
    Ok((sp_entity_id(base, &tenant.slug), acs_url(base, &tenant.slug)))
}

/// The provider as stored.
struct Provider {
    entity_id: String,
    sso_url: String,
    /// DER.
    certificates: Vec<Vec<u8>>,
    allow_idp_initiated: bool,
    default_role: Role,
    create_users: bool,
    email_domains: Vec<String>,
    updated_at: i64,
}

impl Provider {
    fn of(item: &Item) -> Result<Option<Provider>> {
        if item.str(PROTOCOL) != Some(SAML) {
            return Ok(None);
        }
        let certificates = item
            .strings(CERTIFICATES)
            .iter()
            .map(|c| STANDARD.decode(c).map_err(Error::internal))
            .collect::<Result<_>>()?;
        Ok(Some(Provider {
            entity_id: item.str(ISSUER).unwrap_or_default().to_owned(),
            sso_url: item.str(SSO_URL).unwrap_or_default().to_owned(),
            certificates,
            allow_idp_initiated: matches!(item.get(IDP_INITIATED), Some(Value::Bool(true))),
            default_role: Role::parse(item.str(DEFAULT_ROLE).unwrap_or("analyst"))?,
            create_users: matches!(item.get(CREATE_USERS), Some(Value::Bool(true))),
            email_domains: item.strings(EMAIL_DOMAINS),
            updated_at: item.num(UPDATED_AT).unwrap_or(0),
        }))
    }

    fn settings(&self, tenant: &Tenant, base: &str) -> SamlSettings {
        SamlSettings {
            idp_entity_id: self.entity_id.clone(),
            sso_url: self.sso_url.clone(),
            certificates: self
                .certificates
                .iter()
                .map(|der| SigningCertificate {
                    sha256: credential::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref()),
                })
                .collect(),
            allow_idp_initiated: self.allow_idp_initiated,
            default_role: self.default_role,
            create_users: self.create_users,
            email_domains: self.email_domains.clone(),
            require_sso: tenant.settings.sso_required.is_some(),
            break_glass_owner: tenant
                .settings
                .sso_required
                .as_ref()
                .map(|r| r.break_glass_owner.clone()),
            sp_entity_id: sp_entity_id(base, &tenant.slug),
            acs_url: acs_url(base, &tenant.slug),
            updated_at: self.updated_at,
        }
    }
}

async fn load(store: &TenantStore) -> Result<Option<Provider>> {
    match store.get(&keys::sso_settings(store.tenant())).await? {
        Some(item) => Provider::of(&item),
        None => Ok(None),
    }
}

/// The workspace's SAML provider, if it has one.
pub async fn get(ctx: &Context, caller: &Caller, base: &str) -> Result<SamlSettings> {
    let (tenant, store) = sso::own_workspace(ctx, caller).await?;
    Ok(load(&store)
        .await?
        .ok_or(Error::NotFound("SAML single sign-on"))?
        .settings(&tenant, base))
}

/// XML parsed as every SAML document here is: no DTD at all (so no entity, external or
/// internal, is ever expanded), bounded depth.
fn parsed<'a>(field: &'static str, xml: &'a str) -> Result<Document<'a>> {
    uppsala::Parser::new()
        .with_forbid_dtd(true)
        .with_forbid_entities(true)
        .with_max_depth(MAX_DEPTH)
        .parse(xml)
        .map_err(|e| Error::invalid(field, format!("is not XML this service takes ({e}); DTDs are refused")))
}

/// The element children of `node` named `name` in `ns`.
fn children<'d>(doc: &'d Document<'_>, node: NodeId, ns: &'d str, name: &'d str) -> impl Iterator<Item = NodeId> + 'd {
    doc.children_iter(node)
        .filter(move |c| doc.element(*c).is_some_and(|e| e.matches_name_ns(ns, name)))
}

fn child(doc: &Document<'_>, node: NodeId, ns: &str, name: &str) -> Option<NodeId> {
    children(doc, node, ns, name).next()
}

/// Every element named `name` in `ns` at or under `node`.
fn descendants(doc: &Document<'_>, node: NodeId, ns: &str, name: &str) -> Vec<NodeId> {
    elements_where(doc, node, |e| e.matches_name_ns(ns, name))
}

/// Every element at or under `node` that `wanted` takes.
fn elements_where(doc: &Document<'_>, node: NodeId, wanted: impl Fn(&uppsala::Element<'_>) -> bool) -> Vec<NodeId> {
    let mut found = Vec::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if doc.element(n).is_some_and(&wanted) {
            found.push(n);
        }
        stack.extend(doc.children_iter(n));
    }
    found
}

fn text(doc: &Document<'_>, node: NodeId) -> String {
    doc.text_content_deep(node).trim().to_owned()
}

/// What a provider's metadata says: its entity ID, HTTP-Redirect sign-on URL, signing
/// certificates (DER).
fn read_metadata(xml: &str) -> Result<(String, String, Vec<Vec<u8>>)> {
    const FIELD: &str = "metadata_xml";
    if xml.len() > MAX_METADATA {
        return Err(Error::invalid(FIELD, format!("at most {} KiB", MAX_METADATA / 1024)));
    }
    let doc = parsed(FIELD, xml)?;
    let root = doc
        .document_element()
        .ok_or_else(|| Error::invalid(FIELD, "is empty"))?;
    let providers: Vec<NodeId> = descendants(&doc, root, METADATA_NS, "EntityDescriptor")
        .into_iter()
        .filter(|e| child(&doc, *e, METADATA_NS, "IDPSSODescriptor").is_some())
        .collect();
    let [entity] = providers[..] else {
        return Err(Error::invalid(
            FIELD,
            "must describe one identity provider (an EntityDescriptor with an IDPSSODescriptor)",
        ));
    };
    let entity_id = doc
        .get_attribute(entity, "entityID")
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 1024)
        .ok_or_else(|| Error::invalid(FIELD, "names no entityID"))?
        .to_owned();
    let descriptor = child(&doc, entity, METADATA_NS, "IDPSSODescriptor").ok_or_else(|| Error::internal("gone"))?;
    let sso_url = children(&doc, descriptor, METADATA_NS, "SingleSignOnService")
        .find(|s| doc.get_attribute(*s, "Binding") == Some(REDIRECT_BINDING))
        .and_then(|s| doc.get_attribute(s, "Location"))
        .map(str::trim)
        .ok_or_else(|| Error::invalid(FIELD, "names no SingleSignOnService with the HTTP-Redirect binding"))?
        .to_owned();
    let mut certificates = Vec::new();
    for key in children(&doc, descriptor, METADATA_NS, "KeyDescriptor") {
        if doc.get_attribute(key, "use").is_some_and(|u| u != "signing") {
            continue;
        }
        for cert in descendants(&doc, key, DSIG_NS, "X509Certificate") {
            let body: String = text(&doc, cert).chars().filter(|c| !c.is_whitespace()).collect();
            let der = STANDARD
                .decode(body)
                .map_err(|_| Error::invalid(FIELD, "holds a signing certificate that is not base64"))?;
            bergshamra_keys::loader::load_x509_cert_der(&der)
                .map_err(|_| Error::invalid(FIELD, "holds a signing certificate that cannot be read"))?;
            if !certificates.contains(&der) {
                certificates.push(der);
            }
        }
    }
    if certificates.is_empty() {
        return Err(Error::invalid(FIELD, "names no signing certificate"));
    }
    if certificates.len() > MAX_CERTIFICATES {
        return Err(Error::invalid(
            FIELD,
            format!("names more than {MAX_CERTIFICATES} signing certificates"),
        ));
    }
    Ok((entity_id, sso_url, certificates))
}

/// Sets the workspace's SAML provider from its metadata (replacing an OpenID Connect one).
pub async fn save(ctx: &Context, caller: &Caller, input: SamlInput, base: &str) -> Result<SamlSettings> {
    let (_, store) = sso::own_workspace(ctx, caller).await?;
    let (entity_id, sso_url, certificates) = read_metadata(&input.metadata_xml)?;
    let sso_url = ctx.outbound()?.check("metadata_xml", &sso_url)?.to_string();
    let default_role = input.default_role.unwrap_or(Role::Analyst);
    if default_role == Role::Owner {
        return Err(Error::invalid(
            DEFAULT_ROLE,
            "a user created at sign-in cannot be an owner",
        ));
    }
    let create_users = input.create_users.unwrap_or(false);
    let domains = sso::email_domains(input.email_domains.unwrap_or_default())?;
    if create_users && domains.is_empty() {
        return Err(Error::invalid(
            EMAIL_DOMAINS,
            "name the email domains whose people may be created at sign-in",
        ));
    }
    let chosen: Chosen = sso::chosen_requirement(&store, input.require_sso, input.break_glass_owner).await?;
    let item = Item::new(keys::sso_settings(store.tenant()))
        .with(PROTOCOL, SAML)
        .with(ISSUER, entity_id.as_str())
        .with(SSO_URL, sso_url.as_str())
        .with(
            CERTIFICATES,
            Value::L(certificates.iter().map(|c| Value::S(STANDARD.encode(c))).collect()),
        )
        .with(IDP_INITIATED, input.allow_idp_initiated.unwrap_or(false))
        .with(DEFAULT_ROLE, default_role.as_str())
        .with(CREATE_USERS, create_users)
        .with(EMAIL_DOMAINS, Value::L(domains.into_iter().map(Value::S).collect()))
        .with(UPDATED_AT, now_unix());
    let mut change = vec![TxOp::Put { item, condition: None }];
    change.extend(sso::requirement_ops(ctx, caller, &store, &chosen).await?);
    audit::commit(
        &store,
        caller,
        change,
        "sso.saml_saved",
        Target::SingleSignOn(SAML.into()),
    )
    .await
    .map_err(sso::changed_meanwhile)?;
    ctx.tenants.forget(store.tenant());
    get(ctx, caller, base).await
}

/// Removes the workspace's SAML provider (not found when its provider speaks OpenID Connect).
pub async fn delete(ctx: &Context, caller: &Caller) -> Result<()> {
    sso::remove(ctx, caller, SAML).await
}

fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// This workspace's service provider metadata: its entity ID and assertion consumer service
/// (HTTP-POST); it signs no requests and wants assertions signed.
pub fn sp_metadata(base: &str, slug: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{METADATA_NS}" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="{PROTOCOL_NS}">
    <md:NameIDFormat>{EMAIL_FORMAT}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{POST_BINDING}" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = escaped(&sp_entity_id(base, slug)),
        acs = escaped(&acs_url(base, slug)),
    )
}

/// The time SAML writes (`2026-12-05T16:00:00Z`) as Unix seconds.
fn instant(text: &str) -> Option<i64> {
    text.trim().parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

fn utc(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn id_hash(id: &str) -> String {
    credential::hex(&credential::sha256(id))
}

/// Starts a sign-in at the workspace's SAML provider, if its single sign-on `settings` are
/// SAML's: an AuthnRequest by HTTP-Redirect, its ID kept ten minutes (with the return path) for
/// its answer to name.
pub(super) async fn start(
    store: &TenantStore,
    tenant: &Tenant,
    settings: &Item,
    return_to: Option<String>,
    base: &str,
) -> Result<Option<Started>> {
    let Some(provider) = Provider::of(settings)? else {
        return Ok(None);
    };
    let mut random = [0u8; 20];
    crate::crypto::fill_random(&mut random)?;
    let id = format!("_{}", credential::hex(&random));
    let now = now_unix();
    let request = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{destination}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{POST_BINDING}"><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy Format="{EMAIL_FORMAT}" AllowCreate="true"/></samlp:AuthnRequest>"#,
        at = utc(now),
        destination = escaped(&provider.sso_url),
        acs = escaped(&acs_url(base, &tenant.slug)),
        issuer = escaped(&sp_entity_id(base, &tenant.slug)),
    );
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(request.as_bytes()).map_err(Error::internal)?;
    let deflated = deflater.finish().map_err(Error::internal)?;
    let mut location = url::Url::parse(&provider.sso_url).map_err(Error::internal)?;
    location
        .query_pairs_mut()
        .append_pair("SAMLRequest", &STANDARD.encode(deflated));
    // The browser that asks holds a token of its own (a cookie), whose hash the request keeps:
    // an answer brought by another browser (login CSRF: someone's own answer posted from their
    // page into a victim's browser) finds no match.
    let mut token = [0u8; 32];
    crate::crypto::fill_random(&mut token)?;
    let flow_token = credential::hex(&token);
    let mut item = Item::new(keys::saml_request(&tenant.id, &id_hash(&id)))
        .with(ISSUER, provider.entity_id.as_str())
        .with(BROWSER, id_hash(&flow_token))
        .with_expiry(now + FLOW_SECONDS);
    if let Some(path) = return_to {
        item = item.with(RETURN_TO, path);
    }
    store.put(item, Some(Condition::NotExists)).await?;
    Ok(Some(Started {
        location: location.to_string(),
        flow_token,
        posted_back: true,
        slug: tenant.slug.clone(),
    }))
}

/// What the provider posted to the assertion consumer service.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Posted {
    #[serde(rename = "SAMLResponse")]
    pub saml_response: Option<String>,
}

/// Finishes a sign-in the provider posted to the assertion consumer service of the workspace
/// `slug`, in the browser that holds `flow_token` (when it started here): every refusal audited
/// with its reason.
pub async fn finish(
    ctx: &Context,
    slug: &str,
    posted: Posted,
    flow_token: Option<&str>,
    ip: Option<IpAddr>,
    base: &str,
) -> Result<Finished> {
    let gone = || Error::Unauthenticated(NOT_PROVEN);
    let slug = crate::domain::Slug::parse(slug).map_err(|_| gone())?;
    let tenant = crate::services::accounts::tenants::by_slug(ctx, &slug)
        .await?
        .filter(Tenant::is_active)
        .ok_or_else(gone)?;
    let store = ctx.tenant_store(&tenant.id);
    match verified(&store, &tenant, posted, flow_token, ip, base).await? {
        Ok(finished) => Ok(finished),
        Err(refusal) => sso::refusal_recorded(&store, ip, refusal).await,
    }
}

const REFUSED_XML: &str = "Your identity provider's answer could not be read, so you are not signed in.";

/// The answer's checks and the sign-in; `Ok(Err(_))` is a refusal to audit.
async fn verified(
    store: &TenantStore,
    tenant: &Tenant,
    posted: Posted,
    flow_token: Option<&str>,
    ip: Option<IpAddr>,
    base: &str,
) -> Result<std::result::Result<Finished, Refusal>> {
    let Some(provider) = load(store).await? else {
        return Ok(Err(refused(
            "not_configured",
            "This workspace has no SAML single sign-on any more.",
        )));
    };
    let encoded: String = posted
        .saml_response
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if encoded.is_empty() || encoded.len() > MAX_RESPONSE {
        return Ok(Err(refused("response_missing", REFUSED_XML)));
    }
    let Some(xml) = STANDARD.decode(&encoded).ok().and_then(|b| String::from_utf8(b).ok()) else {
        return Ok(Err(refused("response_unreadable", REFUSED_XML)));
    };
    let now = now_unix();
    let answer = match checked(&xml, &provider, &tenant.slug, base, now) {
        Ok(answer) => answer,
        Err(refusal) => return Ok(Err(refusal)),
    };
    // Answering a request of ours: used up now (a second answer to it finds nothing); else
    // started at the provider, taken only when the owner allows it.
    let return_to = match &answer.in_response_to {
        Some(request) => {
            let key = keys::saml_request(&tenant.id, &id_hash(request));
            let Some(flow) = store.get(&key).await? else {
                return Ok(Err(refused("request_unknown", START_AGAIN)));
            };
            let browser = flow_token.map(id_hash).unwrap_or_default();
            if !credential::same(browser.as_bytes(), flow.str(BROWSER).unwrap_or("-").as_bytes()) {
                return Ok(Err(refused("browser_mismatch", START_AGAIN)));
            }
            match store.delete(&key, Some(Condition::Exists)).await {
                Err(Error::ConditionFailed) => return Ok(Err(refused("request_used", START_AGAIN))),
                other => other?,
            }
            if flow.str(ISSUER) != Some(provider.entity_id.as_str()) {
                return Ok(Err(refused("settings_changed", START_AGAIN)));
            }
            flow.str(RETURN_TO).map(str::to_owned)
        }
        None if provider.allow_idp_initiated => None,
        None => {
            return Ok(Err(refused(
                "unsolicited",
                "Sign in from this app's sign-in page: this workspace does not take sign-ins started at the identity provider.",
            )));
        }
    };
    // Taken once: kept until it could no longer be taken anyway.
    let seen = Item::new(keys::saml_assertion(&tenant.id, &id_hash(&answer.assertion_id)))
        .with_expiry(answer.valid_until.max(now) + CLOCK_SKEW_SECONDS);
    match store.put(seen, Some(Condition::NotExists)).await {
        Err(Error::ConditionFailed) => return Ok(Err(refused("assertion_replayed", NOT_PROVEN))),
        other => other?,
    }
    let Some(email) = answer.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
        return Ok(Err(refused("no_email", NOT_PROVEN)));
    };
    let vouched = Vouched {
        issuer: &provider.entity_id,
        subject: &answer.subject,
        email,
        name: answer.name,
        create_users: provider.create_users,
        default_role: provider.default_role,
        email_domains: &provider.email_domains,
    };
    sso::sign_in_as(store, tenant, vouched, ip, return_to).await
}

/// What a checked answer says.
#[derive(Debug)]
struct Answer {
    assertion_id: String,
    /// The request of ours it answers (none: started at the provider).
    in_response_to: Option<String>,
    /// The NameID.
    subject: String,
    email: Option<String>,
    name: Option<String>,
    /// When the assertion stops being taken.
    valid_until: i64,
}

/// The answer's every check, on the parsed document (the signed assertion's values read from
/// the very node the signature covers).
fn checked(xml: &str, provider: &Provider, slug: &str, base: &str, now: i64) -> std::result::Result<Answer, Refusal> {
    let Ok(doc) = parsed("SAMLResponse", xml) else {
        return Err(refused("xml_refused", REFUSED_XML));
    };
    let Some(response) = doc.document_element().filter(|r| {
        doc.element(*r)
            .is_some_and(|e| e.matches_name_ns(PROTOCOL_NS, "Response"))
    }) else {
        return Err(refused("not_a_response", REFUSED_XML));
    };
    // One assertion in the whole message, a child of the Response: a wrapped copy anywhere
    // (in Extensions, an Object, a SubjectConfirmationData) is refused outright.
    let assertions = descendants(&doc, response, ASSERTION_NS, "Assertion");
    let [assertion] = assertions[..] else {
        return Err(refused("assertion_count", NOT_PROVEN));
    };
    if doc.parent(assertion) != Some(response) {
        return Err(refused("assertion_misplaced", NOT_PROVEN));
    }
    if !descendants(&doc, response, ASSERTION_NS, "EncryptedAssertion").is_empty() {
        return Err(refused(
            "assertion_encrypted",
            "Your identity provider encrypted its answer: turn assertion encryption off for this app.",
        ));
    }
    let signed = signed_nodes(&doc, xml, provider)?;
    if !signed.contains(&response) && !signed.contains(&assertion) {
        return Err(refused("assertion_unsigned", NOT_PROVEN));
    }
    let acs = acs_url(base, slug);
    let audience = sp_entity_id(base, slug);
    // The Response's own fields (signed with it, or else only consistent with the signed
    // assertion's: they decide nothing alone).
    if doc.get_attribute(response, "Destination").is_some_and(|d| d != acs) {
        return Err(refused("destination", NOT_PROVEN));
    }
    if let Some(issuer) = child(&doc, response, ASSERTION_NS, "Issuer")
        && text(&doc, issuer) != provider.entity_id
    {
        return Err(refused("issuer", NOT_PROVEN));
    }
    let status = child(&doc, response, PROTOCOL_NS, "Status")
        .and_then(|s| child(&doc, s, PROTOCOL_NS, "StatusCode"))
        .and_then(|c| doc.get_attribute(c, "Value"));
    if status != Some(SUCCESS) {
        return Err(refused(
            "provider_refused",
            "Your identity provider did not sign you in.",
        ));
    }
    // The assertion.
    let issuer = child(&doc, assertion, ASSERTION_NS, "Issuer").map(|i| text(&doc, i));
    if issuer.as_deref() != Some(provider.entity_id.as_str()) {
        return Err(refused("issuer", NOT_PROVEN));
    }
    let Some(assertion_id) = doc.get_attribute(assertion, "ID").map(str::to_owned) else {
        return Err(refused("assertion_id", NOT_PROVEN));
    };
    let subject_node = child(&doc, assertion, ASSERTION_NS, "Subject").ok_or_else(|| refused("subject", NOT_PROVEN))?;
    let name_id = child(&doc, subject_node, ASSERTION_NS, "NameID").ok_or_else(|| refused("subject", NOT_PROVEN))?;
    let subject = text(&doc, name_id);
    if subject.is_empty() || subject.len() > 1024 {
        return Err(refused("subject", NOT_PROVEN));
    }
    // A transient NameID changes at every sign-in: nothing to bind a user to.
    if doc.get_attribute(name_id, "Format") == Some(TRANSIENT_FORMAT) {
        return Err(refused(
            "subject_transient",
            "Your identity provider sends a transient NameID: ask your administrator to send a persistent one or the email.",
        ));
    }
    // A bearer confirmation for this service, not expired; what it answers.
    let mut confirmed = None;
    for confirmation in children(&doc, subject_node, ASSERTION_NS, "SubjectConfirmation") {
        if doc.get_attribute(confirmation, "Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = child(&doc, confirmation, ASSERTION_NS, "SubjectConfirmationData") else {
            continue;
        };
        if doc.get_attribute(data, "Recipient") != Some(acs.as_str()) {
            return Err(refused("recipient", NOT_PROVEN));
        }
        let until = time_of(&doc, data, "NotOnOrAfter")?;
        if until.is_none_or(|t| now >= t + CLOCK_SKEW_SECONDS) {
            return Err(refused("expired", NOT_PROVEN));
        }
        if time_of(&doc, data, "NotBefore")?.is_some_and(|t| now + CLOCK_SKEW_SECONDS < t) {
            return Err(refused("not_yet_valid", NOT_PROVEN));
        }
        let answers = doc
            .get_attribute(data, "InResponseTo")
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        confirmed = Some((answers, until.unwrap_or(now)));
        break;
    }
    let Some((in_response_to, confirmed_until)) = confirmed else {
        return Err(refused("no_bearer_confirmation", NOT_PROVEN));
    };
    // The Response's InResponseTo, when it says one, is the assertion's.
    let response_answers = doc
        .get_attribute(response, "InResponseTo")
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if response_answers.is_some() && response_answers != in_response_to.as_deref() {
        return Err(refused("in_response_to", NOT_PROVEN));
    }
    // Conditions: its times and this service as an audience.
    let Some(conditions) = child(&doc, assertion, ASSERTION_NS, "Conditions") else {
        return Err(refused("no_conditions", NOT_PROVEN));
    };
    let not_before = time_of(&doc, conditions, "NotBefore")?;
    let not_on_or_after = time_of(&doc, conditions, "NotOnOrAfter")?;
    if not_before.is_some_and(|t| now + CLOCK_SKEW_SECONDS < t) {
        return Err(refused("not_yet_valid", NOT_PROVEN));
    }
    if not_on_or_after.is_some_and(|t| now >= t + CLOCK_SKEW_SECONDS) {
        return Err(refused("expired", NOT_PROVEN));
    }
    let restrictions: Vec<NodeId> = children(&doc, conditions, ASSERTION_NS, "AudienceRestriction").collect();
    let for_us = !restrictions.is_empty()
        && restrictions
            .iter()
            .all(|r| children(&doc, *r, ASSERTION_NS, "Audience").any(|a| text(&doc, a) == audience));
    if !for_us {
        return Err(refused("audience", NOT_PROVEN));
    }
    // Who: the email from an attribute, else a NameID of the email format; a name if given.
    let attribute = |names: &[&str]| -> Option<String> {
        let statement = child(&doc, assertion, ASSERTION_NS, "AttributeStatement")?;
        children(&doc, statement, ASSERTION_NS, "Attribute")
            .find(|a| {
                doc.get_attribute(*a, "Name")
                    .is_some_and(|n| names.iter().any(|m| n.eq_ignore_ascii_case(m)))
            })
            .and_then(|a| child(&doc, a, ASSERTION_NS, "AttributeValue"))
            .map(|v| text(&doc, v))
            .filter(|v| !v.is_empty())
    };
    let email = attribute(&[
        "email",
        "mail",
        "emailaddress",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "urn:oid:0.9.2342.19200300.100.1.3",
    ])
    .or_else(|| (doc.get_attribute(name_id, "Format") == Some(EMAIL_FORMAT)).then(|| subject.clone()));
    let name = attribute(&[
        "name",
        "displayname",
        "http://schemas.microsoft.com/identity/claims/displayname",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "urn:oid:2.16.840.1.113730.3.1.241",
    ]);
    Ok(Answer {
        assertion_id,
        in_response_to,
        subject,
        email,
        name,
        valid_until: not_on_or_after.map_or(confirmed_until, |t| t.min(confirmed_until)),
    })
}

/// A time attribute of `node`: none when absent; one that is there but not a time is refused.
fn time_of(doc: &Document<'_>, node: NodeId, name: &str) -> std::result::Result<Option<i64>, Refusal> {
    match doc.get_attribute(node, name) {
        None => Ok(None),
        Some(text) => instant(text)
            .map(Some)
            .ok_or_else(|| refused("time_unreadable", NOT_PROVEN)),
    }
}

/// Every element named `name` at or under `node`, in any namespace (what bergshamra would act
/// on, whatever namespace it was put in).
fn named(doc: &Document<'_>, node: NodeId, name: &str) -> Vec<NodeId> {
    elements_where(doc, node, |e| e.name.local_name == name)
}

/// The nodes the message's valid signatures cover, each signature checked against the
/// provider's certificates only, after its algorithms and reference are checked to be the few
/// taken (so that nothing else runs, or is read, before a signature holds).
fn signed_nodes(doc: &Document<'_>, xml: &str, provider: &Provider) -> std::result::Result<Vec<NodeId>, Refusal> {
    let root = doc
        .document_element()
        .ok_or_else(|| refused("not_a_response", REFUSED_XML))?;
    let signatures = named(doc, root, "Signature");
    if signatures.is_empty() {
        return Err(refused("assertion_unsigned", NOT_PROVEN));
    }
    // The Response's and the assertion's: no more.
    if signatures.len() > 2 {
        return Err(refused("signature_count", NOT_PROVEN));
    }
    // What a reference may point at: the Response or its assertion, by ID (never a file, a
    // URL, an XPointer or the whole document).
    let ids: Vec<String> = [Some(root), child(doc, root, ASSERTION_NS, "Assertion")]
        .into_iter()
        .flatten()
        .filter_map(|n| doc.get_attribute(n, "ID"))
        .map(|id| format!("#{id}"))
        .collect();
    let algorithm_in = |nodes: Vec<NodeId>, taken: &[&str]| {
        nodes
            .iter()
            .all(|n| doc.get_attribute(*n, "Algorithm").is_some_and(|a| taken.contains(&a)))
    };
    for signature in &signatures {
        let references = named(doc, *signature, "Reference");
        let taken = references.len() == 1
            && references.iter().all(|r| {
                doc.get_attribute(*r, "URI")
                    .is_some_and(|uri| ids.iter().any(|id| id == uri))
            })
            && algorithm_in(named(doc, *signature, "Transform"), &TRANSFORMS)
            && algorithm_in(named(doc, *signature, "DigestMethod"), &DIGESTS)
            && algorithm_in(named(doc, *signature, "SignatureMethod"), &SIGNATURES)
            && algorithm_in(named(doc, *signature, "CanonicalizationMethod"), &TRANSFORMS[1..])
            && named(doc, *signature, "CanonicalizationMethod").len() == 1
            && named(doc, *signature, "SignatureMethod").len() == 1;
        if !taken {
            return Err(refused("signature_algorithm", NOT_PROVEN));
        }
    }
    let mut keys = bergshamra_keys::KeysManager::new();
    for der in &provider.certificates {
        let key = bergshamra_keys::loader::load_x509_cert_der(der).map_err(|_| refused("certificate", NOT_PROVEN))?;
        keys.add_key(key);
    }
    // The uploaded certificates are the trust (often self-signed and past their dates, as
    // providers' are): no chain or validity check of them, only they verify.
    let context = DsigContext::new(keys).with_insecure(true);
    let Ok(results) = bergshamra_dsig::verify::verify_all_document_with_source(&context, doc, Some(xml)) else {
        return Err(refused("signature", NOT_PROVEN));
    };
    let mut covered = Vec::new();
    for result in results {
        match result {
            VerifyResult::Valid { references, .. } => {
                for reference in references {
                    if reference.digest_verified
                        && let Some(node) = reference.resolved_node
                    {
                        covered.push(node);
                    }
                }
            }
            // One signature that does not hold is a forgery somewhere: nothing is taken.
            VerifyResult::Invalid { .. } => return Err(refused("signature", NOT_PROVEN)),
        }
    }
    Ok(covered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_read_strictly() {
        let cert = "MIIBszCCAVmgAwIBAgIUQ0pG2Q==";
        let without = format!(
            r#"<EntityDescriptor xmlns="{METADATA_NS}" entityID="https://idp.example/e"><IDPSSODescriptor protocolSupportEnumeration="{PROTOCOL_NS}"><SingleSignOnService Binding="{REDIRECT_BINDING}" Location="https://idp.example/sso"/></IDPSSODescriptor></EntityDescriptor>"#
        );
        assert!(
            read_metadata(&without)
                .unwrap_err()
                .to_string()
                .contains("signing certificate")
        );
        let doctype = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{without}");
        assert!(read_metadata(&doctype).unwrap_err().to_string().contains("DTD"));
        let bad_cert = without.replace(
            "<SingleSignOnService",
            &format!(r#"<KeyDescriptor use="signing"><KeyInfo xmlns="{DSIG_NS}"><X509Data><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo></KeyDescriptor><SingleSignOnService"#),
        );
        assert!(
            read_metadata(&bad_cert)
                .unwrap_err()
                .to_string()
                .contains("cannot be read")
        );
        assert!(read_metadata("<a").is_err());
    }

    #[test]
    fn times_and_metadata_are_as_saml_writes_them() {
        assert_eq!(instant("1970-01-01T00:01:40Z"), Some(100));
        assert_eq!(instant("1970-01-01T00:01:40.250Z"), Some(100));
        assert_eq!(instant("yesterday"), None);
        assert_eq!(utc(100), "1970-01-01T00:01:40Z");
        let metadata = sp_metadata("https://app.example", "acme");
        assert!(metadata.contains(r#"entityID="https://app.example/sso/acme/saml""#));
        assert!(metadata.contains(r#"Location="https://app.example/sso/acme/saml/acs""#));
        assert!(parsed("metadata", &metadata).is_ok(), "{metadata}");
    }
}
