//! Governance: retirement policies (content, like segments), each target's run of
//! failing evaluations per policy, the decisions with their evidence and who acted,
//! and the governance state of variants (channels keep theirs on the channel row).

use sea_orm_migration::prelude::*;

use crate::columns::{text_key, timestamp};

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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table(GovernancePolicies::Table)
                .if_not_exists()
                .col(text_key(GovernancePolicies::Id, 64).primary_key())
                .col(
                    ColumnDef::new(GovernancePolicies::Definition)
                        .text()
                        .not_null(),
                )
                .col(text_key(GovernancePolicies::ContentHash, 32))
                .col(timestamp(GovernancePolicies::UpdatedAt))
                .to_owned(),
            Table::create()
                .table(GovernanceStatus::Table)
                .if_not_exists()
                .col(text_key(GovernanceStatus::Scope, 16))
                .col(text_key(GovernanceStatus::Target, 200))
                .col(text_key(GovernanceStatus::PolicyId, 64))
                .col(
                    ColumnDef::new(GovernanceStatus::Failures)
                        .integer()
                        .not_null(),
                )
                .col(text_key(GovernanceStatus::LastPeriod, 10))
                .col(text_key(GovernanceStatus::LastVerdict, 16))
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
                .col(text_key(GovernanceDecisions::Period, 10))
                .col(text_key(GovernanceDecisions::Scope, 16))
                .col(text_key(GovernanceDecisions::Target, 200))
                .col(text_key(GovernanceDecisions::PolicyId, 64))
                .col(text_key(GovernanceDecisions::Action, 16))
                .col(text_key(GovernanceDecisions::Status, 16))
                .col(
                    ColumnDef::new(GovernanceDecisions::Evidence)
                        .text()
                        .not_null(),
                )
                .col(text_key(GovernanceDecisions::ProposedBy, 200))
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
                .col(text_key(GovernanceStates::Scope, 16))
                .col(text_key(GovernanceStates::Target, 200))
                .col(text_key(GovernanceStates::State, 16))
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
