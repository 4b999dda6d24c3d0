//! The behaviour every [`PluginStore`] backend must have, as one suite.
//!
//! Each backend's tests call [`run_all`] on a fresh, empty store. Every
//! case uses tenants of its own, so the cases do not depend on each other.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::*;

/// Bytes standing in for a component: `len` bytes derived from `seed`,
/// covering every byte value (NUL, invalid UTF-8 …).
pub(crate) fn component(seed: u8, len: usize) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

pub(crate) fn digest_of(wasm: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(wasm)))
}

pub(crate) fn new_version(wasm: &Bytes) -> NewVersion {
    NewVersion {
        digest: digest_of(wasm),
        size: wasm.len() as u64,
        hooks: HooksRecord {
            publish: true,
            convert: false,
            deliver: true,
        },
        info: InfoRecord {
            name: "display-amount".into(),
            version: "0.1.0".into(),
            types: vec!["order.*".into()],
        },
        wasm: wasm.clone(),
    }
}

pub(crate) fn activation(version: u32) -> Activation {
    Activation {
        version,
        types: vec!["order.*".into(), "payment.succeeded".into()],
        order: -3,
        on_error: OnError::FailClosed,
        limits: LimitOverrides {
            timeout_ms: Some(20),
            fuel: Some(u64::MAX - 1),
            memory_bytes: None,
            output_bytes: Some(4096),
        },
        activated_ms: 1_732_370_000_123,
    }
}

pub(crate) fn quarantine() -> Quarantine {
    Quarantine {
        since_ms: 1_732_370_000_999,
        reason: "5 timeouts in a row".into(),
        failures: 5,
    }
}

pub(crate) async fn run_all(store: &dyn PluginStore) {
    store.health().await.unwrap();
    assert_eq!(store.revision().await.unwrap(), 0);
    assert!(store.active().await.unwrap().is_empty());
    versions_are_numbered_and_reuploads_are_idempotent(store).await;
    bytes_come_back_exactly(store).await;
    activation_is_set_and_replaced(store).await;
    quarantine_is_set_and_cleared(store).await;
    delete_removes_versions_activation_and_unused_bytes(store).await;
    tenants_are_isolated(store).await;
    plugins_per_tenant_are_bounded(store).await;
    versions_per_plugin_are_bounded(store).await;
    concurrent_uploads_get_distinct_numbers(store).await;
}

/// Asserts that the revision moved past `*rev`, and records the new one.
async fn changed(store: &dyn PluginStore, rev: &mut u64, what: &str) {
    let now = store.revision().await.unwrap();
    assert!(now > *rev, "revision did not increase after {what}");
    *rev = now;
}

async fn unchanged(store: &dyn PluginStore, rev: u64, what: &str) {
    assert_eq!(
        store.revision().await.unwrap(),
        rev,
        "revision moved: {what}"
    );
}

async fn versions_are_numbered_and_reuploads_are_idempotent(store: &dyn PluginStore) {
    let t = "num";
    let mut rev = store.revision().await.unwrap();
    assert!(store.versions(t, "p").await.unwrap().is_empty());
    assert_eq!(store.plugin(t, "p").await.unwrap(), None);
    let (a, b, c) = (component(1, 100), component(2, 100), component(3, 10));

    let v1 = store.put_version(t, "p", new_version(&a)).await.unwrap();
    changed(store, &mut rev, "the first upload").await;
    assert_eq!(v1.version, 1);
    assert_eq!(v1.digest, digest_of(&a));
    assert_eq!(v1.size, 100);
    assert_eq!(v1.hooks, new_version(&a).hooks);
    assert_eq!(v1.info, new_version(&a).info);
    assert!(v1.created_ms > 1_600_000_000_000, "{}", v1.created_ms);
    let v2 = store.put_version(t, "p", new_version(&b)).await.unwrap();
    changed(store, &mut rev, "a second version").await;
    assert_eq!(v2.version, 2);

    // The same bytes again: the existing version, nothing changes.
    let again = store.put_version(t, "p", new_version(&a)).await.unwrap();
    assert_eq!(again, v1);
    unchanged(store, rev, "an idempotent upload").await;

    let v3 = store.put_version(t, "p", new_version(&c)).await.unwrap();
    assert_eq!(v3.version, 3);
    changed(store, &mut rev, "a third version").await;
    // Another plugin numbers its own versions, and may share bytes.
    let other = store.put_version(t, "q", new_version(&b)).await.unwrap();
    assert_eq!(other.version, 1);
    changed(store, &mut rev, "a version of another plugin").await;

    assert_eq!(
        store.versions(t, "p").await.unwrap(),
        vec![v1.clone(), v2.clone(), v3.clone()]
    );
    let p = store.plugin(t, "p").await.unwrap().unwrap();
    assert_eq!(
        p,
        PluginRecord {
            name: "p".into(),
            versions: vec![v1, v2, v3],
            activation: None,
            quarantine: None,
        }
    );
    let all = store.plugins(t).await.unwrap();
    assert_eq!(all.iter().map(|p| &p.name).collect::<Vec<_>>(), ["p", "q"]);
    assert_eq!(all[0], p);
    // Nothing is active yet.
    assert!(store.active().await.unwrap().iter().all(|(tn, _)| tn != t));

    // A digest already stored with other bytes is refused, storing nothing.
    let mut lie = new_version(&component(9, 100));
    lie.digest = digest_of(&a);
    assert!(matches!(
        store.put_version(t, "r", lie).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.plugin(t, "r").await.unwrap(), None);
    unchanged(store, rev, "a refused upload").await;
}

async fn bytes_come_back_exactly(store: &dyn PluginStore) {
    let t = "bytes";
    let big = component(7, 3 * 1024 * 1024 + 17);
    let v = store
        .put_version(t, "big", new_version(&big))
        .await
        .unwrap();
    let back = store.wasm(&v.digest).await.unwrap().unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back == big, "the bytes differ");
    let tiny = component(0, 1);
    let v = store
        .put_version(t, "tiny", new_version(&tiny))
        .await
        .unwrap();
    assert_eq!(store.wasm(&v.digest).await.unwrap(), Some(tiny));
    assert_eq!(store.wasm(&digest_of(b"never stored")).await.unwrap(), None);
}

async fn activation_is_set_and_replaced(store: &dyn PluginStore) {
    let t = "act";
    let mut rev = store.revision().await.unwrap();
    assert!(matches!(
        store.set_activation(t, "p", activation(1)).await,
        Err(StoreError::NotFound("plugin"))
    ));
    for seed in 1..=2 {
        store
            .put_version(t, "p", new_version(&component(seed, 64)))
            .await
            .unwrap();
    }
    store
        .put_version(t, "idle", new_version(&component(3, 64)))
        .await
        .unwrap();
    rev = store.revision().await.unwrap().max(rev);
    assert!(matches!(
        store.set_activation(t, "p", activation(3)).await,
        Err(StoreError::NotFound("version"))
    ));
    unchanged(store, rev, "a refused activation").await;

    store.set_activation(t, "p", activation(1)).await.unwrap();
    changed(store, &mut rev, "an activation").await;
    let p = store.plugin(t, "p").await.unwrap().unwrap();
    assert_eq!(p.activation, Some(activation(1)));

    // Replacing (a roll forward here) keeps one activation.
    let mut second = activation(2);
    second.on_error = OnError::FailOpen;
    second.limits = LimitOverrides::default();
    second.order = 7;
    store.set_activation(t, "p", second.clone()).await.unwrap();
    changed(store, &mut rev, "a new activation").await;
    let active: Vec<_> = store
        .active()
        .await
        .unwrap()
        .into_iter()
        .filter(|(tn, _)| tn == t)
        .collect();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0].1.name, "p");
    assert_eq!(active[0].1.activation, Some(second));
    assert_eq!(active[0].1.versions.len(), 2);
}

async fn quarantine_is_set_and_cleared(store: &dyn PluginStore) {
    let t = "quar";
    let mut rev = store.revision().await.unwrap();
    assert!(matches!(
        store.set_quarantine(t, "p", Some(quarantine())).await,
        Err(StoreError::NotFound("plugin"))
    ));
    store
        .put_version(t, "p", new_version(&component(1, 8)))
        .await
        .unwrap();
    store.set_activation(t, "p", activation(1)).await.unwrap();
    rev = store.revision().await.unwrap().max(rev);

    store
        .set_quarantine(t, "p", Some(quarantine()))
        .await
        .unwrap();
    changed(store, &mut rev, "a quarantine").await;
    let p = store.plugin(t, "p").await.unwrap().unwrap();
    assert_eq!(p.quarantine, Some(quarantine()));
    assert_eq!(p.activation, Some(activation(1)), "activation kept");
    let listed = store.active().await.unwrap();
    let (_, listed) = listed.iter().find(|(tn, _)| tn == t).unwrap();
    assert_eq!(listed.quarantine, Some(quarantine()));

    store.set_quarantine(t, "p", None).await.unwrap();
    changed(store, &mut rev, "a cleared quarantine").await;
    let p = store.plugin(t, "p").await.unwrap().unwrap();
    assert_eq!(p.quarantine, None);
    assert_eq!(p.activation, Some(activation(1)));
}

async fn delete_removes_versions_activation_and_unused_bytes(store: &dyn PluginStore) {
    let t = "del";
    let (own, shared) = (component(41, 50), component(42, 50));
    store.put_version(t, "p", new_version(&own)).await.unwrap();
    store
        .put_version(t, "p", new_version(&shared))
        .await
        .unwrap();
    store
        .put_version(t, "keep", new_version(&shared))
        .await
        .unwrap();
    store.set_activation(t, "p", activation(2)).await.unwrap();
    store
        .set_quarantine(t, "p", Some(quarantine()))
        .await
        .unwrap();
    let mut rev = store.revision().await.unwrap();

    assert!(store.delete(t, "p").await.unwrap());
    changed(store, &mut rev, "a delete").await;
    assert_eq!(store.plugin(t, "p").await.unwrap(), None);
    assert!(store.versions(t, "p").await.unwrap().is_empty());
    assert!(store.active().await.unwrap().iter().all(|(tn, _)| tn != t));
    let names: Vec<_> = store
        .plugins(t)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["keep"]);
    // Bytes only the deleted plugin used are gone; shared ones stay.
    assert_eq!(store.wasm(&digest_of(&own)).await.unwrap(), None);
    assert_eq!(
        store.wasm(&digest_of(&shared)).await.unwrap(),
        Some(shared.clone())
    );

    assert!(!store.delete(t, "p").await.unwrap());
    unchanged(store, rev, "deleting a missing plugin").await;
    assert!(matches!(
        store.set_activation(t, "p", activation(1)).await,
        Err(StoreError::NotFound("plugin"))
    ));

    // The name starts over at version 1; deleted bytes may come back.
    let again = store.put_version(t, "p", new_version(&own)).await.unwrap();
    assert_eq!(again.version, 1);
    assert_eq!(store.wasm(&again.digest).await.unwrap(), Some(own));
    let p = store.plugin(t, "p").await.unwrap().unwrap();
    assert_eq!((p.activation, p.quarantine), (None, None));

    // Deleting the last user removes shared bytes too.
    assert!(store.delete(t, "keep").await.unwrap());
    assert_eq!(store.wasm(&digest_of(&shared)).await.unwrap(), None);
}

async fn tenants_are_isolated(store: &dyn PluginStore) {
    let (a, b) = ("iso-a", "iso-b");
    let va = store
        .put_version(a, "same", new_version(&component(51, 32)))
        .await
        .unwrap();
    store
        .put_version(a, "only-a", new_version(&component(52, 32)))
        .await
        .unwrap();
    // Same name, same bytes, other tenant: an independent plugin.
    let vb = store
        .put_version(b, "same", new_version(&component(51, 32)))
        .await
        .unwrap();
    assert_eq!((va.version, vb.version), (1, 1));
    store
        .put_version(b, "same", new_version(&component(53, 32)))
        .await
        .unwrap();
    store
        .set_activation(b, "same", activation(2))
        .await
        .unwrap();

    let of = |list: Vec<PluginRecord>| list.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(of(store.plugins(a).await.unwrap()), ["only-a", "same"]);
    assert_eq!(of(store.plugins(b).await.unwrap()), ["same"]);
    assert_eq!(store.plugin(b, "only-a").await.unwrap(), None);
    assert!(store.versions(b, "only-a").await.unwrap().is_empty());
    let same_a = store.plugin(a, "same").await.unwrap().unwrap();
    assert_eq!(same_a.versions.len(), 1);
    assert_eq!(same_a.activation, None);
    let same_b = store.plugin(b, "same").await.unwrap().unwrap();
    assert_eq!(same_b.versions.len(), 2);
    assert_eq!(same_b.activation, Some(activation(2)));
    // One tenant cannot activate, quarantine or delete another's plugin.
    assert!(matches!(
        store.set_activation(b, "only-a", activation(1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_quarantine(b, "only-a", Some(quarantine())).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.delete(b, "only-a").await.unwrap());
    assert!(store.plugin(a, "only-a").await.unwrap().is_some());

    let active: Vec<_> = store
        .active()
        .await
        .unwrap()
        .into_iter()
        .filter(|(t, _)| t.starts_with("iso-"))
        .map(|(t, p)| (t, p.name))
        .collect();
    assert_eq!(active, [(b.to_owned(), "same".to_owned())]);

    // Deleting B's plugin leaves A's of the same name and the shared bytes.
    assert!(store.delete(b, "same").await.unwrap());
    assert_eq!(
        store
            .plugin(a, "same")
            .await
            .unwrap()
            .unwrap()
            .versions
            .len(),
        1
    );
    assert!(store.wasm(&va.digest).await.unwrap().is_some());
}

async fn plugins_per_tenant_are_bounded(store: &dyn PluginStore) {
    let t = "many";
    for n in 0..MAX_PLUGINS_PER_TENANT {
        store
            .put_version(t, &format!("p{n:02}"), new_version(&component(n as u8, 16)))
            .await
            .unwrap();
    }
    let rev = store.revision().await.unwrap();
    let extra = new_version(&component(200, 16));
    assert!(matches!(
        store.put_version(t, "one-more", extra.clone()).await,
        Err(StoreError::Limit(_))
    ));
    unchanged(store, rev, "a refused plugin").await;
    assert_eq!(store.plugin(t, "one-more").await.unwrap(), None);
    assert_eq!(
        store.wasm(&extra.digest).await.unwrap(),
        None,
        "a refused upload leaves no bytes behind"
    );
    // Existing plugins still take new versions; other tenants are not affected.
    let v = store
        .put_version(t, "p00", new_version(&component(201, 16)))
        .await
        .unwrap();
    assert_eq!(v.version, 2);
    store
        .put_version("many-other", "one-more", extra.clone())
        .await
        .unwrap();
    // Deleting one makes room.
    assert!(store.delete(t, "p31").await.unwrap());
    store.put_version(t, "one-more", extra).await.unwrap();
    assert_eq!(
        store.plugins(t).await.unwrap().len(),
        MAX_PLUGINS_PER_TENANT
    );
}

async fn versions_per_plugin_are_bounded(store: &dyn PluginStore) {
    let t = "deep";
    let version = |n: u32| new_version(&Bytes::from(format!("version {n}").into_bytes()));
    for n in 1..=MAX_VERSIONS {
        let v = store.put_version(t, "p", version(n)).await.unwrap();
        assert_eq!(v.version, n);
    }
    let rev = store.revision().await.unwrap();
    assert!(matches!(
        store.put_version(t, "p", version(MAX_VERSIONS + 1)).await,
        Err(StoreError::Limit(_))
    ));
    unchanged(store, rev, "a refused version").await;
    // Re-uploading stored bytes still answers with their version.
    assert_eq!(
        store.put_version(t, "p", version(5)).await.unwrap().version,
        5
    );
    assert_eq!(
        store.versions(t, "p").await.unwrap().len(),
        MAX_VERSIONS as usize
    );
}

async fn concurrent_uploads_get_distinct_numbers(store: &dyn PluginStore) {
    let t = "race";
    let uploads = (0..8u8).map(|n| store.put_version(t, "p", new_version(&component(n, 24))));
    let mut numbers: Vec<u32> = futures::future::join_all(uploads)
        .await
        .into_iter()
        .map(|r| r.unwrap().version)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
}
