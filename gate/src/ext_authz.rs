//! The Envoy gRPC ext_authz v3 service (`envoy.service.auth.v3.Authorization/Check`): Envoy's
//! `envoy.filters.http.ext_authz` filter asks the gate about every request, and the gate
//! answers with the same decision as forward-auth ([`Gate::check_with_certificate`]).
//!
//! - **Allow**: an `OkHttpResponse` whose `headers` set the claim headers, each replacing any
//!   copy the client sent (`OVERWRITE_IF_EXISTS_OR_ADD`), and whose `headers_to_remove` names
//!   every other configured claim header, so no spoofed claim header reaches the agent.
//! - **Deny**: a `DeniedHttpResponse` with the gate's status (400, 401, 403, 503), its
//!   `WWW-Authenticate` challenge and body, and the matching `google.rpc` code.
//! - A `CheckRequest` without HTTP attributes, or with a client certificate that does not
//!   parse, is denied (400, `INVALID_ARGUMENT`). The service never answers with a gRPC error,
//!   which Envoy's `failure_mode_allow` would turn into an allow.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = a2a_guard_gate::Config::load("gate.toml".as_ref())?;
//! let gate = a2a_guard_gate::Gate::new(config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9101").await?;
//! gate.serve_ext_authz(listener).await?;
//! # Ok(()) }
//! ```

use a2a_guard::pop::ClientCertificate;
use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::r#type::v3::{HttpStatus, StatusCode as HttpStatusCode};
use envoy_types::pb::google::protobuf::BoolValue;
use envoy_types::pb::google::rpc;
use http::{HeaderMap, HeaderName, Method, StatusCode};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use crate::{Decision, Gate};

/// The largest denial body read back from the gate's response (its bodies are a few bytes).
const MAX_DENIAL_BODY: usize = 64 * 1024;

/// The `Authorization` gRPC service over a [`Gate`]. Cheap to clone.
///
/// ```no_run
/// # async fn demo(gate: a2a_guard_gate::Gate) -> Result<(), tonic::transport::Error> {
/// use a2a_guard_gate::ext_authz::ExtAuthz;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9101").await.unwrap();
/// tonic::transport::Server::builder()
///     .add_service(ExtAuthz::new(gate).into_service())
///     .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
///     .await
/// # }
/// ```
#[derive(Clone)]
pub struct ExtAuthz {
    gate: Gate,
}

impl ExtAuthz {
    /// The service deciding with `gate`.
    ///
    /// ```no_run
    /// # fn demo(gate: a2a_guard_gate::Gate) {
    /// let service = a2a_guard_gate::ext_authz::ExtAuthz::new(gate);
    /// # let _ = service;
    /// # }
    /// ```
    pub fn new(gate: Gate) -> ExtAuthz {
        ExtAuthz { gate }
    }

    /// The tonic server for this service, to add to a `tonic::transport::Server`.
    ///
    /// ```no_run
    /// # fn demo(gate: a2a_guard_gate::Gate) {
    /// let router = tonic::transport::Server::builder()
    ///     .add_service(a2a_guard_gate::ext_authz::ExtAuthz::new(gate).into_service());
    /// # let _ = router;
    /// # }
    /// ```
    pub fn into_service(self) -> AuthorizationServer<ExtAuthz> {
        AuthorizationServer::new(self)
    }

    /// The answer to one `CheckRequest` (what [`Authorization::check`] sends back).
    ///
    /// ```no_run
    /// # async fn demo(gate: a2a_guard_gate::Gate) {
    /// use a2a_guard_gate::ext_authz::ExtAuthz;
    /// use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
    /// // No HTTP attributes: denied (fail closed), never an error.
    /// let answer = ExtAuthz::new(gate).decide(&CheckRequest::default()).await;
    /// assert_eq!(answer.status.unwrap().code, tonic::Code::InvalidArgument as i32);
    /// # }
    /// ```
    pub async fn decide(&self, req: &CheckRequest) -> CheckResponse {
        let attrs = req.attributes.as_ref();
        let Some(http) = attrs
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref())
        else {
            return malformed("the CheckRequest has no HTTP request attributes");
        };
        let Ok(method) = Method::from_bytes(http.method.as_bytes()) else {
            return malformed("the CheckRequest's HTTP method is not valid");
        };
        let cert = match attrs.and_then(|a| a.source.as_ref()) {
            Some(peer) if !peer.certificate.is_empty() => match certificate(&peer.certificate) {
                Some(c) => Some(c),
                None => return malformed("the client certificate is not a PEM certificate"),
            },
            _ => None,
        };
        let headers = request_headers(http);
        // Envoy reports where the client sent the request: the origin of the URL a DPoP
        // proof signs (`htu`, RFC 9449 §4.3), absolute-form so it wins over any `Host`.
        let target = match (http.scheme.as_str(), http.host.as_str()) {
            ("http" | "https", host)
                if http.path.starts_with('/')
                    && !host.contains('@')
                    && host.parse::<http::uri::Authority>().is_ok() =>
            {
                format!("{}://{host}{}", http.scheme, http.path)
            }
            _ => http.path.clone(),
        };
        let decision = self
            .gate
            .check_with_certificate(&method, &target, &headers, cert.as_ref())
            .await;
        match decision {
            Decision::Allow(claims) => self.allow(claims),
            Decision::Deny(res) => deny(res).await,
        }
    }

    /// OK: set the claim headers, replacing the client's copies, and remove every other
    /// configured claim header. Envoy applies `headers` before `headers_to_remove`, so a name
    /// in both would remove the gate's own value: each name goes in exactly one of them.
    fn allow(&self, claims: HeaderMap) -> CheckResponse {
        // `append` is deprecated in the proto, and still the field Envoy reads first.
        #[allow(deprecated)]
        let headers = claims
            .iter()
            .map(|(name, value)| HeaderValueOption {
                header: Some(HeaderValue {
                    key: name.as_str().to_owned(),
                    value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    ..Default::default()
                }),
                // Both spellings of "replace": `append` (deprecated, read first by Envoy when
                // set) and `append_action`.
                append: Some(BoolValue { value: false }),
                append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
                ..Default::default()
            })
            .collect();
        let headers_to_remove = (self.gate.claim_header_names().into_iter())
            .filter(|name| !claims.contains_key(name))
            .map(|name| name.as_str().to_owned())
            .collect();
        CheckResponse {
            status: Some(rpc::Status {
                code: tonic::Code::Ok as i32,
                ..Default::default()
            }),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers,
                headers_to_remove,
                ..Default::default()
            })),
            ..Default::default()
        }
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.decide(request.get_ref()).await))
    }
}

impl Gate {
    /// Serve Envoy ext_authz v3 decisions (gRPC over plaintext HTTP/2) on `listener` until the
    /// task is dropped.
    ///
    /// ```no_run
    /// # async fn demo(gate: a2a_guard_gate::Gate) -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:9101").await?;
    /// gate.serve_ext_authz(listener).await?;
    /// # Ok(()) }
    /// ```
    pub async fn serve_ext_authz(
        self,
        listener: tokio::net::TcpListener,
    ) -> Result<(), tonic::transport::Error> {
        self.serve_ext_authz_until(listener, std::future::pending())
            .await
    }

    /// [`serve_ext_authz`](Gate::serve_ext_authz) until `shutdown` completes, then stop
    /// accepting and return once the checks in flight are answered.
    pub async fn serve_ext_authz_until(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        tonic::transport::Server::builder()
            .add_service(ExtAuthz::new(self).into_service())
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                shutdown,
            )
            .await
    }
}

/// The request's headers: `header_map` when Envoy sends raw headers (`encode_raw_headers`),
/// else the `headers` map (lower-case names, repeated headers joined by `,`). Pseudo-headers
/// (`:path`, …) and anything that is not a valid header are left out.
fn request_headers(http: &HttpRequest) -> HeaderMap {
    let mut out = HeaderMap::new();
    let mut put = |name: &str, value: &[u8]| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value),
        ) {
            out.append(n, v);
        }
    };
    match &http.header_map {
        Some(map) if !map.headers.is_empty() => {
            for h in &map.headers {
                let value = if h.raw_value.is_empty() {
                    h.value.as_bytes()
                } else {
                    &h.raw_value
                };
                put(&h.key, value);
            }
        }
        _ => {
            for (name, value) in &http.headers {
                put(name, value.as_bytes());
            }
        }
    }
    out
}

/// Envoy's `source.certificate`: the client's certificate, URL-encoded PEM. Percent-decoding
/// only (`+` is base64, not a space).
fn certificate(encoded: &str) -> Option<ClientCertificate> {
    let pem = percent_encoding::percent_decode_str(encoded).collect::<Vec<u8>>();
    let der = CertificateDer::from_pem_slice(&pem).ok()?;
    Some(ClientCertificate::from_der(der.as_ref().to_vec()))
}

/// The gate's denial as Envoy's: status, headers (the challenge) and body, with the
/// `google.rpc` code that says the same.
async fn deny(res: http::Response<axum::body::Body>) -> CheckResponse {
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(body, MAX_DENIAL_BODY)
        .await
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| HeaderValueOption {
            header: Some(HeaderValue {
                key: name.as_str().to_owned(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                ..Default::default()
            }),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            ..Default::default()
        })
        .collect();
    denied(
        parts.status,
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// A request the gate cannot decide on: 400, `INVALID_ARGUMENT`.
fn malformed(why: &'static str) -> CheckResponse {
    tracing::warn!(target: "a2a_guard_gate::decision", decision = "deny", reason = "malformed_check_request", why);
    denied(StatusCode::BAD_REQUEST, Vec::new(), why.to_owned())
}

fn denied(status: StatusCode, headers: Vec<HeaderValueOption>, body: String) -> CheckResponse {
    let code = match status {
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
        StatusCode::BAD_REQUEST => tonic::Code::InvalidArgument,
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        // Never OK: any other status the gate denies with is still a denial.
        _ => tonic::Code::PermissionDenied,
    };
    let http_status =
        HttpStatusCode::try_from(i32::from(status.as_u16())).unwrap_or(HttpStatusCode::Forbidden);
    CheckResponse {
        status: Some(rpc::Status {
            code: code as i32,
            message: status.to_string(),
            ..Default::default()
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: http_status as i32,
            }),
            headers,
            body,
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_percent_decoded_pem() {
        // A PEM block with base64 `+` and `/` kept literal and the rest URL-encoded, as
        // Envoy sends it.
        let der = b"\x30\x03\x02\x01\xfb\xff";
        let b64 = "MAMCAfv/";
        let pem = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        let encoded = pem.replace(' ', "%20").replace('\n', "%0A");
        let cert = certificate(&encoded).expect("parses");
        assert_eq!(cert.der(), der);
        assert!(certificate("not%20a%20certificate").is_none());
    }

    #[test]
    fn raw_headers_are_preferred_and_pseudo_headers_dropped() {
        use envoy_types::pb::envoy::config::core::v3::HeaderMap as RawHeaders;
        let mut http = HttpRequest::default();
        http.headers
            .insert("authorization".into(), "Bearer a".into());
        http.headers.insert(":path".into(), "/x".into());
        assert_eq!(request_headers(&http)["authorization"], "Bearer a");
        assert_eq!(request_headers(&http).len(), 1);
        http.header_map = Some(RawHeaders {
            headers: vec![HeaderValue {
                key: "authorization".into(),
                raw_value: b"Bearer b".to_vec(),
                ..Default::default()
            }],
        });
        assert_eq!(request_headers(&http)["authorization"], "Bearer b");
    }
}
