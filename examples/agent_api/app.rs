//! The `agent_api` router, shared by the example binary and its integration tests.

use a2a_guard::axum::Claims;
use a2a_guard::metadata::{AGENT_CARD_PATH, AgentCardSecurity, ResourceMetadata};
use a2a_guard::{ConfigError, Principal, RequireActor, RequireScopes, Validator};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
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

/// The scopes the agent card lists, with the descriptions an agent reads there.
pub const SCOPE_DESCRIPTIONS: &[(&str, &str)] = &[
    ("read:data", "Read the data set (GET /data)"),
    (
        "read:customers",
        "Read the customers of every region (GET /customers/{region}; read:customers:<region> for one)",
    ),
    ("write:reports", "File reports (POST /reports)"),
    ("execute:payment", "Execute payments (POST /payments)"),
    (
        "delegate:analysis",
        "Hand analysis on, for delegated tokens of an allowed orchestrator (POST /delegate)",
    ),
];

/// The A2A HTTP+JSON path of `GetExtendedAgentCard` (`a2a.proto`: `get: "/extendedAgentCard"`),
/// the one A2A operation the demo implements: the card again, for an authenticated caller.
pub const EXTENDED_CARD_PATH: &str = "/extendedAgentCard";

/// The route guards, built once so the same values guard the routes and describe the skills
/// (each is [advertised](Validator::advertise): listed in the metadata and the card).
#[derive(Clone)]
pub struct Guards {
    data: RequireScopes,
    customers: RequireScopes,
    reports: RequireScopes,
    payments: RequireScopes,
    delegate: RequireScopes,
}

impl Guards {
    pub fn new(v: &Validator) -> Guards {
        Guards {
            data: v.advertise(RequireScopes::all(["read:data"])),
            customers: v.advertise(RequireScopes::template("read:customers:{region}")),
            reports: v.advertise(RequireScopes::all(["write:reports"])),
            payments: v.advertise(RequireScopes::all(["execute:payment"])),
            delegate: v.advertise(RequireScopes::all(["delegate:analysis"])),
        }
    }

    /// The agent card's skills, one per route group: id, name, description, tags, the guards
    /// of its routes (all needed).
    fn skills(
        &self,
    ) -> [(
        &'static str,
        &'static str,
        &'static str,
        Vec<&RequireScopes>,
    ); 5] {
        [
            (
                "identity",
                "Who am I",
                "GET /whoami: the caller's subject, client, scopes and delegation chain",
                vec![],
            ),
            (
                "data",
                "Data and customers",
                "GET /data and GET /customers/{region}",
                vec![&self.data, &self.customers],
            ),
            ("reports", "Reports", "POST /reports", vec![&self.reports]),
            (
                "payments",
                "Payments",
                "POST /payments",
                vec![&self.payments],
            ),
            (
                "delegation",
                "Delegated analysis",
                "POST /delegate: delegated (RFC 8693) tokens of an allowed orchestrator",
                vec![&self.delegate],
            ),
        ]
    }
}

/// Where the card says tokens come from.
pub enum TokenUrl {
    /// Given (`--token-url`).
    #[allow(dead_code)] // constructed by the binary only, not by tests/agent_api.rs
    Explicit(String),
    /// Read from the issuer's metadata (`token_endpoint`).
    Discover,
}

/// The A2A v1.0 agent card of the demo, served at `url` (the resource URI): identity,
/// one HTTP+JSON interface, capabilities, one skill per route group with the scopes its
/// routes need, and the security members a2a-guard derives from the validator.
pub async fn agent_card(
    v: &Validator,
    guards: &Guards,
    url: &str,
    token_url: TokenUrl,
) -> Result<Value, ConfigError> {
    let mut security = AgentCardSecurity::builder(v)
        .description("OAuth 2.0 client credentials at the API's authorization server");
    for (scope, text) in SCOPE_DESCRIPTIONS {
        security = security.scope(*scope, *text);
    }
    security = match token_url {
        TokenUrl::Explicit(url) => security.token_url(url),
        TokenUrl::Discover => security.discover().await?,
    };
    let skills = guards.skills();
    for (id, _, _, routes) in &skills {
        security = security.skill_routes(*id, routes.iter().copied());
    }
    let security = security.build()?;
    let mut card = json!({
        "name": "a2a-guard demo agent API",
        "description": "A demo API guarded by a2a-guard: OAuth 2.0 bearer tokens with hierarchical scopes, delegation and RFC 9728 metadata.",
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}
        ],
        "version": env!("CARGO_PKG_VERSION"),
        "capabilities": {"streaming": false, "pushNotifications": false, "extendedAgentCard": true},
        "defaultInputModes": ["application/json"],
        "defaultOutputModes": ["application/json"],
        "skills": skills.iter().map(|(id, name, description, _)| json!({
            "id": id, "name": name, "description": description, "tags": ["a2a-guard", "demo"],
        })).collect::<Vec<_>>(),
    });
    security.apply_to(&mut card)?;
    Ok(card)
}

/// The API: `/health` open, everything else behind the validator's layer.
#[allow(dead_code)] // the binary serves `router_with`; tests/agent_api.rs uses this
pub fn router(validator: Validator) -> Router {
    let guards = Guards::new(&validator);
    router_with(validator, guards, None).expect("no discovery, nothing to configure")
}

/// The API, and with a card also discovery: RFC 9728 metadata and the agent card, open, and
/// the extended card behind the layer.
pub fn router_with(
    validator: Validator,
    guards: Guards,
    card: Option<Value>,
) -> Result<Router, ConfigError> {
    let layer = validator.layer();
    let mut protected = Router::new()
        .route("/whoami", get(whoami))
        .route("/data", get(data).route_layer(guards.data))
        .route("/reports", post(report).route_layer(guards.reports))
        .route(
            "/customers/{region}",
            get(customers).route_layer(guards.customers),
        )
        .route("/payments", post(payment).route_layer(guards.payments))
        .route(
            "/delegate",
            post(delegate)
                .route_layer(RequireActor::any(DELEGATE_ACTORS.iter().copied()))
                .route_layer(guards.delegate),
        );
    let mut open = Router::new()
        .route("/health", get(health))
        .with_state(validator);
    if let Some(card) = card {
        let card = std::sync::Arc::new(card);
        let c = card.clone();
        protected = protected.route(EXTENDED_CARD_PATH, get(move || serve_card(c.clone())));
        open = open
            .route(AGENT_CARD_PATH, get(move || serve_card(card.clone())))
            .merge(
                ResourceMetadata::builder(&layer)
                    .resource_name("a2a-guard demo agent API")
                    .router()?,
            );
    }
    Ok(open.merge(protected.layer(layer)))
}

/// Revocation: `POST /admin/revoke` behind the layer and scope `admin:revoke`, and
/// `POST /events` for pushed Security Event Tokens (they carry their own signature).
#[allow(dead_code)] // not every user of this file serves revocation
pub fn revocation_routes(
    validator: &Validator,
    revocations: a2a_guard::revocation::Revocations,
    events: a2a_guard::revocation::SetReceiver,
) -> Router {
    Router::new()
        .nest(
            "/admin/revoke",
            a2a_guard::revocation::admin_router(revocations)
                .route_layer(a2a_guard::RequireScopes::all(["admin:revoke"])),
        )
        .layer(validator.layer())
        .nest("/events", events.into_router())
}

/// `GET /metrics`: the Prometheus text of `handle`'s recorder, without a token (served on
/// its own listener, `--metrics-listen`, like a scrape target; keep it off public networks).
#[allow(dead_code)] // not every user of this file serves metrics
pub fn metrics_router(handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4"),
                    )],
                    handle.render(),
                )
            }
        }),
    )
}

async fn serve_card(card: std::sync::Arc<Value>) -> impl IntoResponse {
    // A2A §8.6.1: agent cards SHOULD carry Cache-Control with a max-age.
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json((*card).clone()),
    )
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
