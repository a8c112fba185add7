//! The admin listener: `/healthz` (the process answers), `/readyz` (every issuer has usable
//! keys, with each issuer's state, and the shared deny-list's link), `/metrics` (Prometheus
//! text), and with `[revocation] admin_api = true` `POST /revocations` (revoke by `jti`,
//! `sub`, `client_id`, `sid`). No token is asked for: bind it to loopback or a management
//! network, never behind the proxy; with the revocation API, loopback only (the
//! configuration is refused otherwise): anyone who can reach it can refuse every token.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};

use crate::Gate;

/// What the admin routes read.
#[derive(Clone)]
struct Admin {
    gate: Gate,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// The admin routes for `gate`; `/metrics` renders `metrics` (404 without it).
///
/// ```no_run
/// # async fn demo(gate: a2a_guard_gate::Gate) -> Result<(), Box<dyn std::error::Error>> {
/// let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9102").await?;
/// axum::serve(listener, a2a_guard_gate::admin::router(gate, Some(handle))).await?;
/// # Ok(()) }
/// ```
pub fn router(
    gate: Gate,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render))
        .with_state(Admin {
            gate: gate.clone(),
            metrics,
        })
        .nest("/revocations", crate::revocation::admin_routes(gate))
}

/// 200 when every issuer has usable keys and the shared deny-list is not stale past its
/// `fail_closed_after_secs`, else 503; the body lists each issuer's state (keys held,
/// last-known-good served, last error, time since the last good fetch) and, when the
/// deny-list is shared, its Redis link (`connected`, `seconds_since_sync`, `stale`).
async fn readyz(State(a): State<Admin>) -> Response {
    let issuers = a.gate.health();
    let revocation = a.gate.revocation_health();
    let ready = issuers.iter().all(|i| i.ready) && !revocation.stale;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::json!({ "ready": ready, "issuers": issuers });
    if let Some(link) = crate::revocation::readiness(&revocation) {
        body["revocation"] = link;
    }
    (status, axum::Json(body)).into_response()
}

async fn render(State(a): State<Admin>) -> Response {
    match a.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are off\n").into_response(),
    }
}

/// Register the help text of the gate's own metrics and of the library's.
///
/// | name | type | labels | moves when |
/// |---|---|---|---|
/// | `a2a_guard_decisions_total` | counter | `decision`, `reason`, `route` (the matched pattern, `""` for denials) | the gate answers a check |
/// | `a2a_guard_gate_reloads_total` | counter | `result` = `ok`\|`error` | a reload ends (`SIGHUP`, file change, [`Gate::reload`]) |
///
/// and every metric of a2a-guard's `metrics` module (keys, caches, validation latency).
pub fn describe() {
    a2a_guard::metrics::describe();
    metrics::describe_counter!(
        "a2a_guard_gate_reloads_total",
        "Configuration reloads of the gate, by result."
    );
}
