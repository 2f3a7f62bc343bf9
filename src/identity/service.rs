//! What the identity area holds, and the one way other areas ask who a request is about.
//!
//! [`Resolver`] checks how a request names its person (token, server key, anonymous id)
//! and resolves it through the [`PersonDirectory`]; delivery and engagement hold one.
//! [`Identity`] is the identify and people endpoints' state.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sea_orm::DatabaseConnection;

use super::directory::{PeopleChanged, PersonDirectory, PEOPLE_CHANNEL};
use super::graph::IdentifierTypes;
use super::{claim, resolve, Naming, Person};
use crate::auth::Auth;
use crate::catalog::live::LiveCatalog;
use crate::problem::Problem;

/// Turns a request's naming into a person; cheap to clone.
#[derive(Clone)]
pub struct Resolver {
    pub auth: Arc<Auth>,
    pub types: Arc<IdentifierTypes>,
    pub directory: Arc<PersonDirectory>,
}

impl Resolver {
    /// The person `naming` names, checked and resolved (`None`: nobody named).
    pub async fn person(&self, naming: &Naming<'_>) -> Result<Option<Person>, Problem> {
        let claim = claim(naming, &self.auth, &self.types)?;
        resolve(&claim, &self.directory).await
    }

    /// Redis pub/sub: drops this node's cached people when any node changes them.
    /// Resubscribes after a lost connection; runs until aborted.
    pub async fn listen(self, client: redis::Client) {
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if let Err(e) = pubsub.subscribe(PEOPLE_CHANNEL).await {
                        tracing::warn!(error = %e, "redis subscribe failed");
                    } else {
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            let payload: String = message.get_payload().unwrap_or_default();
                            match serde_json::from_str::<PeopleChanged>(&payload) {
                                Ok(change) => self.directory.forget(&change),
                                Err(e) => tracing::warn!(error = %e, "malformed people change"),
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "redis pub/sub unavailable; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The identify and people endpoints' state.
pub struct Identity {
    pub db: DatabaseConnection,
    pub catalog: LiveCatalog,
    pub people: Resolver,
}
