//! Engagement integrity: every event says where it came from (`source`: a keyed hash of
//! the client network, or the verified person) and its traffic class (`human`, `bot`,
//! `unknown`). Two rollups keep what governance and reports need: judged events per
//! source (diversity of the evidence) and events per traffic class (the bot share).

use sea_orm_migration::prelude::*;

use crate::columns::{rollup_table, text_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Source,
    Traffic,
}

/// Judged (non-bot) events per day, decision dimensions, source and evidence kind (the
/// event kind, or the survey kind for feedback).
#[derive(DeriveIden)]
enum SourceDaily {
    Table,
    Source,
    Kind,
    Events,
}

/// Every event per day, decision dimensions and traffic class, bots included.
#[derive(DeriveIden)]
enum TrafficDaily {
    Table,
    Traffic,
    Events,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds columns one at a time.
        for column in [
            ColumnDef::new(Events::Source)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(Events::Traffic)
                .string_len(8)
                .null()
                .to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Events::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(rollup_table(
                SourceDaily::Table,
                vec![
                    text_key(SourceDaily::Source, 64),
                    text_key(SourceDaily::Kind, 16),
                ],
                vec![SourceDaily::Events.into_iden()],
            ))
            .await?;
        manager
            .create_table(rollup_table(
                TrafficDaily::Table,
                vec![text_key(TrafficDaily::Traffic, 8)],
                vec![TrafficDaily::Events.into_iden()],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TrafficDaily::Table.into_iden(),
            SourceDaily::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        for column in [Events::Traffic.into_iden(), Events::Source.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Events::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
