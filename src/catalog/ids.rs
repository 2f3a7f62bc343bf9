//! The shape of content ids, for every place that accepts one: files (`tailor
//! validate` and the compile step, through [`super::validate`]) and the admin API.
//! Authoring's placement and variant endpoints should call [`valid_id`] with
//! [`IdKind::Placement`] / [`IdKind::Variant`] instead of a copy of the rule.

/// What an id names; each kind allows `[a-z0-9_]` plus its own punctuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Channel,
    Trait,
    Segment,
    /// Placements may be namespaced (`home.hero`) and hyphenated.
    Placement,
    /// Variants, like placements.
    Variant,
    /// Governance policies may be hyphenated.
    Policy,
}

impl IdKind {
    /// Characters allowed besides lowercase ASCII letters, digits and `_`.
    pub fn punctuation(self) -> &'static [char] {
        match self {
            IdKind::Channel | IdKind::Trait | IdKind::Segment => &[],
            IdKind::Placement | IdKind::Variant => &['.', '-'],
            IdKind::Policy => &['-'],
        }
    }
}

/// An id of `kind`: 1–64 bytes of `[a-z0-9_]` and the kind's punctuation.
pub fn valid_id(id: &str, kind: IdKind) -> bool {
    let extra = kind.punctuation();
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || extra.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_shape_of_their_kind() {
        assert!(valid_id("web_2", IdKind::Channel));
        assert!(!valid_id("home.hero", IdKind::Channel));
        assert!(valid_id("home.hero", IdKind::Placement));
        assert!(valid_id("home-hero-default", IdKind::Variant));
        assert!(valid_id("ctr-floor", IdKind::Policy));
        assert!(!valid_id("ctr.floor", IdKind::Policy));
        for kind in [IdKind::Segment, IdKind::Placement] {
            assert!(!valid_id("", kind));
            assert!(!valid_id(&"a".repeat(65), kind));
            assert!(valid_id(&"a".repeat(64), kind));
            assert!(!valid_id("Home", kind));
            assert!(!valid_id("café", kind));
        }
    }
}
