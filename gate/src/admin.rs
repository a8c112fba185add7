//! The admin listener: `/healthz` (the process answers), `/readyz` (every issuer has usable
//! keys, with each issuer's state), `/metrics` (Prometheus text). No token is asked for:
//! bind it to loopback or a management network, never behind the proxy.

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
        .with_state(Admin { gate, metrics })
}

/// 200 when every issuer has usable keys, else 503; the body lists each issuer's state
/// (keys held, last-known-good served, last error, time since the last good fetch).
async fn readyz(State(a): State<Admin>) -> Response {
    let issuers = a.gate.health();
    let ready = issuers.iter().all(|i| i.ready);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "ready": ready, "issuers": issuers });
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
