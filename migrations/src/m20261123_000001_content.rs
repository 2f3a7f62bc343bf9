//! The content catalog: channels (with their governance state), traits, placements,
//! variants and Fluent resources, stored as JSON documents with a content hash so an
//! import can tell what changed; plus a small key/value table for node-shared settings
//! (the catalog generation, the generated signing secret).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Channels {
    Table,
    Id,
    State,
    Definition,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Traits {
    Table,
    Id,
    Definition,
    ContentHash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Placements {
    Table,
    Id,
    Definition,
    ContentHash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Variants {
    Table,
    Id,
    PlacementId,
    Version,
    State,
    Definition,
    ContentHash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FluentResources {
    Table,
    Locale,
    Path,
    Source,
    ContentHash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum KeyValues {
    Table,
    Key,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Channels::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Channels::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Channels::State).string_len(16).not_null())
                    .col(ColumnDef::new(Channels::Definition).text().not_null())
                    .col(
                        ColumnDef::new(Channels::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Traits::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Traits::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Traits::Definition).text().not_null())
                    .col(
                        ColumnDef::new(Traits::ContentHash)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Traits::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Placements::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Placements::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Placements::Definition).text().not_null())
                    .col(
                        ColumnDef::new(Placements::ContentHash)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Placements::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Variants::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Variants::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Variants::PlacementId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Variants::Version).integer().not_null())
                    .col(ColumnDef::new(Variants::State).string_len(16).not_null())
                    .col(ColumnDef::new(Variants::Definition).text().not_null())
                    .col(
                        ColumnDef::new(Variants::ContentHash)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Variants::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_variants_placement")
                            .from(Variants::Table, Variants::PlacementId)
                            .to(Placements::Table, Placements::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_variants_placement")
                    .table(Variants::Table)
                    .col(Variants::PlacementId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FluentResources::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(FluentResources::Locale)
                            .string_len(35)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FluentResources::Path)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(FluentResources::Source).text().not_null())
                    .col(
                        ColumnDef::new(FluentResources::ContentHash)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FluentResources::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(FluentResources::Locale)
                            .col(FluentResources::Path),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KeyValues::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(KeyValues::Key)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(KeyValues::Value).text().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            FluentResources::Table.into_iden(),
            Variants::Table.into_iden(),
            Placements::Table.into_iden(),
            Traits::Table.into_iden(),
            Channels::Table.into_iden(),
            KeyValues::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
