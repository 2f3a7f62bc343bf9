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
    /// Next-best channel: the fitted prior strengths per channel, refit every quarter
    /// of an hour (they describe the whole audience and change slowly).
    pub reach_strengths: moka::future::Cache<(), std::sync::Arc<ReachStrengths>>,
}

/// Per channel, how many impressions a segment set and a person need to weigh as much
/// as the broader level.
pub type ReachStrengths = std::collections::BTreeMap<String, crate::engagement::reach::Strengths>;

/// Days of engagement the next-best-channel ranking reads.
pub const REACH_WINDOW_DAYS: i64 = 90;

/// Why a channel is not in a person's ranking.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ExcludedChannel {
    pub channel: String,
    /// `opted_out` or `not_serving` (retired).
    pub reason: &'static str,
}

/// A person's channels, best first, and those left out.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ChannelRanking {
    pub person_id: String,
    pub metric: &'static str,
    pub window_days: i64,
    pub segments: Vec<String>,
    pub channels: Vec<crate::engagement::reach::RankedChannel>,
    pub excluded: Vec<ExcludedChannel>,
}

impl Identity {
    pub fn reach_cache() -> moka::future::Cache<(), std::sync::Arc<ReachStrengths>> {
        moka::future::Cache::builder()
            .max_capacity(1)
            .time_to_live(std::time::Duration::from_secs(900))
            .build()
    }

    /// Ranks the person's consented, serving channels by observed click-through
    /// (person, then segment, then everyone; see [`crate::engagement::reach`]).
    pub async fn rank_channels(
        &self,
        record: &super::model::PersonRecord,
        anonymous_ids: &[String],
    ) -> Result<ChannelRanking, crate::problem::Problem> {
        use crate::engagement::reach::{self, ChannelTallies, Strengths};
        use crate::storage::reach as tallies;
        let catalog = self.catalog.current().await?;
        let segments: Vec<String> = catalog
            .segments_of(&catalog.person_traits(&record.traits))
            .into_iter()
            .map(String::from)
            .collect();
        let since = chrono::Utc::now() - chrono::Duration::days(REACH_WINDOW_DAYS);
        let mut keys = vec![record.sticky_key.clone()];
        keys.extend(anonymous_ids.iter().map(|id| format!("anon:{id}")));
        let person = tallies::person(&self.db, &keys, since).await?;
        let segment = tallies::segments(&self.db, &segments, since).await?;
        let everyone = tallies::everyone(&self.db, since.date_naive()).await?;
        let db = self.db.clone();
        let strengths = self
            .reach_strengths
            .try_get_with((), async move {
                let by_segments = tallies::groups(&db, "segments", since).await?;
                let by_person = tallies::groups(&db, "person_key", since).await?;
                let channels: std::collections::BTreeSet<&String> =
                    by_segments.keys().chain(by_person.keys()).collect();
                let fitted: ReachStrengths = channels
                    .into_iter()
                    .map(|c| {
                        let fit =
                            |groups: &std::collections::BTreeMap<String, Vec<reach::Tally>>| {
                                groups
                                    .get(c)
                                    .map_or(reach::DEFAULT_STRENGTH, |g| reach::fitted_strength(g))
                            };
                        (
                            c.clone(),
                            Strengths {
                                segment: fit(&by_segments),
                                person: fit(&by_person),
                            },
                        )
                    })
                    .collect();
                Ok::<_, crate::storage::StorageError>(std::sync::Arc::new(fitted))
            })
            .await
            .map_err(|e| {
                crate::problem::Problem::from(crate::storage::StorageError::Db(
                    sea_orm::DbErr::Custom(e.to_string()),
                ))
            })?;
        let mut ranked = Vec::new();
        let mut excluded = Vec::new();
        for channel in &catalog.channels {
            let id = channel.id.to_string();
            if !channel.serves() {
                excluded.push(ExcludedChannel {
                    channel: id,
                    reason: "not_serving",
                });
                continue;
            }
            if record.consents.get(&id) == Some(&false) {
                excluded.push(ExcludedChannel {
                    channel: id,
                    reason: "opted_out",
                });
                continue;
            }
            let strength = strengths.get(&id).copied().unwrap_or(Strengths {
                segment: reach::DEFAULT_STRENGTH,
                person: reach::DEFAULT_STRENGTH,
            });
            ranked.push((
                ChannelTallies {
                    person: person.get(&id).copied().unwrap_or_default(),
                    segment: segment.get(&id).copied().unwrap_or_default(),
                    global: everyone.get(&id).copied().unwrap_or_default(),
                    channel: id,
                },
                strength,
            ));
        }
        Ok(ChannelRanking {
            person_id: record.id.clone(),
            metric: "click_through",
            window_days: REACH_WINDOW_DAYS,
            segments,
            channels: reach::rank(&ranked),
            excluded,
        })
    }
}
