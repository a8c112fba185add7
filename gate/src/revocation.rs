//! Revocation in the gate (issue 17): the deny-list every check consults, its link to the
//! fleet's Redis, the RFC 8935 push receiver of Security Event Tokens (`[listen] events`), and
//! the revocation API on the admin listener (`[revocation] admin_api`). Every rule is the
//! library's (`a2a_guard::revocation`); this module only wires it to the configuration and
//! keeps it across reloads.
//!
//! - The in-memory deny-list ([`Revocations`]) is made once per [`Gate`] and handed from one
//!   configuration to the next: a reload never forgets a revocation.
//! - The Redis link is kept as long as its settings (and the URL they point at) are the
//!   same; when they change, a new link attaches the same deny-list and the old one stops
//!   when the configuration it belonged to is dropped.
//! - The SET receiver is kept while `[events]` is unchanged (its transmitters' key caches
//!   with it).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use a2a_guard::revocation::{
    MAX_SET_BYTES, RedisRevocations, Revocations, SetReceiver, SyncHealth,
};
use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};

use crate::config::{EventsConfig, RevocationConfig};
use crate::{Config, ConfigError, Gate, StartError};

/// How long a new Redis link is given to finish its first sync before the configuration is
/// used anyway (the link keeps trying in the background; `/readyz` shows it).
const FIRST_SYNC_WAIT: Duration = Duration::from_secs(4);

/// The revocation side of one configuration.
#[derive(Clone)]
pub(crate) struct State {
    /// The deny-list: the same object for the whole life of the gate.
    pub(crate) revocations: Revocations,
    link: Option<Link>,
    admin_api: bool,
    events: Option<Arc<Events>>,
}

#[derive(Clone)]
struct Link {
    /// The settings it was made from, and the URL they gave.
    from: (RevocationConfig, Arc<SecretString>),
    redis: RedisRevocations,
}

struct Events {
    from: EventsConfig,
    receiver: SetReceiver,
}

/// The state of the shared deny-list, for `/readyz`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RevocationHealth {
    /// The Redis link's state (`None`: the deny-list is not shared).
    pub link: Option<SyncHealth>,
    /// The link has been out of sync past `fail_closed_after_secs`: every token is refused
    /// (503) until it syncs again.
    pub stale: bool,
    /// `jti`s and epochs held.
    pub revoked_jtis: usize,
    /// Subjects, clients and sessions revoked by epoch.
    pub epochs: usize,
}

impl State {
    /// The deny-list a new configuration starts from: the running one's, else a new one.
    pub(crate) fn revocations(old: Option<&State>) -> Revocations {
        old.map_or_else(Revocations::new, |o| o.revocations.clone())
    }

    /// Everything but the deny-list itself, for `config`: keeps what `old` had when its
    /// settings are unchanged. The last fallible step of a build: a new Redis link takes the
    /// deny-list's writes from the old one, so nothing may refuse the configuration after it.
    pub(crate) async fn build(
        config: &Config,
        revocations: Revocations,
        old: Option<&State>,
    ) -> Result<State, StartError> {
        let r = &config.revocation;
        let events = match (&config.events, old.and_then(|o| o.events.as_ref())) {
            (None, _) => None,
            (Some(e), Some(kept)) if kept.from == *e => Some(kept.clone()),
            (Some(e), _) => {
                let mut b = SetReceiver::builder(revocations.clone()).audience(e.audience.clone());
                for t in &e.transmitters {
                    b = match &t.jwks_url {
                        Some(url) => b.transmitter(t.issuer.clone(), url.clone()),
                        None => b.transmitter_discovery(t.issuer.clone()),
                    };
                }
                Some(Arc::new(Events {
                    from: e.clone(),
                    receiver: b.build().await?,
                }))
            }
        };
        let old_link = old.and_then(|o| o.link.as_ref());
        let url = redis_url(r)?;
        let link = match url {
            None if old_link.is_some() => {
                // The deny-list's writes go to the running link; nothing can take them back.
                return Err(ConfigError::Invalid {
                    at: "revocation".into(),
                    problem: "a reload cannot stop sharing the deny-list: restart the gate".into(),
                }
                .into());
            }
            None => None,
            Some(url) => {
                let mut settings = r.clone();
                settings.admin_api = false;
                match old_link {
                    Some(l)
                        if l.from.0 == settings
                            && l.from.1.expose_secret() == url.expose_secret() =>
                    {
                        Some(l.clone())
                    }
                    _ => Some(attach(settings, url, &revocations).await?),
                }
            }
        };
        Ok(State {
            revocations,
            link,
            admin_api: r.admin_api,
            events,
        })
    }
}

/// The fleet's Redis URL named by `[revocation]` (`redis_url_env` / `redis_url_file`), read
/// now; `None` when the deny-list is not shared.
pub(crate) fn redis_url(r: &RevocationConfig) -> Result<Option<SecretString>, ConfigError> {
    Ok(match (&r.redis_url_env, &r.redis_url_file) {
        (Some(name), _) => Some(crate::secrets::from_env("revocation.redis_url_env", name)?),
        (None, Some(path)) => Some(crate::secrets::from_file(
            "revocation.redis_url_file",
            path,
        )?),
        (None, None) => None,
    })
}

/// A new link from `revocations` to the Redis at `url`, given [`FIRST_SYNC_WAIT`] to sync.
async fn attach(
    settings: RevocationConfig,
    url: SecretString,
    revocations: &Revocations,
) -> Result<Link, ConfigError> {
    let at = if settings.redis_url_env.is_some() {
        "revocation.redis_url_env"
    } else {
        "revocation.redis_url_file"
    };
    // The library's error names no URL (it may hold a password); neither does this one.
    let redis =
        RedisRevocations::attach_in_background(url.expose_secret(), revocations).map_err(|_| {
            ConfigError::Invalid {
                at: at.into(),
                problem: "not a valid Redis URL (redis://host:port/)".into(),
            }
        })?;
    if let Some(secs) = settings.fail_closed_after_secs {
        redis.fail_closed_after(Duration::from_secs(secs));
    }
    let deadline = tokio::time::Instant::now() + FIRST_SYNC_WAIT;
    while !redis.health().connected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !redis.health().connected {
        tracing::warn!(target: "a2a_guard_gate", "the shared deny-list cannot reach Redis yet: \
            serving with the local view and retrying");
    }
    Ok(Link {
        from: (settings, Arc::new(url)),
        redis,
    })
}

impl Gate {
    /// The deny-list every check consults (clones share it; it survives reloads). Revoking
    /// through it applies to the next check at once, and to every gate sharing its Redis
    /// soon after.
    ///
    /// ```no_run
    /// # async fn demo(gate: a2a_guard_gate::Gate) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::{Duration, SystemTime};
    /// gate.revocations()
    ///     .revoke_jti("task-42", SystemTime::now() + Duration::from_secs(3600))?;
    /// # Ok(()) }
    /// ```
    pub fn revocations(&self) -> Revocations {
        self.inner.load().revocation.revocations.clone()
    }

    /// The deny-list's state: the Redis link when shared, and whether it is stale.
    pub fn revocation_health(&self) -> RevocationHealth {
        let g = self.inner.load();
        let r = &g.revocation;
        RevocationHealth {
            link: r.link.as_ref().map(|l| l.redis.health()),
            stale: r.revocations.is_stale(),
            revoked_jtis: r.revocations.revoked_jtis(),
            epochs: r.revocations.epochs(),
        }
    }

    /// Receive pushed Security Event Tokens (RFC 8935) on `listener` until `shutdown`
    /// completes: `POST` with the SET as the body, on any path. 202 when accepted (also a
    /// duplicate or an event the gate does not act on), 400 `{"err", "description"}` as
    /// RFC 8935 §2.4 asks, 503 when the transmitter's keys cannot be had (it retries), 404
    /// while no `[events]` is configured.
    pub async fn serve_events_until(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.events_router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// The events listener's routes (see [`Gate::serve_events_until`]).
    pub fn events_router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(receive)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_SET_BYTES))
            .with_state(self.clone())
    }
}

async fn receive(
    AxumState(gate): AxumState<Gate>,
    method: Method,
    body: axum::body::Bytes,
) -> Response {
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Some(events) = gate.inner.load().revocation.events.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match events.receiver.receive(&body).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(e) => match e.code() {
            Some(code) => (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"err": code, "description": e.to_string()})),
            )
                .into_response(),
            None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        },
    }
}

/// `/revocations` on the admin listener: the library's `admin_router` over the gate's
/// deny-list, answering 404 while `[revocation] admin_api` is off (it is read on every
/// request, so a reload turns it on or off).
pub(crate) fn admin_routes(gate: Gate) -> axum::Router {
    let api = a2a_guard::revocation::admin_router(gate.revocations());
    api.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let on = gate.inner.load().revocation.admin_api;
            async move {
                if on {
                    next.run(req).await
                } else {
                    StatusCode::NOT_FOUND.into_response()
                }
            }
        },
    ))
}

/// `/readyz`'s view of the deny-list: `None` when it is not shared.
pub(crate) fn readiness(h: &RevocationHealth) -> Option<serde_json::Value> {
    let link = h.link.as_ref()?;
    let since = link
        .last_sync
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|d| d.as_secs());
    Some(serde_json::json!({
        "connected": link.connected,
        "seconds_since_sync": since,
        "stale": h.stale,
        "revoked_jtis": h.revoked_jtis,
        "epochs": h.epochs,
    }))
}

/// The library's RFC 7662 introspection for `issuer[i]`. The secret is checked now (a
/// missing variable or file refuses the configuration, naming the key) and handed to the
/// library by name, which reads it again when it asks (a replaced file is a rotated secret).
pub(crate) fn introspection(
    i: usize,
    issuer: &str,
    x: &crate::config::IntrospectionConfig,
) -> Result<a2a_guard::Introspection, ConfigError> {
    use a2a_guard::client::{ClientCredentials, Secret};
    let at = |k: &str| format!("issuer[{i}].introspection.{k}");
    let secret = match (&x.client_secret_env, &x.client_secret_file) {
        (Some(name), _) => {
            crate::secrets::from_env(&at("client_secret_env"), name)?;
            Secret::env(name.clone())
        }
        (None, Some(path)) => {
            crate::secrets::from_file(&at("client_secret_file"), path)?;
            Secret::file(path.clone())
        }
        (None, None) => {
            return Err(ConfigError::Invalid {
                at: format!("issuer[{i}].introspection"),
                problem: "client_secret_env or client_secret_file is required".into(),
            });
        }
    };
    let credentials =
        ClientCredentials::new(x.endpoint.clone(), x.client_id.clone()).secret(secret);
    let mut n = a2a_guard::Introspection::new(issuer.to_owned(), credentials);
    if let Some(secs) = x.cache_ttl_secs {
        n = n.cache_ttl(Duration::from_secs(secs));
    }
    if x.recheck_jwts {
        n = n.recheck_jwts();
    }
    if x.fail_open {
        n = n.fail_open();
    }
    Ok(n)
}
