//! A2A v1.0 agent card security: the exact proto3 JSON of `securitySchemes` and
//! `securityRequirements` (card and skills), discovery of the token endpoint, and every
//! configuration mistake refused.
#![cfg(feature = "testing")]

use a2a_guard::metadata::{AgentCardSecurity, SecurityRequirement};
use a2a_guard::scope::ScopeRequirement;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{ConfigError, RequireScopes, Validator};
use serde_json::{Value, json};

async fn validator(issuer: &TestIssuer) -> Validator {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience("agent-api")
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_members_are_exactly_the_a2a_v1_json() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let data = v.advertise(RequireScopes::all(["read:data"]));
    let customers = v.advertise(RequireScopes::template("read:customers:{region}"));
    let pay = v.advertise(RequireScopes::all(["execute:payment"]));
    let security = AgentCardSecurity::builder(&v)
        .token_url("https://auth.example.com/oauth2/token")
        .oauth2_metadata_url("https://auth.example.com/.well-known/oauth-authorization-server")
        .description("Client credentials at the example authorization server")
        .scope("read:data", "Read the data set")
        .scope("execute:payment", "Execute payments")
        .scope("write:reports", "File reports")
        .certificate_bound_tokens()
        .skill_routes("data", [&data, &customers])
        .skill_routes("payments", [&pay])
        .skill(
            "reports",
            ScopeRequirement::any(["write:reports", "execute:payment"]),
        )
        .build()
        .unwrap();

    let want = json!({
        "securitySchemes": {
            "mtls": {"mtlsSecurityScheme": {
                "description": "Mutual TLS: access tokens are bound to the client certificate (RFC 8705)"
            }},
            "oauth2": {"oauth2SecurityScheme": {
                "description": "Client credentials at the example authorization server",
                "flows": {"clientCredentials": {
                    "tokenUrl": "https://auth.example.com/oauth2/token",
                    "scopes": {
                        "execute:payment": "Execute payments",
                        // Advertised by a guard, not described: listed with an empty description.
                        "read:customers": "",
                        "read:data": "Read the data set",
                        "write:reports": "File reports"
                    }
                }},
                "oauth2MetadataUrl": "https://auth.example.com/.well-known/oauth-authorization-server"
            }}
        },
        "securityRequirements": [
            {"schemes": {"mtls": {"list": []}, "oauth2": {"list": []}}}
        ]
    });
    assert_eq!(serde_json::to_value(&security).unwrap(), want);

    let skill = |id: &str| serde_json::to_value(&security.skills[id]).unwrap();
    assert_eq!(
        skill("data"),
        json!([{"schemes": {"mtls": {"list": []}, "oauth2": {"list": ["read:data", "read:customers"]}}}])
    );
    assert_eq!(
        skill("payments"),
        json!([{"schemes": {"mtls": {"list": []}, "oauth2": {"list": ["execute:payment"]}}}])
    );
    // `any` is two alternatives (OpenAPI: entries are alternatives, schemes inside are all needed).
    assert_eq!(
        skill("reports"),
        json!([
            {"schemes": {"mtls": {"list": []}, "oauth2": {"list": ["write:reports"]}}},
            {"schemes": {"mtls": {"list": []}, "oauth2": {"list": ["execute:payment"]}}}
        ])
    );
    assert_eq!(security.skills.len(), 3);

    // The same JSON reads back into the same value.
    let back: AgentCardSecurity = serde_json::from_value(want).unwrap();
    assert_eq!(back.security_schemes, security.security_schemes);
    assert_eq!(back.security_requirements, security.security_requirements);
}

#[tokio::test]
async fn defaults_without_mtls_and_the_metadata_url_from_the_issuer() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let security = AgentCardSecurity::builder(&v)
        .token_url(format!("{}/token", issuer.issuer()))
        .build()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&security).unwrap(),
        json!({
            "securitySchemes": {"oauth2": {"oauth2SecurityScheme": {
                "flows": {"clientCredentials": {
                    "tokenUrl": format!("{}/token", issuer.issuer()),
                    "scopes": {}
                }},
                // RFC 8414 §3.1 URL of the loopback issuer.
                "oauth2MetadataUrl": issuer.metadata_url()
            }}},
            "securityRequirements": [{"schemes": {"oauth2": {"list": []}}}]
        })
    );
    assert!(security.skills.is_empty());
}

#[tokio::test]
async fn discovery_reads_the_token_endpoint_and_keeps_explicit_values() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer(issuer.issuer())
        .audience("agent-api")
        .build()
        .await
        .unwrap();
    let oauth2 = |s: &AgentCardSecurity| {
        serde_json::to_value(s).unwrap()["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]
            .clone()
    };
    let found = AgentCardSecurity::builder(&v)
        .discover()
        .await
        .unwrap()
        .build()
        .unwrap();
    let o = oauth2(&found);
    assert_eq!(
        o["flows"]["clientCredentials"]["tokenUrl"],
        format!("{}/token", issuer.issuer())
    );
    // The URL that answered: OIDC discovery is tried first.
    assert_eq!(o["oauth2MetadataUrl"], issuer.discovery_url());

    let before = issuer.discovery_fetches();
    let explicit = AgentCardSecurity::builder(&v)
        .token_url("https://auth.example.com/token")
        .oauth2_metadata_url("https://auth.example.com/meta")
        .discover()
        .await
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        oauth2(&explicit)["flows"]["clientCredentials"]["tokenUrl"],
        "https://auth.example.com/token"
    );
    assert_eq!(
        oauth2(&explicit)["oauth2MetadataUrl"],
        "https://auth.example.com/meta"
    );
    assert_eq!(
        issuer.discovery_fetches(),
        before,
        "nothing left to discover"
    );

    // The issuer down: a typed error naming it.
    issuer.stop().await;
    let err = AgentCardSecurity::builder(&v)
        .discover()
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ConfigError::Discovery { issuer: i, .. } if *i == issuer.issuer()),
        "{err}"
    );
}

#[tokio::test]
async fn discovery_needs_an_http_issuer() {
    let issuer = TestIssuer::start().await.unwrap();
    let keys = a2a_guard::jwk::KeySet::from_value(&issuer.jwks()).unwrap();
    let v = Validator::builder()
        .issuer_keys(issuer.issuer(), keys)
        .audience("agent-api")
        .build()
        .await
        .unwrap();
    let err = AgentCardSecurity::builder(&v)
        .discover()
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ConfigError::Discovery { .. }), "{err}");
}

#[tokio::test]
async fn configuration_mistakes_are_typed_errors() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let ok = || {
        AgentCardSecurity::builder(&v)
            .token_url("https://auth.example.com/token")
            .scope("read:data", "Read")
    };
    assert!(ok().build().is_ok());

    // No token URL at all.
    let err = AgentCardSecurity::builder(&v).build().unwrap_err();
    assert!(
        matches!(err, ConfigError::InvalidSetting { name, .. } if name.ends_with("token_url")),
        "{err}"
    );
    // A token URL clients would send secrets to in the clear, or not a URL.
    for url in ["http://auth.example.com/token", "auth.example.com/token"] {
        let err = ok().token_url(url).build().unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidUrl { url: u, .. } if u == url),
            "{err}"
        );
    }
    let err = ok()
        .oauth2_metadata_url("http://auth.example.com/meta")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidUrl { .. }), "{err}");
    // A scope in a skill that the scheme does not list: named, with the skill.
    let err = ok().skill("pay", "execute:payment").build().unwrap_err();
    match &err {
        ConfigError::UnknownScope { scope, context } => {
            assert_eq!(scope, "execute:payment");
            assert_eq!(context, "skill \"pay\"");
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        err.to_string(),
        "agent card: skill \"pay\" requires scope `execute:payment`, which the oauth2 scheme does not list"
    );
    // The same for the card-level requirement.
    let err = ok().requirement("admin").build().unwrap_err();
    assert!(
        matches!(&err, ConfigError::UnknownScope { context, .. } if context == "the card"),
        "{err}"
    );
    // A guard whose requirement only a request can tell.
    let computed = RequireScopes::from_fn(|_| "read:data".into());
    let err = ok().skill_routes("x", [&computed]).build().unwrap_err();
    assert!(matches!(err, ConfigError::InvalidSetting { .. }), "{err}");
    // Not a scope token; a skill given twice; a requirement nothing satisfies.
    let err = ok().scope("read data", "Read").build().unwrap_err();
    assert!(matches!(err, ConfigError::InvalidSetting { .. }), "{err}");
    let err = ok()
        .skill("a", "read:data")
        .skill("a", "read:data")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidSetting { .. }), "{err}");
    let err = ok()
        .skill("a", ScopeRequirement::any(Vec::<ScopeRequirement>::new()))
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidSetting { .. }), "{err}");
    // An issuer the validator does not know.
    let err = ok().issuer("https://other.example").build().unwrap_err();
    assert!(matches!(err, ConfigError::InvalidSetting { .. }), "{err}");
}

#[tokio::test]
async fn several_issuers_need_a_choice() {
    let a = TestIssuer::start().await.unwrap();
    let b = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(a.issuer(), a.jwks_url())
        .issuer_jwks(b.issuer(), b.jwks_url())
        .audience("agent-api")
        .build()
        .await
        .unwrap();
    let b_url = format!("{}/token", b.issuer());
    assert!(
        AgentCardSecurity::builder(&v)
            .token_url(&b_url)
            .build()
            .is_err()
    );
    let s = AgentCardSecurity::builder(&v)
        .issuer(b.issuer())
        .token_url(&b_url)
        .build()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&s).unwrap()["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["oauth2MetadataUrl"],
        b.metadata_url()
    );
}

#[tokio::test]
async fn apply_to_fills_the_card_and_its_skills() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let security = AgentCardSecurity::builder(&v)
        .token_url("https://auth.example.com/token")
        .scope("read:data", "Read")
        .skill("data", "read:data")
        .build()
        .unwrap();
    let mut card = json!({
        "name": "agent",
        "securityRequirements": "replaced",
        "skills": [
            {"id": "data", "name": "Data"},
            {"id": "other", "name": "Other"}
        ]
    });
    security.apply_to(&mut card).unwrap();
    assert_eq!(card["name"], "agent");
    assert_eq!(
        card["securitySchemes"],
        serde_json::to_value(&security.security_schemes).unwrap()
    );
    assert_eq!(
        card["securityRequirements"],
        json!([{"schemes": {"oauth2": {"list": []}}}])
    );
    assert_eq!(
        card["skills"][0]["securityRequirements"],
        json!([{"schemes": {"oauth2": {"list": ["read:data"]}}}])
    );
    // A skill without requirements of its own is left alone (the card's apply).
    assert_eq!(card["skills"][1], json!({"id": "other", "name": "Other"}));

    // A skill the card does not have.
    let mut card = json!({"skills": [{"id": "renamed"}]});
    let err = security.apply_to(&mut card).unwrap_err();
    assert!(
        matches!(&err, ConfigError::UnknownSkill(id) if id == "data"),
        "{err}"
    );
    assert!(security.apply_to(&mut json!([])).is_err());
}

#[test]
fn a_requirement_reads_back_from_proto3_json() {
    let r: SecurityRequirement =
        serde_json::from_value(json!({"schemes": {"oauth2": {"list": ["a", "b"]}}})).unwrap();
    assert_eq!(r, SecurityRequirement::new().scheme("oauth2", ["a", "b"]));
    // proto3 JSON leaves empty lists out: `{}` is an empty StringList.
    let r: SecurityRequirement = serde_json::from_value(json!({"schemes": {"mtls": {}}})).unwrap();
    assert!(r.schemes["mtls"].list.is_empty());
    let _: Value = serde_json::to_value(&r).unwrap();
}
