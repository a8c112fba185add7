//! [`SetReceiver`]: pushed revocation events — Security Event Tokens (RFC 8417) delivered by
//! HTTP push (RFC 8935) and OpenID Back-Channel Logout tokens — turned into deny-list epochs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{Revocations, Target};
use crate::{AuthError, ConfigError, Validator};

/// CAEP: the subject's sessions were revoked.
pub const CAEP_SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP: the subject's credential changed (rotated, removed).
pub const CAEP_CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// RISC: the subject's account was disabled.
pub const RISC_ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
/// OpenID Back-Channel Logout 1.0: the logout token's event.
pub const BACKCHANNEL_LOGOUT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The largest SET read.
pub const MAX_SET_BYTES: usize = 16 * 1024;
/// `jti`s remembered for de-duplication.
const SEEN_CAPACITY: u64 = 100_000;
/// How long a `jti` is remembered.
const SEEN_FOR: Duration = Duration::from_secs(24 * 3600);

/// Why a SET was not accepted: the RFC 8935 §2.4 error codes (and 503 when the transmitter's
/// keys cannot be had, so it retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// `invalid_request`: not a SET, or an event that does not follow its definition.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// `invalid_key`: the signature or key is not acceptable.
    #[error("invalid_key: {0}")]
    InvalidKey(&'static str),
    /// `invalid_issuer`: not a configured transmitter.
    #[error("invalid_issuer")]
    InvalidIssuer,
    /// `invalid_audience`: not addressed to this recipient.
    #[error("invalid_audience")]
    InvalidAudience,
    /// The transmitter's keys cannot be fetched now (503: retry later).
    #[error("the transmitter's keys are unavailable")]
    KeysUnavailable,
}

impl SetError {
    /// The RFC 8935 `err` code (`None` for [`SetError::KeysUnavailable`], answered 503).
    pub fn code(&self) -> Option<&'static str> {
        match self {
            SetError::InvalidRequest(_) => Some("invalid_request"),
            SetError::InvalidKey(_) => Some("invalid_key"),
            SetError::InvalidIssuer => Some("invalid_issuer"),
            SetError::InvalidAudience => Some("invalid_audience"),
            SetError::KeysUnavailable => None,
        }
    }
}

/// What a delivered SET did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Epochs recorded: `(what, value)` pairs.
    Revoked(Vec<(Target, String)>),
    /// A `jti` seen before: acknowledged, nothing changed (transmitters retry).
    Duplicate,
    /// No event this receiver acts on (or a subject format it does not read): acknowledged
    /// and ignored, as RFC 8935 asks.
    Ignored,
}

/// Receives pushed Security Event Tokens and Back-Channel Logout tokens and turns the ones
/// that revoke into epochs on a [`Revocations`] deny-list: every token of the subject (or
/// session) issued before the event is refused from then on.
///
/// Each SET is verified like an access token — signature against the transmitter's JWKS
/// through the same key cache (rotation, last-known-good, kid-miss cooldown), `typ`
/// `secevent+jwt` or `logout+jwt`, `iss` a configured transmitter, `aud` this recipient — and
/// its `jti` is remembered (bounded) so a replay changes nothing.
///
/// Events acted on: CAEP `session-revoked` and `credential-change`, RISC `account-disabled`
/// (subject from `sub_id` or the event's `subject`, formats `iss_sub`, `email`, `opaque`), and
/// Back-Channel Logout (`sid` → session epoch, `sub` → subject epoch). The epoch is the
/// event's `event_timestamp`, else the SET's (required) `iat`; never later than now.
///
/// ```no_run
/// # async fn demo(revocations: a2a_guard::revocation::Revocations) -> Result<(), a2a_guard::ConfigError> {
/// use a2a_guard::revocation::SetReceiver;
/// let receiver = SetReceiver::builder(revocations)
///     .transmitter("https://auth.example.com", "https://auth.example.com/jwks")
///     .audience("https://api.example.com")
///     .build()
///     .await?;
/// let app: axum::Router = axum::Router::new().nest("/events", receiver.into_router());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SetReceiver {
    verifier: Validator,
    audience: Vec<String>,
    revocations: Revocations,
    seen: moka::sync::Cache<String, ()>,
}

impl std::fmt::Debug for SetReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetReceiver")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Configures a [`SetReceiver`].
#[must_use]
pub struct SetReceiverBuilder {
    revocations: Revocations,
    /// Issuer and JWKS URL (`None`: discovery).
    transmitters: Vec<(String, Option<String>)>,
    audience: Vec<String>,
}

impl SetReceiver {
    /// Start configuring a receiver that records epochs on `revocations`.
    pub fn builder(revocations: Revocations) -> SetReceiverBuilder {
        SetReceiverBuilder {
            revocations,
            transmitters: Vec::new(),
            audience: Vec::new(),
        }
    }

    /// Verify and act on one SET (the request body). `Ok` is answered 202.
    pub async fn receive(&self, body: &[u8]) -> Result<Delivery, SetError> {
        let result = self.deliver(body).await;
        crate::metrics::set_received(match &result {
            Ok(_) => "accepted",
            Err(e) => e.code().unwrap_or("keys_unavailable"),
        });
        result
    }

    async fn deliver(&self, body: &[u8]) -> Result<Delivery, SetError> {
        if body.len() > MAX_SET_BYTES {
            return Err(SetError::InvalidRequest("the SET is too large"));
        }
        let token = std::str::from_utf8(body)
            .map_err(|_| SetError::InvalidRequest("the body is not a JWT"))?
            .trim();
        let signed = self
            .verifier
            .verify_signature(token)
            .await
            .map_err(|e| match e {
                AuthError::WrongIssuer => SetError::InvalidIssuer,
                AuthError::KeysUnavailable { .. } => SetError::KeysUnavailable,
                AuthError::UnknownKey => SetError::InvalidKey("no matching key"),
                AuthError::InvalidSignature => {
                    SetError::InvalidKey("the signature does not verify")
                }
                AuthError::DisallowedAlgorithm => SetError::InvalidKey("algorithm not accepted"),
                AuthError::WrongType => {
                    SetError::InvalidRequest("typ is not secevent+jwt or logout+jwt")
                }
                _ => SetError::InvalidRequest("not a signed JWT"),
            })?;
        let set: Value = serde_json::from_slice(&signed.payload)
            .map_err(|_| SetError::InvalidRequest("the payload is not JSON"))?;
        let aud_ok = |a: &Value| {
            a.as_str()
                .is_some_and(|a| self.audience.iter().any(|x| x == a))
        };
        match set.get("aud") {
            Some(Value::Array(a)) if a.iter().any(aud_ok) => {}
            Some(a) if aud_ok(a) => {}
            _ => return Err(SetError::InvalidAudience),
        }
        let jti = set
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or(SetError::InvalidRequest("jti is missing"))?;
        let events = set
            .get("events")
            .and_then(Value::as_object)
            .ok_or(SetError::InvalidRequest("events is missing"))?;
        // Read everything before recording anything or remembering the jti: a bad SET
        // changes nothing.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        // RFC 8417 §2.2 and Back-Channel Logout §2.4: `iat` is required.
        let iat = set
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(SetError::InvalidRequest("iat is missing"))?;
        let mut targets = Vec::new();
        for (uri, event) in events {
            match uri.as_str() {
                CAEP_SESSION_REVOKED | CAEP_CREDENTIAL_CHANGE | RISC_ACCOUNT_DISABLED => {
                    let subject = set.get("sub_id").or_else(|| event.get("subject"));
                    let Some(subject) = subject else {
                        return Err(SetError::InvalidRequest("the event names no subject"));
                    };
                    if let Some(value) = subject_value(subject)? {
                        let at = event
                            .get("event_timestamp")
                            .and_then(Value::as_i64)
                            .unwrap_or(iat);
                        targets.push((Target::Subject, value, at.min(now)));
                    }
                }
                BACKCHANNEL_LOGOUT => {
                    let at = iat.min(now);
                    let sid = set.get("sid").and_then(Value::as_str);
                    let sub = set.get("sub").and_then(Value::as_str);
                    if sid.is_none() && sub.is_none() {
                        return Err(SetError::InvalidRequest("a logout token needs sid or sub"));
                    }
                    if set.get("nonce").is_some() {
                        return Err(SetError::InvalidRequest("a logout token has no nonce"));
                    }
                    if let Some(sid) = sid {
                        targets.push((Target::Session, sid.to_owned(), at));
                    }
                    if let Some(sub) = sub {
                        targets.push((Target::Subject, sub.to_owned(), at));
                    }
                }
                _ => {}
            }
        }
        if self.seen.contains_key(jti) {
            return Ok(Delivery::Duplicate);
        }
        self.seen.insert(jti.to_owned(), ());
        if targets.is_empty() {
            return Ok(Delivery::Ignored);
        }
        let mut done = Vec::new();
        for (target, value, at) in targets {
            let before = UNIX_EPOCH + Duration::from_secs(at.max(0) as u64 + 1);
            if self
                .revocations
                .revoke_before(target, &value, before)
                .is_ok()
            {
                tracing::info!(target: "a2a_guard::revocation", by = target.as_str(),
                    "revoked by a pushed security event");
                done.push((target, value));
            }
        }
        Ok(Delivery::Revoked(done))
    }

    /// An axum router answering `POST /` as RFC 8935 §2.3/§2.4 asks: 202 on success (also
    /// for a duplicate or an event it ignores), 400 with `{"err": …, "description": …}`
    /// otherwise, 503 when the transmitter's keys cannot be fetched.
    #[cfg(feature = "axum")]
    pub fn into_router(self) -> axum::Router {
        axum::Router::new()
            .route("/", axum::routing::post(serve))
            .with_state(self)
    }
}

#[cfg(feature = "axum")]
async fn serve(
    axum::extract::State(r): axum::extract::State<SetReceiver>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match r.receive(&body).await {
        Ok(_) => http::StatusCode::ACCEPTED.into_response(),
        Err(e) => match e.code() {
            Some(code) => (
                http::StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"err": code, "description": e.to_string()})),
            )
                .into_response(),
            None => http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
        },
    }
}

/// RFC 9493 subject identifiers this receiver reads: `iss_sub` (the `sub`), `email`,
/// `opaque` (the `id`). Another format: `None` (ignored). A known format without its member:
/// an error.
fn subject_value(subject: &Value) -> Result<Option<String>, SetError> {
    let member = |name: &str| {
        subject
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or(SetError::InvalidRequest(
                "the subject identifier is incomplete",
            ))
    };
    match subject.get("format").and_then(Value::as_str) {
        Some("iss_sub") => member("sub").map(Some),
        Some("email") => member("email").map(Some),
        Some("opaque") => member("id").map(Some),
        Some(_) => Ok(None),
        None => Err(SetError::InvalidRequest(
            "the subject identifier has no format",
        )),
    }
}

impl SetReceiverBuilder {
    /// A transmitter: its issuer identifier (the SETs' `iss`) and JWKS URL. May be called
    /// several times.
    pub fn transmitter(mut self, issuer: impl Into<String>, jwks_url: impl Into<String>) -> Self {
        self.transmitters
            .push((issuer.into(), Some(jwks_url.into())));
        self
    }

    /// A transmitter whose JWKS URL is found by discovery (as
    /// [`ValidatorBuilder::issuer`](crate::ValidatorBuilder::issuer) does).
    pub fn transmitter_discovery(mut self, issuer: impl Into<String>) -> Self {
        self.transmitters.push((issuer.into(), None));
        self
    }

    /// This recipient's identifier, as the SETs' `aud` names it. May be called several times;
    /// at least one is required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience.push(audience.into());
        self
    }

    /// Check the configuration and fetch the transmitters' keys (as
    /// [`ValidatorBuilder::build`](crate::ValidatorBuilder::build) does).
    pub async fn build(self) -> Result<SetReceiver, ConfigError> {
        if self.audience.is_empty() {
            return Err(ConfigError::InvalidSetting {
                name: "audience",
                reason: "a SET receiver needs its own identifier as audience",
            });
        }
        let mut b = Validator::builder()
            .accepted_types(["secevent+jwt", "logout+jwt"])
            // `aud` is checked here against the receiver's own identifiers.
            .dangerous_skip_audience_check();
        for (iss, jwks) in self.transmitters {
            b = match jwks {
                Some(jwks) => b.issuer_jwks(iss, jwks),
                None => b.issuer(iss),
            };
        }
        Ok(SetReceiver {
            verifier: b.build().await?,
            audience: self.audience,
            revocations: self.revocations,
            seen: moka::sync::Cache::builder()
                .max_capacity(SEEN_CAPACITY)
                .time_to_live(SEEN_FOR)
                .build(),
        })
    }
}
