//! Governance: retirement policies (content, like segments), each target's run of
//! failing evaluations per policy, the decisions with their evidence and who acted,
//! and the governance state of variants (channels keep theirs on the channel row).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum GovernancePolicies {
    Table,
    Id,
    Definition,
    ContentHash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GovernanceStatus {
    Table,
    Scope,
    Target,
    PolicyId,
    /// Consecutive failing evaluation periods.
    Failures,
    /// The evaluation period (a UTC day) last counted: a second run in the same period
    /// changes nothing.
    LastPeriod,
    LastVerdict,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GovernanceDecisions {
    Table,
    Id,
    Period,
    Scope,
    Target,
    PolicyId,
    /// at_risk | retire | reinstate
    Action,
    /// recorded | applied | pending | reviewed | approved | rejected
    Status,
    Evidence,
    ProposedBy,
    ReviewedBy,
    ReviewComment,
    DecidedBy,
    DecisionComment,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GovernanceStates {
    Table,
    Scope,
    Target,
    State,
    UpdatedAt,
}

fn text(column: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(column).string_len(len).not_null().to_owned()
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table(GovernancePolicies::Table)
                .if_not_exists()
                .col(text(GovernancePolicies::Id, 64).primary_key())
                .col(
                    ColumnDef::new(GovernancePolicies::Definition)
                        .text()
                        .not_null(),
                )
                .col(text(GovernancePolicies::ContentHash, 32))
                .col(timestamp(GovernancePolicies::UpdatedAt))
                .to_owned(),
            Table::create()
                .table(GovernanceStatus::Table)
                .if_not_exists()
                .col(text(GovernanceStatus::Scope, 16))
                .col(text(GovernanceStatus::Target, 200))
                .col(text(GovernanceStatus::PolicyId, 64))
                .col(
                    ColumnDef::new(GovernanceStatus::Failures)
                        .integer()
                        .not_null(),
                )
                .col(text(GovernanceStatus::LastPeriod, 10))
                .col(text(GovernanceStatus::LastVerdict, 16))
                .col(timestamp(GovernanceStatus::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(GovernanceStatus::Scope)
                        .col(GovernanceStatus::Target)
                        .col(GovernanceStatus::PolicyId),
                )
                .to_owned(),
            Table::create()
                .table(GovernanceDecisions::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(GovernanceDecisions::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(text(GovernanceDecisions::Period, 10))
                .col(text(GovernanceDecisions::Scope, 16))
                .col(text(GovernanceDecisions::Target, 200))
                .col(text(GovernanceDecisions::PolicyId, 64))
                .col(text(GovernanceDecisions::Action, 16))
                .col(text(GovernanceDecisions::Status, 16))
                .col(
                    ColumnDef::new(GovernanceDecisions::Evidence)
                        .text()
                        .not_null(),
                )
                .col(text(GovernanceDecisions::ProposedBy, 200))
                .col(
                    ColumnDef::new(GovernanceDecisions::ReviewedBy)
                        .string_len(200)
                        .null(),
                )
                .col(
                    ColumnDef::new(GovernanceDecisions::ReviewComment)
                        .text()
                        .null(),
                )
                .col(
                    ColumnDef::new(GovernanceDecisions::DecidedBy)
                        .string_len(200)
                        .null(),
                )
                .col(
                    ColumnDef::new(GovernanceDecisions::DecisionComment)
                        .text()
                        .null(),
                )
                .col(timestamp(GovernanceDecisions::CreatedAt))
                .col(timestamp(GovernanceDecisions::UpdatedAt))
                .to_owned(),
            Table::create()
                .table(GovernanceStates::Table)
                .if_not_exists()
                .col(text(GovernanceStates::Scope, 16))
                .col(text(GovernanceStates::Target, 200))
                .col(text(GovernanceStates::State, 16))
                .col(timestamp(GovernanceStates::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(GovernanceStates::Scope)
                        .col(GovernanceStates::Target),
                )
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_governance_decisions_target")
                    .table(GovernanceDecisions::Table)
                    .col(GovernanceDecisions::Scope)
                    .col(GovernanceDecisions::Target)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            GovernanceStates::Table.into_iden(),
            GovernanceDecisions::Table.into_iden(),
            GovernanceStatus::Table.into_iden(),
            GovernancePolicies::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
