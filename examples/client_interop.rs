//! Interop driver for the calling side (feature `client`, issue 13): this crate's token
//! sources against a real authorization server, panva's oidc-provider
//! (`tests/interop/provider.mjs`), and the tokens they get checked by this crate's own
//! `Validator` and DPoP resource. `tests/interop/client.sh` starts the provider and runs it.
//!
//! ```text
//! cargo run --example client_interop --features client,reqwest-middleware -- \
//!     --issuer http://127.0.0.1:PORT --client-key agent-jwt.pem
//! ```
//!
//! One line per scenario, `PASS <name>`, `FAIL <name>: <reason>` or `SKIP <name>: <why>`;
//! the exit status is 1 when any scenario failed. Every scenario but `discovery` starts
//! from what discovery found (`AuthorizationServer::client_credentials`), as an agent would.
//!
//! The provider knows two more clients here: `agent-api` (secret `agent-api-secret`), the
//! resource server that introspects (RFC 7662), and the callers above.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use a2a_guard::client::{
    AccessTokenLayer, AccessTokenMiddleware, AuthorizationServer, ClientCredentials, ClientError,
    ClientKey, DelegateTo, Secret, TokenExchange, TokenSource,
};
use a2a_guard::pop::DpopConfig;
use a2a_guard::{Algorithm, AuthError, Introspection, Principal, Validator};
use axum::Router;
use axum::routing::get;
use clap::Parser;
use tower::{Service, ServiceBuilder, ServiceExt};

/// The provider's resource indicator for JWT access tokens, and the `aud` it maps it to.
const RESOURCE: &str = "urn:agent-api";
const AUDIENCE: &str = "agent-api";
/// The provider's resource indicator for opaque access tokens, which is also their `aud`.
const OPAQUE_RESOURCE: &str = "urn:agent-api:opaque";
/// The resource server's client at the provider: it may introspect any token.
const RESOURCE_SERVER: &str = "agent-api";
/// Longest a scenario may take: oidc-provider answers in milliseconds on loopback.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(about = "a2a-guard's client against oidc-provider (tests/interop/client.sh)")]
struct Args {
    /// The provider's issuer, e.g. http://127.0.0.1:PORT.
    #[arg(long)]
    issuer: String,
    /// The private key (PEM) of the `private_key_jwt` client `agent-jwt`.
    #[arg(long, value_name = "PATH")]
    client_key: PathBuf,
}

type Outcome = Result<(), String>;

/// `Err(reason)` unless `cond`.
fn ensure(cond: bool, reason: impl FnOnce() -> String) -> Outcome {
    if cond { Ok(()) } else { Err(reason()) }
}

fn client_secret(id: &str) -> Secret {
    Secret::new(format!("{id}-secret"))
}

struct Interop {
    issuer: String,
    client_key: PathBuf,
    /// Found by the `discovery` scenario; the others start from it.
    server: Option<AuthorizationServer>,
    /// Accepts the provider's JWT access tokens for `RESOURCE` (issuer discovery).
    validator: Option<Validator>,
    http: reqwest::Client,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut t = Interop {
        issuer: args.issuer.trim_end_matches('/').to_owned(),
        client_key: args.client_key,
        server: None,
        validator: None,
        http: reqwest::Client::new(),
    };
    let mut failed = 0;
    let mut report = |name: &str, outcome: Outcome| match outcome {
        Ok(()) => println!("PASS {name}"),
        Err(reason) => {
            failed += 1;
            println!("FAIL {name}: {reason}");
        }
    };

    report("discovery", timed(t.discovery()).await);
    t.validator = match Validator::builder()
        .issuer(&t.issuer)
        .audience(AUDIENCE)
        .build()
        .await
    {
        Ok(v) => Some(v),
        Err(e) => {
            report("validator", Err(format!("Validator for {}: {e}", t.issuer)));
            None
        }
    };
    report("client_secret_basic", timed(t.client_secret(false)).await);
    report("client_secret_post", timed(t.client_secret(true)).await);
    report("private_key_jwt", timed(t.private_key_jwt()).await);
    report("dpop", timed(t.dpop()).await);
    report(
        "dpop_private_key_jwt",
        timed(t.dpop_private_key_jwt()).await,
    );
    report("token_exchange", timed(t.token_exchange()).await);
    report("opaque_token", timed(t.opaque_token()).await);
    report("revocation", timed(t.revocation()).await);

    std::process::exit(i32::from(failed > 0));
}

async fn timed(scenario: impl Future<Output = Outcome>) -> Outcome {
    tokio::time::timeout(SCENARIO_TIMEOUT, scenario)
        .await
        .unwrap_or_else(|_| Err(format!("no result within {SCENARIO_TIMEOUT:?}")))
}

impl Interop {
    fn server(&self) -> Result<&AuthorizationServer, String> {
        self.server
            .as_ref()
            .ok_or_else(|| "skipped: discovery failed".to_owned())
    }

    async fn validate(&self, token: &str) -> Result<Principal, String> {
        let v = self
            .validator
            .as_ref()
            .ok_or("no Validator (see the validator line)")?;
        v.validate(token)
            .await
            .map_err(|e| format!("a2a-guard's Validator refused the token: {e}"))
    }

    /// (e) RFC 8414 / OIDC discovery finds the token endpoint and what the other scenarios
    /// rely on.
    async fn discovery(&mut self) -> Outcome {
        let server = AuthorizationServer::discover(&self.issuer)
            .await
            .map_err(|e| format!("discover({}): {e}", self.issuer))?;
        let want = format!("{}/token", self.issuer);
        ensure(server.token_endpoint == want, || {
            format!("token_endpoint {}, want {want}", server.token_endpoint)
        })?;
        ensure(server.issuer == self.issuer, || {
            format!("issuer {}", server.issuer)
        })?;
        for method in [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ] {
            ensure(
                server
                    .token_endpoint_auth_methods_supported
                    .iter()
                    .any(|m| m == method),
                || format!("token_endpoint_auth_methods_supported lacks {method}"),
            )?;
        }
        ensure(
            server
                .dpop_signing_alg_values_supported
                .iter()
                .any(|a| a == "ES256"),
            || "dpop_signing_alg_values_supported lacks ES256".into(),
        )?;
        ensure(server.revocation_endpoint.is_some(), || {
            "no revocation_endpoint".into()
        })?;
        self.server = Some(server);
        Ok(())
    }

    /// (a) `client_secret_basic` (or `_post`) client credentials; the token validates for
    /// the resource.
    async fn client_secret(&self, post: bool) -> Outcome {
        let mut b = self
            .server()?
            .client_credentials("orchestrator")
            .secret(client_secret("orchestrator"))
            .scope(["read:data", "write:reports"])
            .resource(RESOURCE);
        if post {
            b = b.secret_post();
        }
        let tokens = b.build().map_err(|e| format!("build: {e}"))?;
        let t = tokens.token().await.map_err(|e| format!("token(): {e}"))?;
        ensure(!t.is_dpop_bound(), || "a Bearer token was expected".into())?;
        let p = self.validate(t.secret()).await?;
        ensure(p.subject() == Some("orchestrator"), || {
            format!("sub {:?}", p.subject())
        })?;
        ensure(
            p.scopes().contains("read:data") && p.scopes().contains("write:reports"),
            || format!("scope {:?}", p.scopes()),
        )?;
        // Cached: a second call is the same token, not a second request.
        let again = tokens.token().await.map_err(|e| format!("token(): {e}"))?;
        ensure(again.secret() == t.secret(), || {
            "the second token() was not the cached token".into()
        })?;
        // A wrong secret is a typed refusal, not a token.
        let wrong = self
            .server()?
            .client_credentials("orchestrator")
            .secret(Secret::new("not-the-secret"))
            .resource(RESOURCE)
            .build()
            .map_err(|e| format!("build: {e}"))?;
        expect_refusal(wrong.token().await, "invalid_client")
    }

    /// (b) `private_key_jwt` (RFC 7523) with the key registered for `agent-jwt`; an
    /// unregistered key is refused.
    async fn private_key_jwt(&self) -> Outcome {
        let tokens = self
            .server()?
            .client_credentials("agent-jwt")
            .private_key_jwt(ClientKey::pem_file(&self.client_key))
            .scope(["read:data"])
            .resource(RESOURCE)
            .build()
            .map_err(|e| format!("build: {e}"))?;
        let t = tokens.token().await.map_err(|e| format!("token(): {e}"))?;
        let p = self.validate(t.secret()).await?;
        ensure(p.subject() == Some("agent-jwt"), || {
            format!("sub {:?}", p.subject())
        })?;
        let stranger = self
            .server()?
            .client_credentials("agent-jwt")
            .private_key_jwt(
                ClientKey::generate(Algorithm::ES256).map_err(|e| format!("generate: {e}"))?,
            )
            .resource(RESOURCE)
            .build()
            .map_err(|e| format!("build: {e}"))?;
        expect_refusal(stranger.token().await, "invalid_client")
    }

    /// (c) DPoP-bound client credentials with the provider's nonces: the first token request
    /// is answered `use_dpop_nonce`, the retry gets a token bound to the key (`cnf.jkt`),
    /// which `AccessTokenLayer` and `AccessTokenMiddleware` present to an a2a-guard DPoP
    /// resource on loopback; sent as Bearer, it is refused.
    async fn dpop(&self) -> Outcome {
        let key = ClientKey::generate(Algorithm::ES256).map_err(|e| format!("generate: {e}"))?;
        let tokens = self
            .server()?
            .client_credentials("orchestrator")
            .secret(client_secret("orchestrator"))
            .scope(["read:data"])
            .resource(RESOURCE)
            .dpop(key.clone())
            .build()
            .map_err(|e| format!("build: {e}"))?;
        let token = self.dpop_token(&tokens, &key).await?;

        let (origin, server) = self.dpop_resource().await?;
        let result = self.present(&tokens, &origin, token.secret()).await;
        server.abort();
        result
    }

    /// (c) with `private_key_jwt`: the nonce retry must carry a new assertion (oidc-provider
    /// refuses a reused `jti`).
    async fn dpop_private_key_jwt(&self) -> Outcome {
        let key = ClientKey::generate(Algorithm::ES256).map_err(|e| format!("generate: {e}"))?;
        let tokens = self
            .server()?
            .client_credentials("agent-jwt")
            .private_key_jwt(ClientKey::pem_file(&self.client_key))
            .scope(["read:data"])
            .resource(RESOURCE)
            .dpop(key.clone())
            .build()
            .map_err(|e| format!("build: {e}"))?;
        self.dpop_token(&tokens, &key).await.map(drop)
    }

    /// A DPoP-bound token from `tokens`, after exactly one `use_dpop_nonce` answer, bound to
    /// `key` and valid for the resource.
    async fn dpop_token(
        &self,
        tokens: &TokenSource,
        key: &ClientKey,
    ) -> Result<a2a_guard::client::AccessToken, String> {
        let before = self.nonce_answers().await?;
        let t = tokens.token().await.map_err(|e| format!("token(): {e}"))?;
        let nonce_answers = self.nonce_answers().await? - before;
        ensure(nonce_answers == 1, || {
            format!("{nonce_answers} use_dpop_nonce answers, want 1 (the first request)")
        })?;
        ensure(t.is_dpop_bound(), || "token_type is not DPoP".into())?;
        let p = self.validate(t.secret()).await?;
        let jkt = p.registered().cnf.as_ref().and_then(|c| c.jkt.clone());
        let thumbprint = key.thumbprint().map_err(|e| format!("thumbprint: {e}"))?;
        ensure(jkt.as_deref() == Some(thumbprint.as_str()), || {
            format!("cnf.jkt {jkt:?}, want the key's thumbprint {thumbprint}")
        })?;
        Ok(t)
    }

    /// How many token requests the provider has answered `use_dpop_nonce` (its test hook).
    async fn nonce_answers(&self) -> Result<u64, String> {
        let url = format!("{}/__events", self.issuer);
        let body = async { self.http.get(&url).send().await?.bytes().await }
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))?;
        v["use_dpop_nonce"]
            .as_u64()
            .ok_or_else(|| format!("GET {url}: {v}"))
    }

    /// An a2a-guard resource on 127.0.0.1 that takes only DPoP-bound tokens from the provider.
    async fn dpop_resource(&self) -> Result<(String, tokio::task::JoinHandle<()>), String> {
        let v = self.validator.clone().ok_or("no Validator")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let origin = format!("http://{addr}");
        let guard = v
            .layer()
            .dpop(DpopConfig::new().origin(&origin))
            .map_err(|e| format!("DpopConfig: {e}"))?;
        let app = Router::new()
            .route("/data", get(|| async { "data" }))
            .layer(guard);
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("resource: {e}");
            }
        });
        Ok((origin, server))
    }

    /// The token goes to the resource through the tower layer (twice: a fresh proof each
    /// time) and the reqwest middleware, and fails as a plain Bearer token.
    async fn present(&self, tokens: &TokenSource, origin: &str, token: &str) -> Outcome {
        let url = format!("{origin}/data");
        let mut client = ServiceBuilder::new()
            .layer(AccessTokenLayer::new(tokens.clone()))
            .service(ReqwestService(self.http.clone()));
        for round in 1..=2 {
            let req = http::Request::get(&url)
                .body(String::new())
                .map_err(|e| e.to_string())?;
            let res = client
                .ready()
                .await
                .map_err(|e| format!("AccessTokenLayer: {e}"))?
                .call(req)
                .await
                .map_err(|e| format!("AccessTokenLayer: {e}"))?;
            ensure(res.status() == 200, || {
                format!(
                    "AccessTokenLayer call {round}: {} {:?}",
                    res.status(),
                    res.headers().get("www-authenticate")
                )
            })?;
        }

        let client = reqwest_middleware::ClientBuilder::new(self.http.clone())
            .with(AccessTokenMiddleware::new(tokens.clone()))
            .build();
        let res = client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("AccessTokenMiddleware: {e}"))?;
        ensure(res.status() == 200, || {
            format!("AccessTokenMiddleware: {}", res.status())
        })?;

        // RFC 9449 §7.2: a DPoP-bound token without its proof is no token.
        let res = self
            .http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        ensure(res.status() == 401, || {
            format!("the bound token as Bearer: {}, want 401", res.status())
        })
    }

    /// (d) RFC 8693: `orchestrator` exchanges `portal`'s token, its own token as
    /// `actor_token`; the result names `portal` as subject and `orchestrator` as actor, with
    /// the narrower scope. A scope the subject token lacks is refused.
    async fn token_exchange(&self) -> Outcome {
        let server = self.server()?;
        let portal = server
            .client_credentials("portal")
            .secret(client_secret("portal"))
            .scope(["read:data", "write:reports", "delegate:analysis"])
            .resource(RESOURCE)
            .build()
            .map_err(|e| format!("build: {e}"))?;
        let subject = portal
            .token()
            .await
            .map_err(|e| format!("subject token(): {e}"))?;
        let subject_exp = self.validate(subject.secret()).await?.expires_at();

        let actor = server
            .client_credentials("orchestrator")
            .secret(client_secret("orchestrator"))
            .scope(["read:data"])
            .resource(RESOURCE)
            .build()
            .map_err(|e| format!("build: {e}"))?;
        let exchange = TokenExchange::builder(actor)
            .build()
            .map_err(|e| format!("build: {e}"))?;
        let to = DelegateTo::resource(RESOURCE).scope(["read:data"]);
        let t = exchange
            .exchange(subject.secret(), Some(subject_exp), &to)
            .await
            .map_err(|e| format!("exchange: {e}"))?;
        let p = self.validate(t.secret()).await?;
        ensure(p.subject() == Some("portal"), || {
            format!("sub {:?}, want portal", p.subject())
        })?;
        let act = p.actor().and_then(|a| a.sub.as_deref());
        ensure(act == Some("orchestrator"), || {
            format!("act.sub {act:?}, want orchestrator")
        })?;
        ensure(
            p.scopes().len() == 1 && p.scopes().contains("read:data"),
            || format!("scope {:?}, want read:data only", p.scopes()),
        )?;

        let beyond = DelegateTo::resource(RESOURCE).scope(["execute:payment"]);
        expect_refusal(
            exchange
                .exchange(subject.secret(), Some(subject_exp), &beyond)
                .await,
            "invalid_scope",
        )
    }

    /// An opaque (non-JWT) access token is a token like any other to the client.
    async fn opaque_token(&self) -> Outcome {
        let tokens = self
            .server()?
            .client_credentials("orchestrator")
            .secret(client_secret("orchestrator"))
            .scope(["read:data"])
            .resource(OPAQUE_RESOURCE)
            .build()
            .map_err(|e| format!("build: {e}"))?;
        let t = tokens.token().await.map_err(|e| format!("token(): {e}"))?;
        ensure(t.secret().split('.').count() == 1, || {
            "a JWT came back for the opaque resource".into()
        })?;
        let left = t
            .expires_at()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        ensure(
            left > Duration::from_secs(500) && left <= Duration::from_secs(600),
            || format!("expires in {left:?}, want about 600 s (expires_in)"),
        )
    }

    /// RFC 7009: `TokenSource::revoke` on an opaque token (oidc-provider stores only those,
    /// so only those can be revoked there). Before, the provider's introspection endpoint
    /// (RFC 7662) says `active: true` and a2a-guard's `Validator` with `Introspection`
    /// accepts the token; after, the provider says `active: false`, the same validator
    /// refuses it as `Inactive`, and the source hands out a new token.
    async fn revocation(&self) -> Outcome {
        let server = self.server()?;
        let introspection_endpoint = server
            .introspection_endpoint
            .clone()
            .ok_or("discovery found no introspection_endpoint")?;
        let tokens = server
            .client_credentials("orchestrator")
            .secret(client_secret("orchestrator"))
            .scope(["read:data"])
            .resource(OPAQUE_RESOURCE)
            .build()
            .map_err(|e| format!("build: {e}"))?;
        let t = tokens.token().await.map_err(|e| format!("token(): {e}"))?;

        // No caching: each validation asks the provider, so the revocation shows at once.
        let validator = Validator::builder()
            .issuer(&self.issuer)
            .audience(OPAQUE_RESOURCE)
            .introspection(
                Introspection::new(
                    &self.issuer,
                    ClientCredentials::new(&introspection_endpoint, RESOURCE_SERVER)
                        .secret(client_secret(RESOURCE_SERVER)),
                )
                .cache_ttl(Duration::ZERO)
                .negative_cache_ttl(Duration::ZERO),
            )
            .build()
            .await
            .map_err(|e| format!("Validator with Introspection: {e}"))?;

        let before = self.introspect(&introspection_endpoint, t.secret()).await?;
        ensure(before["active"] == true, || {
            format!("before revoke, introspection: {before}, want active: true")
        })?;
        ensure(before["client_id"] == "orchestrator", || {
            format!("before revoke, introspection: {before}, want client_id orchestrator")
        })?;
        let p = validator
            .validate(t.secret())
            .await
            .map_err(|e| format!("before revoke, the Validator refused the token: {e}"))?;
        ensure(p.scopes().contains("read:data"), || {
            format!("before revoke, scope {:?}", p.scopes())
        })?;

        tokens
            .revoke(&t)
            .await
            .map_err(|e| format!("revoke: {e}"))?;

        let after = self.introspect(&introspection_endpoint, t.secret()).await?;
        ensure(after["active"] == false, || {
            format!("after revoke, introspection: {after}, want active: false")
        })?;
        match validator.validate(t.secret()).await {
            Err(AuthError::Inactive) => {}
            Err(e) => return Err(format!("after revoke, the Validator: {e}, want Inactive")),
            Ok(_) => return Err("after revoke, the Validator accepted the token".into()),
        }
        let next = tokens.token().await.map_err(|e| format!("token(): {e}"))?;
        ensure(next.secret() != t.secret(), || {
            "after revoke, token() handed out the revoked token again".into()
        })
    }

    /// The provider's RFC 7662 answer for `token`, asked as the resource server
    /// (`client_secret_basic`).
    async fn introspect(&self, url: &str, token: &str) -> Result<serde_json::Value, String> {
        // application/x-www-form-urlencoded by hand: reqwest's `form` feature is off.
        let mut form = reqwest::Url::parse("http://form.invalid/").map_err(|e| e.to_string())?;
        form.query_pairs_mut()
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token");
        let form = form.query().unwrap_or_default().to_owned();
        let body = async {
            self.http
                .post(url)
                .basic_auth(RESOURCE_SERVER, Some(format!("{RESOURCE_SERVER}-secret")))
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await
        }
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("POST {url}: {e}"))
    }
}

/// `Err` unless `result` is the token endpoint's refusal with this OAuth error code.
fn expect_refusal<T>(result: Result<T, ClientError>, code: &str) -> Outcome {
    match result {
        Err(ClientError::Refused { error, .. }) if error == code => Ok(()),
        Err(e) => Err(format!("want a refusal with {code}, got: {e}")),
        Ok(_) => Err(format!("want a refusal with {code}, got a token")),
    }
}

/// reqwest as a tower `Service`, for `AccessTokenLayer` over real HTTP.
#[derive(Clone)]
struct ReqwestService(reqwest::Client);

impl Service<http::Request<String>> for ReqwestService {
    type Response = http::Response<String>;
    type Error = reqwest::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<http::Response<String>, reqwest::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<String>) -> Self::Future {
        let client = self.0.clone();
        Box::pin(async move {
            let res = client.execute(reqwest::Request::try_from(req)?).await?;
            let mut out = http::Response::builder().status(res.status());
            if let Some(h) = out.headers_mut() {
                h.extend(res.headers().clone());
            }
            let body = res.text().await?;
            Ok(out
                .body(body)
                .expect("status and headers came from a response"))
        })
    }
}
