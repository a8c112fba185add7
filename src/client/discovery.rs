//! Finding the token endpoint: from an issuer (RFC 8414 / OpenID Connect Discovery) or from a
//! protected resource (RFC 9728), reached through a 401's `resource_metadata` the way MCP
//! clients find their authorization server.
//!
//! A resource may name any authorization server, and a client sends its credentials to the
//! token endpoint it finds. So resource discovery only ever picks an authorization server the
//! caller listed as trusted, fetches metadata only from the resource's own origin, and checks
//! that the metadata's `resource` is the resource asked about (RFC 9728 §3.3) and that the
//! authorization server's metadata names the issuer it was fetched for (RFC 8414 §3.3).

use std::time::Duration;

use serde_json::Value;

use super::ClientError;
use super::source::ClientCredentials;
use crate::keys::{self, FetchError, HttpSettings};
use crate::metadata::{ProtectedResourceMetadata, ResourceUri};

/// The largest metadata document read.
const MAX_METADATA_BYTES: usize = 64 * 1024;
/// One deadline for each discovery (both well-known forms share it).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What an authorization server's metadata (RFC 8414 §2) says a client needs.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::client::{AuthorizationServer, Secret};
/// let server = AuthorizationServer::discover("https://auth.example.com").await?;
/// let tokens = server
///     .client_credentials("orchestrator") // token endpoint and issuer filled in
///     .secret(Secret::file("/run/secrets/orchestrator"))
///     .build()?;
/// # let _ = tokens; Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizationServer {
    /// `issuer`: equal, byte for byte, to the issuer it was fetched for.
    pub issuer: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `revocation_endpoint` (RFC 7009), when published.
    pub revocation_endpoint: Option<String>,
    /// `introspection_endpoint` (RFC 7662), when published.
    pub introspection_endpoint: Option<String>,
    /// `mtls_endpoint_aliases.token_endpoint` (RFC 8705 §5): where a client authenticating
    /// with its TLS certificate sends token requests.
    pub mtls_token_endpoint: Option<String>,
    /// `token_endpoint_auth_methods_supported` (RFC 6749 §2.3 default: `client_secret_basic`).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `dpop_signing_alg_values_supported` (RFC 9449 §5.1).
    pub dpop_signing_alg_values_supported: Vec<String>,
}

impl AuthorizationServer {
    /// Fetch the metadata of `issuer`: OpenID Connect Discovery first, RFC 8414's
    /// path-inserted URL second, under one 5-second deadline. https only (plain http to a
    /// loopback issuer), at most 64 KiB, the document's `issuer` must equal `issuer`, and
    /// every endpoint it names must be https (or loopback for a loopback issuer).
    pub async fn discover(issuer: &str) -> Result<AuthorizationServer, ClientError> {
        let http = settings(issuer)?;
        let (_, doc) = keys::authorization_server_metadata(issuer, &http)
            .await
            .map_err(|e| fetch_failed("authorization server metadata", &e))?;
        Self::from_document(issuer, &doc, &http)
    }

    fn from_document(
        issuer: &str,
        doc: &Value,
        http: &HttpSettings,
    ) -> Result<AuthorizationServer, ClientError> {
        let url = |name: &'static str, v: Option<&Value>| -> Result<Option<String>, ClientError> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => {
                    keys::check_url(s, http.allow_http, http.allow_loopback).map_err(|_| {
                        ClientError::Discovery(format!("{name} is not an allowed URL"))
                    })?;
                    Ok(Some(s.clone()))
                }
                Some(_) => Err(ClientError::Discovery(format!("{name} is not a string"))),
            }
        };
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .take(64)
                        .map(|s| s.chars().take(128).collect())
                        .collect()
                })
                .unwrap_or_default()
        };
        let token_endpoint = url("token_endpoint", doc.get("token_endpoint"))?
            .ok_or_else(|| ClientError::Discovery("the metadata has no token_endpoint".into()))?;
        let aliases = doc.get("mtls_endpoint_aliases");
        Ok(AuthorizationServer {
            issuer: issuer.to_owned(),
            token_endpoint,
            revocation_endpoint: url("revocation_endpoint", doc.get("revocation_endpoint"))?,
            introspection_endpoint: url(
                "introspection_endpoint",
                doc.get("introspection_endpoint"),
            )?,
            mtls_token_endpoint: url(
                "mtls_endpoint_aliases.token_endpoint",
                aliases.and_then(|a| a.get("token_endpoint")),
            )?,
            token_endpoint_auth_methods_supported: {
                let m = strings(doc.get("token_endpoint_auth_methods_supported"));
                if m.is_empty() {
                    vec!["client_secret_basic".to_owned()]
                } else {
                    m
                }
            },
            dpop_signing_alg_values_supported: strings(
                doc.get("dpop_signing_alg_values_supported"),
            ),
        })
    }

    /// A [`ClientCredentials`] for `client_id` with this server's token endpoint and issuer
    /// (the `aud` of `private_key_jwt` assertions) filled in; with
    /// [`tls_client_auth`](ClientCredentials::tls_client_auth), token requests go to
    /// [`mtls_token_endpoint`](Self::mtls_token_endpoint) when the server has one. The
    /// [`revocation_endpoint`](ClientCredentials::revocation_endpoint) is set when the server
    /// publishes one.
    pub fn client_credentials(&self, client_id: impl Into<String>) -> ClientCredentials {
        let credentials = ClientCredentials::new(self.token_endpoint.clone(), client_id)
            .issuer(self.issuer.clone())
            .mtls_endpoint(self.mtls_token_endpoint.clone());
        match &self.revocation_endpoint {
            Some(url) => credentials.revocation_endpoint(url.clone()),
            None => credentials,
        }
    }
}

/// What discovery from a protected resource found: its RFC 9728 metadata and the trusted
/// authorization server it names.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DiscoveredResource {
    /// The resource's Protected Resource Metadata (its `resource` is the one asked about).
    pub metadata: ProtectedResourceMetadata,
    /// The first of the metadata's `authorization_servers` that the caller trusts.
    pub authorization_server: AuthorizationServer,
}

/// Discovers how to get a token for a protected resource (RFC 9728), the way MCP clients
/// do: from the `resource_metadata` parameter of the resource's 401 challenge, or else from
/// its well-known metadata URL (the path-inserted form first, then the root form).
///
/// Only authorization servers named in [`trust`](Self::trust) are ever contacted: a
/// resource cannot send this agent's credentials to an authorization server of its choosing.
///
/// ```no_run
/// # async fn demo(challenge: &http::HeaderValue) -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::client::{ResourceDiscovery, Secret};
/// let found = ResourceDiscovery::new("https://api.example.com/mcp")
///     .trust("https://auth.example.com")
///     .challenge(challenge) // the 401's WWW-Authenticate, when there was one
///     .discover()
///     .await?;
/// let tokens = found
///     .authorization_server
///     .client_credentials("orchestrator")
///     .secret(Secret::env("ORCHESTRATOR_SECRET"))
///     .resource(found.metadata.resource.clone())
///     .scope(found.metadata.scopes_supported.iter().take(1).cloned())
///     .build()?;
/// # let _ = tokens; Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ResourceDiscovery {
    resource: String,
    trusted: Vec<String>,
    metadata_url: Option<String>,
    bad_challenge: bool,
}

impl ResourceDiscovery {
    /// Discovery for the resource at this URI (the canonical resource URI, RFC 8707 §2).
    pub fn new(resource: impl Into<String>) -> Self {
        ResourceDiscovery {
            resource: resource.into(),
            trusted: Vec::new(),
            metadata_url: None,
            bad_challenge: false,
        }
    }

    /// An authorization server (its issuer identifier) this agent may get tokens from; may be
    /// called several times. At least one is required.
    pub fn trust(mut self, issuer: impl Into<String>) -> Self {
        self.trusted.push(issuer.into());
        self
    }

    /// The `WWW-Authenticate` value of the resource's 401 (RFC 9728 §5.1): its
    /// `resource_metadata` URL is used when present. A value that cannot be read is
    /// ignored, and the well-known URLs are tried instead.
    pub fn challenge(mut self, www_authenticate: &http::HeaderValue) -> Self {
        match www_authenticate.to_str().ok().map(resource_metadata_param) {
            Some(Some(url)) => self.metadata_url = Some(url),
            Some(None) => {}
            None => self.bad_challenge = true,
        }
        self
    }

    /// Fetch the resource's metadata and its trusted authorization server's metadata.
    ///
    /// Errors ([`ClientError::Discovery`]) when: the resource URI is not a valid resource
    /// URI; no authorization server is trusted; the metadata URL is not on the resource's
    /// origin; the metadata cannot be fetched (https only, plain http to loopback; 64 KiB;
    /// 5 s) or its `resource` is not this resource; it names no trusted authorization
    /// server; that server's metadata fails [`AuthorizationServer::discover`].
    pub async fn discover(self) -> Result<DiscoveredResource, ClientError> {
        let resource = ResourceUri::parse(&self.resource)
            .map_err(|_| ClientError::Discovery("not a valid resource URI".into()))?;
        if self.trusted.is_empty() {
            return Err(ClientError::Discovery(
                "no trusted authorization server configured".into(),
            ));
        }
        let http = settings(&self.resource)?;
        let origin = url::Url::parse(&self.resource)
            .map(|u| u.origin())
            .map_err(|_| ClientError::Discovery("not a valid resource URI".into()))?;
        let candidates = match &self.metadata_url {
            Some(url) => vec![url.clone()],
            None => {
                let path_inserted = resource.metadata_url();
                let root = format!(
                    "{}{}",
                    origin.ascii_serialization(),
                    crate::metadata::WELL_KNOWN_PATH
                );
                if path_inserted == root {
                    vec![root]
                } else {
                    vec![path_inserted, root]
                }
            }
        };
        let mut last = ClientError::Discovery("no metadata URL".into());
        let mut found = None;
        for url in candidates {
            // The metadata must come from the resource itself: a challenge naming another
            // origin (or an open redirect there) could make this agent fetch an internal URL
            // or trust a forged document.
            if url::Url::parse(&url).map(|u| u.origin()).ok() != Some(origin.clone()) {
                return Err(ClientError::Discovery(
                    "resource_metadata is not on the resource's origin".into(),
                ));
            }
            match tokio::time::timeout(DISCOVERY_TIMEOUT, http.get_json(&url)).await {
                Ok(Ok((doc, _))) => {
                    found = Some(doc);
                    break;
                }
                Ok(Err(e)) => last = fetch_failed("protected resource metadata", &e),
                Err(_) => last = fetch_failed("protected resource metadata", &FetchError::Timeout),
            }
        }
        let doc = found.ok_or(last)?;
        let metadata: ProtectedResourceMetadata = serde_json::from_value(doc).map_err(|_| {
            ClientError::Discovery("not RFC 9728 protected resource metadata".into())
        })?;
        // RFC 9728 §3.3: the document must be about the resource asked for.
        if !resource.matches(&metadata.resource) {
            return Err(ClientError::Discovery(
                "the metadata's resource is not the resource asked about (RFC 9728 §3.3)".into(),
            ));
        }
        let issuer = metadata
            .authorization_servers
            .iter()
            .find(|a| self.trusted.iter().any(|t| t == *a))
            .ok_or_else(|| {
                ClientError::Discovery(
                    "the resource names no authorization server this client trusts".into(),
                )
            })?
            .clone();
        let authorization_server = AuthorizationServer::discover(&issuer).await?;
        Ok(DiscoveredResource {
            metadata,
            authorization_server,
        })
    }
}

/// Fetch settings for discovery starting at `url`: https, or plain http and loopback only
/// when `url` itself is loopback; redirects under the same rules; 64 KiB.
fn settings(url: &str) -> Result<HttpSettings, ClientError> {
    let loopback = keys::is_loopback_url(url);
    keys::check_url(url, false, loopback)
        .map_err(|_| ClientError::Discovery(format!("{} is not an allowed URL", clip(url))))?;
    let client =
        keys::build_client(Duration::from_secs(2), DISCOVERY_TIMEOUT, Vec::new(), false)
            .map_err(|_| ClientError::Discovery("the HTTP client could not be built".into()))?;
    Ok(HttpSettings {
        client,
        allow_http: false,
        allow_loopback: loopback,
        max_body: MAX_METADATA_BYTES,
        discovery_deadline: DISCOVERY_TIMEOUT,
    })
}

fn fetch_failed(what: &str, e: &FetchError) -> ClientError {
    ClientError::Discovery(format!("{what}: {e}"))
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// The `resource_metadata` auth-param of a `WWW-Authenticate` value (RFC 9728 §5.1), read
/// with RFC 9110 §11.2 syntax: `name=token` or `name="quoted \" string"`. Only an `https` or
/// `http` URL is returned.
fn resource_metadata_param(header: &str) -> Option<String> {
    let bytes = header.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // A parameter name: a token preceded by start, space or comma.
        let start = i;
        while i < bytes.len() && is_tchar(bytes[i]) {
            i += 1;
        }
        let name = &header[start..i];
        let mut j = i;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if !name.is_empty() && j < bytes.len() && bytes[j] == b'=' {
            j += 1;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            let (value, end) = if j < bytes.len() && bytes[j] == b'"' {
                let mut v = String::new();
                let mut k = j + 1;
                let mut closed = false;
                while k < bytes.len() {
                    match bytes[k] {
                        b'\\' if k + 1 < bytes.len() => {
                            v.push(bytes[k + 1] as char);
                            k += 2;
                        }
                        b'"' => {
                            closed = true;
                            k += 1;
                            break;
                        }
                        b => {
                            v.push(b as char);
                            k += 1;
                        }
                    }
                }
                if !closed {
                    return None;
                }
                (v, k)
            } else {
                let s = j;
                let mut k = j;
                while k < bytes.len() && is_tchar(bytes[k]) || k < bytes.len() && bytes[k] == b'/' {
                    k += 1;
                }
                (header[s..k].to_owned(), k)
            };
            if name.eq_ignore_ascii_case("resource_metadata") {
                return (value.starts_with("https://") || value.starts_with("http://"))
                    .then_some(value);
            }
            i = end;
        } else {
            i = i.max(start + 1);
        }
    }
    None
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_metadata_is_read_from_challenges() {
        let url = "https://api.example/.well-known/oauth-protected-resource/mcp";
        for h in [
            format!(r#"Bearer resource_metadata="{url}""#),
            format!(
                r#"Bearer realm="x, resource_metadata=\"https://evil\"", resource_metadata="{url}""#
            ),
            format!(r#"Bearer error="invalid_token", scope="a b", resource_metadata="{url}""#),
            format!(r#"DPoP algs="ES256", RESOURCE_METADATA = "{url}""#),
        ] {
            assert_eq!(resource_metadata_param(&h).as_deref(), Some(url), "{h}");
        }
        assert_eq!(resource_metadata_param(r#"Bearer realm="api""#), None);
        assert_eq!(
            resource_metadata_param(r#"Bearer resource_metadata="file:///etc/passwd""#),
            None
        );
        assert_eq!(
            resource_metadata_param(r#"Bearer resource_metadata="https://unterminated"#),
            None
        );
    }
}
