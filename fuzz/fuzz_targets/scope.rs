//! Scopes: `ScopeSet::parse`, `ScopeRequirement` checks with and without implication rules,
//! `TemporalScope::parse`, and `BusinessHours` parsing and matching.
//!
//! Input: lines separated by `\n` (lossy UTF-8):
//! 1. a granted `scope` claim;
//! 2. a requirement: `|`-separated alternatives of space-separated scopes (any of all-of);
//! 3. an implication rule `from>to`;
//! 4. a business-hours spec;
//! 5. a Unix time in seconds.
//!
//! Oracles: no panic; a parsed set prints back to itself; every granted non-temporal scope
//! covers itself and its children, except one made only of wildcards, which grants nothing;
//! `all([])` always holds and `any([])` never; adding a rule
//! never takes a grant away; `temporal:` parsing is total.
#![no_main]

use a2a_guard::scope::{
    BusinessHours, Scope, ScopeRequirement, ScopeRules, ScopeSet, TemporalScope,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let granted = lines.next().unwrap_or_default();
    let required = lines.next().unwrap_or_default();
    let rule = lines.next().unwrap_or_default();
    let hours = lines.next().unwrap_or_default();
    let at = lines.next().unwrap_or_default();

    let req = ScopeRequirement::any(required.split('|').map(|alt| {
        ScopeRequirement::all(alt.split(' ').filter(|s| !s.is_empty()).map(Scope::new))
    }));
    let _ = req.to_string();
    let rules = match rule.split_once('>') {
        Some((from, to)) => ScopeRules::new().imply(from, to),
        None => ScopeRules::new(),
    };

    if let Ok(set) = ScopeSet::parse(granted) {
        assert_eq!(ScopeSet::parse(&set.to_string()).as_ref(), Ok(&set));
        assert!(set.satisfies(&ScopeRequirement::All(Vec::new()), &rules));
        assert!(!set.satisfies(&ScopeRequirement::Any(Vec::new()), &rules));
        let plain = set.satisfies(&req, &ScopeRules::new());
        if plain {
            assert!(set.satisfies(&req, &rules), "a rule took a grant away");
        }
        for s in set.iter() {
            let _ = TemporalScope::parse(s.as_str());
            if s.is_temporal() {
                assert!(!set.covers(s, &ScopeRules::new()) || set.iter().any(|g| !g.is_temporal()));
                continue;
            }
            if s.segments().all(|seg| seg == "*") {
                // Wildcards alone grant nothing (DESIGN.md), unless explicitly allowed.
                let star = ScopeSet::parse(s.as_str()).unwrap();
                assert!(!star.covers(&Scope::new("admin"), &ScopeRules::new()));
                assert!(star.covers(
                    &Scope::new(s.as_str().replace('*', "x")),
                    &ScopeRules::new().allow_wildcard_only_scopes()
                ));
                continue;
            }
            assert!(set.covers(s, &ScopeRules::new()), "{s:?} must cover itself");
            let child = Scope::new(format!("{}:child", s.as_str()));
            assert!(
                set.covers(&child, &ScopeRules::new()),
                "{s:?} must cover {child:?}"
            );
        }
        for t in set.temporal() {
            if let Ok(TemporalScope::WithinSecs(n)) = t {
                assert!(n > 0);
            }
        }
    }
    let _ = TemporalScope::parse(granted);

    if let Ok(bh) = hours.parse::<BusinessHours>() {
        let secs = at.trim().parse::<i64>().unwrap_or(0);
        if let Ok(ts) = jiff::Timestamp::from_second(secs) {
            let _ = bh.contains(ts);
        }
    }
});
