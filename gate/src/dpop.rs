//! `[dpop]`: the DPoP (RFC 9449) settings, turned into a2a-guard's [`PossessionCheck`] — the
//! same proof verification, replay detection and nonces as the library's auth layer. The
//! gate only says which request the proof must match (method and absolute URL, per way in:
//! see `gate/README.md`, "DPoP").

use std::time::Duration;

use a2a_guard::Algorithm;
use a2a_guard::pop::{
    DpopConfig, FirstUse, MemoryReplayStore, PossessionCheck, RedisReplayStore, ReplayStore,
};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{ConfigError, DpopSection};

/// The proof-of-possession checks of one configuration, and what they were built from, so a
/// reload with the same `[dpop]` keeps them (and with them the per-process nonce key).
pub(crate) struct DpopBinding {
    pub(crate) check: PossessionCheck,
    built_from: Option<(DpopSection, Option<Vec<u8>>)>,
    /// Kept across every reload while it stays of the same kind (and, shared, at the same
    /// Redis): a new store would forget the proofs seen and let them be replayed until their
    /// `iat` window ends.
    store: Store,
}

/// Where proof `jti`s are remembered: in this process, or in the fleet's Redis
/// (`[dpop] shared_replay`), so a proof used at one gate is refused at every other.
#[derive(Clone)]
enum Store {
    Memory(MemoryReplayStore),
    /// The store, and the URL it was connected to (never printed).
    Redis(RedisReplayStore, std::sync::Arc<SecretString>),
}

impl ReplayStore for Store {
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration, now: u64) -> FirstUse<'a> {
        match self {
            Store::Memory(s) => s.first_use(key, ttl, now),
            Store::Redis(s, _) => s.first_use(key, ttl, now),
        }
    }

    fn max_ttl(&self) -> Option<Duration> {
        match self {
            Store::Memory(s) => s.max_ttl(),
            Store::Redis(s, _) => s.max_ttl(),
        }
    }
}

impl Store {
    /// The store `[dpop]` asks for: `old` when it is the same, else a new one.
    async fn build(
        shared: Option<&SecretString>,
        old: Option<&Store>,
    ) -> Result<Store, ConfigError> {
        match (shared, old) {
            (None, Some(Store::Memory(s))) => Ok(Store::Memory(s.clone())),
            (None, _) => Ok(Store::Memory(MemoryReplayStore::new())),
            (Some(url), Some(Store::Redis(s, was)))
                if was.expose_secret() == url.expose_secret() =>
            {
                Ok(Store::Redis(s.clone(), was.clone()))
            }
            (Some(url), _) => {
                // The library's error never holds the URL (it may carry a password).
                let store = RedisReplayStore::connect(url.expose_secret())
                    .await
                    .map_err(|e| ConfigError::Invalid {
                        at: "dpop.shared_replay".into(),
                        problem: format!("the fleet's Redis: {e}"),
                    })?;
                Ok(Store::Redis(store, std::sync::Arc::new(url.clone())))
            }
        }
    }
}

/// The checks a `[dpop]` section must pass before anything is built; `(key, problem)`.
pub(crate) fn check_section(d: &DpopSection) -> Result<(), (String, String)> {
    let bad = |k: &str, p: &str| Err((format!("dpop.{k}"), p.to_owned()));
    if d.origins.is_empty() {
        return bad(
            "origins",
            "at least one origin (the URL clients sign as htu)",
        );
    }
    // The library's own check, so the file is refused with the library's reason.
    for (i, o) in d.origins.iter().enumerate() {
        if let Err(e) = PossessionCheck::new(DpopConfig::new().origin(o)) {
            return Err((format!("dpop.origins[{i}]"), e.to_string()));
        }
    }
    for (i, a) in d.algorithms.iter().enumerate() {
        match a.parse::<Algorithm>() {
            Ok(_) => {}
            Err(_) => {
                return Err((
                    format!("dpop.algorithms[{i}]"),
                    format!("{a:?}: not an asymmetric JWS algorithm a2a-guard accepts"),
                ));
            }
        }
    }
    if d.iat_window.behind_secs == 0 {
        return bad("iat_window.behind_secs", "at least 1 second");
    }
    if d.iat_window.behind_secs > 3600 || d.iat_window.ahead_secs > 300 {
        return bad(
            "iat_window",
            "behind_secs at most 3600, ahead_secs at most 300 (every proof is remembered that long)",
        );
    }
    if d.nonce_secret_env.is_some() && d.nonce_secret_file.is_some() {
        return bad(
            "nonce_secret_env",
            "nonce_secret_env and nonce_secret_file are exclusive",
        );
    }
    if !d.require_nonce && (d.nonce_secret_env.is_some() || d.nonce_secret_file.is_some()) {
        return bad(
            "require_nonce",
            "a nonce secret is set but require_nonce is false",
        );
    }
    Ok(())
}

/// The nonce secret named by the section, read now (at start and at every reload).
fn nonce_secret(d: &DpopSection) -> Result<Option<Vec<u8>>, ConfigError> {
    let invalid = |at: &str, problem: String| ConfigError::Invalid {
        at: at.into(),
        problem,
    };
    let secret = if let Some(name) = &d.nonce_secret_env {
        let v = std::env::var_os(name).ok_or_else(|| {
            invalid(
                "dpop.nonce_secret_env",
                format!("the environment variable {name} is not set"),
            )
        })?;
        v.into_encoded_bytes()
    } else if let Some(path) = &d.nonce_secret_file {
        let mut v = std::fs::read(path).map_err(|e| {
            invalid(
                "dpop.nonce_secret_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            v.pop();
        }
        v
    } else {
        return Ok(None);
    };
    Ok(Some(secret))
}

impl DpopBinding {
    /// Build from the configuration's `[dpop]` (none: DPoP-bound tokens are refused),
    /// keeping `old`'s checks when nothing changed and its replay store always.
    pub(crate) async fn build(
        section: Option<&DpopSection>,
        fleet_redis: Option<&SecretString>,
        old: Option<&DpopBinding>,
    ) -> Result<DpopBinding, ConfigError> {
        let shared = match section {
            Some(d) if d.shared_replay => Some(fleet_redis.ok_or_else(|| {
                ConfigError::Invalid {
                    at: "dpop.shared_replay".into(),
                    problem:
                        "needs the fleet's Redis: [revocation] redis_url_env or redis_url_file"
                            .into(),
                }
            })?),
            _ => None,
        };
        let store = Store::build(shared, old.map(|o| &o.store)).await?;
        let Some(d) = section else {
            return Ok(DpopBinding {
                check: PossessionCheck::without_dpop(),
                built_from: None,
                store,
            });
        };
        let secret = nonce_secret(d)?;
        let built_from = Some((d.clone(), secret.clone()));
        let same_store = matches!(
            (&store, old.map(|o| &o.store)),
            (Store::Memory(_), Some(Store::Memory(_))) | (Store::Redis(..), Some(Store::Redis(..)))
        );
        if let Some(old) = old
            && old.built_from == built_from
            && same_store
        {
            return Ok(DpopBinding {
                check: old.check.clone(),
                built_from,
                store,
            });
        }
        let mut cfg = DpopConfig::new()
            .origins(&d.origins)
            .iat_window(
                Duration::from_secs(d.iat_window.behind_secs),
                Duration::from_secs(d.iat_window.ahead_secs),
            )
            .replay_store(store.clone());
        if !d.algorithms.is_empty() {
            // Checked by `check_section`.
            cfg = cfg.algorithms(d.algorithms.iter().filter_map(|a| a.parse().ok()));
        }
        if d.require_nonce {
            cfg = match &secret {
                Some(s) => cfg.require_nonce_with_secret(s),
                None => cfg.require_nonce(),
            };
        }
        let check = PossessionCheck::new(cfg).map_err(|e| ConfigError::Invalid {
            at: "dpop".into(),
            problem: e.to_string(),
        })?;
        Ok(DpopBinding {
            check,
            built_from,
            store,
        })
    }
}
