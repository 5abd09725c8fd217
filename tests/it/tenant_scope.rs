//! Tenant isolation (invariant 1): a tenant-scoped handle refuses every key outside its tenant
//! before any I/O, and one tenant's cursors are useless to another. Tried on every engine.

use ovation::Error;
use ovation::config::KeyCache;
use ovation::ids::TenantId;
use ovation::store::keys::{SYSTEM_PARTITION, tenant_partition, tenant_sub_partition};
use ovation::store::{BatchOp, Condition, Item, Key, Query, TxOp, Update};

use crate::support::Engines;

on_every_engine!(
    escapes_are_refused_before_any_write,
    cursors_do_not_cross_tenants,
    shared_index_shows_own_items_only
);

fn outside(r: Result<impl std::fmt::Debug, Error>) {
    assert!(matches!(r, Err(Error::OutsideTenant)), "{r:?}");
}

async fn escapes_are_refused_before_any_write(e: Engines) {
    let ctx = e.context(KeyCache::default());
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let store_a = ctx.tenant_store(&a);
    let b_key = Key::new(tenant_partition(&b), "SECRET");
    ctx.store
        .put(Item::new(b_key.clone()).with("v", "b's"), None)
        .await
        .unwrap();

    let foreign_keys = [
        b_key.clone(),
        Key::new(tenant_sub_partition(&b, &["P", "1"]).unwrap(), "PERSON"),
        Key::new(SYSTEM_PARTITION, "X"),
        // Prefix tricks: the tenant id with something glued on, another case, another prefix.
        Key::new(format!("{}X", tenant_partition(&a)), "X"),
        Key::new(format!("t#{a}"), "X"),
        Key::new(format!("SLUG#{a}"), "TENANT"),
    ];
    for key in &foreign_keys {
        outside(store_a.get(key).await);
        outside(store_a.put(Item::new(key.clone()).with("v", "a's"), None).await);
        outside(
            store_a
                .update(key, &[Update::Set("v".into(), "a's".into())], None)
                .await,
        );
        outside(store_a.delete(key, None).await);
        outside(store_a.query(Query::new(key.pk.clone()), None).await);
        let own = Key::new(tenant_partition(&a), "MINE");
        outside(
            store_a
                .transact(vec![
                    TxOp::Put {
                        item: Item::new(own.clone()),
                        condition: None,
                    },
                    TxOp::Delete {
                        key: key.clone(),
                        condition: None,
                    },
                ])
                .await,
        );
        outside(
            store_a
                .batch_write(vec![BatchOp::Put(Item::new(own.clone())), BatchOp::Delete(key.clone())])
                .await,
        );
        assert_eq!(
            ctx.store.get(&own).await.unwrap(),
            None,
            "nothing of a refused transaction or batch is written"
        );
    }
    // An index entry may not point into another tenant's index partition.
    let own = Key::new(tenant_partition(&a), "IDX");
    outside(
        store_a
            .put(Item::new(own.clone()).with_index(tenant_partition(&b), "x"), None)
            .await,
    );
    outside(
        store_a
            .update(&own, &[Update::Set("gsi1pk".into(), tenant_partition(&b).into())], None)
            .await,
    );
    outside(store_a.query_index(Query::new(tenant_partition(&b)), None).await);
    assert_eq!(ctx.store.get(&b_key).await.unwrap().unwrap().str("v"), Some("b's"));

    // The tenant's own partitions work.
    let mine = Key::new(tenant_sub_partition(&a, &["P", "1"]).unwrap(), "PERSON");
    store_a
        .put(Item::new(mine.clone()).with("v", 1), Some(Condition::NotExists))
        .await
        .unwrap();
    assert_eq!(store_a.get(&mine).await.unwrap().unwrap().num("v"), Some(1));
}

async fn cursors_do_not_cross_tenants(e: Engines) {
    let ctx = e.context(KeyCache::default());
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let (store_a, store_b) = (ctx.tenant_store(&a), ctx.tenant_store(&b));
    for t in [&a, &b] {
        let ops = (0..6)
            .map(|i| BatchOp::Put(Item::new(Key::new(tenant_partition(t), format!("R#{i}")))))
            .collect();
        ctx.store.batch_write(ops).await.unwrap();
    }
    let q_a = Query::new(tenant_partition(&a)).prefix("R#").limit(2);
    let first = store_a.query(q_a.clone(), None).await.unwrap();
    let cursor = first.cursor.expect("a second page");
    let second = store_a.query(q_a.clone(), Some(&cursor)).await.unwrap();
    assert_eq!(second.items[0].key.sk, "R#2");

    // B presents A's cursor on B's own partition: the seal is A's, so it is refused.
    let q_b = Query::new(tenant_partition(&b)).prefix("R#").limit(2);
    assert!(matches!(
        store_b.query(q_b, Some(&cursor)).await,
        Err(Error::InvalidCursor)
    ));
    // A tampered cursor, and A's cursor on another query of A's, are refused too.
    let mut bytes = cursor.clone().into_bytes();
    bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert!(matches!(
        store_a.query(q_a.clone(), Some(&tampered)).await,
        Err(Error::InvalidCursor)
    ));
    assert!(matches!(
        store_a.query(q_a.clone().backward(), Some(&cursor)).await,
        Err(Error::InvalidCursor)
    ));
    assert!(matches!(
        store_a.query(q_a, Some("not-a-cursor")).await,
        Err(Error::InvalidCursor)
    ));
}

async fn shared_index_shows_own_items_only(e: Engines) {
    let ctx = e.context(KeyCache::default());
    let (a, b) = (TenantId::generate(), TenantId::generate());
    for (t, n) in [(&a, 3), (&b, 4)] {
        let store = ctx.tenant_store(t);
        for i in 0..n {
            let key = Key::new(tenant_sub_partition(t, &["S", "1"]).unwrap(), format!("INV#{i}"));
            store
                .put(Item::new(key).with_index("DUE#202611220800", format!("{t}#{i}")), None)
                .await
                .unwrap();
        }
    }
    let seen = ctx
        .tenant_store(&a)
        .query_index(Query::new("DUE#202611220800").limit(100), None)
        .await
        .unwrap();
    assert_eq!(seen.items.len(), 3);
    assert!(seen.items.iter().all(|i| i.key.pk.contains(a.as_str())));
}
