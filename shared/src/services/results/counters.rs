//! Pre-aggregated result counters (ARCHITECTURE.md "Storage layout"): what a response, a change of it and a send
//! add to their survey's counters, written in the same transaction as the response or the send, so
//! that no retry, race or crash can make them drift. Counters live in a home shard; a write that
//! meets contention, or (where partitions are limited) of a survey this process sees answered
//! many times a second, goes to one of the overflow shards, which `compact` folds back home.
//!
//! Each survey counts by UTC month (`M#…`) and day (`D#…`), one attribute per measure and channel,
//! and by segment value (`N#…`, `G#…`), each with quarter-hour detail items per channel (`Q#…`,
//! `H#…`) so that days can be cut at any time zone's midnight. Day items also count by hour (all
//! channels), so that a cut at a whole hour needs no detail, and a small item per day (`E#…`,
//! `F#…`) counts the first half of each hour, so that a cut at a half hour (India, Newfoundland)
//! needs none either. A year's totals read twelve small items.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use crate::domain::{Channel, Properties, Score};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::store::keys::Spread;
use crate::store::{Condition, Item, Query, SortKey, Store, TenantStore, TxOp, Update, Value, attr, keys, now_unix};

/// The home shard and the overflow shards a contended write moves to, where partitions are not
/// limited and in DynamoDB tables whose workspace partitions are whole (`Spread`).
const SHARDS: u8 = 4;
/// The home shard and the overflow shards where partitions are limited: a website's burst of
/// 2,000 answers a second writes 8 units an answer to its survey's counters, 16,000 a second,
/// which 63 overflow shards take at a quarter of their limit (`ovation bench --only scale`).
const LIMITED_SHARDS: u8 = 64;
/// How many times a transaction is tried on another shard when it meets contention.
const ATTEMPTS: u8 = 4;
/// A survey answered more often than this in one second in this process (or whose home shard
/// throttled a write) writes to its overflow shards for `HOT_FOR` seconds, where partitions are
/// limited.
const HOT_WRITES_A_SECOND: u32 = 25;
const HOT_FOR: i64 = 60;
/// The detail items' resolution: every time zone's midnight falls on a quarter hour.
pub const SLOT_SECONDS: i64 = 900;
pub const DAY_SECONDS: i64 = 86_400;

/// The counter shards of a survey in a store spread as `spread`.
pub fn shards(spread: Spread) -> u8 {
    if spread.workspace_shards > 1 {
        LIMITED_SHARDS
    } else {
        SHARDS
    }
}

/// The overflow index partitions of a day.
const OVERFLOW_BUCKETS: u32 = 4;
/// The sort key of the mark in a survey's home shard that its overflow shards hold counts of the
/// day's writes (where partitions are limited; elsewhere each overflow item is indexed itself).
const MARK_PREFIX: &str = "HOT#";
/// The item whose count changes with every fold: a read that sees it change reads again.
const FOLDS: &str = "FOLDS";
/// Writes to a counter item: an overflow item moves home only unchanged since it was read.
const WRITES: &str = "w";
/// Writes to a day item that counted its hours too: equal to `WRITES` when every count of the
/// item has its hour (days counted before hours were are read from their detail).
const HOUR_WRITES: &str = "wh";
/// Writes to a day item that counted the first halves of its hours too (in its `E#`/`F#` item):
/// equal to `WRITES` when the day can be cut at half hours.
const HALF_WRITES: &str = "wf";
/// Writes to a day item that also wrote its first-halves item: equal to that item's `WRITES`
/// once both are read, unless a write fell between the two reads.
const HALF_ITEM_WRITES: &str = "we";
/// The mark of an hour cell's name (`pH23`: promoters in the day's last hour).
const HOUR_MARK: char = 'H';
/// The mark of a first half hour's cell (`pF5`: promoters from 05:00 to 05:29).
const FIRST_HALF_MARK: char = 'F';
/// When an overflow item was last written: one in use is left alone for a minute.
const WRITTEN_AT: &str = "at";
/// The sort key part of a segment's "no value".
const NO_VALUE: &str = "-";
/// How long a blind index part of a key is (hex; 128 bits).
const BLIND_CHARS: usize = 32;

/// What a counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Measure {
    Promoter,
    Passive,
    Detractor,
    /// An invitation sent (at its send).
    Sent,
    /// A sent invitation answered (at its send, for the response rate).
    Answered,
}

impl Measure {
    pub const ALL: [Measure; 5] = [
        Measure::Promoter,
        Measure::Passive,
        Measure::Detractor,
        Measure::Sent,
        Measure::Answered,
    ];

    pub fn of_score(score: Score) -> Measure {
        match score.value() {
            9..=10 => Measure::Promoter,
            7..=8 => Measure::Passive,
            _ => Measure::Detractor,
        }
    }

    fn code(self) -> char {
        match self {
            Measure::Promoter => 'p',
            Measure::Passive => 'n',
            Measure::Detractor => 'd',
            Measure::Sent => 's',
            Measure::Answered => 'a',
        }
    }

    fn from_code(code: char) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.code() == code)
    }
}

/// What an attribute of a counter item counts in: a day item's channel (`pe`: promoters by email)
/// or hour (`pH23`), a first-halves item's hour (`pF5`), a detail item's quarter hour (`p37`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Day(Channel),
    Slot(i64),
    /// An hour of a day item (all channels): a day cut at a whole hour is read from these.
    Hour(i64),
    /// The first half of an hour (all channels): with the hours, a day cut at a half hour.
    FirstHalf(i64),
}

const CHANNELS: [(Channel, char); 4] = [
    (Channel::Email, 'e'),
    (Channel::Sms, 's'),
    (Channel::Web, 'w'),
    (Channel::Api, 'a'),
];

fn channel_code(channel: Channel) -> char {
    CHANNELS
        .iter()
        .find(|(c, _)| *c == channel)
        .map_or('e', |(_, code)| *code)
}

pub fn parse_attr(name: &str) -> Option<(Measure, Cell)> {
    let mut chars = name.chars();
    let measure = Measure::from_code(chars.next()?)?;
    let rest = chars.as_str();
    for (mark, cell) in [
        (HOUR_MARK, Cell::Hour as fn(i64) -> Cell),
        (FIRST_HALF_MARK, Cell::FirstHalf),
    ] {
        if let Some(hour) = rest.strip_prefix(mark) {
            let hour: i64 = hour.parse().ok()?;
            return (0..24).contains(&hour).then_some((measure, cell(hour)));
        }
    }
    if let Some((channel, _)) = CHANNELS
        .iter()
        .find(|(_, code)| rest.len() == 1 && rest.starts_with(*code))
    {
        return Some((measure, Cell::Day(*channel)));
    }
    let slot: i64 = rest.parse().ok()?;
    (0..DAY_SECONDS / SLOT_SECONDS)
        .contains(&slot)
        .then_some((measure, Cell::Slot(slot)))
}

/// Whether every count of a day item has its hour (the item can cut its day at whole hours).
pub fn hours_complete(item: &Item) -> bool {
    item.num(WRITES).unwrap_or_default() == item.num(HOUR_WRITES).unwrap_or_default()
}

/// Whether every count of a day item also counted its half hour (with its `E#`/`F#` item, the
/// day can be cut at half hours).
pub fn half_hours_complete(item: &Item) -> bool {
    hours_complete(item) && item.num(WRITES).unwrap_or_default() == item.num(HALF_WRITES).unwrap_or_default()
}

/// A segment property's value as counted: blinded in keys, kept encrypted in a dictionary item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentValue {
    pub property_key: String,
    /// `None` for a person without the property.
    pub value: Option<(String, String)>,
}

impl SegmentValue {
    fn value_key(&self) -> &str {
        self.value.as_ref().map_or(NO_VALUE, |(blind, _)| blind.as_str())
    }
}

/// One thing counted: a response's score at its creation, or a send and its answer at the send.
#[derive(Clone, Debug)]
pub struct Counted {
    pub measure: Measure,
    pub at: i64,
    pub channel: Channel,
    pub segments: Vec<SegmentValue>,
}

impl Counted {
    /// `measure` at `at` on `channel`, segmented by the segment properties `segments` (a survey's)
    /// as `properties` has them.
    pub async fn new(
        store: &TenantStore,
        segments: &[String],
        measure: Measure,
        at: i64,
        channel: Channel,
        properties: &Properties,
    ) -> Result<Counted> {
        let mut values = Vec::with_capacity(segments.len());
        for property in segments {
            let value = match properties.0.get(property).filter(|v| !v.is_empty()) {
                Some(v) => Some((
                    blind(store, "segment_value", &format!("{property}\0{v}")).await?,
                    v.clone(),
                )),
                None => None,
            };
            values.push(SegmentValue {
                property_key: property_key(store, property).await?,
                value,
            });
        }
        Ok(Counted {
            measure,
            at,
            channel,
            segments: values,
        })
    }
}

/// The key part that names a segment property (blinded: a property's name is the tenant's).
pub async fn property_key(store: &TenantStore, property: &str) -> Result<String> {
    blind(store, "segment_property", property).await
}

async fn blind(store: &TenantStore, kind: &str, value: &str) -> Result<String> {
    let mut hex = store.crypto().blind_index(kind, value).await?;
    hex.truncate(BLIND_CHARS);
    Ok(hex)
}

/// The UTC day (days since 1970-01-01) and quarter hour of a time.
pub fn day_and_slot(at: i64) -> (i64, i64) {
    (at.div_euclid(DAY_SECONDS), at.rem_euclid(DAY_SECONDS) / SLOT_SECONDS)
}

/// How fine a counter item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A UTC month, keyed by its first day.
    Month,
    Day,
    /// The first halves of a day's hours (all channels).
    FirstHalves,
    /// A day's quarter hours, per channel.
    Detail,
}

/// The first day (days since 1970-01-01) of the UTC month holding `day`.
pub fn month_start(day: i64) -> i64 {
    let epoch = jiff::civil::date(1970, 1, 1);
    epoch
        .checked_add(jiff::Span::new().days(day))
        .map(|d| d.first_of_month())
        .and_then(|first| epoch.until((jiff::Unit::Day, first)))
        .map_or(day, |span| i64::from(span.get_days()))
}

/// The sort key of a counter item: month, day, first halves or detail (`M#`, `D#`, `E#`, `Q#`),
/// and of a segment's (`N#`, `G#`, `F#`, `H#` then the property); a segment's key ends with the
/// value's part.
fn sort_key(level: Level, day: i64, channel: Channel, segment: Option<&SegmentValue>) -> String {
    let channel = channel.as_str();
    let day = match level {
        Level::Month => format!("{:06}", month_start(day)),
        _ => format!("{day:06}"),
    };
    match (level, segment) {
        (Level::Month, None) => format!("M#{day}"),
        (Level::Day, None) => format!("D#{day}"),
        (Level::FirstHalves, None) => format!("E#{day}"),
        (Level::Detail, None) => format!("Q#{day}#{channel}"),
        (Level::Month, Some(s)) => format!("N#{}#{day}#{}", s.property_key, s.value_key()),
        (Level::Day, Some(s)) => format!("G#{}#{day}#{}", s.property_key, s.value_key()),
        (Level::FirstHalves, Some(s)) => format!("F#{}#{day}#{}", s.property_key, s.value_key()),
        (Level::Detail, Some(s)) => format!("H#{}#{day}#{channel}#{}", s.property_key, s.value_key()),
    }
}

/// The sort key range of `level`'s items from `first` to `last` day (months by their first day).
pub fn range(kind: RangeKind, level: Level, first: i64, last: i64) -> SortKey {
    let (low, high) = (format!("{first:06}"), format!("{last:06}"));
    let prefix = match (kind, level) {
        (RangeKind::Overall, Level::Month) => "M#".to_owned(),
        (RangeKind::Overall, Level::Day) => "D#".to_owned(),
        (RangeKind::Overall, Level::FirstHalves) => "E#".to_owned(),
        (RangeKind::Overall, Level::Detail) => "Q#".to_owned(),
        (RangeKind::Segment(p), Level::Month) => format!("N#{p}#"),
        (RangeKind::Segment(p), Level::Day) => format!("G#{p}#"),
        (RangeKind::Segment(p), Level::FirstHalves) => format!("F#{p}#"),
        (RangeKind::Segment(p), Level::Detail) => format!("H#{p}#"),
    };
    SortKey::Between(format!("{prefix}{low}"), format!("{prefix}{high}#~"))
}

/// Which counters a read selects.
#[derive(Clone, Copy, Debug)]
pub enum RangeKind<'a> {
    Overall,
    /// A segment property, by its key part.
    Segment(&'a str),
}

/// A counter item's parts: level, day (a month's first), channel (detail items) and value key
/// part (segment items).
pub fn parse_sort_key(sk: &str) -> Option<(Level, i64, Option<Channel>, Option<&str>)> {
    let parts: Vec<&str> = sk.split('#').collect();
    let (level, day, channel, value) = match parts.as_slice() {
        ["M", day] => (Level::Month, day, None, None),
        ["D", day] => (Level::Day, day, None, None),
        ["E", day] => (Level::FirstHalves, day, None, None),
        ["Q", day, channel] => (Level::Detail, day, Some(channel), None),
        ["N", _property, day, value] => (Level::Month, day, None, Some(value)),
        ["G", _property, day, value] => (Level::Day, day, None, Some(value)),
        ["F", _property, day, value] => (Level::FirstHalves, day, None, Some(value)),
        ["H", _property, day, channel, value] => (Level::Detail, day, Some(channel), Some(value)),
        _ => return None,
    };
    Some((
        level,
        day.parse().ok()?,
        match channel {
            Some(c) => match Channel::parse(c) {
                Ok(channel) => Some(channel),
                Err(e) => {
                    tracing::error!(error = %e, "a counter names no channel; not counted");
                    return None;
                }
            },
            None => None,
        },
        value.copied().filter(|v| *v != NO_VALUE),
    ))
}

/// The net change of counters a write makes: sort key → attribute → amount.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    changes: BTreeMap<String, BTreeMap<String, i64>>,
    /// Segment values the dictionary needs: (property key, value key) → value.
    values: BTreeMap<(String, String), String>,
}

impl Tally {
    /// What replacing `before` by `after` changes (either may be none).
    pub fn moved(before: Option<&Counted>, after: Option<&Counted>) -> Tally {
        let mut tally = Tally::default();
        if let Some(b) = before {
            tally.count(b, -1);
        }
        if let Some(a) = after {
            tally.count(a, 1);
        }
        tally.changes.retain(|_, attrs| {
            attrs.retain(|_, n| *n != 0);
            !attrs.is_empty()
        });
        tally
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Adds another write's changes (another survey's counters are kept apart by the caller).
    pub fn and(mut self, other: Tally) -> Tally {
        for (sk, attrs) in other.changes {
            let mine = self.changes.entry(sk).or_default();
            for (name, n) in attrs {
                *mine.entry(name).or_default() += n;
            }
        }
        self.values.extend(other.values);
        self.changes.retain(|_, attrs| {
            attrs.retain(|_, n| *n != 0);
            !attrs.is_empty()
        });
        self
    }

    fn count(&mut self, c: &Counted, n: i64) {
        let (day, slot) = day_and_slot(c.at);
        let code = c.measure.code();
        let mut add = |segment: Option<&SegmentValue>| {
            let by_channel = format!("{code}{}", channel_code(c.channel));
            let hour = slot * SLOT_SECONDS / 3600;
            let first_half = (slot * SLOT_SECONDS) % 3600 < 1800;
            let cells = [
                Some((Level::Month, by_channel.clone())),
                Some((Level::Day, by_channel)),
                Some((Level::Day, format!("{code}{HOUR_MARK}{hour}"))),
                first_half.then(|| (Level::FirstHalves, format!("{code}{FIRST_HALF_MARK}{hour}"))),
                Some((Level::Detail, format!("{code}{slot}"))),
            ];
            for (level, attr) in cells.into_iter().flatten() {
                let key = sort_key(level, day, c.channel, segment);
                *self.changes.entry(key).or_default().entry(attr).or_default() += n;
            }
        };
        add(None);
        for segment in &c.segments {
            add(Some(segment));
            if let Some((blind, value)) = &segment.value {
                self.values
                    .insert((segment.property_key.clone(), blind.clone()), value.clone());
            }
        }
    }

    /// The updates of this tally's counters in `shard` of `survey`.
    /// `marked`: the survey's mark stands for its overflow writes (`mark`); else each overflow
    /// item is indexed itself.
    fn ops(&self, tenant: &TenantId, survey: &str, shard: u8, now: i64, marked: bool) -> Result<Vec<TxOp>> {
        let pk = keys::counters_partition(tenant, survey, shard)?;
        self.changes
            .iter()
            .map(|(sk, attrs)| {
                let mut updates: Vec<Update> = attrs.iter().map(|(name, n)| Update::Add(name.clone(), *n)).collect();
                updates.push(Update::Add(WRITES.into(), 1));
                if matches!(parse_sort_key(sk), Some((Level::Day, ..))) {
                    updates.push(Update::Add(HOUR_WRITES.into(), 1));
                    updates.push(Update::Add(HALF_WRITES.into(), 1));
                    if first_halves_key(sk).is_some_and(|halves| self.changes.contains_key(&halves)) {
                        updates.push(Update::Add(HALF_ITEM_WRITES.into(), 1));
                    }
                }
                if shard != 0 {
                    updates.push(Update::Set(WRITTEN_AT.into(), now.into()));
                    if !marked {
                        // Indexed by the day of the write: compaction looks at the last few days'.
                        // (Where partitions are limited, each write would write the shared index
                        // too, thousands a second in a burst: the survey's mark stands for them.)
                        let today = now.div_euclid(DAY_SECONDS);
                        updates.push(Update::Set(attr::GSI1PK.into(), overflow_index(today, &pk).into()));
                        updates.push(Update::Set(attr::GSI1SK.into(), format!("{pk}|{sk}").into()));
                    }
                }
                Ok(TxOp::Update {
                    key: crate::store::Key::new(pk.clone(), sk.clone()),
                    updates,
                    condition: None,
                })
            })
            .collect()
    }
}

/// The sort key of the first-halves item beside a day item (`D#…` → `E#…`, `G#…` → `F#…`).
fn first_halves_key(day_key: &str) -> Option<String> {
    match day_key.split_once('#')? {
        ("D", rest) => Some(format!("E#{rest}")),
        ("G", rest) => Some(format!("F#{rest}")),
        _ => None,
    }
}

/// The days of `days` whose day items (of `day_items`) and first-halves items (`halves_items`,
/// read after them) disagree on how many writes they shared: a write fell between the two reads.
/// Summed over the shards (a fold moves the two items apart).
pub fn split_writes(day_items: &[Item], halves_items: &[Item], days: &BTreeSet<i64>) -> BTreeSet<i64> {
    let mut shared: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for item in day_items.iter().chain(halves_items) {
        let Some((level, day, _, value)) = parse_sort_key(&item.key.sk).filter(|k| days.contains(&k.1)) else {
            continue;
        };
        let side = match level {
            Level::Day => item.num(HALF_ITEM_WRITES).unwrap_or_default(),
            Level::FirstHalves => -item.num(WRITES).unwrap_or_default(),
            _ => continue,
        };
        *shared.entry((day, value.unwrap_or_default().to_owned())).or_default() += side;
    }
    shared
        .into_iter()
        .filter(|(_, difference)| *difference != 0)
        .map(|((day, _), _)| day)
        .collect()
}

/// The overflow index partition of a day's counters of a partition.
fn overflow_index(day: i64, pk: &str) -> String {
    let bucket = pk
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % OVERFLOW_BUCKETS;
    format!("{}{day:06}#{bucket}", keys::COUNTERS_OVERFLOW_PREFIX)
}

/// Makes sure the survey's mark says its overflow shards hold counts written `now` (indexed for
/// compaction by the day), written alone (never in an answer's transaction, where every process
/// writing the one item would make them conflict) unless this process wrote it in the last
/// minute. False when it could not be written: the write's overflow items index themselves.
async fn mark(store: &TenantStore, survey: &str, now: i64) -> Result<bool> {
    if with_load(store, survey, now, |load| load.marked_until > now) {
        return Ok(true);
    }
    let home = keys::counters_partition(store.tenant(), survey, 0)?;
    let today = now.div_euclid(DAY_SECONDS);
    let sk = format!("{MARK_PREFIX}{today:06}");
    let updates = [
        Update::Set(attr::GSI1PK.into(), overflow_index(today, &home).into()),
        Update::Set(attr::GSI1SK.into(), format!("{home}|{sk}").into()),
        Update::Set(WRITTEN_AT.into(), now.into()),
    ];
    match store.update(&crate::store::Key::new(home, sk), &updates, None).await {
        Ok(_) => {
            with_load(store, survey, now, |load| load.marked_until = now + HOT_FOR);
            Ok(true)
        }
        Err(Error::Throttled { .. } | Error::Unavailable { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs `ops` with the counters of `tally` for `survey` in one transaction: in the home shard,
/// or, when that meets contention (a conflicting write, a throttled partition) or the survey is
/// busy (`first_shard`), in an overflow shard. Other errors, including failed conditions, are
/// the caller's.
pub async fn transact(store: &TenantStore, survey: &str, ops: Vec<TxOp>, tally: &Tally) -> Result<()> {
    if tally.is_empty() {
        return store.transact(ops).await;
    }
    remember_values(store, survey, tally).await?;
    let shards = shards(store.spread().await?);
    let now = now_unix();
    let mut shard = first_shard(store, survey, now, shards)?;
    for attempt in 0..ATTEMPTS {
        let marked = shard != 0 && shards == LIMITED_SHARDS && mark(store, survey, now).await?;
        let all = [ops.clone(), tally.ops(store.tenant(), survey, shard, now, marked)?].concat();
        match store.transact(all).await {
            Err(Error::Throttled { .. }) if attempt + 1 < ATTEMPTS => {
                if shard == 0 && shards == LIMITED_SHARDS {
                    with_load(store, survey, now, |load| load.spread_until = now + HOT_FOR);
                }
                shard = overflow_shard(shards)?;
            }
            other => return other,
        }
    }
    Err(Error::ConditionFailed)
}

/// How busy a survey's counters are in this process.
#[derive(Default)]
struct Load {
    second: i64,
    writes: u32,
    spread_until: i64,
    /// Until when the survey's mark written by this process stands for its overflow writes.
    marked_until: i64,
}

/// Counter writes per survey (tenant and survey) in this process.
static LOAD: Mutex<Option<HashMap<String, Load>>> = Mutex::new(None);
const LOADS_KEPT: usize = 10_000;

/// Applies `change` to the survey's `Load` in this process.
fn with_load<T>(store: &TenantStore, survey: &str, now: i64, change: impl FnOnce(&mut Load) -> T) -> T {
    let mut loads = LOAD.lock().unwrap_or_else(|p| p.into_inner());
    let loads = loads.get_or_insert_with(HashMap::new);
    if loads.len() >= LOADS_KEPT {
        loads.retain(|_, load| load.second == now || load.spread_until > now);
    }
    change(loads.entry(format!("{}|{survey}", store.tenant())).or_default())
}

/// The shard a write of `survey`'s counters tries first: home, unless partitions are limited and
/// the survey is busy in this process (more than `HOT_WRITES_A_SECOND` writes this second, or its
/// home shard throttled lately), then any overflow shard.
fn first_shard(store: &TenantStore, survey: &str, now: i64, shards: u8) -> Result<u8> {
    if shards != LIMITED_SHARDS {
        return Ok(0);
    }
    let hot = with_load(store, survey, now, |load| {
        if load.second != now {
            load.second = now;
            load.writes = 0;
        }
        load.writes += 1;
        if load.writes > HOT_WRITES_A_SECOND {
            load.spread_until = now + HOT_FOR;
        }
        load.spread_until > now
    });
    if hot { overflow_shard(shards) } else { Ok(0) }
}

fn overflow_shard(shards: u8) -> Result<u8> {
    let mut byte = [0u8; 1];
    crate::crypto::fill_random(&mut byte)?;
    Ok(1 + byte[0] % (shards - 1))
}

/// Dictionary items already written by this process (tenant, survey, property, value keys).
static REMEMBERED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
const REMEMBERED_MAX: usize = 50_000;

/// Writes each segment value's dictionary item once: the value encrypted, under its blind key.
async fn remember_values(store: &TenantStore, survey: &str, tally: &Tally) -> Result<()> {
    for ((property, blind), value) in &tally.values {
        let key = keys::segment_value(store.tenant(), survey, property, blind)?;
        let id = format!("{}|{}", key.pk, key.sk);
        let known = REMEMBERED
            .lock()
            .map(|set| set.as_ref().is_some_and(|s| s.contains(&id)))
            .unwrap_or(false);
        if known {
            continue;
        }
        let item = Item::new(key.clone()).with("value", store.crypto().encrypt_str(&key, "value", value).await?);
        match store.put(item, Some(Condition::NotExists)).await {
            Ok(()) | Err(Error::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        if let Ok(mut set) = REMEMBERED.lock() {
            let set = set.get_or_insert_with(HashSet::new);
            if set.len() >= REMEMBERED_MAX {
                set.clear();
            }
            set.insert(id);
        }
    }
    Ok(())
}

/// The values of a segment property seen in `survey`: value key → value.
pub async fn segment_values(store: &TenantStore, survey: &str, property_key: &str) -> Result<BTreeMap<String, String>> {
    let pk = keys::counters_partition(store.tenant(), survey, 0)?;
    let items = store
        .query_all(Query::new(pk).prefix(format!("V#{property_key}#")).limit(1000))
        .await?;
    let mut out = BTreeMap::new();
    for item in items {
        if let (Some(blind), Some(value)) = (
            item.key.sk.rsplit('#').next(),
            store.crypto().open_str(&item, "value").await?,
        ) {
            out.insert(blind.to_owned(), value);
        }
    }
    Ok(out)
}

/// How many folds the survey's counters have seen: reads around which it changed may have seen
/// an item in both shards or in neither, and are made again.
pub async fn folds(store: &TenantStore, survey: &str) -> Result<i64> {
    let key = crate::store::Key::new(keys::counters_partition(store.tenant(), survey, 0)?, FOLDS);
    Ok(store.get(&key).await?.and_then(|i| i.num(WRITES)).unwrap_or_default())
}

/// The attributes of a day item a read needs: its counts by channel, its write counts, and the
/// counts of `hours`.
pub fn day_cells(hours: impl IntoIterator<Item = i64>) -> Vec<String> {
    let hours: Vec<i64> = hours.into_iter().collect();
    let mut names: Vec<String> = [WRITES, HOUR_WRITES, HALF_WRITES, HALF_ITEM_WRITES]
        .map(String::from)
        .to_vec();
    for measure in Measure::ALL {
        let code = measure.code();
        names.extend(CHANNELS.iter().map(|(_, channel)| format!("{code}{channel}")));
        names.extend(hours.iter().map(|hour| format!("{code}{HOUR_MARK}{hour}")));
    }
    names
}

/// Reads a survey's counter items of `sort` in every shard (the home one and the overflow ones),
/// with only the attributes `only` names when given.
pub async fn read(store: &TenantStore, survey: &str, sort: SortKey, only: Option<Vec<String>>) -> Result<Vec<Item>> {
    let queries = (0..shards(store.spread().await?))
        .map(|shard| {
            let sort = sort.clone();
            let only = only.clone();
            async move {
                let pk = keys::counters_partition(store.tenant(), survey, shard)?;
                let query = Query::new(pk).sort(sort).limit(1000);
                store
                    .query_all(match only {
                        Some(names) => query.only(names),
                        None => query,
                    })
                    .await
            }
        })
        .collect::<Vec<_>>();
    let pages = futures_util::future::try_join_all(queries).await?;
    Ok(pages.into_iter().flatten().collect())
}

/// Folds overflow counter items written in the last `days` days (but not in the last minute)
/// back into their home shard, each in a transaction conditional on the item being unchanged.
/// Returns how many moved. Reads stay exact whether or not this runs.
pub async fn compact(store: &dyn Store, now: i64, days: i64) -> Result<usize> {
    let today = now.div_euclid(DAY_SECONDS);
    let mut moved = 0;
    let partitions = ((today - days)..=today).flat_map(|day| {
        (0..OVERFLOW_BUCKETS).map(move |bucket| format!("{}{day:06}#{bucket}", keys::COUNTERS_OVERFLOW_PREFIX))
    });
    for partition in partitions {
        let mut after = None;
        loop {
            let page = store
                .query_index(&Query::new(partition.clone()).limit(100).after(after.take()))
                .await?;
            for item in &page.items {
                if item.key.sk.starts_with(MARK_PREFIX) {
                    moved += fold_marked(store, item, now).await?;
                    continue;
                }
                if item.num(WRITTEN_AT).unwrap_or_default() > now - 60 {
                    continue;
                }
                if fold_home(store, item).await? {
                    moved += 1;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Ok(moved)
}

/// Folds home what a survey's overflow shards hold (written more than a minute ago) for its
/// `mark`, and removes the mark once nothing is left and no process wrote it for two minutes.
async fn fold_marked(store: &dyn Store, mark: &Item, now: i64) -> Result<usize> {
    let Some((base, _)) = mark.key.pk.rsplit_once('#') else {
        return Ok(0);
    };
    let (mut moved, mut left) = (0, 0);
    for shard in 1..shards(store.spread().await?) {
        let query = Query::new(format!("{base}#{shard}")).limit(1000);
        let mut after = None;
        loop {
            let page = store.query(&query.clone().after(after.take())).await?;
            for item in &page.items {
                let recent = item.num(WRITTEN_AT).unwrap_or_default() > now - 60;
                if !recent && fold_home(store, item).await? {
                    moved += 1;
                } else {
                    left += 1;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    let written = mark.num(WRITTEN_AT).unwrap_or_default();
    if left == 0 && written <= now - 120 {
        match store.delete(&mark.key, Some(Condition::eq(WRITTEN_AT, written))).await {
            Ok(()) | Err(Error::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(moved)
}

async fn fold_home(store: &dyn Store, item: &Item) -> Result<bool> {
    let Some(home_pk) = item.key.pk.rsplit_once('#').map(|(base, _)| format!("{base}#0")) else {
        return Ok(false);
    };
    let mut updates: Vec<Update> = item
        .attrs
        .iter()
        .filter(|(name, _)| {
            parse_attr(name).is_some() || [WRITES, HOUR_WRITES, HALF_WRITES, HALF_ITEM_WRITES].contains(&name.as_str())
        })
        .filter_map(|(name, value)| match value {
            Value::N(n) => Some(Update::Add(name.clone(), *n)),
            _ => None,
        })
        .collect();
    if updates.is_empty() {
        updates.push(Update::Add(WRITES.into(), 0));
    }
    // Unchanged since read: the same write count and last write (an item made again after an
    // earlier fold starts counting anew, with a later time).
    let unchanged = Condition::And(vec![
        Condition::eq(WRITES, item.num(WRITES).unwrap_or_default()),
        Condition::eq(WRITTEN_AT, item.num(WRITTEN_AT).unwrap_or_default()),
    ]);
    let ops = vec![
        TxOp::Delete {
            key: item.key.clone(),
            condition: Some(unchanged),
        },
        TxOp::Update {
            key: crate::store::Key::new(home_pk.clone(), item.key.sk.clone()),
            updates,
            condition: None,
        },
        TxOp::Update {
            key: crate::store::Key::new(home_pk, FOLDS),
            updates: vec![Update::Add(WRITES.into(), 1)],
            condition: None,
        },
    ];
    match store.transact(ops).await {
        Ok(()) => Ok(true),
        Err(Error::TransactionCanceled(_) | Error::Throttled { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(measure: Measure, at: i64, value: Option<&str>) -> Counted {
        Counted {
            measure,
            at,
            channel: Channel::Email,
            segments: vec![SegmentValue {
                property_key: "plan".into(),
                value: value.map(|v| (format!("b{v}"), v.to_owned())),
            }],
        }
    }

    #[test]
    fn a_score_change_moves_one_count_and_an_unchanged_one_moves_none() {
        let at = 20_000 * DAY_SECONDS + 3_600;
        let same = Tally::moved(
            Some(&counted(Measure::Promoter, at, Some("pro"))),
            Some(&counted(Measure::Promoter, at, Some("pro"))),
        );
        assert!(same.is_empty());
        let moved = Tally::moved(
            Some(&counted(Measure::Promoter, at, Some("pro"))),
            Some(&counted(Measure::Detractor, at, Some("pro"))),
        );
        let day = &moved.changes["D#020000"];
        assert_eq!(
            moved.changes["M#019997"]["de"], 1,
            "2024-10-01 starts the month of 2024-10-04"
        );
        assert_eq!((day["pe"], day["de"]), (-1, 1));
        assert_eq!(moved.changes["Q#020000#email"]["d4"], 1);
        let first_half = &moved.changes["E#020000"];
        assert_eq!(
            (first_half["pF1"], first_half["dF1"]),
            (-1, 1),
            "01:00 is in 01:00–01:29"
        );
        let ops = moved.ops(&TenantId::generate(), "s", 0, 0, false).unwrap();
        let day_writes = ops.iter().find_map(|op| match op {
            TxOp::Update { key, updates, .. } if key.sk == "D#020000" => Some(updates.clone()),
            _ => None,
        });
        assert!(
            day_writes.unwrap().contains(&Update::Add(HALF_ITEM_WRITES.into(), 1)),
            "the day item counts the write its first halves had"
        );
        let later = Tally::moved(None, Some(&counted(Measure::Promoter, at + 1_800, None)));
        assert!(!later.changes.contains_key("E#020000"), "01:30 is in no first half");
        assert_eq!(later.changes["D#020000"]["pH1"], 1);
        let segment = &moved.changes["G#plan#020000#bpro"];
        assert_eq!((segment["pe"], segment["de"]), (-1, 1));
        assert_eq!(moved.changes["H#plan#020000#email#bpro"]["p4"], -1);
        let regrouped = Tally::moved(
            Some(&counted(Measure::Passive, at, Some("pro"))),
            Some(&counted(Measure::Passive, at, None)),
        );
        assert!(!regrouped.changes.contains_key("D#020000"), "the total is unchanged");
        assert_eq!(regrouped.changes["G#plan#020000#bpro"]["ne"], -1);
        assert_eq!(regrouped.changes["G#plan#020000#-"]["ne"], 1);
    }

    #[test]
    fn attributes_and_keys_parse_back() {
        assert_eq!(parse_attr("ps"), Some((Measure::Promoter, Cell::Day(Channel::Sms))));
        assert_eq!(parse_attr("aa"), Some((Measure::Answered, Cell::Day(Channel::Api))));
        assert_eq!(parse_attr("a95"), Some((Measure::Answered, Cell::Slot(95))));
        assert_eq!(parse_attr("a96"), None);
        assert_eq!(parse_attr("p"), None);
        assert_eq!(parse_attr("w"), None);
        assert_eq!(parse_attr("wh"), None);
        assert_eq!(parse_attr("pH23"), Some((Measure::Promoter, Cell::Hour(23))));
        assert_eq!(parse_attr("pH24"), None);
        assert_eq!(parse_attr("dF5"), Some((Measure::Detractor, Cell::FirstHalf(5))));
        assert_eq!(parse_attr("wf"), None);
        assert!(
            day_cells(0..24).len() <= crate::store::MAX_PROJECTED,
            "a day read by every hour stays a valid projection"
        );
        // A day item counts its hours only when every write to it did (else: its detail).
        let day = |w: i64, wh: Option<i64>| {
            let item = Item::new(crate::store::Key::new("T#x#S#s#AGG#0", "D#020000")).with(WRITES, w);
            match wh {
                Some(wh) => item.with(HOUR_WRITES, wh),
                None => item,
            }
        };
        assert!(hours_complete(&day(3, Some(3))));
        assert!(!hours_complete(&day(3, Some(2))));
        assert!(!hours_complete(&day(3, None)), "written before hours were counted");
        let halves = |wf: i64| day(3, Some(3)).with(HALF_WRITES, wf);
        assert!(half_hours_complete(&halves(3)));
        assert!(
            !half_hours_complete(&halves(2)),
            "written before half hours were counted"
        );
        assert_eq!(parse_sort_key("D#020000"), Some((Level::Day, 20_000, None, None)));
        assert_eq!(parse_sort_key("M#019997"), Some((Level::Month, 19_997, None, None)));
        assert_eq!(
            parse_sort_key("Q#020000#sms"),
            Some((Level::Detail, 20_000, Some(Channel::Sms), None))
        );
        assert_eq!(
            parse_sort_key("H#abc#020001#web#ff00"),
            Some((Level::Detail, 20_001, Some(Channel::Web), Some("ff00")))
        );
        assert_eq!(parse_sort_key("G#abc#020001#-"), Some((Level::Day, 20_001, None, None)));
        assert_eq!(
            parse_sort_key("E#020001"),
            Some((Level::FirstHalves, 20_001, None, None))
        );
        assert_eq!(
            parse_sort_key("F#abc#020001#ff00"),
            Some((Level::FirstHalves, 20_001, None, Some("ff00")))
        );
        assert_eq!((month_start(0), month_start(31), month_start(59)), (0, 31, 59));
        assert_eq!(month_start(20_000), 19_997);
        assert_eq!(day_and_slot(-1), (-1, 95));
    }

    #[test]
    fn a_write_between_a_day_and_its_first_halves_is_seen() {
        let item = |pk: &str, sk: &str, name: &str, n: i64| Item::new(crate::store::Key::new(pk, sk)).with(name, n);
        let days = BTreeSet::from([20_000, 20_001]);
        let day_items = [
            item("T#t#S#s#AGG#0", "D#020000", HALF_ITEM_WRITES, 2),
            item("T#t#S#s#AGG#2", "D#020000", HALF_ITEM_WRITES, 1),
            item("T#t#S#s#AGG#0", "D#020001", HALF_ITEM_WRITES, 4),
            item("T#t#S#s#AGG#0", "G#p#020001#b1", HALF_ITEM_WRITES, 1),
        ];
        let halves = [
            // Folded home before the day item's overflow copy: the sums still agree.
            item("T#t#S#s#AGG#0", "E#020000", WRITES, 3),
            // One write more than the day item had when it was read.
            item("T#t#S#s#AGG#0", "E#020001", WRITES, 5),
            item("T#t#S#s#AGG#0", "F#p#020001#b1", WRITES, 1),
        ];
        assert_eq!(split_writes(&day_items, &halves, &days), BTreeSet::from([20_001]));
        assert!(split_writes(&day_items, &halves[..1], &BTreeSet::from([20_000])).is_empty());
    }

    #[tokio::test]
    async fn a_stale_read_never_folds_an_item_made_again() {
        use crate::store::embedded::EmbeddedStore;
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
        let overflow = crate::store::Key::new("T#t#S#s#AGG#2", "D#020000");
        let item = |attr: &str, at: i64| {
            Item::new(overflow.clone())
                .with(attr, 1)
                .with(WRITES, 1)
                .with(WRITTEN_AT, at)
        };
        let stale = item("pe", 100);
        store.put(stale.clone(), None).await.unwrap();
        assert!(fold_home(&store, &stale).await.unwrap());
        // Contention makes the overflow item again, with the same write count, later.
        store.put(item("de", 200), None).await.unwrap();
        assert!(
            !fold_home(&store, &stale).await.unwrap(),
            "another compactor's stale copy"
        );
        let home = store
            .get(&crate::store::Key::new("T#t#S#s#AGG#0", "D#020000"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((home.num("pe"), home.num("de")), (Some(1), None));
        let again = store.get(&overflow).await.unwrap().unwrap();
        assert_eq!(again.num("de"), Some(1), "the new counts are still there");
        let folds = store
            .get(&crate::store::Key::new("T#t#S#s#AGG#0", FOLDS))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(folds.num(WRITES), Some(1));
    }
}
