//! Identity: the graph of identifiers (typed nodes), the links identify calls made
//! between them, and the people they form (connected components, materialised as each
//! identifier's `person_id`). Traits and channel consents hang off the person. Merges
//! and refused merges (conflicts) are kept for review, and the audit log records
//! privacy actions. Segments (rules over traits) are content, like traits.

use sea_orm_migration::prelude::*;

use crate::columns::{serial, text_key, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
    Definition,
    ContentHash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum People {
    Table,
    Id,
    /// What the person's sticky bucket, frequency caps and events are keyed by: the
    /// first anonymous id they were seen with, so choices made before a login survive it.
    StickyKey,
    CreatedAt,
    UpdatedAt,
    /// Set when this person was merged into an older one (a tombstone for audits).
    MergedInto,
}

#[derive(DeriveIden)]
enum Identifiers {
    Table,
    Kind,
    Value,
    PersonId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdentityLinks {
    Table,
    FromKind,
    FromValue,
    ToKind,
    ToValue,
    PersonId,
    Actor,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PersonTraits {
    Table,
    PersonId,
    Name,
    Value,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PersonConsents {
    Table,
    PersonId,
    Channel,
    Granted,
    Source,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IdentityMerges {
    Table,
    Id,
    SurvivorId,
    MergedId,
    Identifiers,
    Actor,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdentityConflicts {
    Table,
    Id,
    Kind,
    PersonIds,
    Detail,
    Actor,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    Actor,
    Action,
    Target,
    Detail,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table(Segments::Table)
                .if_not_exists()
                .col(text_key(Segments::Id, 64).primary_key())
                .col(ColumnDef::new(Segments::Definition).text().not_null())
                .col(text_key(Segments::ContentHash, 32))
                .col(timestamp(Segments::UpdatedAt))
                .to_owned(),
            Table::create()
                .table(People::Table)
                .if_not_exists()
                .col(text_key(People::Id, 36).primary_key())
                .col(text_key(People::StickyKey, 300))
                .col(timestamp(People::CreatedAt))
                .col(timestamp(People::UpdatedAt))
                .col(ColumnDef::new(People::MergedInto).string_len(36).null())
                .to_owned(),
            Table::create()
                .table(Identifiers::Table)
                .if_not_exists()
                .col(text_key(Identifiers::Kind, 32))
                .col(text_key(Identifiers::Value, 256))
                .col(text_key(Identifiers::PersonId, 36))
                .col(timestamp(Identifiers::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(Identifiers::Kind)
                        .col(Identifiers::Value),
                )
                .to_owned(),
            Table::create()
                .table(IdentityLinks::Table)
                .if_not_exists()
                .col(text_key(IdentityLinks::FromKind, 32))
                .col(text_key(IdentityLinks::FromValue, 256))
                .col(text_key(IdentityLinks::ToKind, 32))
                .col(text_key(IdentityLinks::ToValue, 256))
                .col(text_key(IdentityLinks::PersonId, 36))
                .col(text_key(IdentityLinks::Actor, 200))
                .col(timestamp(IdentityLinks::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(IdentityLinks::FromKind)
                        .col(IdentityLinks::FromValue)
                        .col(IdentityLinks::ToKind)
                        .col(IdentityLinks::ToValue),
                )
                .to_owned(),
            Table::create()
                .table(PersonTraits::Table)
                .if_not_exists()
                .col(text_key(PersonTraits::PersonId, 36))
                .col(text_key(PersonTraits::Name, 64))
                .col(ColumnDef::new(PersonTraits::Value).text().not_null())
                .col(timestamp(PersonTraits::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(PersonTraits::PersonId)
                        .col(PersonTraits::Name),
                )
                .to_owned(),
            Table::create()
                .table(PersonConsents::Table)
                .if_not_exists()
                .col(text_key(PersonConsents::PersonId, 36))
                .col(text_key(PersonConsents::Channel, 64))
                .col(ColumnDef::new(PersonConsents::Granted).boolean().not_null())
                .col(text_key(PersonConsents::Source, 32))
                .col(timestamp(PersonConsents::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(PersonConsents::PersonId)
                        .col(PersonConsents::Channel),
                )
                .to_owned(),
            Table::create()
                .table(IdentityMerges::Table)
                .if_not_exists()
                .col(serial(IdentityMerges::Id))
                .col(text_key(IdentityMerges::SurvivorId, 36))
                .col(text_key(IdentityMerges::MergedId, 36))
                .col(
                    ColumnDef::new(IdentityMerges::Identifiers)
                        .text()
                        .not_null(),
                )
                .col(text_key(IdentityMerges::Actor, 200))
                .col(timestamp(IdentityMerges::CreatedAt))
                .to_owned(),
            Table::create()
                .table(IdentityConflicts::Table)
                .if_not_exists()
                .col(serial(IdentityConflicts::Id))
                .col(text_key(IdentityConflicts::Kind, 32))
                .col(
                    ColumnDef::new(IdentityConflicts::PersonIds)
                        .text()
                        .not_null(),
                )
                .col(ColumnDef::new(IdentityConflicts::Detail).text().not_null())
                .col(text_key(IdentityConflicts::Actor, 200))
                .col(timestamp(IdentityConflicts::CreatedAt))
                .to_owned(),
            Table::create()
                .table(AuditLog::Table)
                .if_not_exists()
                .col(serial(AuditLog::Id))
                .col(text_key(AuditLog::Actor, 200))
                .col(text_key(AuditLog::Action, 64))
                .col(text_key(AuditLog::Target, 200))
                .col(ColumnDef::new(AuditLog::Detail).text().not_null())
                .col(timestamp(AuditLog::CreatedAt))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        let indexes = [
            Index::create()
                .name("idx_identifiers_person")
                .table(Identifiers::Table)
                .col(Identifiers::PersonId)
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_identity_links_person")
                .table(IdentityLinks::Table)
                .col(IdentityLinks::PersonId)
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_identity_merges_survivor")
                .table(IdentityMerges::Table)
                .col(IdentityMerges::SurvivorId)
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_identity_merges_merged")
                .table(IdentityMerges::Table)
                .col(IdentityMerges::MergedId)
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_people_merged_into")
                .table(People::Table)
                .col(People::MergedInto)
                .if_not_exists()
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            IdentityConflicts::Table.into_iden(),
            IdentityMerges::Table.into_iden(),
            PersonConsents::Table.into_iden(),
            PersonTraits::Table.into_iden(),
            IdentityLinks::Table.into_iden(),
            Identifiers::Table.into_iden(),
            People::Table.into_iden(),
            Segments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
