//! The sixteen engagement counters of the daily rollup, declared once.
//!
//! [`Counter::ALL`] lists them in the order of the `engagement_daily` columns, and
//! [`Counter`]'s one table says, per counter, its column, what it counts of an event
//! ([`Measure`]) and its field of [`Counts`]. Everything that handles the counters as a
//! set (the rollup arithmetic, the writer's column list, values and `ON CONFLICT`
//! additions, the `SUM(...)` reads and the event-log sums by segment) iterates this
//! table, so a counter cannot be dropped or misplaced in one of them.

use super::event::{EventKind, FeedbackKind, NewEvent};

/// Increments to one daily rollup row, or sums of rows.
///
/// Named fields, because readers (governance, reports) use counters by name; code that
/// handles all of them goes through [`Counter`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub impressions: i64,
    pub views: i64,
    pub clicks: i64,
    pub conversions: i64,
    pub dismissals: i64,
    pub opt_ins: i64,
    pub opt_outs: i64,
    pub shares: i64,
    pub csat_count: i64,
    pub csat_sum: i64,
    pub nps_count: i64,
    pub nps_sum: i64,
    pub nps_promoters: i64,
    pub nps_detractors: i64,
    pub ces_count: i64,
    pub ces_sum: i64,
}

/// One counter of [`Counts`], named as its `engagement_daily` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
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

/// What a counter counts of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Events of a kind.
    Events(EventKind),
    /// Answers to a survey.
    Answers(FeedbackKind),
    /// The sum of a survey's scores.
    ScoreSum(FeedbackKind),
    /// Answers to a survey scoring from `.1` to `.2` (inclusive).
    AnswersScoring(FeedbackKind, i16, i16),
}

impl Measure {
    /// What one event adds to the counter.
    pub fn of(self, event: &NewEvent) -> i64 {
        // Only a feedback event answers a survey (validation lets no other carry one).
        let answer = |survey: FeedbackKind| {
            event
                .feedback
                .as_ref()
                .filter(|f| event.kind == EventKind::Feedback && f.kind == survey)
        };
        match self {
            Measure::Events(kind) => i64::from(event.kind == kind),
            Measure::Answers(survey) => i64::from(answer(survey).is_some()),
            Measure::ScoreSum(survey) => answer(survey).map_or(0, |f| i64::from(f.score)),
            Measure::AnswersScoring(survey, low, high) => {
                i64::from(answer(survey).is_some_and(|f| (low..=high).contains(&f.score)))
            }
        }
    }
}

/// A counter's field of [`Counts`], to read and to add to.
type Field = fn(&Counts) -> &i64;
type FieldMut = fn(&mut Counts) -> &mut i64;

/// A counter's row of the table.
struct Spec {
    column: &'static str,
    measure: Measure,
    field: Field,
    field_mut: FieldMut,
}

impl Counter {
    /// Every counter, in the order of the `engagement_daily` columns.
    pub const ALL: [Counter; 16] = [
        Counter::Impressions,
        Counter::Views,
        Counter::Clicks,
        Counter::Conversions,
        Counter::Dismissals,
        Counter::OptIns,
        Counter::OptOuts,
        Counter::Shares,
        Counter::CsatCount,
        Counter::CsatSum,
        Counter::NpsCount,
        Counter::NpsSum,
        Counter::NpsPromoters,
        Counter::NpsDetractors,
        Counter::CesCount,
        Counter::CesSum,
    ];

    /// The one table of the counters: column, measure and field.
    fn spec(self) -> Spec {
        use EventKind as E;
        use FeedbackKind::{Ces, Csat, Nps};
        use Measure::{Answers, AnswersScoring, Events, ScoreSum};
        #[rustfmt::skip]
        let (column, measure, field, field_mut): (_, _, Field, FieldMut) = match self {
            Counter::Impressions => ("impressions", Events(E::Impression), |c| &c.impressions, |c| &mut c.impressions),
            Counter::Views => ("views", Events(E::View), |c| &c.views, |c| &mut c.views),
            Counter::Clicks => ("clicks", Events(E::Click), |c| &c.clicks, |c| &mut c.clicks),
            Counter::Conversions => ("conversions", Events(E::Conversion), |c| &c.conversions, |c| &mut c.conversions),
            Counter::Dismissals => ("dismissals", Events(E::Dismiss), |c| &c.dismissals, |c| &mut c.dismissals),
            Counter::OptIns => ("opt_ins", Events(E::OptIn), |c| &c.opt_ins, |c| &mut c.opt_ins),
            Counter::OptOuts => ("opt_outs", Events(E::OptOut), |c| &c.opt_outs, |c| &mut c.opt_outs),
            Counter::Shares => ("shares", Events(E::Share), |c| &c.shares, |c| &mut c.shares),
            Counter::CsatCount => ("csat_count", Answers(Csat), |c| &c.csat_count, |c| &mut c.csat_count),
            Counter::CsatSum => ("csat_sum", ScoreSum(Csat), |c| &c.csat_sum, |c| &mut c.csat_sum),
            Counter::NpsCount => ("nps_count", Answers(Nps), |c| &c.nps_count, |c| &mut c.nps_count),
            Counter::NpsSum => ("nps_sum", ScoreSum(Nps), |c| &c.nps_sum, |c| &mut c.nps_sum),
            // NPS: 9–10 promote, 0–6 detract.
            Counter::NpsPromoters => ("nps_promoters", AnswersScoring(Nps, 9, 10), |c| &c.nps_promoters, |c| &mut c.nps_promoters),
            Counter::NpsDetractors => ("nps_detractors", AnswersScoring(Nps, 0, 6), |c| &c.nps_detractors, |c| &mut c.nps_detractors),
            Counter::CesCount => ("ces_count", Answers(Ces), |c| &c.ces_count, |c| &mut c.ces_count),
            Counter::CesSum => ("ces_sum", ScoreSum(Ces), |c| &c.ces_sum, |c| &mut c.ces_sum),
        };
        Spec {
            column,
            measure,
            field,
            field_mut,
        }
    }

    /// The counter's column in `engagement_daily` (and its name in query results).
    pub fn column(self) -> &'static str {
        self.spec().column
    }

    pub fn measure(self) -> Measure {
        self.spec().measure
    }

    pub fn get(self, counts: &Counts) -> i64 {
        *(self.spec().field)(counts)
    }

    pub fn get_mut(self, counts: &mut Counts) -> &mut i64 {
        (self.spec().field_mut)(counts)
    }
}

impl Counts {
    /// Adds another group's counts to these.
    pub fn merge(&mut self, other: &Counts) {
        for counter in Counter::ALL {
            *counter.get_mut(self) += counter.get(other);
        }
    }

    /// Counts one event.
    pub(super) fn add(&mut self, event: &NewEvent) {
        for counter in Counter::ALL {
            *counter.get_mut(self) += counter.measure().of(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_has_its_own_column_and_field() {
        let columns: std::collections::HashSet<&str> =
            Counter::ALL.iter().map(|c| c.column()).collect();
        assert_eq!(columns.len(), Counter::ALL.len(), "columns are unique");
        for (i, counter) in Counter::ALL.into_iter().enumerate() {
            // Setting one counter shows in it alone, read back the same way.
            let mut counts = Counts::default();
            *counter.get_mut(&mut counts) = i as i64 + 1;
            let values: Vec<i64> = Counter::ALL.iter().map(|c| c.get(&counts)).collect();
            let mut expected = vec![0; Counter::ALL.len()];
            expected[i] = i as i64 + 1;
            assert_eq!(values, expected, "{counter:?}");
        }
    }

    #[test]
    fn merge_adds_every_counter() {
        let mut one = Counts::default();
        let mut two = Counts::default();
        for (i, counter) in Counter::ALL.into_iter().enumerate() {
            *counter.get_mut(&mut one) = i as i64;
            *counter.get_mut(&mut two) = 100;
        }
        one.merge(&two);
        for (i, counter) in Counter::ALL.into_iter().enumerate() {
            assert_eq!(counter.get(&one), i as i64 + 100, "{counter:?}");
        }
    }
}
