//! Claim checks: registered claims, audience, required claims, scopes, and the time-based
//! checks that run on every request, cache hit or not.

use serde_json::{Map, Value};

use super::{Config, ScopeClaim};
use crate::AuthError;
use crate::claims::{Audience, RegisteredClaims, ScpClaim};
use crate::scope::{ScopeSet, TemporalScope};

/// Everything that depends only on the token: lifetime, audience, required claims, and the
/// scope set. `members` are the payload's top-level members.
pub(super) fn static_checks(
    cfg: &Config,
    registered: &RegisteredClaims,
    members: &Map<String, Value>,
) -> Result<ScopeSet, AuthError> {
    let exp = registered
        .exp
        .ok_or(AuthError::MissingClaim("exp".into()))?
        .0;
    if let Some(max) = cfg.max_lifetime {
        let iat = registered
            .iat
            .ok_or(AuthError::MissingClaim("iat".into()))?
            .0;
        if exp.saturating_sub(iat) > max {
            return Err(AuthError::LifetimeTooLong);
        }
    }
    if !cfg.audiences.is_empty() || !cfg.resources.uris.is_empty() {
        if registered.aud == Audience::None {
            return Err(AuthError::MissingClaim("aud".into()));
        }
        // Audiences byte for byte; resource URIs after scheme/host/port normalisation.
        if !cfg.audiences.iter().any(|a| registered.aud.contains(a))
            && !registered.aud.iter().any(|a| cfg.resources.matches(a))
        {
            return Err(AuthError::WrongAudience);
        }
    }
    for name in &cfg.required_claims {
        if members.get(name).is_none_or(Value::is_null) {
            return Err(AuthError::MissingClaim(name.clone().into()));
        }
    }
    let scopes = scopes(cfg, members, registered)?;
    delegation(cfg, registered, &scopes)?;
    Ok(scopes)
}

/// RFC 8693 §4.1 delegation policy: bounded chain depth, and (optionally) delegated tokens
/// may only carry scopes under a ceiling.
fn delegation(cfg: &Config, r: &RegisteredClaims, scopes: &ScopeSet) -> Result<(), AuthError> {
    let Some(act) = &r.act else { return Ok(()) };
    let depth = std::iter::successors(Some(act), |a| a.act.as_deref()).count();
    if depth > cfg.max_delegation_depth {
        return Err(AuthError::Delegation(
            "the delegation chain is deeper than allowed",
        ));
    }
    if let Some(ceiling) = &cfg.delegated_scope_ceiling
        && !scopes
            .iter()
            .filter(|s| !s.is_temporal())
            .all(|s| ceiling.iter().any(|c| c.covers(s)))
    {
        return Err(AuthError::Delegation(
            "the delegated token carries scopes above the ceiling",
        ));
    }
    Ok(())
}

/// The checks whose outcome changes with time: `exp`, `nbf`, `iat`, temporal scopes. Run on
/// every request, including verified-token cache hits.
pub(super) fn time_checks(
    cfg: &Config,
    r: &RegisteredClaims,
    scopes: &ScopeSet,
    now: i64,
) -> Result<(), AuthError> {
    let leeway = cfg.leeway;
    // RFC 7519 §4.1.4: the current time must be before `exp`.
    let exp = r.exp.ok_or(AuthError::MissingClaim("exp".into()))?.0;
    if now.saturating_sub(leeway) >= exp {
        return Err(AuthError::Expired);
    }
    if let Some(nbf) = r.nbf
        && now.saturating_add(leeway) < nbf.0
    {
        return Err(AuthError::NotYetValid);
    }
    if let Some(iat) = r.iat
        && iat.0 > now.saturating_add(leeway)
    {
        return Err(AuthError::IssuedInFuture);
    }
    temporal(cfg, scopes, r, now)
}

fn scopes(
    cfg: &Config,
    members: &Map<String, Value>,
    registered: &RegisteredClaims,
) -> Result<ScopeSet, AuthError> {
    let bad = |name: &str| AuthError::InvalidClaim(name.to_owned().into());
    match &cfg.scope_claim {
        ScopeClaim::Standard => match (&registered.scope, &registered.scp) {
            (Some(s), _) => ScopeSet::parse(s).map_err(|_| bad("scope")),
            (None, Some(ScpClaim::String(s))) => ScopeSet::parse(s).map_err(|_| bad("scp")),
            (None, Some(ScpClaim::Array(a))) => {
                ScopeSet::from_tokens(a.iter().map(String::as_str)).map_err(|_| bad("scp"))
            }
            (None, None) => Ok(ScopeSet::default()),
        },
        ScopeClaim::Named(name) => match members.get(name) {
            None | Some(Value::Null) => Ok(ScopeSet::default()),
            Some(Value::String(s)) => ScopeSet::parse(s).map_err(|_| bad(name)),
            Some(Value::Array(a)) => {
                let tokens: Option<Vec<&str>> = a.iter().map(Value::as_str).collect();
                ScopeSet::from_tokens(tokens.ok_or_else(|| bad(name))?).map_err(|_| bad(name))
            }
            Some(_) => Err(bad(name)),
        },
    }
}

/// Temporal scopes restrict the token that carries them, whatever the route.
fn temporal(
    cfg: &Config,
    scopes: &ScopeSet,
    r: &RegisteredClaims,
    now: i64,
) -> Result<(), AuthError> {
    for t in scopes.temporal() {
        match t {
            Err(_) => return Err(AuthError::TemporalScope("unknown temporal scope".into())),
            Ok(TemporalScope::WithinSecs(n)) => {
                let iat = r
                    .iat
                    .ok_or(AuthError::TemporalScope(
                        "a relative temporal scope needs `iat`".into(),
                    ))?
                    .0;
                if now.saturating_sub(cfg.leeway) >= iat.saturating_add(n as i64) {
                    return Err(AuthError::TemporalScope(
                        "the temporal scope's window has ended".into(),
                    ));
                }
            }
            Ok(TemporalScope::BusinessHours) => {
                let bh = cfg.business_hours.as_ref().ok_or(AuthError::TemporalScope(
                    "business hours are not configured".into(),
                ))?;
                let at = jiff::Timestamp::from_second(now)
                    .map_err(|_| AuthError::TemporalScope("clock out of range".into()))?;
                if !bh.contains(at) {
                    return Err(AuthError::TemporalScope("outside business hours".into()));
                }
            }
        }
    }
    Ok(())
}

/// Name the registered claim whose type is wrong, without echoing its value.
pub(super) fn invalid_registered(e: &serde_json::Error) -> AuthError {
    let msg = e.to_string();
    const NAMES: [&str; 13] = [
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "client_id",
        "azp",
        "scope",
        "scp",
        "act",
        "cnf",
    ];
    let name = NAMES
        .iter()
        .find(|n| msg.contains(&format!("`{n}`")))
        .copied()
        .unwrap_or("registered claims");
    AuthError::InvalidClaim(name.into())
}
