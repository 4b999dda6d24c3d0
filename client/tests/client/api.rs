//! Every area of the API through the typed client: what the node answers
//! reads back into the protocol's types, and its refusals keep their
//! status, code and details.

use beacon_client::beacon_protocol::PublishEvent;
use beacon_client::beacon_protocol::api::dead_letters::PageQuery;
use beacon_client::beacon_protocol::api::keys::{CreateKey, Scope, SetJwtKeys};
use beacon_client::beacon_protocol::api::plugins::{Activate, Hook, OnError, TestQuery};
use beacon_client::beacon_protocol::api::schemas::Mode;
use beacon_client::beacon_protocol::api::tenants::{TenantLimits, UpdateTenant};
use beacon_client::beacon_protocol::api::tokens::MintToken;
use beacon_client::{Client, ClientError, PublishAnswer, PublishOptions};
use beacon_test_support::{Beacon, plugin, plugin_node};
use serde_json::{Value, json};

use super::node_with;

/// The node's refusal of `result`: its status and code.
fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Http(e)) => (e.status.as_u16(), e.code().to_owned()),
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn tenants_keys_and_tokens() {
    let (node, admin, tenant) = node_with(Beacon::builder()).await;
    let list = admin.tenants().await.expect("tenants");
    assert_eq!(list.tenants.len(), 1);
    assert!(list.tenants[0].allow_unregistered_types);

    let update = UpdateTenant {
        limits: Some(TenantLimits {
            publish_rate: Some(500),
            ..TenantLimits::default()
        }),
        presence_events: Some(true),
        ..UpdateTenant::default()
    };
    let info = admin.update_tenant("acme", &update).await.expect("updated");
    assert_eq!(info.limits.as_ref().and_then(|l| l.publish_rate), Some(500));
    assert!(info.presence_events);
    assert_eq!(admin.tenant("acme").await.expect("tenant"), info);

    let keys = admin.keys("acme").await.expect("keys");
    let first = keys.keys[0].id.clone();
    let read_only = CreateKey {
        scopes: Some(vec![Scope::Read]),
        rotate: Some(first.clone()),
        overlap_s: Some(0),
    };
    let created = admin.create_key("acme", &read_only).await.expect("key");
    assert_eq!(created.scopes, [Scope::Read]);
    assert!(created.rotated_key_expires_at.is_some());
    // The rotated key stopped at once; the new one may read, not publish.
    let reader = admin.with_token(created.api_key.clone());
    assert_eq!(
        refused(tenant.mint_token(&MintToken::new("1")).await).0,
        401
    );
    assert_eq!(
        refused(reader.mint_token(&MintToken::new("1")).await),
        (403, "forbidden".to_owned())
    );
    reader
        .presence()
        .await
        .expect("presence with the read scope");
    admin
        .revoke_key("acme", &created.id)
        .await
        .expect("revoked");
    assert_eq!(refused(reader.presence().await).0, 401);

    let keys = admin
        .set_jwt_keys("acme", &SetJwtKeys::default())
        .await
        .expect("keys set");
    assert!(keys.keys.is_empty());
    let wrong = admin.with_token("not-the-admin-token");
    assert_eq!(refused(wrong.tenants().await).0, 401);
    admin.delete_tenant("acme").await.expect("deleted");
    assert_eq!(
        refused(admin.tenant("acme").await),
        (404, "not_found".to_owned())
    );
    drop(node);
}

#[tokio::test]
async fn contracts() {
    let (_node, admin, _) = node_with(Beacon::builder()).await;
    let v1 = json!({"type": "object", "properties": {"orderId": {"type": "string"}}, "required": ["orderId"]});
    let registered = admin
        .register_schema("order.created", &v1)
        .await
        .expect("registered");
    assert_eq!(
        (registered.kind.as_str(), registered.version),
        ("order.created", 1)
    );
    let mut v2 = v1.clone();
    v2["properties"]["channel"] = json!({"type": "string"});
    v2["required"] = json!(["orderId", "channel"]);
    let check = admin
        .check_schema("order.created", &v2)
        .await
        .expect("checked");
    assert!(!check.compatible);
    assert_eq!(check.messages[0].path, "/properties/channel");
    let Err(ClientError::Http(refusal)) = admin.register_schema("order.created", &v2).await else {
        panic!("an incompatible version was registered");
    };
    assert_eq!(
        (refusal.status.as_u16(), refusal.code()),
        (409, "incompatible_schema")
    );
    assert_eq!(refusal.details()[0].path, "/properties/channel");

    let set = admin
        .set_compatibility("order.created", Mode::None)
        .await
        .expect("mode set");
    assert_eq!(set.mode, Mode::None);
    admin
        .register_schema("order.created", &v2)
        .await
        .expect("v2 under NONE");
    let deprecated = admin
        .deprecate_schema("order.created", 1)
        .await
        .expect("deprecated");
    assert!(deprecated.deprecated);
    let list = admin.schemas().await.expect("schemas");
    assert_eq!(list.schemas[0].versions, [1, 2]);
    assert_eq!(list.schemas[0].deprecated, [1]);
    let info = admin.schema("order.created").await.expect("schema");
    assert_eq!(info.versions.len(), 2);
    let contract = admin
        .schema_version("order.created", 2)
        .await
        .expect("version 2");
    assert_eq!(contract.schema, v2);
    assert_eq!(
        refused(admin.schema_version("order.created", 9).await).0,
        404
    );
}

#[tokio::test]
async fn publishing() {
    let (_node, _, tenant) = node_with(Beacon::builder()).await;
    let event = PublishEvent::new("chat.message", json!("hello"));
    let options = PublishOptions::idempotency_key("hello-1");
    let first = tenant.publish(&event, &options).await.expect("published");
    let PublishAnswer::Stored(stored) = &first.answer else {
        panic!("{first:?}");
    };
    assert!(!first.replayed);
    let again = tenant
        .publish(&event, &options)
        .await
        .expect("published again");
    assert!(again.replayed);
    assert_eq!(
        again.answer, first.answer,
        "the same id, nothing stored twice"
    );

    let batch = [
        PublishEvent::new("a", json!(1)),
        PublishEvent::new("b", json!(2)),
    ];
    let published = tenant
        .publish_batch(&batch, &PublishOptions::default())
        .await
        .expect("batch");
    assert_eq!(published.answer.ids().len(), 2);
    assert!(published.answer.ids()[0].is_some_and(|id| id > stored.id.as_str()));

    // Refused as a whole, with a pointer to each problem.
    let bad: Value = json!([{"type": "a", "data": 1}, {"type": "beacon.x", "data": 2}]);
    let Err(ClientError::Http(refusal)) =
        tenant.publish_json(&bad, &PublishOptions::default()).await
    else {
        panic!("a reserved type was published");
    };
    assert_eq!(
        (refusal.status.as_u16(), refusal.code()),
        (400, "invalid_event")
    );
    assert_eq!(refusal.details()[0].path, "/1/type");
    // ... or in part.
    let partial = PublishOptions {
        partial: true,
        ..PublishOptions::default()
    };
    let answer = tenant.publish_json(&bad, &partial).await.expect("partial");
    let PublishAnswer::Partial(partial) = &answer.answer else {
        panic!("{answer:?}");
    };
    assert!(partial.ids[0].is_some() && partial.ids[1].is_none());
    assert_eq!(partial.errors[0].path, "/1/type");
}

#[tokio::test]
async fn plugins_and_operations() {
    let (_node, admin, tenant) = node_with(plugin_node()).await;
    let wasm = plugin("display-amount");
    let upload = tenant
        .upload_plugin("display-amount", wasm.clone())
        .await
        .expect("uploaded");
    assert!(upload.created);
    assert_eq!(upload.uploaded.hooks, [Hook::Publish]);
    let again = tenant
        .upload_plugin("display-amount", wasm)
        .await
        .expect("uploaded again");
    assert_eq!((again.created, again.uploaded.version), (false, 1));

    let mut activation = Activate::version(1);
    activation.types = Some(vec!["payment.*".to_owned()]);
    activation.on_error = OnError::FailClosed;
    let view = tenant
        .activate_plugin("display-amount", &activation)
        .await
        .expect("activated");
    let active = view.activation.expect("an activation");
    assert_eq!((active.version, active.on_error), (1, OnError::FailClosed));
    assert_eq!(tenant.plugins().await.expect("plugins").plugins.len(), 1);
    assert_eq!(
        tenant.plugin("display-amount").await.expect("plugin").name,
        "display-amount"
    );
    let logs = tenant
        .plugin_logs("display-amount", Some(1))
        .await
        .expect("logs");
    assert_eq!(logs.lines.len(), 1);
    assert_eq!(logs.lines[0].message, "version 1 activated");

    let input = json!({"type": "payment.succeeded", "data": {"amount": 85000, "currency": "KES"}});
    let result = tenant
        .test_plugin("display-amount", &input, &TestQuery::default())
        .await
        .expect("dry run");
    assert_eq!(
        (result.hook.as_str(), result.outcome.as_str()),
        ("publish", "modify")
    );
    assert_eq!(
        result.output.expect("an output")["data"]["displayAmount"],
        "KSh 850.00"
    );
    let deliver = TestQuery {
        hook: Some("deliver".to_owned()),
        ..TestQuery::default()
    };
    assert_eq!(
        refused(tenant.test_plugin("display-amount", &input, &deliver).await),
        (400, "invalid_hook".to_owned())
    );

    let page = tenant
        .dead_letters(&PageQuery::default())
        .await
        .expect("dead letters");
    assert!(page.dead_letters.is_empty() && page.next.is_none());
    let stats = tenant.tenant_stats().await.expect("tenant stats");
    assert_eq!(stats.tenant, "acme");
    let node = admin.stats().await.expect("node stats");
    assert!(node.ready && node.log == "embedded");
    let online = tenant.presence().await.expect("presence");
    assert_eq!(online.connections, 0);
    tenant
        .remove_plugin("display-amount")
        .await
        .expect("removed");
    assert_eq!(refused(tenant.plugin("display-amount").await).0, 404);

    let anyone = Client::new(admin.base_url().as_str()).expect("client");
    assert_eq!(anyone.health().await.expect("health").status, "ok");
    let ready = anyone.readiness().await.expect("readiness");
    assert_eq!(
        (ready.status.as_str(), ready.log.as_str()),
        ("ready", "embedded")
    );
}
