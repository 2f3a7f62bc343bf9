//! Column shapes the migrations share, so the same kind of column is declared the same
//! way in every table.

use sea_orm_migration::prelude::*;

/// A required string of at most `len` characters.
pub fn text_key(column: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(column).string_len(len).not_null().to_owned()
}

/// A required timestamp with time zone.
pub fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// A 64-bit auto-incremented primary key.
pub fn serial(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}
