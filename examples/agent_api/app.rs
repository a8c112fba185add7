//! The `agent_api` router, shared by the example binary and its integration tests.

use a2a_guard::axum::Claims;
use a2a_guard::{Principal, RequireActor, RequireScopes, Validator};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// Every protected route and the scope requirement it carries.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/whoami", ""),
    ("GET", "/data", "read:data"),
    ("POST", "/reports", "write:reports"),
    ("GET", "/customers/eu", "read:customers:eu"),
    ("POST", "/payments", "execute:payment"),
    ("POST", "/delegate", "delegate:analysis"),
];

/// The current actors (RFC 8693 `act.sub`) that may call `POST /delegate`.
pub const DELEGATE_ACTORS: &[&str] = &["orchestrator", "orchestrator-agent"];

/// The API: `/health` open, everything else behind the validator's layer.
pub fn router(validator: Validator) -> Router {
    let protected = Router::new()
        .route("/whoami", get(whoami))
        .route(
            "/data",
            get(data).route_layer(RequireScopes::all(["read:data"])),
        )
        .route(
            "/reports",
            post(report).route_layer(RequireScopes::all(["write:reports"])),
        )
        .route(
            "/customers/{region}",
            get(customers).route_layer(RequireScopes::template("read:customers:{region}")),
        )
        .route(
            "/payments",
            post(payment).route_layer(RequireScopes::all(["execute:payment"])),
        )
        .route(
            "/delegate",
            post(delegate)
                .route_layer(RequireActor::any(DELEGATE_ACTORS.iter().copied()))
                .route_layer(RequireScopes::all(["delegate:analysis"])),
        )
        .layer(validator.layer());
    Router::new()
        .route("/health", get(health))
        .with_state(validator)
        .merge(protected)
}

async fn health(State(v): State<Validator>) -> Json<Value> {
    Json(json!({ "status": if v.is_ready() { "ok" } else { "degraded" }, "keys": v.health() }))
}

async fn whoami(p: Principal) -> Json<Value> {
    let actors: Vec<&str> = p
        .delegation_chain()
        .filter_map(|a| a.sub.as_deref())
        .collect();
    let scopes: Vec<&str> = p.scopes().iter().map(|s| s.as_str()).collect();
    Json(
        json!({ "sub": p.subject(), "client_id": p.client_id(), "scopes": scopes, "actors": actors }),
    )
}

async fn data(p: Principal) -> Json<Value> {
    Json(json!({ "data": [1, 2, 3], "for": p.subject() }))
}

async fn report(Claims(c): Claims) -> Json<Value> {
    Json(json!({ "accepted": true, "by": c.get("sub") }))
}

async fn customers(Path(region): Path<String>) -> Json<Value> {
    Json(json!({ "region": region, "customers": ["acme", "globex"] }))
}

async fn payment(p: Principal) -> Json<Value> {
    Json(json!({ "executed": true, "by": p.subject() }))
}

async fn delegate(p: Principal) -> Json<Value> {
    let actor = p.actor().and_then(|a| a.sub.as_deref());
    Json(json!({ "delegated": true, "subject": p.subject(), "actor": actor }))
}
