//! Upload checks: components that cannot be plugins are refused with reasons.

use beacon_test_support::{plugin, plugin_node};
use serde_json::{Value, json};

/// A component importing these interfaces and exporting nothing.
fn component_importing(imports: &[&str]) -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType,
    };
    let mut component = Component::new();
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    component.section(&types);
    let mut section = ComponentImportSection::new();
    for name in imports {
        section.import(*name, ComponentTypeRef::Instance(0));
    }
    component.section(&section);
    component.finish()
}

/// The reasons (`details[].message`) of a refused upload.
fn reasons(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d["message"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn uploads_that_cannot_be_plugins_are_refused_with_reasons() {
    let server = plugin_node()
        .arg("max-plugin-bytes", "100000")
        .start()
        .await;
    let acme = server.create_tenant("acme").await;

    let body = acme
        .upload_plugin("garbage", b"definitely not wasm")
        .await
        .assert_error(400, "invalid_plugin");
    assert!(
        reasons(&body)
            .iter()
            .any(|r| r.contains("not a WebAssembly binary")),
        "{body}"
    );

    let body = acme
        .upload_plugin("core", b"\0asm\x01\0\0\0")
        .await
        .assert_error(400, "invalid_plugin");
    assert!(
        reasons(&body)
            .iter()
            .any(|r| r.contains("core WebAssembly module")),
        "{body}"
    );

    let small = plugin("vip-only");
    assert!(small.len() < 100_000);
    acme.upload_plugin_as("typed", &small, "application/octet-stream")
        .await
        .assert_error(415, "unsupported_media_type");

    let large = plugin("display-amount");
    assert!(large.len() > 100_000);
    let body = acme
        .upload_plugin("large", &large)
        .await
        .assert_error(413, "plugin_too_large");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("100000")),
        "{body}"
    );

    // Network access and an unknown interface, and none of the world's
    // exports: every problem is named.
    let forbidden = component_importing(&[
        "wasi:sockets/tcp@0.2.0",
        "wasi:http/outgoing-handler@0.2.0",
        "evil:thing/x@1.0.0",
    ]);
    let body = acme
        .upload_plugin("forbidden", &forbidden)
        .await
        .assert_error(400, "invalid_plugin");
    let all = reasons(&body).join("\n");
    assert!(
        all.contains("`wasi:sockets/tcp@0.2.0`: plugins have no network access"),
        "{all}"
    );
    assert!(all.contains("`wasi:http/outgoing-handler@0.2.0`"), "{all}");
    assert!(all.contains("`evil:thing/x@1.0.0`"), "{all}");
    assert!(
        all.contains("does not export `beacon:plugin/plugin@0.1.0`"),
        "{all}"
    );
    assert!(all.contains("exports no hook"), "{all}");

    // Allowed imports only, but not the plugin world: no exports.
    let wrong_world = component_importing(&["wasi:cli/stdout@0.2.0"]);
    let body = acme
        .upload_plugin("wrong-world", &wrong_world)
        .await
        .assert_error(400, "invalid_plugin");
    let all = reasons(&body).join("\n");
    assert!(!all.contains("wasi:cli/stdout"), "{all}");
    assert!(
        all.contains("does not export `beacon:plugin/plugin@0.1.0`")
            && all.contains("exports no hook"),
        "{all}"
    );

    for name in ["Upper", "under_score", "-leading", &"x".repeat(64)] {
        acme.upload_plugin(name, &small)
            .await
            .assert_error(400, "invalid_name");
    }

    assert!(acme.plugins().await.is_empty(), "nothing refused was kept");
    let reply = acme.upload_plugin("vip-only", &small).await;
    reply.assert_status(201);
    assert_eq!(reply.json()["version"], 1);
    // The same bytes again: the same version.
    let reply = acme.upload_plugin("vip-only", &small).await;
    reply.assert_status(200);
    assert_eq!(reply.json()["version"], 1);
    let names: Vec<Value> = acme
        .plugins()
        .await
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, [json!("vip-only")]);
}
