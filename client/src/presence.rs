//! `GET /v1/presence`: who is online in the tenant, on every node (a
//! tenant API key with the `read` scope, or a subscriber token allowed
//! `presence.*`).

use beacon_protocol::api::presence::Online;

use crate::{Client, ClientError};

impl Client {
    /// Users with open streams and their connection counts.
    pub async fn presence(&self) -> Result<Online, ClientError> {
        self.get(&["v1", "presence"]).await
    }
}
