//! Tracing spans with stable names and fields (crate docs, "Tracing spans"), the way a
//! `tracing-opentelemetry` layer sees them: `a2a_guard.validate` (cache, outcome, iss),
//! `a2a_guard.keys.fetch` (issuer, result, keys) and `a2a_guard.oauth.request` (url,
//! grant_type, status) — never a token or a secret.
//!
//! One test in this file: it installs a thread's default subscriber, and tracing's callsite
//! interest is process-wide.
#![cfg(all(feature = "testing", feature = "client"))]

mod common;

use common::Fields;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use a2a_guard::Validator;
use a2a_guard::client::{ClientCredentials, Secret};
use a2a_guard::testing::TestIssuer;
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Closed spans: name and every field recorded on them.
type Spans = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

struct Capture(Spans);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = Fields(BTreeMap::new());
        attrs.record(&mut f);
        ctx.span(id).unwrap().extensions_mut().insert(f);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut ext = span.extensions_mut();
        values.record(ext.get_mut::<Fields>().unwrap());
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let name = span.name().to_owned();
        let fields = span.extensions_mut().remove::<Fields>().unwrap().0;
        self.0.lock().unwrap().push((name, fields));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn spans_carry_stable_names_and_fields_and_no_secrets() {
    let spans: Spans = Default::default();
    let subscriber = tracing_subscriber::registry()
        .with(Capture(spans.clone()))
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    let _g = tracing::subscriber::set_default(subscriber);
    let take = |name: &str| -> Vec<BTreeMap<String, String>> {
        let mut all = spans.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|(n, _)| n == name);
        *all = rest;
        mine.into_iter().map(|(_, f)| f).collect()
    };

    let issuer = TestIssuer::builder()
        .client("orchestrator", "s3cret-value")
        .start()
        .await
        .unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let fetches = take("a2a_guard.keys.fetch");
    assert!(!fetches.is_empty(), "the start-up fetch");
    let f = &fetches[0];
    assert_eq!(f["issuer"], issuer.issuer());
    assert_eq!(f["result"], "ok");
    assert_eq!(
        f["keys"],
        issuer.jwks()["keys"].as_array().unwrap().len().to_string()
    );

    let token = issuer.token().sign();
    v.validate(&token).await.unwrap();
    v.validate(&token).await.unwrap();
    assert_eq!(
        v.validate("not.a.token").await.unwrap_err().reason(),
        "malformed"
    );
    let checks = take("a2a_guard.validate");
    let seen: Vec<(&str, &str)> = checks
        .iter()
        .map(|f| (f["cache"].as_str(), f["outcome"].as_str()))
        .collect();
    assert_eq!(seen, [("miss", "ok"), ("hit", "ok"), ("miss", "malformed")]);
    assert_eq!(checks[0]["iss"], issuer.issuer());

    let tokens = ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .secret(Secret::new("s3cret-value"))
        .scope(["read:data"])
        .build()
        .unwrap();
    let issued = tokens.token().await.unwrap();
    let requests = take("a2a_guard.oauth.request");
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(r["grant_type"], "client_credentials");
    assert_eq!(r["status"], "200");
    assert_eq!(r["url"], format!("{}/token", issuer.issuer()));

    // Nothing secret in any span field.
    let everything = format!("{:?}", spans.lock().unwrap());
    for secret in [token.as_str(), issued.secret(), "s3cret-value"] {
        assert!(!everything.contains(secret));
    }
    for f in fetches.iter().chain(&checks).chain(&requests) {
        for value in f.values() {
            assert!(!value.contains("s3cret") && !value.contains(&token));
        }
    }
}
