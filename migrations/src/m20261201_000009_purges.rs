//! The purge log: every CDN purge Tailor sends (one row per provider and round), with its
//! outcome, so staff can see whether a change left stale copies at the edge.

use sea_orm_migration::prelude::*;

use crate::columns::{serial, text_key, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Purges {
    Table,
    Id,
    CreatedAt,
    /// webhook | fastly | cloudflare
    Provider,
    /// 1: when the change was made; 2: once every node has it (a slower node may have
    /// handed the old copy to the CDN just after the first).
    Round,
    /// The surrogate keys, space-separated.
    Keys,
    Reason,
    Generation,
    /// pending | sent | failed
    Status,
    Attempts,
    /// What went wrong last (a status code or a transport error; never a credential).
    LastError,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Purges::Table)
                    .if_not_exists()
                    .col(serial(Purges::Id))
                    .col(timestamp(Purges::CreatedAt))
                    .col(text_key(Purges::Provider, 16))
                    .col(ColumnDef::new(Purges::Round).integer().not_null())
                    .col(ColumnDef::new(Purges::Keys).text().not_null())
                    .col(ColumnDef::new(Purges::Reason).text().not_null())
                    .col(ColumnDef::new(Purges::Generation).big_integer().not_null())
                    .col(text_key(Purges::Status, 16))
                    .col(ColumnDef::new(Purges::Attempts).integer().not_null())
                    .col(ColumnDef::new(Purges::LastError).text().null())
                    .col(
                        ColumnDef::new(Purges::FinishedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Purges::Table).if_exists().to_owned())
            .await
    }
}
