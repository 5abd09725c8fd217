//! Envelope encryption (invariant 2) on both keyrings (local master key; KMS on moto): round
//! trips, tampering, ciphertexts moved between attributes, items and tenants, the wrong
//! encryption context, rotation, crypto-shredding, blind indexes, and the key cache's bounds.

use std::time::Duration;

use ovation::Error;
use ovation::config::KeyCache;
use ovation::crypto::Keyring;
use ovation::ids::TenantId;
use ovation::store::Key;
use ovation::store::keys::tenant_sub_partition;

use crate::support::Engines;

on_every_engine!(
    fields_round_trip_and_resist_tampering,
    ciphertexts_are_bound_to_tenant_item_and_attribute,
    wrapped_keys_need_the_right_context,
    rotation_keeps_old_data_readable,
    shredding_makes_data_unreadable_everywhere,
    blind_indexes_are_stable_and_separate,
    one_keyring_call_per_cache_lifetime,
);

fn person(t: &TenantId, id: &str) -> Key {
    Key::new(tenant_sub_partition(t, &["P", id]).unwrap(), "PERSON")
}

fn undecryptable<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::Undecryptable)), "{r:?}");
}

async fn fields_round_trip_and_resist_tampering(e: Engines) {
    let ctx = e.context(KeyCache::default());
    let t = TenantId::generate();
    let c = ctx.crypto(&t);
    let key = person(&t, "1");
    for text in ["", "a@example.com", "Ærlig talt – 😀", &"x".repeat(10_000)] {
        let sealed = c.encrypt_str(&key, "email", text).await.unwrap();
        assert!(!sealed.windows(text.len().max(1)).any(|w| w == text.as_bytes()) || text.is_empty());
        assert_eq!(c.decrypt_str(&key, "email", &sealed).await.unwrap(), text);
    }
    let sealed = c.encrypt_str(&key, "email", "a@example.com").await.unwrap();
    assert_ne!(
        sealed,
        c.encrypt_str(&key, "email", "a@example.com").await.unwrap(),
        "random nonces"
    );
    // Flip one bit anywhere: format byte, key version, nonce, body, tag.
    for at in [0, 2, 6, 20, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[at] ^= 0x01;
        undecryptable(c.decrypt(&key, "email", &bad).await);
    }
    undecryptable(c.decrypt(&key, "email", &sealed[..10]).await);
    undecryptable(c.decrypt(&key, "email", &[]).await);
}

async fn ciphertexts_are_bound_to_tenant_item_and_attribute(e: Engines) {
    let ctx = e.context(KeyCache::default());
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let key = person(&a, "1");
    let sealed = ctx
        .crypto(&a)
        .encrypt_str(&key, "email", "a@example.com")
        .await
        .unwrap();
    undecryptable(ctx.crypto(&a).decrypt(&key, "phone", &sealed).await);
    undecryptable(ctx.crypto(&a).decrypt(&person(&a, "2"), "email", &sealed).await);
    // Moved to tenant B, even at "the same" key: B's key does not open it.
    ctx.crypto(&b)
        .encrypt_str(&person(&b, "1"), "email", "b@example.com")
        .await
        .unwrap();
    undecryptable(ctx.crypto(&b).decrypt(&key, "email", &sealed).await);
    undecryptable(ctx.crypto(&b).decrypt(&person(&b, "1"), "email", &sealed).await);
}

async fn wrapped_keys_need_the_right_context(e: Engines) {
    let keyring: &dyn Keyring = e.keyring.as_ref();
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let key = keyring.generate_data_key(&a).await.unwrap();
    assert_eq!(
        *keyring.decrypt_data_key(&a, &key.wrapped).await.unwrap(),
        *key.plaintext
    );
    undecryptable(keyring.decrypt_data_key(&b, &key.wrapped).await);
    let mut bad = key.wrapped.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    undecryptable(keyring.decrypt_data_key(&a, &bad).await);
}

async fn rotation_keeps_old_data_readable(e: Engines) {
    let ctx = e.context(KeyCache::default());
    let t = TenantId::generate();
    let c = ctx.crypto(&t);
    let key = person(&t, "1");
    let old = c.encrypt_str(&key, "name", "Old Name").await.unwrap();
    assert_eq!(ctx.keys.rotate(&t).await.unwrap(), 2);
    let new = c.encrypt_str(&key, "name", "New Name").await.unwrap();
    assert_eq!(&old[1..5], &1u32.to_be_bytes(), "key version header");
    assert_eq!(&new[1..5], &2u32.to_be_bytes());
    // A fresh process (no cache) reads both.
    let fresh = e.context(KeyCache::default());
    assert_eq!(
        fresh.crypto(&t).decrypt_str(&key, "name", &old).await.unwrap(),
        "Old Name"
    );
    assert_eq!(
        fresh.crypto(&t).decrypt_str(&key, "name", &new).await.unwrap(),
        "New Name"
    );
    assert_eq!(fresh.keys.current(&t).await.unwrap().version, 2);
}

async fn shredding_makes_data_unreadable_everywhere(e: Engines) {
    let ctx = e.context(KeyCache::default());
    let (t, other) = (TenantId::generate(), TenantId::generate());
    let key = person(&t, "1");
    let v1 = ctx
        .crypto(&t)
        .encrypt_str(&key, "email", "gone@example.com")
        .await
        .unwrap();
    ctx.keys.rotate(&t).await.unwrap();
    let v2 = ctx
        .crypto(&t)
        .encrypt_str(&key, "email", "gone@example.com")
        .await
        .unwrap();
    let kept = ctx
        .crypto(&other)
        .encrypt_str(&person(&other, "1"), "email", "kept@example.com")
        .await
        .unwrap();
    assert_eq!(ctx.keys.shred(&t).await.unwrap(), 2);
    for sealed in [&v1, &v2] {
        undecryptable(ctx.crypto(&t).decrypt(&key, "email", sealed).await);
        undecryptable(
            e.context(KeyCache::default())
                .crypto(&t)
                .decrypt(&key, "email", sealed)
                .await,
        );
    }
    // A shredded tenant never silently gets a new key, in this process or another.
    undecryptable(ctx.crypto(&t).encrypt(&key, "email", b"new").await);
    undecryptable(
        e.context(KeyCache::default())
            .crypto(&t)
            .encrypt(&key, "email", b"new")
            .await,
    );
    assert_eq!(
        ctx.crypto(&other)
            .decrypt_str(&person(&other, "1"), "email", &kept)
            .await
            .unwrap(),
        "kept@example.com"
    );
}

async fn blind_indexes_are_stable_and_separate(e: Engines) {
    let ctx = e.context(KeyCache::default());
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let index = ctx.crypto(&a).blind_index("email", "bob@example.com").await.unwrap();
    assert_eq!(index.len(), 64);
    assert!(!index.contains("bob"));
    assert_eq!(
        index,
        ctx.crypto(&a).blind_index("email", "bob@example.com").await.unwrap()
    );
    assert_ne!(
        index,
        ctx.crypto(&a).blind_index("phone", "bob@example.com").await.unwrap()
    );
    assert_ne!(
        index,
        ctx.crypto(&a).blind_index("email", "bob@example.org").await.unwrap()
    );
    assert_ne!(
        index,
        ctx.crypto(&b).blind_index("email", "bob@example.com").await.unwrap()
    );
    ctx.keys.rotate(&a).await.unwrap();
    let fresh = e.context(KeyCache::default());
    assert_eq!(
        index,
        fresh.crypto(&a).blind_index("email", "bob@example.com").await.unwrap(),
        "survives rotation"
    );
}

async fn one_keyring_call_per_cache_lifetime(e: Engines) {
    let t = TenantId::generate();
    let key = person(&t, "1");
    let ctx = e.context(KeyCache::default());
    // Concurrent first uses of a new tenant make its key once.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = ctx.crypto(&t);
            let key = key.clone();
            tokio::spawn(async move { c.encrypt(&key, "email", b"x").await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(e.keyring.calls(), 1, "one GenerateDataKey");
    for _ in 0..10_000 {
        ctx.crypto(&t)
            .encrypt(&key, "email", b"someone@example.com")
            .await
            .unwrap();
    }
    assert_eq!(e.keyring.calls(), 1, "10,000 encryptions reuse the cached key");

    // A process with a 5-use cache unwraps again after every 5 uses.
    let bounded = e.context(KeyCache {
        max_age: Duration::from_secs(300),
        max_uses: 5,
    });
    let before = e.keyring.calls();
    for _ in 0..12 {
        bounded.crypto(&t).encrypt(&key, "email", b"x").await.unwrap();
    }
    assert_eq!(e.keyring.calls() - before, 3);
    // And one with a 50 ms lifetime unwraps again once it has passed.
    let short = e.context(KeyCache {
        max_age: Duration::from_millis(50),
        max_uses: 1_000_000,
    });
    let before = e.keyring.calls();
    short.crypto(&t).encrypt(&key, "email", b"x").await.unwrap();
    short.crypto(&t).encrypt(&key, "email", b"x").await.unwrap();
    assert_eq!(e.keyring.calls() - before, 1);
    tokio::time::sleep(Duration::from_millis(80)).await;
    short.crypto(&t).encrypt(&key, "email", b"x").await.unwrap();
    assert_eq!(e.keyring.calls() - before, 2);
}
