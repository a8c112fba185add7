//! What a route requires: one scope, all of several, any of several, nested.

use std::fmt;

use super::Scope;

/// A scope requirement: a single scope, `all` of some, `any` of some, nested freely.
///
/// ```
/// use a2a_guard::scope::{ScopeRequirement, ScopeSet, ScopeRules};
/// let req = ScopeRequirement::all([
///     ScopeRequirement::from("read:data"),
///     ScopeRequirement::any(["write:reports", "admin"]),
/// ]);
/// let rules = ScopeRules::new();
/// assert!(ScopeSet::parse("read:data admin").unwrap().satisfies(&req, &rules));
/// assert!(!ScopeSet::parse("read:data").unwrap().satisfies(&req, &rules));
/// assert_eq!(req.to_string(), "read:data write:reports admin");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRequirement {
    /// This scope must be covered.
    Scope(Scope),
    /// Every requirement must hold (an empty list always holds).
    All(Vec<ScopeRequirement>),
    /// At least one requirement must hold (an empty list never holds).
    Any(Vec<ScopeRequirement>),
}

impl ScopeRequirement {
    /// All of these.
    pub fn all<I, R>(reqs: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<ScopeRequirement>,
    {
        ScopeRequirement::All(reqs.into_iter().map(Into::into).collect())
    }

    /// Any one of these.
    pub fn any<I, R>(reqs: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<ScopeRequirement>,
    {
        ScopeRequirement::Any(reqs.into_iter().map(Into::into).collect())
    }

    /// Evaluate with a predicate that says whether one scope is covered.
    pub fn is_satisfied_by(&self, covered: impl Fn(&Scope) -> bool + Copy) -> bool {
        match self {
            ScopeRequirement::Scope(s) => covered(s),
            ScopeRequirement::All(v) => v.iter().all(|r| r.is_satisfied_by(covered)),
            ScopeRequirement::Any(v) => v.iter().any(|r| r.is_satisfied_by(covered)),
        }
    }

    /// Every scope named anywhere in the requirement, in order, without repeats.
    pub fn scopes(&self) -> Vec<&Scope> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Scope>) {
        match self {
            ScopeRequirement::Scope(s) => {
                if !out.contains(&s) {
                    out.push(s)
                }
            }
            ScopeRequirement::All(v) | ScopeRequirement::Any(v) => {
                v.iter().for_each(|r| r.collect(out))
            }
        }
    }
}

/// Renders the scopes named, space-separated: the RFC 6750 §3 `scope` attribute.
impl fmt::Display for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.scopes().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

impl From<&str> for ScopeRequirement {
    fn from(s: &str) -> Self {
        ScopeRequirement::Scope(Scope::new(s))
    }
}

impl From<String> for ScopeRequirement {
    fn from(s: String) -> Self {
        ScopeRequirement::Scope(Scope::new(s))
    }
}

impl From<Scope> for ScopeRequirement {
    fn from(s: Scope) -> Self {
        ScopeRequirement::Scope(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_all_holds_empty_any_fails() {
        assert!(ScopeRequirement::all(Vec::<&str>::new()).is_satisfied_by(|_| false));
        assert!(!ScopeRequirement::any(Vec::<&str>::new()).is_satisfied_by(|_| true));
    }

    #[test]
    fn nesting() {
        let r = ScopeRequirement::any([
            ScopeRequirement::all(["a", "b"]),
            ScopeRequirement::from("c"),
        ]);
        assert!(r.is_satisfied_by(|s| s.as_str() != "c"));
        assert!(r.is_satisfied_by(|s| s.as_str() == "c"));
        assert!(!r.is_satisfied_by(|s| s.as_str() == "a"));
    }
}
