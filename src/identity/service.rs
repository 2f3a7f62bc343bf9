//! What the identity area holds, and the one way other areas ask who a request is about.
//!
//! [`Resolver`] checks how a request names its person (token, server key, anonymous id)
//! and resolves it through the [`PersonDirectory`]; delivery and engagement hold one.
//! [`Identity`] is the identify and people endpoints' state.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use super::directory::{PeopleChanged, PersonDirectory, PEOPLE_CHANNEL};
use super::graph::IdentifierTypes;
use super::{claim, resolve, resolve_claim, Naming, Person, Unresolved};
use crate::auth::Auth;
use crate::catalog::live::LiveCatalog;
use crate::problem::Problem;
use crate::redis_link::RedisLink;

/// How often held people changes are retried.
const RESEND_HELD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Who a request names, as far as could be told.
pub struct Resolved {
    pub person: Option<Person>,
    /// A person was named but could not be looked up.
    pub unresolved: bool,
}

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

    /// The person `naming` names, or nobody with `unresolved` set when the person
    /// could not be looked up (database and Redis unreachable, person not cached):
    /// delivery then answers as for nobody rather than fail.
    pub async fn person_or_nobody(&self, naming: &Naming<'_>) -> Result<Resolved, Problem> {
        let claim = claim(naming, &self.auth, &self.types)?;
        match resolve_claim(&claim, &self.directory).await {
            Ok(person) => Ok(Resolved {
                person,
                unresolved: false,
            }),
            Err(Unresolved::Unreachable(e)) => {
                tracing::debug!(error = %e, "person not resolved; answering as for nobody");
                Ok(Resolved {
                    person: None,
                    unresolved: true,
                })
            }
            Err(Unresolved::Refused(problem)) => Err(problem),
        }
    }

    /// Redis pub/sub: drops this node's cached people when any node changes them;
    /// after every (re)subscription it drops them all and sends its held changes
    /// ([`PersonDirectory::catch_up`]), and every second it sends changes held while
    /// Redis could not be reached ([`PersonDirectory::send_held`]: this node's own calls
    /// may have failed while its subscription stayed up). Runs until aborted.
    pub async fn listen(self, link: RedisLink) {
        let directory = &self.directory;
        let listening = link.clone().listen(
            PEOPLE_CHANNEL,
            |payload| async move {
                match serde_json::from_str::<PeopleChanged>(&payload) {
                    Ok(change) => directory.forget(&change).await,
                    Err(e) => tracing::warn!(error = %e, "malformed people change"),
                }
            },
            || directory.catch_up(),
            || directory.stop_trusting(),
        );
        let resending = async {
            let mut every = tokio::time::interval(RESEND_HELD_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut was_away = false;
            loop {
                every.tick().await;
                // Redis is away: other nodes' changes are not reaching this one (they
                // wait in their outboxes), so unknown may no longer mean unknown until
                // the filter is read again from the database. (A probe-detected outage
                // also resubscribes, which rebuilds too; a breaker opened by slow calls
                // alone does not.)
                let away = !link.dependency().available();
                if away {
                    directory.stop_trusting();
                } else if was_away {
                    directory.rebuild_known();
                }
                was_away = away;
                directory.send_held().await;
            }
        };
        tokio::join!(listening, resending);
    }
}

/// The identify and people endpoints' state.
pub struct Identity {
    pub db: DatabaseConnection,
    /// Identify calls, written in groups.
    pub identify: super::queue::IdentifyQueue,
    /// How engagement names a verified person's source: erasure moves those counts.
    pub sources: crate::engagement::provenance::SourceNamer,
    pub catalog: LiveCatalog,
    pub people: Resolver,
}
