//! The deny-list (issue 14): a revoked token is refused on the very next request — verified-
//! token cache hits included — by `jti`, or by an epoch for its subject, client or session;
//! a token issued after the epoch is accepted. Real signatures from `TestIssuer`.
#![cfg(feature = "testing")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use a2a_guard::revocation::{RevocationError, Revocations, Target};
use a2a_guard::testing::TestIssuer;
use a2a_guard::{AuthError, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use tower::ServiceExt;

async fn setup() -> (TestIssuer, Revocations, Validator) {
    let issuer = TestIssuer::start().await.unwrap();
    let revocations = Revocations::new();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .revocations(revocations.clone())
        .build()
        .await
        .unwrap();
    (issuer, revocations, v)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn in_an_hour() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

#[tokio::test]
async fn a_revoked_jti_is_refused_on_the_next_request_even_from_the_cache() {
    let (issuer, revocations, v) = setup().await;
    let app = Router::new()
        .route("/data", get(|| async { "ok" }))
        .layer(v.layer());
    let token = issuer.token().claim("jti", "task-42").sign();
    let call = |t: String| {
        let app = app.clone();
        async move {
            app.oneshot(
                http::Request::get("/data")
                    .header("authorization", format!("Bearer {t}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
        }
    };
    // Twice: the second answer comes from the verified-token cache.
    assert_eq!(call(token.clone()).await.status(), 200);
    assert_eq!(call(token.clone()).await.status(), 200);
    revocations.revoke_jti("task-42", in_an_hour()).unwrap();
    let res = call(token.clone()).await;
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(www.contains(r#"error="invalid_token""#), "{www}");
    assert_eq!(v.validate(&token).await.unwrap_err(), AuthError::Revoked);
    // Another token of the same agent is untouched.
    let other = issuer.token().claim("jti", "task-43").sign();
    assert_eq!(call(other).await.status(), 200);
}

#[tokio::test]
async fn an_epoch_refuses_older_tokens_and_accepts_newer_ones() {
    let (issuer, revocations, v) = setup().await;
    let t = now();
    let old = issuer
        .token()
        .subject("billing-agent")
        .issued_at(t - 60)
        .sign();
    let new = issuer
        .token()
        .subject("billing-agent")
        .issued_at(t + 1)
        .sign();
    let no_iat = issuer
        .token()
        .subject("billing-agent")
        .remove_claim("iat")
        .sign();
    let someone_else = issuer
        .token()
        .subject("search-agent")
        .issued_at(t - 60)
        .sign();
    for tok in [&old, &new, &no_iat, &someone_else] {
        v.validate(tok).await.unwrap();
    }
    revocations
        .revoke_before(
            Target::Subject,
            "billing-agent",
            UNIX_EPOCH + Duration::from_secs(t as u64),
        )
        .unwrap();
    assert_eq!(v.validate(&old).await.unwrap_err(), AuthError::Revoked);
    // Without `iat` the token cannot show it is newer: refused (fail closed).
    assert_eq!(v.validate(&no_iat).await.unwrap_err(), AuthError::Revoked);
    v.validate(&new).await.unwrap();
    v.validate(&someone_else).await.unwrap();
}

#[tokio::test]
async fn clients_and_sessions_are_revoked_by_epoch_too() {
    let (issuer, revocations, v) = setup().await;
    let t = now();
    let by_client = issuer
        .token()
        .claim("client_id", "orchestrator")
        .issued_at(t - 10)
        .sign();
    let by_session = issuer
        .token()
        .claim("sid", "session-7")
        .issued_at(t - 10)
        .sign();
    v.validate(&by_client).await.unwrap();
    v.validate(&by_session).await.unwrap();
    let cut = UNIX_EPOCH + Duration::from_secs(t as u64);
    revocations
        .revoke_before(Target::Client, "orchestrator", cut)
        .unwrap();
    assert_eq!(
        v.validate(&by_client).await.unwrap_err(),
        AuthError::Revoked
    );
    v.validate(&by_session).await.unwrap();
    revocations
        .revoke_before(Target::Session, "session-7", cut)
        .unwrap();
    assert_eq!(
        v.validate(&by_session).await.unwrap_err(),
        AuthError::Revoked
    );
    assert_eq!(revocations.epochs(), 2);
}

#[test]
fn bad_identifiers_are_typed_errors() {
    let r = Revocations::new();
    assert_eq!(
        r.revoke_jti("", in_an_hour()),
        Err(RevocationError::InvalidId)
    );
    assert_eq!(
        r.revoke_before(Target::Subject, &"x".repeat(2000), SystemTime::now()),
        Err(RevocationError::InvalidId)
    );
    assert_eq!(r.revoked_jtis(), 0);
}

mod admin {
    use super::*;
    use a2a_guard::RequireScopes;
    use a2a_guard::revocation::admin_router;
    use axum::routing::post;

    async fn post_json(app: &Router, token: &str, body: &str) -> (u16, String) {
        let res = app
            .clone()
            .oneshot(
                http::Request::post("/admin/revoke")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_owned()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn operators_revoke_over_http_and_nobody_else_can() {
        let (issuer, revocations, v) = setup().await;
        let app = Router::new()
            .nest(
                "/admin/revoke",
                admin_router(revocations.clone()).route_layer(RequireScopes::all(["admin:revoke"])),
            )
            .route("/data", post(|| async { "ok" }))
            .layer(v.layer());
        let operator = issuer.token().scope("admin:revoke").sign();
        let agent = issuer.token().scope("read:data").claim("jti", "j-1").sign();

        // Without the admin scope: 403, nothing revoked.
        let (status, _) = post_json(&app, &agent, r#"{"jti":"j-1"}"#).await;
        assert_eq!(status, 403);
        assert_eq!(revocations.revoked_jtis(), 0);

        let exp = now() + 3600;
        let (status, body) =
            post_json(&app, &operator, &format!(r#"{{"jti":"j-1","exp":{exp}}}"#)).await;
        assert_eq!((status, body.as_str()), (200, r#"{"revoked":"jti"}"#));
        assert_eq!(v.validate(&agent).await.unwrap_err(), AuthError::Revoked);

        let (status, _) = post_json(&app, &operator, r#"{"client_id":"billing-agent"}"#).await;
        assert_eq!(status, 200);
        assert_eq!(revocations.epochs(), 1);

        for bad in [
            r#"{}"#,
            r#"{"jti":"a","sub":"b"}"#,
            r#"{"sub":"b","exp":5}"#,
            r#"{"jti":""}"#,
            r#"{"jti":"a","extra":1}"#,
            "not json",
        ] {
            let (status, _) = post_json(&app, &operator, bad).await;
            assert_eq!(status, 400, "{bad}");
        }
        assert_eq!(revocations.revoked_jtis(), 1);
    }
}
