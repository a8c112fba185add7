//! Resource identity (RFC 8707 §2, RFC 9728 §1.2), Protected Resource Metadata (RFC 9728)
//! and the `resource_metadata` / `scope` challenge parameters (RFC 9728 §5.1).
#![cfg(feature = "testing")]

use a2a_guard::testing::TestIssuer;
use a2a_guard::{AuthError, ConfigError, Validator};

async fn with_resources(issuer: &TestIssuer, resources: &[&str]) -> Validator {
    let mut b = Validator::builder().issuer_jwks(issuer.issuer(), issuer.jwks_url());
    for r in resources {
        b = b.resource(*r);
    }
    b.build().await.unwrap()
}

#[tokio::test]
async fn resource_is_accepted_as_audience_without_any_audience() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = with_resources(&issuer, &["https://api.example/mcp"]).await;
    let t = issuer.token().audience("https://api.example/mcp").sign();
    v.validate(&t).await.unwrap();
    // The issuer's default audience is not this resource's.
    let other = issuer.token().sign();
    assert_eq!(
        v.validate(&other).await.unwrap_err(),
        AuthError::WrongAudience
    );
}

#[tokio::test]
async fn scheme_host_case_and_default_port_are_normalised() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = with_resources(&issuer, &["HTTPS://API.Example:443/mcp"]).await;
    for aud in [
        "https://api.example/mcp",
        "https://api.example:443/mcp",
        "HTTPS://Api.EXAMPLE/mcp",
        "HTTPS://API.Example:443/mcp",
    ] {
        let t = issuer.token().audience(aud).sign();
        assert!(v.validate(&t).await.is_ok(), "{aud} should be accepted");
    }
    let plain = with_resources(&issuer, &["http://127.0.0.1:80/mcp"]).await;
    let t = issuer.token().audience("http://127.0.0.1/mcp").sign();
    plain.validate(&t).await.unwrap();
}

#[tokio::test]
async fn nothing_else_is_widened() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = with_resources(&issuer, &["https://api.example/mcp"]).await;
    for aud in [
        "https://api.example/MCP",      // path case is significant
        "https://api.example/mcp/",     // trailing slash
        "https://api.example/%6Dcp",    // percent-encoding is not decoded
        "https://api.example/./mcp",    // dot segments are not removed
        "https://api.example/mcp?x=1",  // query
        "https://api.example:8443/mcp", // another port
        "http://api.example/mcp",       // another scheme
        "https://api.example:80/mcp",   // http's default port is not https's
        "https://user@api.example/mcp", // userinfo
        "https://api.example.evil/mcp", // another host
        "https://api.example",          // no path
        "https://api.example/mcp#frag", // fragment
    ] {
        let t = issuer.token().audience(aud).sign();
        assert_eq!(
            v.validate(&t).await.unwrap_err(),
            AuthError::WrongAudience,
            "{aud} must not match"
        );
    }
}

#[tokio::test]
async fn several_resources_and_audiences_together() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .resource("https://api.example/mcp")
        .resource("https://agents.example/a2a")
        .build()
        .await
        .unwrap();
    for aud in [
        issuer.audience(),
        "https://api.example/mcp",
        "https://AGENTS.example/a2a",
    ] {
        let t = issuer.token().audience(aud).sign();
        assert!(v.validate(&t).await.is_ok(), "{aud}");
    }
    let t = issuer
        .token()
        .audience(["someone-else", "https://api.example:443/mcp"])
        .sign();
    v.validate(&t).await.unwrap();
    assert_eq!(
        v.resources().collect::<Vec<_>>(),
        ["https://api.example/mcp", "https://agents.example/a2a"]
    );
}

#[tokio::test]
async fn malformed_resource_is_a_config_error() {
    let issuer = TestIssuer::start().await.unwrap();
    for bad in [
        "not a uri",
        "/relative/mcp",
        "ftp://api.example/mcp",
        "https://api.example/mcp#fragment",
        "https://user:pw@api.example/mcp",
        "https:///mcp",
        "https://api.example/mcp?tenant=1",
        "https://api.example:99999/mcp",
        "",
    ] {
        let err = Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .resource(bad)
            .build()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidUrl { url, .. } if url == bad),
            "{bad}: {err:?}"
        );
    }
}
