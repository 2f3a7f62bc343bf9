//! Structured logs via `tracing`. `RUST_LOG` filters (default `info`); `log_format`
//! chooses text or JSON lines. Request logs carry routes, never identifiers: people
//! appear only as keyed hashes (see [`crate::identity::Person::log_id`]).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
