//! What the authoring area holds: the database, the live catalog it publishes into, the
//! CDN purger and what preview needs to sign tracking tokens the way delivery does.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::catalog::live::LiveCatalog;
use crate::delivery::purge::Purger;
use crate::tokens::Signer;

pub struct Authoring {
    pub db: DatabaseConnection,
    pub catalog: LiveCatalog,
    pub purger: Purger,
    pub default_locale: String,
    pub signer: Arc<Signer>,
}
