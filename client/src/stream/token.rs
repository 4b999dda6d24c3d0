//! Where a stream gets a fresh subscriber token when the node ends it for
//! an expired one (`beacon.token_expired`) or refuses the one it has (401).

use std::future::Future;

use beacon_protocol::api::tokens::MintToken;
use futures::future::BoxFuture;

use crate::{Client, ClientError};

/// A source of fresh subscriber tokens.
pub trait TokenSource: Send + Sync + 'static {
    /// A token to open the stream with from now on.
    fn token(&self) -> BoxFuture<'_, Result<String, ClientError>>;
}

/// Any `Fn() -> impl Future<Output = Result<String, ClientError>>`, e.g. a
/// call to the tenant's own backend.
impl<F, Fut> TokenSource for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, ClientError>> + Send + 'static,
{
    fn token(&self) -> BoxFuture<'_, Result<String, ClientError>> {
        Box::pin(self())
    }
}

/// Mints tokens with a tenant's API key (`POST /v1/tokens`, `publish`
/// scope), each with the claims of `request`.
#[derive(Debug, Clone)]
pub struct MintTokens {
    /// A client holding the API key.
    pub client: Client,
    pub request: MintToken,
}

impl TokenSource for MintTokens {
    fn token(&self) -> BoxFuture<'_, Result<String, ClientError>> {
        Box::pin(async move {
            let minted = self.client.mint_token(&self.request).await?;
            Ok(minted.token)
        })
    }
}
