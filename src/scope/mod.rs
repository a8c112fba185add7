//! Hierarchical scopes: `Scope`, `ScopeSet`, `ScopeRequirement`, implication rules and
//! temporal scopes.
//!
//! A scope is `:`-separated segments (`read:customers:eu`). A granted scope **covers** a
//! required one when its segments are a prefix of the required one's, where a granted `*`
//! segment matches any one segment. A granted scope made only of wildcards (`*`, `*:*`)
//! grants nothing: with an authorization server that accepts free-form scopes it would
//! grant everything ([`ScopeRules::allow_wildcard_only_scopes`] opts in). Implication rules
//! are opt-in (`write ⇒ read`).
//!
//! ```
//! use a2a_guard::scope::{ScopeSet, ScopeRequirement, ScopeRules};
//!
//! let granted = ScopeSet::parse("read:customers write:orders read:*:archive").unwrap();
//! let rules = ScopeRules::new().imply("write", "read");
//! assert!(granted.satisfies(&ScopeRequirement::from("read:customers:eu"), &rules));
//! assert!(granted.satisfies(&ScopeRequirement::from("read:orders"), &rules)); // via write ⇒ read
//! assert!(granted.satisfies(&ScopeRequirement::from("read:invoices:archive"), &rules)); // `*`
//! assert!(!granted.satisfies(&ScopeRequirement::from("read:orders"), &ScopeRules::new()));
//! let both = ScopeRequirement::all(["read:customers", "execute:payment"]);
//! assert!(!granted.satisfies(&both, &rules));
//! ```

mod requirement;
mod temporal;

use std::fmt;
use std::sync::Arc;

pub use requirement::ScopeRequirement;
pub use temporal::{BusinessHours, BusinessHoursError, TemporalScope};

/// The segment separator.
pub const SEPARATOR: char = ':';
/// The wildcard segment in a granted scope.
pub const WILDCARD: &str = "*";
/// Scopes beginning with this prefix restrict the token that carries them.
pub const TEMPORAL_PREFIX: &str = "temporal:";

/// One scope token (RFC 6749 §3.3), e.g. `read:customers:eu`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(Arc<str>);

/// A scope string that is not a valid RFC 6749 §3.3 scope-token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope token")]
pub struct InvalidScope;

impl Scope {
    /// A scope from configuration. Any string is accepted; a string that no valid token can
    /// contain simply never matches.
    pub fn new(s: impl Into<Arc<str>>) -> Scope {
        Scope(s.into())
    }

    /// Parse a scope as granted in a token: RFC 6749 §3.3 characters only
    /// (`%x21 / %x23-5B / %x5D-7E`), not empty.
    ///
    /// ```
    /// use a2a_guard::scope::Scope;
    /// assert!(Scope::parse("read:data").is_ok());
    /// assert!(Scope::parse("bad\"quote").is_err());
    /// assert!(Scope::parse("").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Scope, InvalidScope> {
        let ok = |b: u8| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e);
        if s.is_empty() || !s.bytes().all(ok) {
            return Err(InvalidScope);
        }
        Ok(Scope(Arc::from(s)))
    }

    /// The scope as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `:`-separated segments.
    pub fn segments(&self) -> std::str::Split<'_, char> {
        self.0.split(SEPARATOR)
    }

    /// Whether this scope, granted, covers `required` (prefix by segment, `*` matches one
    /// segment). A scope made only of wildcards (`*`, `*:*`) covers nothing here; see
    /// [`ScopeRules::allow_wildcard_only_scopes`]. Implication rules are not applied here; see
    /// [`ScopeSet::covers`].
    ///
    /// ```
    /// use a2a_guard::scope::Scope;
    /// assert!(Scope::new("read:customers").covers(&Scope::new("read:customers:eu")));
    /// assert!(!Scope::new("read:customers").covers(&Scope::new("read:orders")));
    /// assert!(!Scope::new("read:customers:eu").covers(&Scope::new("read:customers")));
    /// assert!(!Scope::new("read:cust").covers(&Scope::new("read:customers")));
    /// assert!(!Scope::new("*").covers(&Scope::new("admin")));
    /// ```
    pub fn covers(&self, required: &Scope) -> bool {
        segments_cover(self.segments(), required, false)
    }

    /// Whether this is a `temporal:` scope.
    pub fn is_temporal(&self) -> bool {
        self.0.starts_with(TEMPORAL_PREFIX)
    }
}

/// Prefix match by segment, `*` matching one segment. A granted scope made only of wildcards
/// grants nothing unless `wildcard_only` allows it (DESIGN.md's scope contract).
fn segments_cover<'a>(
    granted: impl Iterator<Item = &'a str>,
    required: &Scope,
    wildcard_only: bool,
) -> bool {
    let mut req = required.segments();
    let mut concrete = false;
    for g in granted {
        match req.next() {
            Some(r) if g == r || g == WILDCARD => concrete |= g != WILDCARD,
            _ => return false,
        }
    }
    concrete || wildcard_only
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Scope {
    fn from(s: &str) -> Self {
        Scope::new(s)
    }
}

impl From<String> for Scope {
    fn from(s: String) -> Self {
        Scope::new(s)
    }
}

/// Opt-in implication rules: a granted scope whose leading segments equal `from` also counts
/// as the same scope with those segments replaced by `to`.
///
/// ```
/// use a2a_guard::scope::{ScopeRules, ScopeSet};
/// let rules = ScopeRules::new().imply("write", "read").imply("admin", "write");
/// let set = ScopeSet::parse("admin:orders").unwrap();
/// assert!(set.covers(&"read:orders".into(), &rules)); // admin ⇒ write ⇒ read
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScopeRules {
    implications: Vec<(Vec<String>, Vec<String>)>,
    wildcard_only: bool,
}

/// How many implication steps are followed; bounds work on cyclic rules.
const MAX_IMPLICATION_DEPTH: usize = 4;

impl ScopeRules {
    /// No implication rules: only prefix and wildcard cover.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `from ⇒ to` (both `:`-separated prefixes).
    pub fn imply(mut self, from: &str, to: &str) -> Self {
        let split = |s: &str| s.split(SEPARATOR).map(str::to_owned).collect();
        self.implications.push((split(from), split(to)));
        self
    }

    /// Let a granted scope made only of wildcards (`*`, `*:*`) cover what its segments
    /// match. Off by default: with an authorization server that accepts free-form scopes, a
    /// bare `*` would otherwise grant `admin` and `delete:everything:now`.
    ///
    /// ```
    /// use a2a_guard::scope::{ScopeRules, ScopeSet};
    /// let star = ScopeSet::parse("*").unwrap();
    /// assert!(!star.covers(&"admin".into(), &ScopeRules::new()));
    /// assert!(star.covers(&"admin".into(), &ScopeRules::new().allow_wildcard_only_scopes()));
    /// ```
    pub fn allow_wildcard_only_scopes(mut self) -> Self {
        self.wildcard_only = true;
        self
    }

    /// Whether no implication rule is configured and wildcard-only scopes grant nothing
    /// (the defaults).
    pub fn is_empty(&self) -> bool {
        self.implications.is_empty() && !self.wildcard_only
    }

    fn covers(&self, granted: &[&str], required: &Scope, depth: usize) -> bool {
        if segments_cover(granted.iter().copied(), required, self.wildcard_only) {
            return true;
        }
        if depth == MAX_IMPLICATION_DEPTH {
            return false;
        }
        self.implications.iter().any(|(from, to)| {
            granted.len() >= from.len() && granted.iter().zip(from).all(|(g, f)| g == f) && {
                let implied: Vec<&str> = to
                    .iter()
                    .map(String::as_str)
                    .chain(granted[from.len()..].iter().copied())
                    .collect();
                self.covers(&implied, required, depth + 1)
            }
        })
    }
}

/// The scopes a token grants, parsed once (sorted, duplicates removed). Handlers get it from
/// [`Principal::scopes`](crate::Principal::scopes).
///
/// ```
/// use a2a_guard::scope::{ScopeRequirement, ScopeRules, ScopeSet};
/// let granted = ScopeSet::parse("read:customers execute:payment temporal:30min").unwrap();
/// assert_eq!(granted.len(), 3);
/// assert!(granted.contains("execute:payment"));
/// let rules = ScopeRules::new();
/// assert!(granted.covers(&"read:customers:eu".into(), &rules)); // hierarchy
/// assert!(!granted.covers(&"temporal:30min".into(), &rules)); // temporal scopes never grant
/// assert!(granted.satisfies(&ScopeRequirement::any(["admin", "execute:payment"]), &rules));
/// assert_eq!(granted.temporal().count(), 1);
/// assert!(ScopeSet::parse("bad\"quote").is_err()); // RFC 6749 §3.3 characters only
/// assert_eq!(granted.to_string(), "execute:payment read:customers temporal:30min");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    scopes: Vec<Scope>,
}

impl ScopeSet {
    /// Parse a space-separated `scope` claim (RFC 8693 §4.2, RFC 9068 §2.2.3).
    pub fn parse(s: &str) -> Result<ScopeSet, InvalidScope> {
        ScopeSet::from_tokens(s.split(' ').filter(|t| !t.is_empty()))
    }

    /// Build from individual scope tokens (an `scp` array).
    pub fn from_tokens<'a>(
        tokens: impl IntoIterator<Item = &'a str>,
    ) -> Result<ScopeSet, InvalidScope> {
        let mut scopes: Vec<Scope> = tokens
            .into_iter()
            .map(Scope::parse)
            .collect::<Result<_, _>>()?;
        scopes.sort();
        scopes.dedup();
        Ok(ScopeSet { scopes })
    }

    /// The granted scopes, sorted.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.scopes.iter()
    }

    /// Whether a scope with exactly this text was granted.
    pub fn contains(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.as_str() == scope)
    }

    /// Number of granted scopes.
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// Whether no scope was granted.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// Whether some granted scope covers `required`, directly or through `rules`.
    /// Temporal scopes restrict; they never grant.
    pub fn covers(&self, required: &Scope, rules: &ScopeRules) -> bool {
        self.scopes.iter().filter(|g| !g.is_temporal()).any(|g| {
            if rules.is_empty() {
                g.covers(required)
            } else if rules.implications.is_empty() {
                segments_cover(g.segments(), required, rules.wildcard_only)
            } else {
                let segs: Vec<&str> = g.segments().collect();
                rules.covers(&segs, required, 0)
            }
        })
    }

    /// Whether the set satisfies a requirement.
    pub fn satisfies(&self, req: &ScopeRequirement, rules: &ScopeRules) -> bool {
        req.is_satisfied_by(|s| self.covers(s, rules))
    }

    /// The temporal scopes carried (`temporal:…`), parsed. An unknown `temporal:` scope is an
    /// error, never ignored.
    pub fn temporal(&self) -> impl Iterator<Item = Result<TemporalScope, &Scope>> {
        self.scopes
            .iter()
            .filter(|s| s.is_temporal())
            .map(|s| TemporalScope::parse(s.as_str()).ok_or(s))
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.scopes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers(granted: &str, required: &str) -> bool {
        ScopeSet::parse(granted)
            .unwrap()
            .covers(&Scope::new(required), &ScopeRules::new())
    }

    #[test]
    fn prefix_cover() {
        assert!(covers("read:customers", "read:customers"));
        assert!(covers("read:customers", "read:customers:eu"));
        assert!(covers("read", "read:customers:eu"));
        assert!(!covers("read:customers", "read:orders"));
        assert!(!covers("read:customers:eu", "read:customers"));
        assert!(!covers("read:customers", "read:customersx"));
        assert!(!covers("", "read"));
    }

    #[test]
    fn wildcard_matches_one_segment() {
        assert!(covers("read:*", "read:orders"));
        assert!(covers("read:*:eu", "read:orders:eu"));
        assert!(!covers("read:*:eu", "read:orders:us"));
        assert!(!covers("read:*", "write:orders"));
        assert!(!covers("*:x", "read"));
        assert!(covers("*:orders", "read:orders"));
        // Wildcards alone grant nothing.
        assert!(!covers("*", "admin"));
        assert!(!covers("*:*", "read:orders"));
        assert!(!covers("* admin", "delete:everything:now"));
    }

    #[test]
    fn temporal_scopes_never_grant() {
        assert!(!covers("temporal:30min", "temporal:30min"));
    }

    #[test]
    fn implications_are_opt_in_and_bounded() {
        let set = ScopeSet::parse("write:orders").unwrap();
        let req = Scope::new("read:orders");
        assert!(!set.covers(&req, &ScopeRules::new()));
        assert!(set.covers(&req, &ScopeRules::new().imply("write", "read")));
        assert!(!set.covers(
            &Scope::new("read:customers"),
            &ScopeRules::new().imply("write", "read")
        ));
        let cyclic = ScopeRules::new().imply("a", "b").imply("b", "a");
        assert!(
            !ScopeSet::parse("a:x")
                .unwrap()
                .covers(&Scope::new("c:x"), &cyclic)
        );
    }

    #[test]
    fn parse_rejects_bad_tokens() {
        assert!(ScopeSet::parse("read:data  write").is_ok());
        assert!(ScopeSet::parse("read\"x").is_err());
        assert!(ScopeSet::parse("caf\u{e9}").is_err());
        assert!(ScopeSet::parse("a\tb").is_err());
        assert_eq!(ScopeSet::parse("b a b").unwrap().to_string(), "a b");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = ScopeSet::parse(&s);
        }

        #[test]
        fn a_scope_covers_itself_and_its_children(s in "([a-z]{1,5}|[*])(:([a-z]{1,5}|[*])){0,3}", child in "[a-z]{1,5}") {
            let set = ScopeSet::parse(&s).unwrap();
            let concrete = s.replace('*', "q");
            if s.split(':').all(|seg| seg == "*") {
                // Only wildcards: grants nothing (DESIGN.md's scope contract).
                proptest::prop_assert!(!set.covers(&Scope::new(concrete), &ScopeRules::new()));
                return Ok(());
            }
            proptest::prop_assert!(set.covers(&Scope::new(concrete.clone()), &ScopeRules::new()));
            let grandchild = Scope::new(format!("{}:{}", concrete, child));
            proptest::prop_assert!(set.covers(&grandchild, &ScopeRules::new()));
        }
    }
}
