//! Authoring history: every saved version of a placement, a variant or a Fluent
//! resource, with who wrote it and where it stands in the review workflow. The live
//! tables (`placements`, `variants`, `fluent_resources`) keep serving what was
//! published; this table keeps everything else, so any two versions can be compared.

use sea_orm_migration::prelude::*;

use crate::columns::{serial, text_key, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ContentVersions {
    Table,
    Id,
    /// `placement`, `variant` or `fluent`.
    Kind,
    /// Placement id, variant id, or `<locale>/<file>.ftl`.
    Target,
    Version,
    /// `draft`, `in_review`, `approved`, `published`, `archived` or `superseded`.
    State,
    /// The definition as JSON (placements, variants) or the Fluent source.
    Document,
    /// A variant's placement.
    PlacementId,
    Author,
    CreatedAt,
    ChangedBy,
    ChangedAt,
    /// The reviewer's or publisher's note on the last change of state.
    Note,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ContentVersions::Table)
                    .if_not_exists()
                    .col(serial(ContentVersions::Id))
                    .col(text_key(ContentVersions::Kind, 16))
                    .col(text_key(ContentVersions::Target, 200))
                    .col(
                        ColumnDef::new(ContentVersions::Version)
                            .integer()
                            .not_null(),
                    )
                    .col(text_key(ContentVersions::State, 16))
                    .col(ColumnDef::new(ContentVersions::Document).text().not_null())
                    .col(
                        ColumnDef::new(ContentVersions::PlacementId)
                            .string_len(64)
                            .null(),
                    )
                    .col(text_key(ContentVersions::Author, 200))
                    .col(timestamp(ContentVersions::CreatedAt))
                    .col(text_key(ContentVersions::ChangedBy, 200))
                    .col(timestamp(ContentVersions::ChangedAt))
                    .col(ColumnDef::new(ContentVersions::Note).text().null())
                    .to_owned(),
            )
            .await?;
        // Two editors saving at once: the second insert of the same number fails.
        manager
            .create_index(
                Index::create()
                    .name("idx_content_versions_target_version")
                    .table(ContentVersions::Table)
                    .col(ContentVersions::Kind)
                    .col(ContentVersions::Target)
                    .col(ContentVersions::Version)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_content_versions_state")
                    .table(ContentVersions::Table)
                    .col(ContentVersions::Kind)
                    .col(ContentVersions::State)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ContentVersions::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
