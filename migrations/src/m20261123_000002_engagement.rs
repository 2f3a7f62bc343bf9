//! Engagement: every accepted event once (the primary key is the client's event id, so a
//! repeat is a duplicate on every node and after every restart), daily rollups kept up
//! to date by the event writer, and the impression→outcome velocity histogram.

use sea_orm_migration::prelude::*;

use crate::columns::rollup_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    EventId,
    Kind,
    OccurredAt,
    ReceivedAt,
    Placement,
    Variant,
    Version,
    Channel,
    Device,
    Locale,
    PersonKey,
    RevenueMinor,
    Currency,
    FeedbackKind,
    Score,
    Comment,
    Link,
}

/// Each person's first impression of each variant: what velocity is measured from,
/// looked up by key instead of scanning the event log.
#[derive(DeriveIden)]
enum FirstImpressions {
    Table,
    PersonKey,
    Placement,
    Variant,
    FirstAt,
}

#[derive(DeriveIden)]
enum EngagementDaily {
    Table,
    Impressions,
    Views,
    Clicks,
    Conversions,
    Dismissals,
    OptIns,
    OptOuts,
    Shares,
    CsatCount,
    CsatSum,
    NpsCount,
    NpsSum,
    NpsPromoters,
    NpsDetractors,
    CesCount,
    CesSum,
}

#[derive(DeriveIden)]
enum RevenueDaily {
    Table,
    Currency,
    Conversions,
    AmountMinor,
}

#[derive(DeriveIden)]
enum VelocityDaily {
    Table,
    Outcome,
    Bucket,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Events::EventId)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Events::Kind).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Events::OccurredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Events::ReceivedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Events::Placement).string_len(64).not_null())
                    .col(ColumnDef::new(Events::Variant).string_len(64).not_null())
                    .col(ColumnDef::new(Events::Version).integer().not_null())
                    .col(ColumnDef::new(Events::Channel).string_len(64).not_null())
                    .col(ColumnDef::new(Events::Device).string_len(16).not_null())
                    .col(ColumnDef::new(Events::Locale).string_len(35).not_null())
                    .col(ColumnDef::new(Events::PersonKey).string_len(160).null())
                    .col(ColumnDef::new(Events::RevenueMinor).big_integer().null())
                    .col(ColumnDef::new(Events::Currency).string_len(3).null())
                    .col(ColumnDef::new(Events::FeedbackKind).string_len(8).null())
                    .col(ColumnDef::new(Events::Score).small_integer().null())
                    .col(ColumnDef::new(Events::Comment).text().null())
                    .col(ColumnDef::new(Events::Link).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_person_placement")
                    .table(Events::Table)
                    .col(Events::PersonKey)
                    .col(Events::Placement)
                    .col(Events::OccurredAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(FirstImpressions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(FirstImpressions::PersonKey)
                            .string_len(160)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FirstImpressions::Placement)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FirstImpressions::Variant)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FirstImpressions::FirstAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(FirstImpressions::PersonKey)
                            .col(FirstImpressions::Placement)
                            .col(FirstImpressions::Variant),
                    )
                    .to_owned(),
            )
            .await?;

        let daily_counters = [
            EngagementDaily::Impressions,
            EngagementDaily::Views,
            EngagementDaily::Clicks,
            EngagementDaily::Conversions,
            EngagementDaily::Dismissals,
            EngagementDaily::OptIns,
            EngagementDaily::OptOuts,
            EngagementDaily::Shares,
            EngagementDaily::CsatCount,
            EngagementDaily::CsatSum,
            EngagementDaily::NpsCount,
            EngagementDaily::NpsSum,
            EngagementDaily::NpsPromoters,
            EngagementDaily::NpsDetractors,
            EngagementDaily::CesCount,
            EngagementDaily::CesSum,
        ];
        manager
            .create_table(rollup_table(
                EngagementDaily::Table,
                vec![],
                daily_counters
                    .into_iter()
                    .map(IntoIden::into_iden)
                    .collect(),
            ))
            .await?;
        manager
            .create_table(rollup_table(
                RevenueDaily::Table,
                vec![ColumnDef::new(RevenueDaily::Currency)
                    .string_len(3)
                    .not_null()
                    .to_owned()],
                vec![
                    RevenueDaily::Conversions.into_iden(),
                    RevenueDaily::AmountMinor.into_iden(),
                ],
            ))
            .await?;
        manager
            .create_table(rollup_table(
                VelocityDaily::Table,
                vec![
                    ColumnDef::new(VelocityDaily::Outcome)
                        .string_len(16)
                        .not_null()
                        .to_owned(),
                    ColumnDef::new(VelocityDaily::Bucket)
                        .small_integer()
                        .not_null()
                        .to_owned(),
                ],
                vec![VelocityDaily::Count.into_iden()],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            VelocityDaily::Table.into_iden(),
            RevenueDaily::Table.into_iden(),
            EngagementDaily::Table.into_iden(),
            FirstImpressions::Table.into_iden(),
            Events::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
