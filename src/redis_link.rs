//! This node's link to Redis: one multiplexed connection shared by every request,
//! calls bounded and behind the Redis breaker ([`crate::resilience`]), and the pub/sub
//! subscriptions that keep nodes in step.
//!
//! Nothing here waits for Redis at start-up: the connection is made on first use and
//! remade in the background after a loss, so a node starts and serves with Redis down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::{FromRedisValue, RedisError};

use crate::resilience::{CallError, Dependency};

/// How long a listener waits before subscribing again after a failure.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// Bound on an announcement (a delete and a publish telling the other nodes of a
/// change). Announcements run beside requests, not in them, so they can afford to
/// wait out a busy moment; a failed one is held and sent again.
pub const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct RedisLink {
    client: redis::Client,
    manager: ConnectionManager,
    dependency: Arc<Dependency>,
    /// Bound on connecting (the probe's bound, not a request's: a connection is made
    /// in the background, and requests do not wait for it longer than their timeout).
    connect_timeout: Duration,
}

/// Errors that say Redis was not reachable, as opposed to Redis answering with an error.
fn is_outage(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

impl RedisLink {
    /// `request_timeout` bounds every request's call; `connect_timeout` each attempt
    /// to connect.
    pub fn new(
        url: &str,
        request_timeout: Duration,
        connect_timeout: Duration,
        dependency: Arc<Dependency>,
    ) -> Result<RedisLink, RedisError> {
        let client = redis::Client::open(url)?;
        // The connection's own bound is the longest any caller accepts (an
        // announcement); requests bound their calls more tightly themselves.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(request_timeout.max(ANNOUNCE_TIMEOUT)))
            // One attempt per reconnection; the probe and the next call try again.
            .set_number_of_retries(0)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(RedisLink {
            client,
            manager,
            dependency,
            connect_timeout,
        })
    }

    pub fn dependency(&self) -> &Arc<Dependency> {
        &self.dependency
    }

    /// One command from a request: at most the Redis timeout, nothing while the
    /// breaker is open.
    pub async fn query<T: FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, CallError<RedisError>> {
        let mut conn = self.manager.clone();
        self.dependency
            .call(command.query_async(&mut conn), is_outage)
            .await
    }

    /// One command bounded by `timeout` instead of the request timeout (announcements).
    pub async fn query_within<T: FromRedisValue>(
        &self,
        command: &redis::Cmd,
        timeout: Duration,
    ) -> Result<T, CallError<RedisError>> {
        let mut conn = self.manager.clone();
        self.dependency
            .call_within(timeout, command.query_async(&mut conn), is_outage)
            .await
    }

    /// Several commands in one round trip, bounded and through the breaker like one.
    pub async fn pipeline_within<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
        timeout: Duration,
    ) -> Result<T, CallError<RedisError>> {
        let mut conn = self.manager.clone();
        self.dependency
            .call_within(timeout, pipeline.query_async(&mut conn), is_outage)
            .await
    }

    /// The background probe: a `PING` that bypasses the breaker (it is what closes it).
    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.manager.clone();
        let pong: Result<String, RedisError> = redis::cmd("PING").query_async(&mut conn).await;
        match pong {
            Ok(_) => Ok(()),
            Err(e) => Err(describe(&e)),
        }
    }

    async fn subscribe(&self, channel: &str) -> Result<PubSub, String> {
        let bounded = tokio::time::timeout(self.connect_timeout, async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, RedisError>(pubsub)
        });
        match bounded.await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.connect_timeout.as_millis()
            )),
        }
    }

    /// Hands every message on `channel` to `on_message`. Messages sent while this node
    /// was not subscribed are lost, so after every (re)subscription `on_subscribed`
    /// runs first, to revalidate whatever they could have said; and when the probe
    /// finds Redis back after an outage, the node subscribes afresh (a silent server
    /// may have left the old subscription looking alive). Runs until aborted.
    pub async fn listen<M, S>(
        self,
        channel: &'static str,
        on_message: impl Fn(String) -> M,
        on_subscribed: impl Fn() -> S,
        on_lost: impl Fn(),
    ) where
        M: Future<Output = ()>,
        S: Future<Output = ()>,
    {
        let mut recoveries = self.dependency.recoveries();
        loop {
            match self.subscribe(channel).await {
                Ok(pubsub) => {
                    recoveries.mark_unchanged();
                    on_subscribed().await;
                    let subscribed = self
                        .dependency
                        .metrics()
                        .redis_subscribed
                        .with_label_values(&[channel]);
                    subscribed.set(1);
                    let mut messages = pubsub.into_on_message();
                    let redis_came_back = loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(message) => {
                                    on_message(message.get_payload().unwrap_or_default()).await
                                }
                                None => break false,
                            },
                            _ = recoveries.changed() => break true,
                        }
                    };
                    subscribed.set(0);
                    on_lost();
                    if redis_came_back {
                        tracing::info!(channel, "redis is back; subscribing afresh");
                        continue;
                    }
                    tracing::warn!(channel, "redis subscription ended; subscribing again");
                }
                // While the probe reports Redis down it has said so once already.
                Err(reason) if self.dependency.status().state == "down" => {
                    tracing::debug!(channel, reason, "redis subscribe failed; retrying")
                }
                Err(reason) => {
                    tracing::warn!(channel, reason, "redis subscribe failed; retrying")
                }
            }
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
        }
    }
}

/// What went wrong, without the URL (it may carry a password).
fn describe(e: &RedisError) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connection_refusal() {
        "connection refused".into()
    } else if e.is_connection_dropped() {
        "connection dropped".into()
    } else if e.is_io_error() {
        "i/o error".into()
    } else {
        format!("{:?}", e.kind())
    }
}
