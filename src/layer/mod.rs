//! Tower middleware: [`AuthLayer`] authenticates every request, [`RequireScopes`] guards a
//! route. Both work for any `http::Request<B>`: axum, plain hyper, tonic.
//!
//! ```no_run
//! use a2a_guard::{RequireScopes, Validator};
//! use axum::{Router, routing::{get, post}};
//!
//! # async fn app() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = Validator::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("agent-api")
//!     .build()
//!     .await?;
//! let app: Router = Router::new()
//!     .route("/data", get(|| async { "data" }).route_layer(RequireScopes::all(["read:data"])))
//!     .route("/reports", post(|| async { "ok" }).route_layer(RequireScopes::any(["write:reports", "admin"])))
//!     .layer(validator.layer());
//! # Ok(()) }
//! ```

mod auth;
mod challenge;
pub mod guard;
mod rejection;
mod require_actor;
mod require_auth_strength;
mod require_claims;
mod require_scopes;

use std::sync::Arc;

pub use auth::{AuthLayer, AuthService, ResponseFuture};
pub(crate) use challenge::ChallengeConfig;
pub use guard::{GuardFuture, GuardService};
pub use rejection::{RejectionBody, RejectionBodyFuture, RejectionBodyLayer};
pub use require_actor::{ActorMatch, RequireActor, RequireActorService};
pub use require_auth_strength::{RequireAuthStrength, RequireAuthStrengthService};
pub use require_claims::{RequireClaims, RequireClaimsService};
pub use require_scopes::{RequireScopes, RequireScopesService};

use http::{HeaderValue, Response, header};

use crate::AuthError;
use crate::claims::{Principal, PrincipalInner, RegisteredClaims};
use crate::scope::{ScopeRequirement, ScopeRules, ScopeSet};

/// The realm when none is configured and no audience is known.
pub const DEFAULT_REALM: &str = "a2a-guard";

/// The claims-type-free view of a verified token.
trait View: Send + Sync {
    fn registered(&self) -> &RegisteredClaims;
    fn scopes(&self) -> &ScopeSet;
}

impl<C: Send + Sync> View for PrincipalInner<C> {
    fn registered(&self) -> &RegisteredClaims {
        &self.registered
    }
    fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }
}

/// What the scope guard and the audit event need from an authenticated request, without
/// the claims type: inserted into request extensions by [`AuthService`] next to
/// the [`Principal<C>`] handle, whose allocation it shares. Cheap to clone.
#[derive(Clone)]
pub struct AuthContext {
    principal: Arc<dyn View>,
    rules: Arc<ScopeRules>,
    challenge: Arc<ChallengeConfig>,
    /// Whether the request used the `DPoP` scheme: its 403s are `DPoP` challenges too.
    dpop: bool,
    /// The validator's clock when the token was checked, for `max_age` (RFC 9470).
    now: i64,
    /// `type_name` of the validator's claims type, to name it when an extractor asks for
    /// another one.
    claims_type: &'static str,
}

/// Put by [`AuthService`] into every request it passes on without a token (an optional
/// layer); an authenticated request carries an [`AuthContext`] instead. Either lets route
/// guards and extractors tell "no token" from "no auth layer in front" (a wiring mistake).
/// Carries the layer's challenge settings for the rejections of unauthenticated requests.
#[derive(Debug, Clone)]
pub(crate) struct LayerPresent(pub(crate) Arc<ChallengeConfig>);

/// Where a component running inside the router (a route guard, an extractor) leaves the
/// matched route template for the auth layer's audit event: the layer wraps the router, so it
/// never sees axum's `MatchedPath` itself. Present only when someone reads decisions (an
/// audit subscriber, an observer, or the `metrics` feature).
#[derive(Debug, Default)]
pub(crate) struct RouteSlot(std::sync::OnceLock<Arc<str>>);

impl RouteSlot {
    /// The template itself, to share without copying (a metric label).
    pub(crate) fn shared(&self) -> Option<&Arc<str>> {
        self.0.get()
    }
}

/// Record axum's matched route template, when there is one and the auth layer asked for it.
pub(crate) fn record_route(extensions: &http::Extensions) {
    #[cfg(feature = "axum")]
    if let (Some(slot), Some(matched)) = (
        extensions.get::<Arc<RouteSlot>>(),
        extensions.get::<::axum::extract::MatchedPath>(),
    ) {
        let _ = slot.0.set(Arc::from(matched.as_str()));
    }
    #[cfg(not(feature = "axum"))]
    let _ = extensions;
}

/// Log a misconfiguration once per call site: it is the operator's to fix, and requests
/// must not be able to flood the log with it.
macro_rules! misconfigured_once {
    ($($arg:tt)+) => {{
        static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::error!(target: "a2a_guard::config", $($arg)+);
        }
    }};
}
pub(crate) use misconfigured_once;

impl std::fmt::Debug for AuthContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthContext")
            .field("sub", &self.subject())
            .field("scopes", self.scopes())
            .field("realm", &self.challenge.realm)
            .finish_non_exhaustive()
    }
}

impl AuthContext {
    pub(crate) fn new<C: Send + Sync + 'static>(
        principal: &Principal<C>,
        rules: Arc<ScopeRules>,
        challenge: Arc<ChallengeConfig>,
        dpop: bool,
        now: i64,
    ) -> Self {
        AuthContext {
            principal: principal.shared().clone(),
            rules,
            challenge,
            dpop,
            now,
            claims_type: std::any::type_name::<C>(),
        }
    }

    /// The type the validator reads custom claims into (`std::any::type_name`).
    pub fn claims_type(&self) -> &'static str {
        self.claims_type
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.principal.registered().iss.as_deref()
    }
    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.principal.registered().sub.as_deref()
    }
    /// `client_id` (or `azp`).
    pub fn client_id(&self) -> Option<&str> {
        let r = self.principal.registered();
        r.client_id.as_deref().or(r.azp.as_deref())
    }
    /// `jti`.
    pub fn jti(&self) -> Option<&str> {
        self.principal.registered().jti.as_deref()
    }
    /// The granted scopes.
    pub fn scopes(&self) -> &ScopeSet {
        self.principal.scopes()
    }
    /// The current actor of a delegated token (RFC 8693 §4.1).
    pub fn actor(&self) -> Option<&crate::claims::Actor> {
        self.principal.registered().act.as_ref()
    }
    /// The delegation chain's subjects, current actor first.
    pub fn actors(&self) -> impl Iterator<Item = &str> {
        std::iter::successors(self.principal.registered().act.as_ref(), |a| {
            a.act.as_deref()
        })
        .map(|a| a.sub.as_deref().unwrap_or(""))
    }
    /// `acr`: the authentication context class of the user behind the token.
    pub fn acr(&self) -> Option<&str> {
        self.principal.registered().acr.as_deref()
    }
    /// `auth_time`: when the user behind the token authenticated (Unix seconds).
    pub fn auth_time(&self) -> Option<i64> {
        self.principal.registered().auth_time.map(|t| t.0)
    }
    /// The validator's clock (Unix seconds) when the token was checked for this request.
    pub fn checked_at(&self) -> i64 {
        self.now
    }
    /// The realm of the `WWW-Authenticate` challenges for this request.
    pub fn realm(&self) -> &str {
        &self.challenge.realm
    }

    /// The layer's challenge settings and whether the request used `DPoP`.
    pub(crate) fn challenge(&self) -> (&Arc<ChallengeConfig>, bool) {
        (&self.challenge, self.dpop)
    }
    /// Whether the granted scopes satisfy `req` under the configured implication rules.
    pub fn satisfies(&self, req: &ScopeRequirement) -> bool {
        self.principal.scopes().satisfies(req, &self.rules)
    }
}

/// Marks a response with a route guard's decision, so the auth layer's single audit event can
/// report it.
#[derive(Debug, Clone)]
pub(crate) struct GuardOutcome {
    pub(crate) required: Arc<str>,
    pub(crate) error: Option<AuthError>,
}

/// The rejection response: RFC 6750 for HTTP; for gRPC (`content-type: application/grpc…`)
/// a trailers-only response with the matching `grpc-status` (16 unauthenticated, 7 permission
/// denied, 14 unavailable), so tonic clients see a proper status.
pub(crate) fn reject<B: Default>(
    err: &AuthError,
    challenge: &crate::Challenge<'_>,
    grpc: bool,
) -> Response<B> {
    let mut res = err.to_response_with::<B>(challenge);
    if grpc {
        let code = match err.status().as_u16() {
            403 => "7",
            503 => "14",
            _ => "16",
        };
        *res.status_mut() = http::StatusCode::OK;
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert("grpc-status", HeaderValue::from_static(code));
        // grpc-message is percent-encoded outside 0x20..=0x7E; ours is ASCII without '%'.
        if let Ok(v) = HeaderValue::from_str(&err.to_string().replace('%', "%25")) {
            h.insert("grpc-message", v);
        }
    }
    res
}

/// gRPC over HTTP/2: `application/grpc`, optionally followed by `+<codec>` or `;<params>`
/// (media types compare case-insensitively, RFC 9110 §8.3.1). `application/grpcXYZ` or
/// `application/grpc-web` is not gRPC and gets the plain HTTP rejection.
pub(crate) fn is_grpc(headers: &http::HeaderMap) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    headers
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        .is_some_and(|v| {
            v.len() >= GRPC.len()
                && v[..GRPC.len()].eq_ignore_ascii_case(GRPC)
                && matches!(v.get(GRPC.len()), None | Some(b'+' | b';'))
        })
}
