//! Optimistic concurrency and dry runs: what a write may require of the resource it replaces
//! (HTTP's `If-Match` / `If-None-Match`, compared with the resource's store version), and
//! whether it is to be applied at all.

use crate::error::Error;

/// A set of versions a precondition compares with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Versions {
    /// Any version (`*`): the resource exists.
    Any,
    /// One of these versions (a tag that is no version of ours matches nothing).
    Of(Vec<u64>),
}

impl Versions {
    fn contains(&self, version: u64) -> bool {
        match self {
            Versions::Any => true,
            Versions::Of(versions) => versions.contains(&version),
        }
    }
}

/// Which clause of a precondition failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clause {
    /// The resource is not at one of the required versions (or does not exist).
    Match,
    /// The resource exists (at one of the excluded versions).
    NoneMatch,
}

/// Why a precondition does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed {
    /// The clause that failed.
    pub clause: Clause,
    /// The resource's version now (`None`: it does not exist).
    pub current: Option<u64>,
}

/// What a write requires of the current state of its resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Precondition {
    /// The resource must exist at one of these versions.
    pub if_match: Option<Versions>,
    /// The resource must not exist at one of these versions (`Any`: must not exist).
    pub if_none_match: Option<Versions>,
}

impl Precondition {
    /// True when nothing is required.
    pub fn is_none(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }

    /// Checks the precondition against the resource's current version (`None`: absent).
    pub fn check(&self, current: Option<u64>) -> Result<(), Error> {
        if let Some(want) = &self.if_match {
            if !current.is_some_and(|v| want.contains(v)) {
                return Err(Error::PreconditionFailed(Failed {
                    clause: Clause::Match,
                    current,
                }));
            }
        }
        if let Some(excluded) = &self.if_none_match {
            if current.is_some_and(|v| excluded.contains(v)) {
                return Err(Error::PreconditionFailed(Failed {
                    clause: Clause::NoneMatch,
                    current,
                }));
            }
        }
        Ok(())
    }

    /// The version a delete must find in the store for this precondition to hold there too
    /// (several instances share the store), given the version it holds here.
    pub fn expected(&self, current: u64) -> Option<u64> {
        (!self.is_none()).then_some(current)
    }
}

/// How a write is carried out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// What the current state must be.
    pub precondition: Precondition,
    /// Check everything and answer as the write would, but change nothing.
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(p: &Precondition, current: Option<u64>) -> Option<Clause> {
        match p.check(current) {
            Ok(()) => None,
            Err(Error::PreconditionFailed(f)) => {
                assert_eq!(f.current, current);
                Some(f.clause)
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn clauses() {
        let none = Precondition::default();
        assert!(none.is_none());
        assert_eq!(fails(&none, None), None);
        assert_eq!(none.expected(3), None);
        let at = |v: Vec<u64>| Precondition {
            if_match: Some(Versions::Of(v)),
            if_none_match: None,
        };
        assert_eq!(fails(&at(vec![3]), Some(3)), None);
        assert_eq!(fails(&at(vec![2, 3]), Some(3)), None);
        assert_eq!(fails(&at(vec![2]), Some(3)), Some(Clause::Match));
        assert_eq!(fails(&at(vec![3]), None), Some(Clause::Match));
        assert_eq!(fails(&at(vec![]), Some(3)), Some(Clause::Match));
        assert_eq!(at(vec![3]).expected(3), Some(3));
        let exists = Precondition {
            if_match: Some(Versions::Any),
            if_none_match: None,
        };
        assert_eq!(fails(&exists, Some(1)), None);
        assert_eq!(fails(&exists, None), Some(Clause::Match));
        let create_only = Precondition {
            if_match: None,
            if_none_match: Some(Versions::Any),
        };
        assert_eq!(fails(&create_only, None), None);
        assert_eq!(fails(&create_only, Some(1)), Some(Clause::NoneMatch));
        let not_at = Precondition {
            if_match: None,
            if_none_match: Some(Versions::Of(vec![1])),
        };
        assert_eq!(fails(&not_at, Some(2)), None);
        assert_eq!(fails(&not_at, None), None);
        assert_eq!(fails(&not_at, Some(1)), Some(Clause::NoneMatch));
    }
}
