//! `POST /v1/tokens`: subscriber tokens, minted with a tenant's API key
//! (`publish` scope).

use beacon_protocol::api::tokens::{MintToken, Minted};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/tokens`: a subscriber token with the claims asked for.
    pub async fn mint_token(&self, request: &MintToken) -> Result<Minted, ClientError> {
        self.with_json(Method::POST, &["v1", "tokens"], request)
            .await
    }
}
