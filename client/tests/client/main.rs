//! The client against the real `beacon` binary, one module per area.

mod api;
mod stream;

use beacon_client::Client;
use beacon_test_support::Beacon;

/// A node, a client with its admin token, and one with the API key of a
/// tenant `acme` that may publish types without a contract.
async fn node_with(builder: beacon_test_support::BeaconBuilder) -> (Beacon, Client, Client) {
    let node = builder.start().await;
    let admin = Client::builder(&node.url(""))
        .token(node.admin_token())
        .build()
        .expect("admin client");
    let mut request = beacon_client::beacon_protocol::api::tenants::CreateTenant::new("acme");
    request.allow_unregistered_types = true;
    let created = admin.create_tenant(&request).await.expect("tenant created");
    let tenant = admin.with_token(created.api_key);
    (node, admin, tenant)
}
