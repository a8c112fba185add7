//! Revocation on the resource side (issue 14): a deny-list the validator consults on every
//! request — verified-token cache hits included — so a revoked token is refused on the very
//! next request, not when it expires.
//!
//! Two kinds of entries:
//! - **by `jti`**: one token, kept until that token's `exp` plus [`JTI_RETENTION_LEEWAY`];
//! - **by epoch**: every token of a subject (`sub`), a client (`client_id`) or a session
//!   (`sid`) issued before a time — an agent decommissioned, a credential rotated, a session
//!   logged out. A token without `iat` is refused by an epoch that names it (fail closed).
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use a2a_guard::{AuthError, Validator, revocation::Revocations, testing::TestIssuer};
//! use std::time::{Duration, SystemTime};
//!
//! let issuer = TestIssuer::start().await?;
//! let revocations = Revocations::new();
//! let validator = Validator::builder()
//!     .issuer_jwks(issuer.issuer(), issuer.jwks_url())
//!     .audience(issuer.audience())
//!     .revocations(revocations.clone())
//!     .build()
//!     .await?;
//! let token = issuer.token().claim("jti", "task-42").sign();
//! assert!(validator.validate(&token).await.is_ok());
//! revocations.revoke_jti("task-42", SystemTime::now() + Duration::from_secs(3600))?;
//! assert_eq!(validator.validate(&token).await.unwrap_err(), AuthError::Revoked);
//! # Ok(()) }
//! # #[cfg(not(feature = "testing"))]
//! # fn main() {}
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::RegisteredClaims;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{DEFAULT_RESYNC, RedisRevocations, SyncHealth};

mod set;
pub use set::{
    BACKCHANNEL_LOGOUT, CAEP_CREDENTIAL_CHANGE, CAEP_SESSION_REVOKED, Delivery, MAX_SET_BYTES,
    RISC_ACCOUNT_DISABLED, SetError, SetReceiver, SetReceiverBuilder,
};

#[cfg(feature = "axum")]
mod admin;
#[cfg(feature = "axum")]
pub use admin::admin_router;

/// A revoked `jti` is kept this long past its token's `exp`: longer than any validator's
/// leeway (capped at 5 minutes), so the token cannot come back inside the leeway.
pub const JTI_RETENTION_LEEWAY: Duration = Duration::from_secs(300);
/// How long a `jti` revoked without its token's `exp` is kept (the admin service's default):
/// longer than the lifetime of the access tokens you accept, or give `exp`.
pub const JTI_DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// The most revoked `jti`s held; beyond it a revocation is refused ([`RevocationError::Full`])
/// rather than an older one dropped.
pub const MAX_REVOKED_JTIS: usize = 1_000_000;
/// The most epochs (subjects, clients, sessions) held.
pub const MAX_EPOCHS: usize = 100_000;
/// The longest `jti` or identifier accepted.
pub const MAX_ID_LEN: usize = 1024;

/// What an epoch revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Target {
    /// Every token whose `sub` is this value.
    Subject,
    /// Every token whose `client_id` (or `azp`) is this value.
    Client,
    /// Every token whose `sid` is this value (OpenID back-channel logout).
    Session,
}

impl State {
    fn epoch_count(&self) -> usize {
        self.epochs.iter().map(HashMap::len).sum()
    }
}

impl Target {
    fn index(self) -> usize {
        match self {
            Target::Subject => 0,
            Target::Client => 1,
            Target::Session => 2,
        }
    }

    /// `"sub"`, `"client_id"` or `"sid"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Subject => "sub",
            Target::Client => "client_id",
            Target::Session => "sid",
        }
    }
}

/// Why a revocation was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The identifier is empty or longer than [`MAX_ID_LEN`].
    #[error("the identifier is empty or longer than {MAX_ID_LEN} bytes")]
    InvalidId,
    /// The deny-list is at its bound ([`MAX_REVOKED_JTIS`] / [`MAX_EPOCHS`]).
    #[error("the deny-list is full")]
    Full,
    /// A shared deny-list could not record it (Redis unreachable).
    #[error("the shared deny-list is unavailable: {0}")]
    Unavailable(String),
}

/// The deny-list: cheap to clone (clones share it), safe to share between validators.
/// Reads take a read lock only when the list is not empty.
#[derive(Clone, Default)]
pub struct Revocations {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// False while nothing is revoked: the request path then costs one atomic load.
    any: AtomicBool,
    /// Moves on every addition, after it is visible: a verified token found clean at one
    /// generation stays clean while it does not move.
    generation: AtomicU64,
    /// Set by a shared store's link when it has been out of sync longer than its fail-closed
    /// bound: every check then fails with 503.
    stale: AtomicBool,
    state: RwLock<State>,
    /// Where revocations made here go to be shared (a [`RedisRevocations`] attached).
    #[cfg(feature = "redis")]
    publisher: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<self::redis::Entry>>>,
}

#[derive(Default)]
pub(crate) struct State {
    /// `jti` → keep until (Unix seconds).
    pub(crate) jtis: HashMap<String, i64>,
    /// Per [`Target`] (sub, client_id, sid): value → tokens issued before this (Unix
    /// seconds) are revoked.
    pub(crate) epochs: [HashMap<String, i64>; 3],
    /// `jtis.len()` after the last pruning: prune again when it doubles.
    pruned_at: usize,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.read();
        f.debug_struct("Revocations")
            .field("jtis", &s.jtis.len())
            .field("epochs", &s.epoch_count())
            .finish()
    }
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn check_id(id: &str) -> Result<(), RevocationError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(RevocationError::InvalidId);
    }
    Ok(())
}

impl Revocations {
    /// An empty, in-memory deny-list.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Revoke one token by its `jti` until `expires_at` (its `exp`) plus
    /// [`JTI_RETENTION_LEEWAY`].
    ///
    /// ```
    /// # use a2a_guard::revocation::Revocations;
    /// # use std::time::{Duration, SystemTime};
    /// let r = Revocations::new();
    /// r.revoke_jti("0f3c…", SystemTime::now() + Duration::from_secs(600))?;
    /// assert_eq!(r.revoked_jtis(), 1);
    /// # Ok::<(), a2a_guard::revocation::RevocationError>(())
    /// ```
    pub fn revoke_jti(&self, jti: &str, expires_at: SystemTime) -> Result<(), RevocationError> {
        let until = unix(expires_at).saturating_add(JTI_RETENTION_LEEWAY.as_secs() as i64);
        self.insert_jti(jti, until, unix(SystemTime::now()))?;
        self.publish("jti", until, jti)
    }

    pub(crate) fn insert_jti(
        &self,
        jti: &str,
        until: i64,
        now: i64,
    ) -> Result<(), RevocationError> {
        check_id(jti)?;
        let mut s = self.write();
        if s.jtis.len() >= s.pruned_at.saturating_mul(2).max(1024) {
            s.jtis.retain(|_, u| *u > now);
            s.pruned_at = s.jtis.len();
        }
        if s.jtis.len() >= MAX_REVOKED_JTIS && !s.jtis.contains_key(jti) {
            return Err(RevocationError::Full);
        }
        let e = s.jtis.entry(jti.to_owned()).or_insert(i64::MIN);
        if *e < until {
            // New, or kept longer: counted once however often the shared store repeats it.
            crate::metrics::revocation_added("jti");
            *e = until;
        }
        self.inner.any.store(true, Ordering::Release);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Revoke every token of `who` (its `sub`, `client_id` or `sid` equal to `value`) issued
    /// before `before`. A later call with a later time moves the epoch forward; an earlier
    /// one changes nothing.
    ///
    /// ```
    /// # use a2a_guard::revocation::{Revocations, Target};
    /// # use std::time::SystemTime;
    /// let r = Revocations::new();
    /// // The agent was decommissioned: nothing issued to it before now is accepted.
    /// r.revoke_before(Target::Client, "billing-agent", SystemTime::now())?;
    /// # Ok::<(), a2a_guard::revocation::RevocationError>(())
    /// ```
    pub fn revoke_before(
        &self,
        who: Target,
        value: &str,
        before: SystemTime,
    ) -> Result<(), RevocationError> {
        self.insert_epoch(who, value, unix(before))?;
        self.publish(who.as_str(), unix(before), value)
    }

    /// Hand a revocation made here to the shared store, if one is attached. It already holds
    /// locally; an error says it could not be queued for the fleet.
    #[cfg_attr(not(feature = "redis"), allow(clippy::unnecessary_wraps))]
    fn publish(&self, kind: &'static str, at: i64, value: &str) -> Result<(), RevocationError> {
        #[cfg(feature = "redis")]
        {
            let publisher = self
                .inner
                .publisher
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(tx) = &*publisher {
                let entry = self::redis::Entry {
                    kind,
                    at,
                    value: value.to_owned(),
                };
                return tx.try_send(entry).map_err(|_| {
                    RevocationError::Unavailable(
                        "held locally; the queue to Redis is full or closed".into(),
                    )
                });
            }
        }
        #[cfg(not(feature = "redis"))]
        let _ = (kind, at, value);
        Ok(())
    }

    #[cfg(feature = "redis")]
    pub(crate) fn set_publisher(&self, tx: tokio::sync::mpsc::Sender<self::redis::Entry>) {
        *self
            .inner
            .publisher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tx);
    }

    pub(crate) fn insert_epoch(
        &self,
        who: Target,
        value: &str,
        before: i64,
    ) -> Result<(), RevocationError> {
        check_id(value)?;
        let mut s = self.write();
        if s.epoch_count() >= MAX_EPOCHS && !s.epochs[who.index()].contains_key(value) {
            return Err(RevocationError::Full);
        }
        let e = s.epochs[who.index()]
            .entry(value.to_owned())
            .or_insert(i64::MIN);
        if *e < before {
            crate::metrics::revocation_added("epoch");
            *e = before;
        }
        self.inner.any.store(true, Ordering::Release);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Whether a shared store with a fail-closed bound has been out of sync past it.
    pub fn is_stale(&self) -> bool {
        self.inner.stale.load(Ordering::Acquire)
    }

    #[cfg(feature = "redis")]
    pub(crate) fn set_stale(&self, stale: bool) {
        crate::metrics::revocation_stale(stale);
        self.inner.stale.store(stale, Ordering::Release);
    }

    /// A number that moves on every revocation added (for caches of "this token is clean").
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// How many `jti`s are held (expired ones are pruned as the list grows).
    pub fn revoked_jtis(&self) -> usize {
        self.read().jtis.len()
    }

    /// How many epochs are held.
    pub fn epochs(&self) -> usize {
        self.read().epoch_count()
    }

    /// Whether a token with these claims is revoked, and by what (`"jti"`, `"sub"`,
    /// `"client_id"`, `"sid"`).
    pub fn check(&self, claims: &RegisteredClaims) -> Option<&'static str> {
        if !self.inner.any.load(Ordering::Acquire) {
            return None;
        }
        let s = self.read();
        if let Some(jti) = &claims.jti
            && s.jtis.contains_key(jti.as_str())
        {
            return Some("jti");
        }
        if s.epoch_count() == 0 {
            return None;
        }
        let iat = claims.iat.map(|d| d.0);
        let client = claims.client_id.as_deref().or(claims.azp.as_deref());
        for (who, value) in [
            (Target::Subject, claims.sub.as_deref()),
            (Target::Client, client),
            (Target::Session, claims.sid.as_deref()),
        ] {
            let Some(value) = value else { continue };
            if let Some(before) = s.epochs[who.index()].get(value)
                && iat.is_none_or(|iat| iat < *before)
            {
                return Some(who.as_str());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_jtis_are_pruned_as_the_list_grows() {
        let r = Revocations::new();
        // 1 024 entries (the first pruning point) that are over by the next insertion's
        // "now": pruning drops them, so the list holds only what can still matter.
        for i in 0..1024 {
            r.insert_jti(&format!("old-{i}"), 100, 50).unwrap();
        }
        r.insert_jti("live", 10_000, 5_000).unwrap();
        assert_eq!(r.revoked_jtis(), 1);
        let claims = RegisteredClaims {
            jti: Some("live".into()),
            ..Default::default()
        };
        assert_eq!(r.check(&claims), Some("jti"));
    }

    #[test]
    fn an_empty_list_answers_without_locking() {
        let r = Revocations::new();
        assert_eq!(r.check(&RegisteredClaims::default()), None);
        assert!(!r.inner.any.load(Ordering::Acquire));
    }
}
