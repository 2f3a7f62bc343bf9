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

/// A daily rollup table: keyed by day, the decision's dimensions and `extra_keys`, with
/// `counters` that start at zero (all three rollups share this shape).
pub fn rollup_table(
    table: impl IntoIden,
    extra_keys: Vec<ColumnDef>,
    counters: Vec<DynIden>,
) -> TableCreateStatement {
    let mut create = Table::create();
    create.table(table).if_not_exists();
    let mut primary = Index::create();
    let mut keys = vec![ColumnDef::new(Alias::new("day"))
        .date()
        .not_null()
        .to_owned()];
    for dimension in ["placement", "variant", "channel", "device", "locale"] {
        keys.push(
            ColumnDef::new(Alias::new(dimension))
                .string_len(64)
                .not_null()
                .to_owned(),
        );
    }
    keys.extend(extra_keys);
    for mut key in keys {
        primary.col(key.get_column_name());
        create.col(&mut key);
    }
    for column in counters {
        create.col(counter(column));
    }
    create.primary_key(&mut primary);
    create.to_owned()
}

pub fn counter(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}
