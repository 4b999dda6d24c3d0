//! Who sees what on `GET /v1/stream`: filters, audiences, tenant isolation and
//! subscriber authentication.

use std::time::Duration;

use beacon_test_support::{Beacon, ev, jwt};
use serde_json::json;

#[tokio::test]
async fn type_filters_match_exact_types_and_prefix_wildcards() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let token = acme.token("u1").await;
    let mut sub = acme
        .stream(&token)
        .types("order.*,payment.succeeded")
        .connect()
        .await;
    sub.expect_connected().await;

    let ids = acme
        .publish_batch(&[
            ev("order.created", json!(1)),
            ev("payment.failed", json!(2)),
            ev("orders.created", json!(3)),
            ev("order.line.added", json!(4)),
            ev("payment.succeeded", json!(5)),
            ev("payment.succeeded.late", json!(6)),
            ev("user.created", json!(7)),
            ev("order.shipped", json!(8)),
        ])
        .await;
    let events = sub
        .expect_ids(&[
            ids[0].clone(),
            ids[3].clone(),
            ids[4].clone(),
            ids[7].clone(),
        ])
        .await;
    let types: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        types,
        [
            "order.created",
            "order.line.added",
            "payment.succeeded",
            "order.shipped"
        ]
    );
    sub.assert_quiet(Duration::from_millis(300)).await;

    let token = acme.token("u2").await;
    let mut everything = acme.stream(&token).types("*").connect().await;
    everything.expect_connected().await;
    let id = acme.publish(ev("user.created", json!(9))).await;
    everything.expect_ids(&[id]).await;
}

#[tokio::test]
async fn subject_filters_match_exact_subjects_and_trailing_wildcards() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let token = acme.token("u1").await;
    let mut sub = acme
        .stream(&token)
        .subjects("order/IE-1,user/*")
        .connect()
        .await;
    sub.expect_connected().await;

    let with_subject =
        |subject: &str| json!({"type": "thing.changed", "subject": subject, "data": subject});
    let ids = acme
        .publish_batch(&[
            with_subject("order/IE-1"),
            with_subject("order/IE-10"),
            with_subject("user/5"),
            with_subject("users/5"),
            with_subject("order/IE-2"),
            with_subject("user/5/address"),
        ])
        .await;
    sub.expect_ids(&[ids[0].clone(), ids[2].clone(), ids[5].clone()])
        .await;

    let token = acme.token("u2").await;
    let mut combined = acme
        .stream(&token)
        .types("order.*")
        .subjects("order/IE-1")
        .connect()
        .await;
    combined.expect_connected().await;
    let ids = acme
        .publish_batch(&[
            json!({"type": "order.created", "subject": "order/IE-2", "data": 1}),
            json!({"type": "invoice.created", "subject": "order/IE-1", "data": 2}),
            json!({"type": "order.created", "subject": "order/IE-1", "data": 3}),
        ])
        .await;
    combined.expect_ids(&[ids[2].clone()]).await;
}

#[tokio::test]
async fn audience_limits_delivery_to_listed_subscribers() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut user42 = acme.subscribe("42").await;
    let mut user7 = acme.subscribe("7").await;

    let private = acme
        .publish(json!({"type": "dm.received", "audience": ["42"], "data": "for 42"}))
        .await;
    let group = acme
        .publish(json!({"type": "dm.received", "audience": ["7", "9"], "data": "for 7 and 9"}))
        .await;
    let public = acme.publish(ev("news.posted", json!("for all"))).await;

    user42.expect_ids(&[private, public.clone()]).await;
    user7.expect_ids(&[group, public]).await;
    user42.assert_quiet(Duration::from_millis(300)).await;
    user7.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn audience_also_applies_to_replay() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let first = acme.publish(ev("start", json!(0))).await;
    let private = acme
        .publish(json!({"type": "dm.received", "audience": ["42"], "data": "secret"}))
        .await;
    let public = acme.publish(ev("news.posted", json!(1))).await;

    let token = acme.token("7").await;
    let mut user7 = acme.stream(&token).last_event_id(&first).connect().await;
    assert_eq!(user7.expect_connected().await["resume"], "exact");
    user7.expect_ids(std::slice::from_ref(&public)).await;

    let token = acme.token("42").await;
    let mut user42 = acme.stream(&token).last_event_id(&first).connect().await;
    user42.expect_connected().await;
    user42.expect_ids(&[private, public]).await;
}

#[tokio::test]
async fn tenants_never_see_each_others_events() {
    let server = Beacon::start().await;
    let alpha = server.create_tenant("alpha").await;
    let beta = server.create_tenant("beta").await;
    let mut alpha_sub = alpha.subscribe("42").await;
    let mut beta_sub = beta.subscribe("42").await;

    let a1 = alpha.publish(ev("secret.alpha", json!("a"))).await;
    let b1 = beta.publish(ev("secret.beta", json!("b"))).await;
    let a2 = alpha.publish(ev("secret.alpha", json!("a2"))).await;
    alpha_sub.expect_ids(&[a1.clone(), a2]).await;
    let b = beta_sub.expect_ids(std::slice::from_ref(&b1)).await;
    assert_eq!(b[0].data["source"], "/tenants/beta", "{:?}", b[0]);

    let token = beta.token("42").await;
    let mut replay = beta.stream(&token).last_event_id(&a1).connect().await;
    let connected = replay.expect_connected().await;
    assert_eq!(connected["tenant"], "beta");
    let mut seen = Vec::new();
    let b2 = beta.publish(ev("marker", json!(null))).await;
    loop {
        let event = replay.next().await;
        if event.id == b2 {
            break;
        }
        seen.push(event);
    }
    assert!(
        seen.iter().all(|e| e.is_control() || e.id == b1),
        "beta's replay from alpha's id leaked events: {seen:?}"
    );
}

#[tokio::test]
async fn an_api_key_cannot_act_for_another_tenant() {
    let server = Beacon::start().await;
    let alpha = server.create_tenant("alpha").await;
    let beta = server.create_tenant("beta").await;
    let mut beta_sub = beta.subscribe("42").await;

    let minted = alpha
        .token_request(&json!({"sub": "42", "tenant": "beta"}))
        .await;
    if minted.status == 200 {
        let token = minted.json()["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            jwt::claims(&token)["tenant"],
            "alpha",
            "alpha's API key minted a token for beta"
        );
        let mut sub = alpha.stream(&token).connect().await;
        assert_eq!(sub.expect_connected().await["tenant"], "alpha");
    } else {
        assert!(
            (400..500).contains(&minted.status),
            "minting for another tenant: {} {}",
            minted.status,
            minted.text
        );
        minted.assert_error_status(minted.status);
    }

    let from_alpha_key = alpha
        .post_events(&json!({"type": "injected", "source": "/tenants/beta", "data": 1}))
        .await;
    from_alpha_key.assert_status(201);
    let marker = beta.publish(ev("marker", json!(null))).await;
    beta_sub.expect_ids(&[marker]).await;

    let genuine_beta = beta.token("42").await;
    let beta_key = jwt::signing_key(&beta.signing_secret, &genuine_beta);
    let mut claims = jwt::claims(&genuine_beta);
    claims["tenant"] = json!("alpha");
    let forged = jwt::sign(&claims, &beta_key);
    let refused = alpha.stream(&forged).send_expecting_error().await;
    refused.assert_error(401, "unauthorized");
}

#[tokio::test]
async fn subscriber_tokens_are_checked() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let genuine = acme.token("42").await;
    let key = jwt::signing_key(&acme.signing_secret, &genuine);
    let claims = jwt::claims(&genuine);

    let mut expired = claims.clone();
    expired["exp"] = json!(jwt::now() - 3600);
    let mut other_key = key.clone();
    other_key.iter_mut().for_each(|b| *b ^= 0x5a);
    let mut unknown_tenant = claims.clone();
    unknown_tenant["tenant"] = json!("nobody");
    let mut no_exp = claims.clone();
    let removed = no_exp
        .as_object_mut()
        .unwrap_or_else(|| panic!("claims are not an object: {claims}"))
        .remove("exp");
    assert!(removed.is_some(), "a minted token has an exp: {claims}");
    let (header, rest) = genuine.split_once('.').unwrap_or_default();
    let alg_none = format!(
        "{}.{}.",
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
        rest.split_once('.').map(|(p, _)| p).unwrap_or_default()
    );
    assert!(!header.is_empty());

    for (what, token) in [
        ("garbage", "not-a-jwt".to_owned()),
        ("expired", jwt::sign(&expired, &key)),
        ("wrong key", jwt::sign(&claims, &other_key)),
        ("unknown tenant", jwt::sign(&unknown_tenant, &key)),
        ("no exp", jwt::sign(&no_exp, &key)),
        ("alg none", alg_none),
        ("api key", acme.api_key.clone()),
        ("admin token", server.admin_token().to_owned()),
    ] {
        let reply = acme.stream(&token).send_expecting_error().await;
        assert_eq!(reply.status, 401, "{what}: {} {}", reply.status, reply.text);
        reply.assert_error(401, "unauthorized");
        let reply = acme
            .stream(&token)
            .token_in_query()
            .send_expecting_error()
            .await;
        assert_eq!(reply.status, 401, "{what} in the query: {}", reply.text);
    }
    acme.stream("")
        .no_token()
        .send_expecting_error()
        .await
        .assert_error(401, "unauthorized");

    let mut via_query = acme.stream(&genuine).token_in_query().connect().await;
    assert_eq!(via_query.expect_connected().await["tenant"], "acme");
    let id = acme.publish(ev("ok", json!(1))).await;
    via_query.expect_ids(&[id]).await;
}

#[tokio::test]
async fn invalid_stream_parameters_are_rejected() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let token = acme.token("42").await;

    for types in ["bad type", "order.*x", "a\nb"] {
        let reply = acme
            .stream(&token)
            .types(types)
            .send_expecting_error()
            .await;
        assert_eq!(reply.status, 400, "types={types:?}: {}", reply.text);
        reply.assert_error(400, "invalid_filter");
    }
    for subjects in ["with space", "a*b", "\u{7f}"] {
        let reply = acme
            .stream(&token)
            .subjects(subjects)
            .send_expecting_error()
            .await;
        assert_eq!(reply.status, 400, "subjects={subjects:?}: {}", reply.text);
        reply.assert_error(400, "invalid_filter");
    }
    for id in ["garbage", "ABC_1-0", "abc_1", "abc_x-0"] {
        acme.stream(&token)
            .last_event_id(id)
            .send_expecting_error()
            .await
            .assert_error(400, "invalid_last_event_id");
        acme.stream(&token)
            .query("lastEventId", id)
            .send_expecting_error()
            .await
            .assert_error(400, "invalid_last_event_id");
    }

    let mut sub = acme.subscribe("42").await;
    let id = acme.publish(ev("still.fine", json!(1))).await;
    sub.expect_ids(&[id]).await;
}

#[tokio::test]
async fn token_allow_lists_cannot_be_widened_by_the_query() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let minted = acme
        .token_request(&json!({"sub": "42", "types": ["order.*"], "subjects": ["order/1"]}))
        .await;
    minted.assert_status(200);
    let token = minted.json()["token"].as_str().unwrap().to_owned();
    let mut sub = acme.stream(&token).types("*").subjects("*").connect().await;
    sub.expect_connected().await;
    let event = |ty: &str, subject: &str| json!({"type": ty, "subject": subject, "data": 1});
    acme.publish(event("order.created", "order/2")).await;
    acme.publish(event("payment.succeeded", "order/1")).await;
    let allowed = acme.publish(event("order.created", "order/1")).await;
    sub.expect_ids(std::slice::from_ref(&allowed)).await;
    sub.assert_quiet(Duration::from_millis(300)).await;
}
