//! NPS detractors (scores 0–6) per source: `source_daily` rows of kind
//! `nps_detractor`, which new events write beside their evidence kind, backfilled from
//! the stored events so adaptive allocation's survey guardrail sees the whole window
//! from the first recompute (otherwise old answers would count with no detractors).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // The UTC day an event happened, as the rollups key it.
        let day = match manager.get_database_backend() {
            DbBackend::Postgres => "CAST((occurred_at AT TIME ZONE 'UTC') AS DATE)",
            _ => "DATE(occurred_at)",
        };
        db.execute_unprepared(&format!(
            "INSERT INTO source_daily \
               (day, placement, variant, channel, device, locale, source, kind, events) \
             SELECT {day}, placement, variant, channel, device, locale, source, \
                    'nps_detractor', COUNT(*) \
             FROM events \
             WHERE kind = 'feedback' AND feedback_kind = 'nps' AND score <= 6 \
               AND source IS NOT NULL AND (traffic IS NULL OR traffic <> 'bot') \
             GROUP BY {day}, placement, variant, channel, device, locale, source \
             ON CONFLICT (day, placement, variant, channel, device, locale, source, kind) \
             DO UPDATE SET events = excluded.events"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM source_daily WHERE kind = 'nps_detractor'")
            .await?;
        Ok(())
    }
}
