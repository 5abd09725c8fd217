//! The key layout (ARCHITECTURE.md "Storage layout"). Every item of a tenant has a partition key that begins
//! with `T#{tenant}`; the builders here are the only way services make keys, and they refuse key
//! parts that could break out of their place (`#`, control characters, empty parts).

use super::Key;
use crate::auth::credential::{Digest, hex};
use crate::error::{Error, Result};
use crate::ids::TenantId;

const SEP: char = '#';
/// The partition of system items that belong to no tenant and hold no personal data.
pub const SYSTEM_PARTITION: &str = "SYS";
/// Index partitions shared by all tenants (they hold ids and times, no personal data), which a
/// tenant's items may join.
pub const SHARED_INDEX_PREFIXES: &[&str] = &[
    DUE_PREFIX,
    COUNTERS_OVERFLOW_PREFIX,
    WEBHOOK_DUE_PREFIX,
    SHORT_LINK_PREFIX,
];

/// The due index of pending sends (`due_partition`).
pub const DUE_PREFIX: &str = "DUE#";

/// The index partitions (per day and bucket) of counters' overflow items waiting to be folded
/// home (ids only), in buckets so that contention in many surveys does not meet in one partition.
pub const COUNTERS_OVERFLOW_PREFIX: &str = "AGG#";

/// The partition of the tenant's own items: `T#{tenant}`.
pub fn tenant_partition(tenant: &TenantId) -> String {
    format!("T{SEP}{tenant}")
}

/// A partition below the tenant's: `T#{tenant}#{part}#{part}...`.
pub fn tenant_sub_partition(tenant: &TenantId, parts: &[&str]) -> Result<String> {
    let mut pk = tenant_partition(tenant);
    for part in parts {
        check_part(part)?;
        pk.push(SEP);
        pk.push_str(part);
    }
    Ok(pk)
}

/// A sort key from parts: `A#B#C`.
pub fn sort_key(parts: &[&str]) -> Result<String> {
    parts.iter().try_for_each(|p| check_part(p))?;
    Ok(parts.join("#"))
}

/// True when `pk` is the tenant's partition or one below it.
pub fn belongs_to(tenant: &TenantId, pk: &str) -> bool {
    pk.strip_prefix('T')
        .and_then(|rest| rest.strip_prefix(SEP))
        .and_then(|rest| rest.strip_prefix(tenant.as_str()))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(SEP))
}

fn check_part(part: &str) -> Result<()> {
    if part.is_empty() || part.contains(SEP) || part.chars().any(char::is_control) {
        return Err(Error::invalid(
            "key",
            "a key part must be non-empty, without `#` or control characters",
        ));
    }
    Ok(())
}

/// The sort key of a tenant's wrapped data key of `version` (in the tenant partition), ordered so
/// that the newest version sorts last.
pub fn data_key_sort(version: u32) -> String {
    format!("{DATA_KEY_PREFIX}{version:010}")
}

pub const DATA_KEY_PREFIX: &str = "DEK#";

/// The tombstone left when a tenant's keys are shredded; it sorts after every version.
pub fn shredded_sort() -> String {
    format!("{DATA_KEY_PREFIX}~SHREDDED")
}

/// The tenant's own item: its slug, status and settings.
pub fn tenant(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), "TENANT")
}

/// The tenant an item is the tenant item of (`T#{tenant}`, `TENANT`).
pub fn tenant_of_item(key: &Key) -> Option<TenantId> {
    let id = key.pk.strip_prefix("T#")?;
    (key.sk == "TENANT").then(|| id.parse::<TenantId>().ok())?
}

/// The system item of the scheduled restore drill: the one under way, the last one's figures.
pub fn restore_drill() -> Key {
    Key::new(SYSTEM_PARTITION, "RESTORE_DRILL")
}

/// A partition key's family: its ids, times and values replaced by `*` (`T#*#R`: a workspace's
/// responses, any shard of them). A part is kept when it is a short tag of capital letters and `_`.
pub fn family(pk: &str) -> String {
    unsharded(pk)
        .split(SEP)
        .map(|part| {
            let tag = !part.is_empty() && part.len() <= 12 && part.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            if tag { part } else { "*" }
        })
        .collect::<Vec<_>>()
        .join("#")
}

/// The system item that maps a slug to its tenant (no personal data).
pub fn slug(slug: &str) -> Key {
    Key::new(format!("SLUG{SEP}{slug}"), "TENANT")
}

pub const PURGE_PREFIX: &str = "PURGE#";

/// A tenant deletion's purge, due at `due` (unix seconds): a system item holding the tenant id
/// only, sorted by when it is due.
pub fn purge(due: i64, tenant: &TenantId) -> Key {
    Key::new(SYSTEM_PARTITION, format!("{PURGE_PREFIX}{due:012}{SEP}{tenant}"))
}

/// The purges due by `now`: every purge key sorts at or below this.
pub fn purges_due_by(now: i64) -> String {
    format!("{PURGE_PREFIX}{now:012}{SEP}~")
}

pub const RETAIN_PREFIX: &str = "RETAIN#";

/// The system item that puts a tenant with a retention period on the retention job's list
/// (the tenant id only).
pub fn retention_registry(tenant: &TenantId) -> Key {
    Key::new(SYSTEM_PARTITION, format!("{RETAIN_PREFIX}{tenant}"))
}

pub const NOTIFY_PREFIX: &str = "NOTIFY#";

/// The system item that puts a tenant whose users chose notifications on the notifier's list
/// (the tenant id only).
pub fn notifier_registry(tenant: &TenantId) -> Key {
    Key::new(SYSTEM_PARTITION, format!("{NOTIFY_PREFIX}{tenant}"))
}

/// The tenant's notifier: the answers mailed up to, when it last mailed, the digest's week.
pub fn notifier_state(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), "NOTIFIER")
}

/// The partition of the tenant's staff notifications: what each user chose per survey
/// (`{survey}#{user}`).
pub fn notifications_partition(tenant: &TenantId) -> String {
    format!("{}{SEP}NOTIFY", tenant_partition(tenant))
}

/// The partition of the marks of staff notification mails sent (kept a week), apart from the
/// choices so that reading those never reads these.
pub fn notified_partition(tenant: &TenantId) -> String {
    format!("{}{SEP}NOTIFIED", tenant_partition(tenant))
}

/// The tenant's retention progress: how far responses were swept, the day it last finished.
pub fn retention_state(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), "RETENTION")
}

pub const USER_PREFIX: &str = "USER#";
pub const API_KEY_PREFIX: &str = "APIKEY#";
pub const CLIENT_PREFIX: &str = "CLIENT#";
pub const SESSION_PREFIX: &str = "SESSION#";

/// Ids taken from credentials and paths are ULIDs; anything else names no item.
fn id_part(id: &str) -> Result<&str> {
    check_part(id)?;
    Ok(id)
}

pub fn user(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(
        tenant_partition(tenant),
        format!("{USER_PREFIX}{}", id_part(id)?),
    ))
}

/// The sign-in lookup of a user by the blind index of their email.
pub fn login(tenant: &TenantId, email_blind: &str) -> Key {
    Key::new(tenant_partition(tenant), format!("LOGIN{SEP}{email_blind}"))
}

/// The partition of one user's sessions, sign-in challenges and invitation.
pub fn user_partition(tenant: &TenantId, id: &str) -> Result<String> {
    tenant_sub_partition(tenant, &["U", id])
}

pub fn session(tenant: &TenantId, user: &str, digest: &Digest) -> Result<Key> {
    Ok(Key::new(
        user_partition(tenant, user)?,
        format!("{SESSION_PREFIX}{}", hex(digest)),
    ))
}

/// A workspace's single sign-on provider.
pub fn sso_settings(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), format!("SSO{SEP}OIDC"))
}

/// A workspace's SCIM token (one at a time: a new one replaces it).
pub fn scim_token(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), format!("SCIM{SEP}TOKEN"))
}

pub const TEAM_PREFIX: &str = "TEAM#";

/// One of a workspace's teams.
pub fn team(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(
        tenant_partition(tenant),
        format!("{TEAM_PREFIX}{}", id_part(id)?),
    ))
}

/// What keeps a team's name the workspace's once (the hash of its lower case).
pub fn team_name(tenant: &TenantId, name_hash: &str) -> Key {
    Key::new(tenant_partition(tenant), format!("TEAMNAME{SEP}{name_hash}"))
}

pub const EMAIL_DOMAIN_PREFIX: &str = "DOMAIN#";

/// One of a workspace's email domains (verified, or waiting for its DNS record).
pub fn email_domain(tenant: &TenantId, domain: &str) -> Key {
    Key::new(tenant_partition(tenant), format!("{EMAIL_DOMAIN_PREFIX}{domain}"))
}

/// The system item naming the workspace an email domain is verified for (no personal data).
pub fn domain_claim(domain: &str) -> Key {
    Key::new(format!("DOMAIN{SEP}{domain}"), "TENANT")
}

/// A single sign-on under way, by its flow token's digest.
pub fn sso_flow(tenant: &TenantId, digest: &Digest) -> Key {
    Key::new(tenant_partition(tenant), format!("SSOFLOW{SEP}{}", hex(digest)))
}

/// A SAML sign-in started here, by the hash of its AuthnRequest's ID (kept until it expires).
pub fn saml_request(tenant: &TenantId, id_hash: &str) -> Key {
    Key::new(tenant_partition(tenant), format!("SAMLREQ{SEP}{id_hash}"))
}

/// A SAML assertion taken, by the hash of its ID: kept until it expires, so that it is taken once.
pub fn saml_assertion(tenant: &TenantId, id_hash: &str) -> Key {
    Key::new(tenant_partition(tenant), format!("SAMLSEEN{SEP}{id_hash}"))
}

pub fn mfa_challenge(tenant: &TenantId, user: &str, digest: &Digest) -> Result<Key> {
    Ok(Key::new(
        user_partition(tenant, user)?,
        format!("MFA{SEP}{}", hex(digest)),
    ))
}

pub fn invite(tenant: &TenantId, user: &str, digest: &Digest) -> Result<Key> {
    Ok(Key::new(
        user_partition(tenant, user)?,
        format!("INVITE{SEP}{}", hex(digest)),
    ))
}

/// A mailed password reset link of a user (its digest; it expires).
pub fn password_reset(tenant: &TenantId, user: &str, digest: &Digest) -> Result<Key> {
    Ok(Key::new(
        user_partition(tenant, user)?,
        format!("{RESET_PREFIX}{}", hex(digest)),
    ))
}

pub const RESET_PREFIX: &str = "RESET#";

pub fn api_key(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(
        tenant_partition(tenant),
        format!("{API_KEY_PREFIX}{}", id_part(id)?),
    ))
}

pub fn oauth_client(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(
        tenant_partition(tenant),
        format!("{CLIENT_PREFIX}{}", id_part(id)?),
    ))
}

/// The partition of one OAuth client's access tokens.
pub fn client_partition(tenant: &TenantId, id: &str) -> Result<String> {
    tenant_sub_partition(tenant, &["C", id])
}

pub fn access_token(tenant: &TenantId, client: &str, digest: &Digest) -> Result<Key> {
    Ok(Key::new(
        client_partition(tenant, client)?,
        format!("TOKEN{SEP}{}", hex(digest)),
    ))
}

/// A failed sign-in counter: per account (`scope` = the email's blind index) or per account and
/// address (`scope` = both blind indexes).
pub fn sign_in_failures(tenant: &TenantId, scope: &str) -> Key {
    Key::new(tenant_partition(tenant), format!("FAIL{SEP}{scope}"))
}

/// The tenant's request counter of one minute (unix minutes).
pub fn rate_window(tenant: &TenantId, minute: i64) -> Key {
    Key::new(tenant_partition(tenant), format!("RATE{SEP}{minute}"))
}

/// A request counter of one minute of a site key's budget (unix minutes).
pub fn site_rate_window(tenant: &TenantId, site_key: &str, minute: i64) -> Result<Key> {
    Ok(Key::new(
        tenant_partition(tenant),
        format!("RATE{SEP}{}{SEP}{minute}", id_part(site_key)?),
    ))
}

pub const SITE_KEY_PREFIX: &str = "SITE#";

/// A site key of the website surveys.
pub fn site_key(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(
        tenant_partition(tenant),
        format!("{SITE_KEY_PREFIX}{}", id_part(id)?),
    ))
}

/// The partition of a survey's website visitors: when each was shown, answered or dismissed
/// it, keyed by a blind index of their email or anonymous id.
pub fn site_visitors_partition(tenant: &TenantId, survey: &str) -> Result<String> {
    tenant_sub_partition(tenant, &["WV", survey])
}

pub fn site_visit(tenant: &TenantId, survey: &str, visitor: &str) -> Result<Key> {
    Ok(Key::new(
        site_visitors_partition(tenant, survey)?,
        id_part(visitor)?.to_owned(),
    ))
}

/// The partition of the tenant's audit events of one month (`2026-11`).
pub fn audit_partition(tenant: &TenantId, month: &str) -> Result<String> {
    tenant_sub_partition(tenant, &["AUDIT", month])
}

pub const SURVEY_PREFIX: &str = "SURVEY#";

pub fn survey(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(
        tenant_partition(tenant),
        format!("{SURVEY_PREFIX}{}", id_part(id)?),
    ))
}

/// The pointer to the tenant's default survey (the one Delighted-style calls use).
pub fn default_survey(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), "DEFAULT_SURVEY")
}

/// The partition of the tenant's people, sorted by id (ULIDs: by creation).
pub fn people_partition(tenant: &TenantId) -> String {
    format!("{}{SEP}PEOPLE", tenant_partition(tenant))
}

pub fn person(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(people_partition(tenant), id_part(id)?))
}

/// The lookup of a person by the blind index of an email (`kind` "email") or phone ("phone").
pub fn person_lookup(tenant: &TenantId, kind: &str, blind: &str) -> Key {
    Key::new(
        tenant_partition(tenant),
        format!("P{}{SEP}{blind}", kind.to_ascii_uppercase()),
    )
}

/// The partition of what belongs to one person: pointers to their invitations and responses.
pub fn person_partition(tenant: &TenantId, id: &str) -> Result<String> {
    tenant_sub_partition(tenant, &["P", id])
}

/// A person's pointer to one of their invitations (`INV#…`) or responses (`R#…`).
pub fn person_pointer(tenant: &TenantId, person: &str, kind: &str, id: &str) -> Result<Key> {
    Ok(Key::new(person_partition(tenant, person)?, sort_key(&[kind, id])?))
}

/// The tenant's list of people suppressed one way (`UNSUB`, `BOUNCE`), by time.
pub fn suppression_partition(tenant: &TenantId, list: &str) -> Result<String> {
    tenant_sub_partition(tenant, &[list])
}

/// A person's entry in a suppression list: sorted by when, then who.
pub fn suppression(tenant: &TenantId, list: &str, at: i64, person: &str) -> Result<Key> {
    Ok(Key::new(
        suppression_partition(tenant, list)?,
        format!("{at:012}{SEP}{}", id_part(person)?),
    ))
}

/// The partition of one survey's invitations.
pub fn survey_partition(tenant: &TenantId, survey: &str) -> Result<String> {
    tenant_sub_partition(tenant, &["S", survey])
}

/// A shard of a survey's result counters (0 is home; the others take contended writes).
pub fn counters_partition(tenant: &TenantId, survey: &str, shard: u8) -> Result<String> {
    tenant_sub_partition(tenant, &["S", survey, "AGG", &shard.to_string()])
}

/// A segment value's dictionary item (the value encrypted) in the counters' home shard.
pub fn segment_value(tenant: &TenantId, survey: &str, property: &str, value: &str) -> Result<Key> {
    Ok(Key::new(
        counters_partition(tenant, survey, 0)?,
        sort_key(&["V", property, value])?,
    ))
}

pub fn invitation(tenant: &TenantId, survey: &str, id: &str) -> Result<Key> {
    Ok(Key::new(
        survey_partition(tenant, survey)?,
        format!("INV{SEP}{}", id_part(id)?),
    ))
}

/// An invitation's short link (for SMS), beside the invitation.
pub fn short_link(tenant: &TenantId, survey: &str, invitation: &str) -> Result<Key> {
    Ok(Key::new(
        survey_partition(tenant, survey)?,
        format!("SL{SEP}{}", id_part(invitation)?),
    ))
}

/// The shared index of short links: one partition per code (a signature; no personal data).
pub const SHORT_LINK_PREFIX: &str = "SL#";

pub fn short_link_index(code: &str) -> (String, String) {
    (format!("{SHORT_LINK_PREFIX}{code}"), "SL".to_owned())
}

/// The shared due index of pending sends: a partition a minute, in the store's `Spread` of
/// shards by invitation, sorted by time, tenant, id (no personal data).
pub fn due_index(due: i64, tenant: &TenantId, invitation: &str, spread: Spread) -> (String, String) {
    (
        due_partition(due.div_euclid(60), shard_of(invitation, spread.due_shards)),
        format!("{due:012}{SEP}{tenant}{SEP}{invitation}"),
    )
}

/// How the shared index partitions that many workspaces write at once are spread. DynamoDB
/// limits the throughput of one partition key (about 1,000 write units a second): a minute of
/// every workspace's sends at the operators' full quota, or the webhook events of many websites'
/// bursts, would overheat one (`ovation bench --only scale` sizes the shards). The embedded
/// engine has no such limit, and fewer partitions read cheaper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    /// Shards of a minute of the due index.
    pub due_shards: u32,
    /// Partitions of the webhook due index.
    pub webhook_buckets: u32,
    /// Shards of each of a workspace's busiest partitions (`spread_shards`): 1 where partitions are
    /// unlimited, and in DynamoDB tables made before they were spread (the table's `layout`).
    pub workspace_shards: u32,
}

impl Spread {
    pub const LIMITED: Spread = Spread {
        due_shards: 128,
        webhook_buckets: 512,
        workspace_shards: 32,
    };
    /// The layout of earlier versions: a due partition a minute, four webhook partitions, a
    /// workspace's partitions whole.
    pub const UNLIMITED: Spread = Spread {
        due_shards: 1,
        webhook_buckets: 4,
        workspace_shards: 1,
    };
}

/// The system item that records how a DynamoDB table's workspace partitions are spread
/// (`workspace_shards`), written by the first process that finds the table new.
pub fn layout() -> Key {
    Key::new(SYSTEM_PARTITION, "LAYOUT")
}

/// How many shards a workspace's partition `pk` has when its busiest are spread over `shards`
/// (1: whole). The busiest take a write for every answer, webhook delivery or imported row, so
/// one busy workspace would overheat each as one partition key: its responses (and their index
/// by update), delivery logs, website visits, a survey's invitations, its people; and its
/// webhook events, twice as many shards (an answer writes its event about five times: emitted,
/// dispatched, each endpoint's outcome, out of the index).
pub fn spread_shards(pk: &str, shards: u32) -> u32 {
    match (shards, spread_weight(pk)) {
        (0 | 1, _) | (_, 0) => 1,
        (shards, weight) => shards * weight,
    }
}

fn spread_weight(pk: &str) -> u32 {
    let parts: Vec<&str> = pk.split(SEP).collect();
    match parts.as_slice() {
        ["T", _, "WHE"] => 2,
        ["T", _, "R" | "RU" | "PEOPLE"] | ["T", _, "WV" | "WH" | "S", _] => 1,
        _ => 0,
    }
}

/// Shard `shard` of a spread partition. Shard 0 keeps the partition's own name; the others end
/// in an empty part (`…##3`), which no key builder makes.
pub fn workspace_shard(pk: &str, shard: u32) -> String {
    match shard {
        0 => pk.to_owned(),
        shard => format!("{pk}{SEP}{SEP}{shard}"),
    }
}

/// The partition a shard of a spread partition belongs to (any other partition is its own).
pub fn unsharded(pk: &str) -> &str {
    match pk.rsplit_once("##") {
        Some((head, shard))
            if !shard.is_empty() && shard.bytes().all(|b| b.is_ascii_digit()) && spread_weight(head) > 0 =>
        {
            head
        }
        _ => pk,
    }
}

/// A shard of a minute of the due index; shard 0 has the name the unsharded minutes of earlier
/// versions had, so their entries are read with it.
pub fn due_partition(minute: i64, shard: u32) -> String {
    match shard {
        0 => format!("{DUE_PREFIX}{minute}"),
        shard => format!("{DUE_PREFIX}{minute}{SEP}{shard}"),
    }
}

/// The minute of a partition of the due index.
pub fn due_minute(partition: &str) -> Option<i64> {
    partition.strip_prefix(DUE_PREFIX)?.split(SEP).next()?.parse().ok()
}

/// A partition of the webhook due index.
pub fn webhook_due_partition(bucket: u32) -> String {
    format!("{WEBHOOK_DUE_PREFIX}{bucket}")
}

/// The shards `partition` is one of under `spread`: their family's name (`…#*`) and how many.
pub fn shard_family(partition: &str, spread: Spread) -> Option<(String, u32)> {
    if let Some(minute) = due_minute(partition) {
        return (spread.due_shards > 1).then(|| (format!("{DUE_PREFIX}{minute}{SEP}*"), spread.due_shards));
    }
    (partition.starts_with(WEBHOOK_DUE_PREFIX) && spread.webhook_buckets > 1)
        .then(|| (format!("{WEBHOOK_DUE_PREFIX}*"), spread.webhook_buckets))
}

/// A stable shard of `id` among `shards` (FNV-1a of its bytes; 0 when there are none).
pub fn shard_of(id: &str, shards: u32) -> u32 {
    let shards = shards.max(1);
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(shards)) as u32
}

/// The partition of the tenant's responses, sorted by id (ULIDs: by creation).
pub fn responses_partition(tenant: &TenantId) -> String {
    format!("{}{SEP}R", tenant_partition(tenant))
}

pub fn response(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(responses_partition(tenant), id_part(id)?))
}

/// The index partition of the tenant's responses by last change.
pub fn responses_by_update(tenant: &TenantId) -> String {
    format!("{}{SEP}RU", tenant_partition(tenant))
}

/// A response's place in `responses_by_update`.
pub fn updated_sort(updated_at: i64, id: &str) -> String {
    format!("{updated_at:012}{SEP}{id}")
}

/// The partition of one people import: its summary and its error rows.
pub fn import_partition(tenant: &TenantId, id: &str) -> Result<String> {
    tenant_sub_partition(tenant, &["IMPORT", id])
}

/// The partition of the tenant's imports, newest last.
pub fn imports_partition(tenant: &TenantId) -> String {
    format!("{}{SEP}IMPORTS", tenant_partition(tenant))
}

/// The partition of a tenant's export jobs.
pub fn exports_partition(tenant: &TenantId) -> String {
    format!("{}{SEP}EXPORTS", tenant_partition(tenant))
}

/// The partition of a tenant's webhook endpoints (`EP#{id}`).
pub fn webhooks_partition(tenant: &TenantId) -> String {
    format!("{}{SEP}WH", tenant_partition(tenant))
}

pub fn webhook(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(webhooks_partition(tenant), format!("EP{SEP}{}", id_part(id)?)))
}

/// The partition of a tenant's webhook events waiting for or in delivery.
pub fn webhook_events_partition(tenant: &TenantId) -> Result<String> {
    tenant_sub_partition(tenant, &["WHE"])
}

pub fn webhook_event(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(
        webhook_events_partition(tenant)?,
        format!("EV{SEP}{}", id_part(id)?),
    ))
}

/// The delivery log of one endpoint, an entry per event (`D#{event id}`, so newest last).
pub fn webhook_log_partition(tenant: &TenantId, endpoint: &str) -> Result<String> {
    tenant_sub_partition(tenant, &["WH", endpoint])
}

pub fn webhook_log(tenant: &TenantId, endpoint: &str, event: &str) -> Result<Key> {
    Ok(Key::new(
        webhook_log_partition(tenant, endpoint)?,
        format!("D{SEP}{}", id_part(event)?),
    ))
}

pub const WEBHOOK_DUE_PREFIX: &str = "WHDUE#";

/// The shared index entry of an event to dispatch at `due`: one of the store's `Spread` of
/// partitions by event, sorted by time (ids only). Those of earlier versions (4) are among them.
pub fn webhook_due_index(due: i64, tenant: &TenantId, event: &str, spread: Spread) -> (String, String) {
    (
        webhook_due_partition(shard_of(event, spread.webhook_buckets)),
        format!("{due:012}{SEP}{tenant}{SEP}{event}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_belong_to_their_tenant_only() {
        let a = TenantId::generate();
        let b = TenantId::generate();
        assert!(belongs_to(&a, &tenant_partition(&a)));
        assert!(belongs_to(&a, &tenant_sub_partition(&a, &["P", "x"]).unwrap()));
        assert!(!belongs_to(&a, &tenant_partition(&b)));
        // A tenant id that is a prefix of another is not the same tenant.
        assert!(!belongs_to(&a, &format!("T#{a}X")));
        assert!(!belongs_to(&a, &format!("t#{a}")));
        assert!(!belongs_to(&a, SYSTEM_PARTITION));
        assert!(!belongs_to(&a, &format!("X#T#{a}")));
    }

    #[test]
    fn a_workspaces_busiest_partitions_are_spread_and_named_back() {
        let t = TenantId::generate();
        let responses = responses_partition(&t);
        let events = webhook_events_partition(&t).unwrap();
        assert_eq!(spread_shards(&responses, 32), 32);
        assert_eq!(spread_shards(&events, 32), 64, "events: twice the shards");
        assert_eq!(spread_shards(&responses, 1), 1, "tables made before they were spread");
        for whole in [
            tenant_partition(&t),
            webhooks_partition(&t),
            counters_partition(&t, "S1", 0).unwrap(),
        ] {
            assert_eq!(spread_shards(&whole, 32), 1, "{whole}");
        }
        assert_eq!(workspace_shard(&responses, 0), responses);
        let third = workspace_shard(&responses, 3);
        assert_eq!(third, format!("{responses}##3"));
        assert!(belongs_to(&t, &third));
        assert_eq!(
            (unsharded(&third), family(&third)),
            (responses.as_str(), "T#*#R".to_owned())
        );
        // Only a spread partition's shard is named back: nothing else ends that way.
        assert_eq!(unsharded("T#x#WH#E1##3"), "T#x#WH#E1");
        assert_eq!(unsharded("T#x#WH##3"), "T#x#WH##3");
        assert_eq!(unsharded("T#x##3"), "T#x##3");
        assert_eq!(unsharded("T#x#R##"), "T#x#R##");
        assert!(
            tenant_sub_partition(&t, &["R", ""]).is_err(),
            "no builder makes an empty part"
        );
    }

    #[test]
    fn due_shards_are_stable_spread_and_name_their_minute() {
        let shards = Spread::LIMITED.due_shards;
        let mut counts = vec![0u32; shards as usize];
        for n in 0..shards * 1000 {
            counts[shard_of(&crate::ids::new_id(), shards) as usize] += 1;
            assert_eq!(shard_of(&n.to_string(), shards), shard_of(&n.to_string(), shards));
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
        assert_eq!(due_partition(29_000_000, 0), "DUE#29000000");
        assert_eq!(due_partition(29_000_000, 7), "DUE#29000000#7");
        assert_eq!(due_minute("DUE#29000000"), Some(29_000_000));
        assert_eq!(due_minute("DUE#29000000#7"), Some(29_000_000));
        assert_eq!(due_minute("WHDUE#7"), None);
    }

    #[test]
    fn parts_cannot_climb_out_of_their_place() {
        let a = TenantId::generate();
        let b = TenantId::generate();
        assert!(tenant_sub_partition(&a, &[&format!("x#T#{b}")]).is_err());
        assert!(tenant_sub_partition(&a, &[""]).is_err());
        assert!(tenant_sub_partition(&a, &["a\0b"]).is_err());
        assert!(sort_key(&["R", "1#2"]).is_err());
        assert_eq!(sort_key(&["R", "2026", "01J"]).unwrap(), "R#2026#01J");
        assert!(data_key_sort(2) > data_key_sort(1));
        assert!(data_key_sort(10) > data_key_sort(9));
    }
}
