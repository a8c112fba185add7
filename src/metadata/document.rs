//! RFC 9728 Protected Resource Metadata: the document, its builder, and the tower service /
//! axum router that serves it.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use tower_service::Service;

use super::resource::{ResourceUri, WELL_KNOWN_PATH, check_uri_chars};
use crate::scope::Scope;
use crate::validate::Config;
use crate::{AuthLayer, ConfigError};

/// The RFC 9728 §2 document, with exactly the members this crate can vouch for.
/// Absent members are omitted, never `null`.
///
/// ```
/// use a2a_guard::metadata::ProtectedResourceMetadata;
/// let doc: ProtectedResourceMetadata = serde_json::from_str(
///     r#"{"resource":"https://api.example/mcp","authorization_servers":["https://auth.example"]}"#,
/// ).unwrap();
/// assert_eq!(doc.resource, "https://api.example/mcp");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier; clients check it equals the URI they derived the metadata
    /// URL from (RFC 9728 §3.3).
    pub resource: String,
    /// The configured issuers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Scopes the resource's routes require (RFC 6749 §3.3 tokens).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens may be sent: only `header` (RFC 6750 §2.1); form and query are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bearer_methods_supported: Vec<String>,
    /// DPoP proof algorithms accepted (RFC 9449), when DPoP is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Whether only DPoP-bound tokens are accepted; present when DPoP is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens_required: Option<bool>,
    /// Support for RFC 8705 certificate-bound tokens, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// A URL of human-readable documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

/// Builds the metadata of an [`AuthLayer`]'s validator: its resource URIs, issuers and DPoP
/// settings, the scopes its guards [advertise](crate::Validator::advertise), plus what you add
/// here. Start with [`ResourceMetadata::builder`].
#[must_use]
pub struct ResourceMetadataBuilder {
    config: Arc<Config>,
    dpop_algs: Option<Vec<String>>,
    scopes: Vec<String>,
    name: Option<String>,
    documentation: Option<String>,
    certificate_bound: bool,
}

/// Serves RFC 9728 Protected Resource Metadata: `GET /.well-known/oauth-protected-resource`
/// for a resource URI without a path and `/.well-known/oauth-protected-resource/<path>` for
/// one with a path (§3.1). No token is needed; nothing beyond RFC 9728's members is said.
/// Cheap to clone. Other paths answer 404, other methods 405.
///
/// The `scopes_supported` member is read on every request, so guards advertised after the
/// router was built are listed too.
///
/// Mount it **beside** the auth layer, not under it (the metadata must be reachable without
/// a token):
///
/// ```no_run
/// use a2a_guard::{RequireScopes, Validator, metadata::ResourceMetadata};
/// use axum::{Router, routing::post};
/// # async fn demo() -> Result<(), a2a_guard::ConfigError> {
/// let validator = Validator::builder()
///     .issuer("https://auth.example.com")
///     .resource("https://api.example.com/mcp")
///     .build()
///     .await?;
/// let layer = validator.layer();
/// let app: Router = Router::new()
///     .route("/mcp", post(|| async { "ok" })
///         .route_layer(validator.advertise(RequireScopes::all(["read:data"]))))
///     .layer(layer.clone())
///     .merge(ResourceMetadata::builder(&layer).resource_name("Data MCP server").router()?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ResourceMetadata {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    dpop_algs: Option<Vec<String>>,
    scopes: Vec<Scope>,
    name: Option<String>,
    documentation: Option<String>,
    certificate_bound: bool,
}

impl std::fmt::Debug for ResourceMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceMetadata")
            .field("paths", &self.paths())
            .finish_non_exhaustive()
    }
}

impl ResourceMetadata {
    /// Start from the layer that guards the resource (its validator's resources and issuers,
    /// its DPoP settings).
    ///
    /// ```
    /// # async fn demo(validator: a2a_guard::Validator) -> Result<(), a2a_guard::ConfigError> {
    /// use a2a_guard::metadata::ResourceMetadata;
    /// let metadata = ResourceMetadata::builder(&validator.layer())
    ///     .scopes(["read:data"])
    ///     .resource_name("Data API")
    ///     .resource_documentation("https://docs.example.com/data-api")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder<C>(layer: &AuthLayer<C>) -> ResourceMetadataBuilder {
        ResourceMetadataBuilder {
            config: layer.validator.config.clone(),
            dpop_algs: layer
                .dpop
                .is_configured()
                .then(|| layer.dpop.algorithm_names()),
            scopes: Vec::new(),
            name: None,
            documentation: None,
            certificate_bound: false,
        }
    }

    /// The document for one configured resource URI (as configured, or equal to it after the
    /// normalisation of [`ValidatorBuilder::resource`](crate::ValidatorBuilder::resource)).
    ///
    /// ```
    /// # fn demo(metadata: a2a_guard::metadata::ResourceMetadata) {
    /// let doc = metadata.document("https://api.example.com/mcp").unwrap();
    /// assert_eq!(doc.bearer_methods_supported, ["header"]);
    /// # }
    /// ```
    pub fn document(&self, resource: &str) -> Option<ProtectedResourceMetadata> {
        let r = self
            .inner
            .config
            .resources
            .uris
            .iter()
            .find(|r| r.matches(resource))?;
        Some(self.render(r))
    }

    /// The paths served, one per resource URI path.
    pub fn paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .inner
            .config
            .resources
            .uris
            .iter()
            .map(|r| format!("{WELL_KNOWN_PATH}{}", r.path()))
            .collect();
        v.dedup();
        v
    }

    /// An axum router serving [`paths`](Self::paths); merge it beside the guarded routes.
    ///
    /// ```
    /// # fn demo(metadata: a2a_guard::metadata::ResourceMetadata) {
    /// let app: axum::Router = axum::Router::new().merge(metadata.into_router());
    /// # }
    /// ```
    #[cfg(feature = "axum")]
    pub fn into_router(self) -> ::axum::Router {
        let mut router = ::axum::Router::new();
        for p in self.paths() {
            router = router.route_service(&p, self.clone());
        }
        router
    }

    fn render(&self, r: &ResourceUri) -> ProtectedResourceMetadata {
        let i = &*self.inner;
        let mut scopes: Vec<Scope> = i.config.resources.advertised();
        scopes.extend(i.scopes.iter().cloned());
        scopes.sort();
        scopes.dedup();
        ProtectedResourceMetadata {
            resource: r.configured.clone(),
            authorization_servers: i.config.issuers.iter().map(|e| e.issuer.clone()).collect(),
            scopes_supported: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            // RFC 6750 §2.1 only: the bearer extractor refuses form and query tokens.
            bearer_methods_supported: vec!["header".to_owned()],
            dpop_signing_alg_values_supported: i.dpop_algs.clone(),
            // DPoP-bound tokens are accepted, plain bearer tokens too: not required.
            dpop_bound_access_tokens_required: i.dpop_algs.as_ref().map(|_| false),
            tls_client_certificate_bound_access_tokens: i.certificate_bound.then_some(true),
            resource_name: i.name.clone(),
            resource_documentation: i.documentation.clone(),
        }
    }

    fn respond(&self, method: &Method, path: &str, host: Option<&str>) -> Response<String> {
        let plain = |status: StatusCode| {
            let mut res = Response::new(String::new());
            *res.status_mut() = status;
            res
        };
        let candidates: Vec<&ResourceUri> = self
            .inner
            .config
            .resources
            .uris
            .iter()
            .filter(|r| path.strip_prefix(WELL_KNOWN_PATH) == Some(r.path()))
            .collect();
        // Several resources on one path differ by host: the Host header picks one.
        let chosen = match candidates[..] {
            [] => None,
            [one] => Some(one),
            _ => host.and_then(|h| candidates.iter().copied().find(|r| r.authority_matches(h))),
        };
        let Some(r) = chosen else {
            return plain(StatusCode::NOT_FOUND);
        };
        if method != Method::GET && method != Method::HEAD {
            let mut res = plain(StatusCode::METHOD_NOT_ALLOWED);
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return res;
        }
        let body = serde_json::to_string(&self.render(r)).unwrap_or_default();
        let mut res = Response::new(body);
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    }
}

impl<B> Service<Request<B>> for ResourceMetadata {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(req.uri().authority().map(|a| a.as_str()));
        ready(Ok(self.respond(req.method(), req.uri().path(), host)))
    }
}

impl ResourceMetadataBuilder {
    /// Also list these scopes in `scopes_supported` (beside those the guards advertise).
    /// Each must be an RFC 6749 §3.3 scope token, or [`build`](Self::build) fails.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// `resource_name`: a human-readable name.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// `resource_documentation`: a `http`/`https` URL of documentation for people.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.documentation = Some(url.into());
        self
    }

    /// Declare `tls_client_certificate_bound_access_tokens: true`: your TLS acceptor puts the
    /// verified [`ClientCertificate`](crate::pop::ClientCertificate) into each request, so
    /// RFC 8705 certificate-bound tokens work. Off by default (the crate cannot see your TLS).
    pub fn certificate_bound_tokens(mut self) -> Self {
        self.certificate_bound = true;
        self
    }

    /// Check everything: a resource URI must be configured on the validator, every scope
    /// must be a valid scope token, the documentation URL a valid `http`/`https` URL.
    pub fn build(self) -> Result<ResourceMetadata, ConfigError> {
        if self.config.resources.uris.is_empty() {
            return Err(ConfigError::InvalidSetting {
                name: "ValidatorBuilder::resource",
                reason: "Protected Resource Metadata needs at least one resource URI",
            });
        }
        let scopes = self
            .scopes
            .iter()
            .map(|s| Scope::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ConfigError::InvalidSetting {
                name: "ResourceMetadataBuilder::scopes",
                reason: "not an RFC 6749 §3.3 scope token",
            })?;
        if let Some(doc) = &self.documentation {
            check_http_url(doc)?;
        }
        Ok(ResourceMetadata {
            inner: Arc::new(Inner {
                config: self.config,
                dpop_algs: self.dpop_algs,
                scopes,
                name: self.name,
                documentation: self.documentation,
                certificate_bound: self.certificate_bound,
            }),
        })
    }

    /// [`build`](Self::build), then [`into_router`](ResourceMetadata::into_router).
    #[cfg(feature = "axum")]
    pub fn router(self) -> Result<::axum::Router, ConfigError> {
        let m = self.build()?;
        if let Some(p) = m
            .paths()
            .into_iter()
            .find(|p| p.split('/').any(|s| s.starts_with([':', '*'])))
        {
            // axum 0.8 refuses such segments (old parameter syntax); serve the service
            // yourself with a router of your own for these paths.
            return Err(ConfigError::InvalidUrl {
                url: p,
                reason: "a path segment starting with `:` or `*` cannot be routed by axum",
            });
        }
        Ok(m.into_router())
    }
}

/// An absolute `http`/`https` URL made only of RFC 3986 characters.
pub(crate) fn check_http_url(url: &str) -> Result<(), ConfigError> {
    let bad = |reason| ConfigError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    check_uri_chars(url).map_err(bad)?;
    let parsed = url::Url::parse(url).map_err(|_| bad("not an absolute URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(bad("must be an http or https URL with a host"));
    }
    Ok(())
}
