//! Judged events per day of *arrival* (not the day they claim to have happened), per
//! decision dimensions and evidence kind: the volume-jump breaker reads it, so a flood
//! that backdates `occurred_at` over weeks still shows as the one day it arrived.

use sea_orm_migration::prelude::*;

use crate::columns::{rollup_table, text_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ArrivalsDaily {
    Table,
    Kind,
    Events,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(rollup_table(
                ArrivalsDaily::Table,
                vec![text_key(ArrivalsDaily::Kind, 16)],
                vec![ArrivalsDaily::Events.into_iden()],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ArrivalsDaily::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
