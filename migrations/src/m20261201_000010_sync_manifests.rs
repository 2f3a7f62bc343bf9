//! What an offline sync handed out: each distinct manifest (per placement and asked
//! locale, the digest of what was served) under its own hash, so a later
//! `GET /v1/sync?since=<token>` answers only what changed since, on any node.

use sea_orm_migration::prelude::*;

use crate::columns::{text_key, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncManifests {
    Table,
    /// The manifest's content hash (hex): the same content is stored once.
    Id,
    CreatedAt,
    /// JSON: `[{"placement", "locale", "digest", "variant"}]`.
    Manifest,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SyncManifests::Table)
                    .if_not_exists()
                    .col(text_key(SyncManifests::Id, 64).primary_key())
                    .col(timestamp(SyncManifests::CreatedAt))
                    .col(ColumnDef::new(SyncManifests::Manifest).text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(SyncManifests::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
