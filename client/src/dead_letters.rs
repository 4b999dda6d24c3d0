//! `GET /v1/dead-letters`: the events a tenant's plugins failed on, with a
//! tenant API key (`read` scope).

use beacon_protocol::api::dead_letters::{DeadLetterPage, PageQuery};
use reqwest::Method;

use crate::client::Call;
use crate::{Client, ClientError};

impl Client {
    /// One page of dead letters, oldest first; pass the page's `next` as
    /// `after` for the one after it.
    pub async fn dead_letters(&self, page: &PageQuery) -> Result<DeadLetterPage, ClientError> {
        let call = Call::new(Method::GET, &["v1", "dead-letters"])
            .query("after", page.after.as_deref())
            .query("limit", page.limit);
        self.send(call).await?.json()
    }
}
