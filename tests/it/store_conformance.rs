//! The `Store` conformance suite: every operation of the port, its conditions and its limits,
//! asserted identically on the embedded engine and on DynamoDB (moto).

use std::collections::BTreeMap;
use std::sync::Arc;

use ovation::Error;
use ovation::error::TxFailure;
use ovation::store::{
    BatchOp, Cmp, Condition, Item, Key, MAX_ITEM_BYTES, Position, Query, SortKey, Store, TxOp, Update, Value, now_unix,
};

use ovation::config::KeyCache;
use ovation::ids::TenantId;
use ovation::store::keys::tenant_partition;
use ovation::store::lease::Lease;

use crate::support::Engines;

on_every_engine!(
    values_round_trip,
    conditional_writes,
    updates_and_counters,
    concurrent_counter_adds_are_exact,
    concurrent_creates_admit_exactly_one,
    queries_select_sort_and_page,
    index_queries_follow_their_keys,
    transactions_are_all_or_nothing,
    batch_writes_span_chunks,
    expired_items_are_invisible,
    expired_items_do_not_linger_in_writes,
    bad_input_is_a_typed_error,
    a_repeated_write_is_not_a_conflict,
    a_lease_admits_its_own_repeat_only,
    spread_partitions_read_as_one,
);

/// Every item of a query, following `next` to the end.
async fn all(store: &dyn Store, q: Query, index: bool) -> Vec<Item> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let query = q.clone().after(after.take());
        let page = if index {
            store.query_index(&query).await
        } else {
            store.query(&query).await
        }
        .unwrap();
        assert!(page.items.len() <= q.limit as usize);
        out.extend(page.items);
        match page.next {
            Some(p) => after = Some(p),
            None => return out,
        }
    }
}

fn sks(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.sk.as_str()).collect()
}

/// The SDK repeats a write whose answer timed out although the write was made; the repeat of a
/// create or of a version's write must not turn it into a conflict, and a rival write must still be one.
async fn a_repeated_write_is_not_a_conflict(e: Engines) {
    let ctx = e.context(KeyCache::default());
    let tenant = TenantId::generate();
    let store = ctx.tenant_store(&tenant);
    let key = Key::new(tenant_partition(&tenant), "NEW#1");
    let item = Item::new(key.clone())
        .with("name", "first")
        .with("n", 7)
        .with("sealed", vec![1u8, 2, 3])
        .with_expiry(now_unix() + 3600);
    store.put_own(item.clone(), Condition::NotExists).await.unwrap();
    store.put_own(item.clone(), Condition::NotExists).await.unwrap();
    let other = Item::new(key.clone()).with("name", "second");
    let err = store.put_own(other, Condition::NotExists).await.unwrap_err();
    assert!(matches!(err, Error::ConditionFailed), "{err:?}");
    let changed = item.clone().with("n", 8);
    let err = store.put_own(changed, Condition::NotExists).await.unwrap_err();
    assert!(matches!(err, Error::ConditionFailed), "{err:?}");
    assert_eq!(
        store.get(&key).await.unwrap(),
        Some(item.clone()),
        "the first item stays"
    );

    // The next version of a versioned item, repeated; a rival change of the same version is refused.
    let next = item.clone().with("name", "renamed").with("version", 2);
    let read = || {
        Condition::Or(vec![
            Condition::eq("version", 1),
            Condition::AttrNotExists("version".into()),
        ])
    };
    store.put_own(next.clone(), read()).await.unwrap();
    store.put_own(next.clone(), read()).await.unwrap();
    let rival = item.with("name", "rival").with("version", 2);
    let err = store.put_own(rival, read()).await.unwrap_err();
    assert!(matches!(err, Error::ConditionFailed), "{err:?}");
    assert_eq!(store.get(&key).await.unwrap(), Some(next));
}

/// A claim repeated by the SDK (its first answer timed out) holds the lease it took; another
/// attempt is refused until the lease runs out, and ending it frees the item at once.
async fn a_lease_admits_its_own_repeat_only(e: Engines) {
    let s = e.store;
    let key = Key::new("T#A", "JOB#1");
    s.put(Item::new(key.clone()).with("status", "queued"), None)
        .await
        .unwrap();
    let now = now_unix();
    let claim = |lease: &Lease, at: i64| {
        let (s, key) = (s.clone(), key.clone());
        let (updates, condition) = (lease.take(), lease.free(at));
        async move { s.update(&key, &updates, Some(condition)).await.map(|_| ()) }
    };
    let first = Lease::new(now, 60);
    claim(&first, now).await.unwrap();
    claim(&first, now + 1).await.unwrap();
    let second = Lease::new(now + 1, 60);
    assert!(matches!(claim(&second, now + 1).await, Err(Error::ConditionFailed)));
    assert!(matches!(claim(&second, now + 60).await, Err(Error::ConditionFailed)));
    claim(&second, now + 61).await.unwrap();
    assert!(
        matches!(claim(&first, now + 61).await, Err(Error::ConditionFailed)),
        "the first lease ran out"
    );
    s.update(&key, &Lease::end(), None).await.unwrap();
    let third = Lease::new(now + 62, 60);
    claim(&third, now + 62).await.unwrap();
}

async fn values_round_trip(e: Engines) {
    let s = e.store;
    let key = Key::new("T#A", "ITEM#1");
    assert_eq!(s.get(&key).await.unwrap(), None);
    let item = Item::new(key.clone())
        .with("s", "håndværker ✓")
        .with("n", -42)
        .with("big", i64::MAX)
        .with("b", vec![0u8, 1, 255])
        .with("t", true)
        .with("l", Value::L(vec![Value::N(1), Value::S("x".into()), Value::Null]))
        .with("m", Value::M(BTreeMap::from([("k".to_owned(), Value::Bool(false))])))
        .with("null", Value::Null);
    s.put(item.clone(), None).await.unwrap();
    assert_eq!(s.get(&key).await.unwrap(), Some(item));
    s.delete(&key, None).await.unwrap();
    assert_eq!(s.get(&key).await.unwrap(), None);
    // Deleting what is not there is not an error, as in DynamoDB.
    s.delete(&key, None).await.unwrap();
}

async fn conditional_writes(e: Engines) {
    let s = e.store;
    let key = Key::new("T#A", "C");
    let first = Item::new(key.clone()).with("v", 1);
    s.put(first.clone(), Some(Condition::NotExists)).await.unwrap();
    let err = s
        .put(Item::new(key.clone()).with("v", 2), Some(Condition::NotExists))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConditionFailed), "{err:?}");
    assert_eq!(
        s.get(&key).await.unwrap(),
        Some(first),
        "a failed condition writes nothing"
    );

    let gt = |n: i64| Some(Condition::Compare("v".into(), Cmp::Gt, n.into()));
    s.put(Item::new(key.clone()).with("v", 3), gt(0)).await.unwrap();
    assert!(matches!(
        s.put(Item::new(key.clone()).with("v", 4), gt(5)).await,
        Err(Error::ConditionFailed)
    ));
    assert!(matches!(
        s.delete(&key, Some(Condition::eq("v", 99))).await,
        Err(Error::ConditionFailed)
    ));
    assert!(s.get(&key).await.unwrap().is_some());
    let either = Condition::Or(vec![Condition::eq("v", 99), Condition::AttrNotExists("gone".into())]);
    s.delete(&key, Some(either)).await.unwrap();
    assert!(matches!(
        s.delete(&key, Some(Condition::Exists)).await,
        Err(Error::ConditionFailed)
    ));
}

async fn updates_and_counters(e: Engines) {
    let s = e.store;
    let key = Key::new("T#A", "U");
    // An update creates the item when missing.
    let out = s
        .update(
            &key,
            &[Update::Set("name".into(), "x".into()), Update::Add("count".into(), 5)],
            None,
        )
        .await
        .unwrap();
    assert_eq!((out.str("name"), out.num("count")), (Some("x"), Some(5)));
    let out = s
        .update(
            &key,
            &[Update::Add("count".into(), -2), Update::Remove("name".into())],
            Some(Condition::Exists),
        )
        .await
        .unwrap();
    assert_eq!(out.num("count"), Some(3));
    assert_eq!(out.get("name"), None);
    assert_eq!(s.get(&key).await.unwrap(), Some(out));

    let err = s
        .update(&key, &[Update::Add("count".into(), 1)], Some(Condition::eq("count", 0)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConditionFailed));
    assert_eq!(
        s.get(&key).await.unwrap().unwrap().num("count"),
        Some(3),
        "unchanged after a failed condition"
    );

    let missing = Key::new("T#A", "NOPE");
    let err = s
        .update(&missing, &[Update::Add("c".into(), 1)], Some(Condition::Exists))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConditionFailed));
    assert_eq!(s.get(&missing).await.unwrap(), None);
}

async fn concurrent_counter_adds_are_exact(e: Engines) {
    let s = e.store;
    let key = Key::new("T#A", "COUNTER");
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let s = s.clone();
            let key = key.clone();
            tokio::spawn(async move { s.update(&key, &[Update::Add("n".into(), 1)], None).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.get(&key).await.unwrap().unwrap().num("n"), Some(24));
}

/// Many writers at once (sharing commits on the embedded engine): each create-if-absent of one
/// item but the first is refused, and the refused ones change nothing of the others' writes.
async fn concurrent_creates_admit_exactly_one(e: Engines) {
    let s = e.store;
    let contested = Key::new("T#A", "ONLY-ONE");
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            let contested = contested.clone();
            tokio::spawn(async move {
                let mine = Item::new(Key::new("T#A", format!("MINE#{i:02}"))).with("i", i);
                s.put(mine, Some(Condition::NotExists)).await.unwrap();
                let claim = Item::new(contested).with("winner", i);
                s.put(claim, Some(Condition::NotExists)).await.is_ok()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert!(s.get(&contested).await.unwrap().unwrap().num("winner").is_some());
    assert_eq!(
        all(s.as_ref(), Query::new("T#A").prefix("MINE#"), false).await.len(),
        16
    );
}

async fn queries_select_sort_and_page(e: Engines) {
    let s = e.store;
    let mut ops = Vec::new();
    for i in 1..=30 {
        ops.push(BatchOp::Put(
            Item::new(Key::new("T#A", format!("A#{i:03}"))).with("i", i),
        ));
    }
    for i in 1..=5 {
        ops.push(BatchOp::Put(Item::new(Key::new("T#A", format!("B#{i:03}")))));
        // A partition whose name extends the one queried must never leak in.
        ops.push(BatchOp::Put(Item::new(Key::new("T#AB", format!("A#{i:03}")))));
    }
    s.batch_write(ops).await.unwrap();

    let a = all(s.as_ref(), Query::new("T#A").prefix("A#").limit(7), false).await;
    assert_eq!(a.len(), 30);
    assert_eq!(a.first().unwrap().key.sk, "A#001");
    assert!(a.windows(2).all(|w| w[0].key.sk < w[1].key.sk), "ascending");
    assert!(a.iter().all(|i| i.key.pk == "T#A"));

    let back = all(s.as_ref(), Query::new("T#A").prefix("A#").limit(4).backward(), false).await;
    let mut reversed = sks(&a);
    reversed.reverse();
    assert_eq!(sks(&back), reversed);

    let everything = all(s.as_ref(), Query::new("T#A").limit(1000), false).await;
    assert_eq!(everything.len(), 35);

    let between = all(
        s.as_ref(),
        Query::new("T#A").sort(SortKey::Between("A#010".into(), "A#012".into())),
        false,
    )
    .await;
    assert_eq!(sks(&between), ["A#010", "A#011", "A#012"]);
    let at_least = all(
        s.as_ref(),
        Query::new("T#A").sort(SortKey::AtLeast("B#004".into())),
        false,
    )
    .await;
    assert_eq!(sks(&at_least), ["B#004", "B#005"]);
    let at_most = all(
        s.as_ref(),
        Query::new("T#A").sort(SortKey::AtMost("A#002".into())),
        false,
    )
    .await;
    assert_eq!(sks(&at_most), ["A#001", "A#002"]);

    let first = s.query(&Query::new("T#A").prefix("A#").limit(3)).await.unwrap();
    assert_eq!(sks(&first.items), ["A#001", "A#002", "A#003"]);
    let next = first.next.expect("more items follow");
    let second = s
        .query(&Query::new("T#A").prefix("A#").limit(3).after(Some(next)))
        .await
        .unwrap();
    assert_eq!(sks(&second.items), ["A#004", "A#005", "A#006"]);

    let foreign = Position {
        key: Key::new("T#B", "A#001"),
        index: None,
    };
    let err = s.query(&Query::new("T#A").after(Some(foreign))).await.unwrap_err();
    assert!(matches!(err, Error::InvalidCursor), "{err:?}");
    assert!(s.query(&Query::new("T#NONE")).await.unwrap().items.is_empty());

    // Only some attributes: the named ones that exist, the key always, and paging unchanged.
    let wide = |i: i64| {
        Item::new(Key::new("T#W", format!("W#{i:03}")))
            .with("pH23", i)
            .with("pe", 10 * i)
            .with("note", "not wanted")
            .with(
                "deep",
                Value::M(BTreeMap::from([("x".to_owned(), Value::L(vec![Value::N(1)]))])),
            )
    };
    s.batch_write((1..=5).map(|i| BatchOp::Put(wide(i))).collect())
        .await
        .unwrap();
    let only = |q: Query| q.only(["pe".to_owned(), "pH23".to_owned(), "absent".to_owned()]);
    let some = all(s.as_ref(), only(Query::new("T#W").limit(2)), false).await;
    assert_eq!(sks(&some), ["W#001", "W#002", "W#003", "W#004", "W#005"]);
    for (i, item) in (1..).zip(&some) {
        let names: Vec<&str> = item.attrs.keys().map(String::as_str).collect();
        assert_eq!(names, ["pH23", "pe"], "{item:?}");
        assert_eq!((item.num("pH23"), item.num("pe")), (Some(i), Some(10 * i)));
    }
    let whole = s.query(&Query::new("T#W").limit(1)).await.unwrap();
    assert_eq!(whole.items[0], wide(1), "without `only`, every attribute");
}

async fn index_queries_follow_their_keys(e: Engines) {
    let s = e.store;
    for i in 0..12 {
        let item = Item::new(Key::new(format!("T#A#S#{}", i % 3), format!("INV#{i:02}")))
            .with_index("DUE#202611220700", format!("{:02}#{i:02}", 12 - i));
        s.put(item, None).await.unwrap();
    }
    s.put(Item::new(Key::new("T#A#S#0", "INV#NOINDEX")), None)
        .await
        .unwrap();
    let due = all(s.as_ref(), Query::new("DUE#202611220700").limit(5), true).await;
    assert_eq!(due.len(), 12);
    let order: Vec<_> = due.iter().map(|i| i.str("gsi1sk").unwrap().to_owned()).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(due[0].key.sk, "INV#11");

    // Moving an item's index key moves it; removing it drops the item from the index.
    let k0 = Key::new("T#A#S#0", "INV#00");
    s.update(
        &k0,
        &[
            Update::Set("gsi1pk".into(), "DUE#202611220701".into()),
            Update::Set("gsi1sk".into(), "12#00".into()),
        ],
        None,
    )
    .await
    .unwrap();
    let k1 = Key::new("T#A#S#1", "INV#01");
    s.update(
        &k1,
        &[Update::Remove("gsi1pk".into()), Update::Remove("gsi1sk".into())],
        None,
    )
    .await
    .unwrap();
    assert_eq!(all(s.as_ref(), Query::new("DUE#202611220700"), true).await.len(), 10);
    let moved = all(s.as_ref(), Query::new("DUE#202611220701"), true).await;
    assert_eq!(moved.iter().map(|i| &i.key).collect::<Vec<_>>(), [&k0]);
    let backward = all(s.as_ref(), Query::new("DUE#202611220700").backward().limit(3), true).await;
    assert_eq!(backward.first().unwrap().key.sk, "INV#02");
    let prefix = all(s.as_ref(), Query::new("DUE#202611220700").prefix("01#"), true).await;
    assert_eq!(sks(&prefix), ["INV#11"]);
}

async fn transactions_are_all_or_nothing(e: Engines) {
    let s = e.store;
    let existing = Key::new("T#A", "X#EXISTING");
    s.put(Item::new(existing.clone()).with("v", 1), None).await.unwrap();
    let new_a = Key::new("T#A", "X#NEW-A");
    let create_and_count = || {
        vec![
            TxOp::Put {
                item: Item::new(new_a.clone()),
                condition: Some(Condition::NotExists),
            },
            TxOp::Update {
                key: existing.clone(),
                updates: vec![Update::Add("v".into(), 1)],
                condition: Some(Condition::Exists),
            },
        ]
    };
    // Two operations on one item are refused before anything is sent.
    let mut twice = create_and_count();
    twice.push(TxOp::Put {
        item: Item::new(existing.clone()).with("v", 100),
        condition: None,
    });
    assert!(matches!(s.transact(twice).await, Err(Error::Invalid { .. })));

    let mut failing = create_and_count();
    failing.push(TxOp::Check {
        key: Key::new("T#A", "X#MISSING"),
        condition: Condition::Exists,
    });
    match s.transact(failing).await {
        Err(Error::TransactionCanceled(reasons)) => {
            assert_eq!(
                reasons,
                vec![TxFailure {
                    index: 2,
                    reason: "ConditionalCheckFailed".into()
                }]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.get(&new_a).await.unwrap(),
        None,
        "nothing of a cancelled transaction is written"
    );
    assert_eq!(s.get(&existing).await.unwrap().unwrap().num("v"), Some(1));

    let mut passing = create_and_count();
    passing.push(TxOp::Delete {
        key: Key::new("T#A", "X#MISSING"),
        condition: None,
    });
    s.transact(passing).await.unwrap();
    assert!(s.get(&new_a).await.unwrap().is_some());
    assert_eq!(s.get(&existing).await.unwrap().unwrap().num("v"), Some(2));

    let hundred = (0..100)
        .map(|i| TxOp::Put {
            item: Item::new(Key::new("T#A", format!("H#{i:03}"))),
            condition: None,
        })
        .collect();
    s.transact(hundred).await.unwrap();
    assert_eq!(
        all(s.as_ref(), Query::new("T#A").prefix("H#").limit(1000), false)
            .await
            .len(),
        100
    );
    let too_many = (0..101)
        .map(|i| TxOp::Delete {
            key: Key::new("T#A", format!("H#{i:03}")),
            condition: None,
        })
        .collect();
    assert!(matches!(s.transact(too_many).await, Err(Error::Invalid { .. })));
}

async fn batch_writes_span_chunks(e: Engines) {
    let s = e.store;
    let puts = (0..60)
        .map(|i| BatchOp::Put(Item::new(Key::new("T#A", format!("BW#{i:03}"))).with("i", i)))
        .collect();
    s.batch_write(puts).await.unwrap();
    assert_eq!(
        all(s.as_ref(), Query::new("T#A").prefix("BW#").limit(1000), false)
            .await
            .len(),
        60
    );
    let deletes = (0..60)
        .filter(|i| i % 2 == 0)
        .map(|i| BatchOp::Delete(Key::new("T#A", format!("BW#{i:03}"))))
        .collect();
    s.batch_write(deletes).await.unwrap();
    let left = all(s.as_ref(), Query::new("T#A").prefix("BW#").limit(1000), false).await;
    assert_eq!(left.len(), 30);
    assert!(left.iter().all(|i| i.num("i").unwrap() % 2 == 1));
    let dup = vec![
        BatchOp::Delete(Key::new("T#A", "D")),
        BatchOp::Delete(Key::new("T#A", "D")),
    ];
    assert!(matches!(s.batch_write(dup).await, Err(Error::Invalid { .. })));
}

async fn expired_items_are_invisible(e: Engines) {
    let native_ttl = e.aws.is_some();
    let s = e.store;
    let now = now_unix();
    let gone = Key::new("T#A", "TTL#GONE");
    let live = Key::new("T#A", "TTL#LIVE");
    s.put(Item::new(gone.clone()).with_expiry(now - 10), None)
        .await
        .unwrap();
    s.put(Item::new(live.clone()).with_expiry(now + 3600), None)
        .await
        .unwrap();
    assert_eq!(s.get(&gone).await.unwrap(), None);
    assert!(s.get(&live).await.unwrap().is_some());
    let listed = all(s.as_ref(), Query::new("T#A").prefix("TTL#"), false).await;
    assert_eq!(sks(&listed), ["TTL#LIVE"]);
    // An expired item does not block a create-if-absent.
    s.put(Item::new(gone.clone()).with("v", 1), Some(Condition::NotExists))
        .await
        .unwrap();
    assert!(s.get(&gone).await.unwrap().is_some());
    s.put(Item::new(gone.clone()).with_expiry(now - 1), None).await.unwrap();
    let swept = s.sweep_expired().await.unwrap();
    // The embedded engine sweeps; DynamoDB's own TTL deletes in the background.
    assert_eq!(swept, if native_ttl { 0 } else { 1 });
    assert_eq!(s.get(&gone).await.unwrap(), None);
    assert!(s.get(&live).await.unwrap().is_some(), "the sweep keeps live items");
}

/// An expired item that the engine has not removed yet behaves as missing for every write, as
/// it does for reads: counters start afresh, conditions see no attributes.
async fn expired_items_do_not_linger_in_writes(e: Engines) {
    let s = e.store;
    let old = now_unix() - 10;
    let counter = Key::new("T#A", "TTL#COUNTER");
    s.put(
        Item::new(counter.clone())
            .with("n", 5)
            .with("note", "old")
            .with_expiry(old),
        None,
    )
    .await
    .unwrap();
    let out = s.update(&counter, &[Update::Add("n".into(), 1)], None).await.unwrap();
    assert_eq!(
        out,
        Item::new(counter.clone()).with("n", 1),
        "a fresh item, not the expired one"
    );

    let flagged = Key::new("T#A", "TTL#FLAGGED");
    let expired = || Item::new(flagged.clone()).with("flag", true).with_expiry(old);
    let has_flag = || Some(Condition::AttrExists("flag".into()));
    s.put(expired(), None).await.unwrap();
    assert!(matches!(
        s.put(Item::new(flagged.clone()), has_flag()).await,
        Err(Error::ConditionFailed)
    ));
    s.put(expired(), None).await.unwrap();
    assert!(matches!(
        s.delete(&flagged, has_flag()).await,
        Err(Error::ConditionFailed)
    ));
    s.put(expired(), None).await.unwrap();
    let err = s
        .update(&flagged, &[Update::Set("x".into(), 1.into())], has_flag())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConditionFailed), "{err:?}");
    s.put(expired(), None).await.unwrap();
    let check = vec![TxOp::Check {
        key: flagged.clone(),
        condition: Condition::AttrExists("flag".into()),
    }];
    assert!(matches!(s.transact(check).await, Err(Error::TransactionCanceled(_))));
    s.put(expired(), None).await.unwrap();
    let count = vec![TxOp::Update {
        key: flagged.clone(),
        updates: vec![Update::Add("n".into(), 1)],
        condition: None,
    }];
    s.transact(count).await.unwrap();
    assert_eq!(
        s.get(&flagged).await.unwrap(),
        Some(Item::new(flagged.clone()).with("n", 1))
    );
}

async fn bad_input_is_a_typed_error(e: Engines) {
    let s: Arc<dyn Store> = e.store;
    let big = Item::new(Key::new("T#A", "BIG")).with("blob", vec![7u8; MAX_ITEM_BYTES + 1]);
    assert!(matches!(s.put(big, None).await, Err(Error::ItemTooLarge { .. })));
    assert!(matches!(s.get(&Key::new("", "x")).await, Err(Error::Invalid { .. })));
    assert!(matches!(
        s.get(&Key::new("T#A", "a\u{0}b")).await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        s.query(&Query::new("T#A").limit(0)).await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        s.query(&Query::new("T#A").limit(1001)).await,
        Err(Error::Invalid { .. })
    ));
    let reserved = Item::new(Key::new("T#A", "R")).with("pk", "T#B");
    assert!(matches!(s.put(reserved, None).await, Err(Error::Invalid { .. })));
    let key = Key::new("T#A", "S");
    s.put(Item::new(key.clone()).with("s", "text"), None).await.unwrap();
    let err = s.update(&key, &[Update::Add("s".into(), 1)], None).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(matches!(s.update(&key, &[], None).await, Err(Error::Invalid { .. })));
    let empty_and = Some(Condition::And(vec![]));
    assert!(matches!(
        s.put(Item::new(key.clone()), empty_and).await,
        Err(Error::Invalid { .. })
    ));
    assert_eq!(
        s.get(&key).await.unwrap().unwrap().str("s"),
        Some("text"),
        "refused writes change nothing"
    );
}

/// A workspace's busiest partitions (responses here, and their index by update) are spread over
/// shards on DynamoDB: every read, page and write sees each of them as one partition.
async fn spread_partitions_read_as_one(e: Engines) {
    let s = e.store;
    let (r, ru) = ("T#A#R", "T#A#RU");
    let item = |i: i64| {
        Item::new(Key::new(r, format!("R#{i:03}")))
            .with("i", i)
            .with_index(ru, format!("{:03}#{i:03}", (i * 7) % 10))
    };
    s.batch_write((1..=60).map(|i| BatchOp::Put(item(i))).collect())
        .await
        .unwrap();
    s.put(Item::new(Key::new("T#A#RX", "R#001")), None).await.unwrap();
    let expected: Vec<String> = (1..=60).map(|i| format!("R#{i:03}")).collect();
    for limit in [7, 100] {
        let forward = all(s.as_ref(), Query::new(r).limit(limit), false).await;
        assert_eq!(sks(&forward), expected, "forward, {limit} a page");
        assert!(forward.iter().all(|i| i.key.pk == r && i.str("gsi1pk") == Some(ru)));
        let mut backward = all(s.as_ref(), Query::new(r).backward().limit(limit), false).await;
        backward.reverse();
        assert_eq!(sks(&backward), expected, "backward, {limit} a page");
    }
    let between = all(
        s.as_ref(),
        Query::new(r)
            .sort(SortKey::Between("R#010".into(), "R#013".into()))
            .limit(2),
        false,
    )
    .await;
    assert_eq!(sks(&between), ["R#010", "R#011", "R#012", "R#013"]);
    let newest = s.query(&Query::new(r).backward().limit(1)).await.unwrap();
    assert_eq!(sks(&newest.items), ["R#060"]);
    let first = s.query(&Query::new(r).limit(3)).await.unwrap();
    let next = first.next.clone().expect("more follow");
    assert_eq!(next.key.pk, r, "a position names the partition queried");
    let second = s.query(&Query::new(r).limit(60).after(Some(next))).await.unwrap();
    assert_eq!(
        second.items.first().unwrap().key.sk,
        format!("R#{:03}", first.items.len() + 1)
    );

    // The index: ordered by its sort key, then the item's, across shards.
    let by_update = all(s.as_ref(), Query::new(ru).limit(9), true).await;
    let order: Vec<(String, String)> = by_update
        .iter()
        .map(|i| (i.str("gsi1sk").unwrap().to_owned(), i.key.sk.clone()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!((order.len(), &order), (60, &sorted));
    assert!(by_update.iter().all(|i| i.key.pk == r && i.str("gsi1pk") == Some(ru)));

    // Writes find their item: a condition, an update moving its index key, a transaction, a delete.
    let k = Key::new(r, "R#005");
    assert!(matches!(
        s.put(item(5), Some(Condition::NotExists)).await,
        Err(Error::ConditionFailed)
    ));
    let updated = s
        .update(
            &k,
            &[
                Update::Add("i".into(), 100),
                Update::Set("gsi1pk".into(), ru.into()),
                Update::Set("gsi1sk".into(), "999#005".into()),
            ],
            Some(Condition::Exists),
        )
        .await
        .unwrap();
    assert_eq!(
        (updated.key.pk.as_str(), updated.num("i"), updated.str("gsi1pk")),
        (r, Some(105), Some(ru))
    );
    let last = s.query_index(&Query::new(ru).backward().limit(1)).await.unwrap();
    assert_eq!(sks(&last.items), ["R#005"]);
    s.transact(vec![
        TxOp::Delete {
            key: k.clone(),
            condition: Some(Condition::Exists),
        },
        TxOp::Check {
            key: Key::new(r, "R#006"),
            condition: Condition::Exists,
        },
        TxOp::Put {
            item: item(61),
            condition: Some(Condition::NotExists),
        },
    ])
    .await
    .unwrap();
    assert!(s.get(&k).await.unwrap().is_none());
    assert_eq!(s.get(&Key::new(r, "R#061")).await.unwrap().unwrap().num("i"), Some(61));
    assert_eq!(all(s.as_ref(), Query::new(r).limit(13), false).await.len(), 60);
    assert_eq!(all(s.as_ref(), Query::new(ru).limit(13), true).await.len(), 60);
}

/// A new table spreads a workspace's busiest partitions; a table that earlier versions wrote
/// (something in its system partition, as every running stack's scheduler writes each minute)
/// keeps them whole, so its items stay where they are. Either is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_table_is_spread_and_an_older_one_stays_whole() {
    use ovation::store::dynamo::DynamoStore;
    use ovation::store::keys;
    if !crate::support::emulator_available() {
        return;
    }
    let config = crate::support::patient_aws_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = |name: &str| format!("layout-{name}-{}", ovation::ids::new_id().to_lowercase());
    let (new, old, late) = (table("new"), table("old"), table("late"));
    // Opening calls nothing (a function's init makes no round trip); a first call that fails, here
    // on a table that does not exist yet, leaves the layout to be read by the next call.
    let early = DynamoStore::open(client.clone(), &late);
    let missing = early.get(&Key::new(keys::SYSTEM_PARTITION, "X")).await;
    assert!(
        matches!(missing, Err(ovation::Error::Unavailable { .. })),
        "{missing:?}"
    );
    ovation::provision::create_table(&client, &late).await.unwrap();
    assert_eq!(
        early.spread().await.unwrap().workspace_shards,
        keys::Spread::LIMITED.workspace_shards
    );
    for name in [&new, &old] {
        ovation::provision::create_table(&client, name).await.unwrap();
    }
    let older = DynamoStore::new(client.clone(), &old);
    older
        .put(
            Item::new(Key::new(keys::SYSTEM_PARTITION, "SCHEDULER")).with("minute", 1),
            None,
        )
        .await
        .unwrap();

    let response = Key::new("T#A#R", "R#2");
    let shards = keys::Spread::LIMITED.workspace_shards;
    let shard = keys::shard_of(&response.sk, shards);
    assert_ne!(shard, 0, "an id whose shard is not the partition's own name");
    for (name, expected) in [(&new, shards), (&old, 1)] {
        let store = DynamoStore::open(client.clone(), name);
        assert_eq!(store.spread().await.unwrap().workspace_shards, expected, "{name}");
        store.put(Item::new(response.clone()), None).await.unwrap();
        let raw = DynamoStore::new(client.clone(), name);
        let spread = Key::new(keys::workspace_shard(&response.pk, shard), response.sk.clone());
        let (whole, sharded) = (raw.get(&response).await.unwrap(), raw.get(&spread).await.unwrap());
        assert_eq!(
            (whole.is_some(), sharded.is_some()),
            (expected == 1, expected > 1),
            "{name}"
        );
        // Opened again, whatever its system partition holds now: the same layout.
        let again = DynamoStore::open(client.clone(), name);
        assert_eq!(again.spread().await.unwrap().workspace_shards, expected);
        assert!(again.get(&response).await.unwrap().is_some());
    }
}
