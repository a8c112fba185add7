//! TLS plumbing for the mTLS example and its test: a throwaway PKI (rcgen), a rustls server
//! config that verifies client certificates, and an accept loop that puts the verified
//! client certificate into each request's extensions as `a2a_guard::pop::ClientCertificate`.

use std::sync::Arc;

use a2a_guard::pop::ClientCertificate;
use axum::Router;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig, server::WebPkiClientVerifier};
use tower::Service;

/// A certificate and its key, DER and PEM.
pub struct Leaf {
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    pub key_der: Vec<u8>,
    pub key_pem: String,
}

/// A CA, a server certificate for `localhost` / `127.0.0.1`, and client certificates.
pub struct Pki {
    pub ca_der: Vec<u8>,
    pub ca_pem: String,
    pub server: Leaf,
    pub clients: Vec<Leaf>,
}

pub fn generate_pki(client_names: &[&str]) -> Result<Pki, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| -> Result<Leaf, rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(names)?.signed_by(&key, &issuer)?;
        Ok(Leaf {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        })
    };
    let server = leaf(vec!["localhost".into(), "127.0.0.1".into()])?;
    let clients = client_names
        .iter()
        .map(|n| leaf(vec![(*n).to_owned()]))
        .collect::<Result<_, _>>()?;
    Ok(Pki {
        ca_der: ca_cert.der().to_vec(),
        ca_pem: ca_cert.pem(),
        server,
        clients,
    })
}

/// TLS 1.2/1.3 server config that verifies client certificates against the CA. With
/// `require_client_cert` a handshake without one fails; without it such requests reach the
/// app with no `ClientCertificate` (and certificate-bound tokens are refused there).
pub fn server_config(
    pki: &Pki,
    require_client_cert: bool,
) -> Result<Arc<ServerConfig>, Box<dyn std::error::Error>> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(pki.ca_der.clone()))?;
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots));
    let verifier = if require_client_cert {
        verifier.build()?
    } else {
        verifier.allow_unauthenticated().build()?
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server.key_der.clone()));
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(pki.server.cert_der.clone())], key)?;
    Ok(Arc::new(config))
}

/// Accept TLS connections and serve `app`, inserting the peer's leaf certificate into every
/// request of the connection.
pub async fn serve(listener: tokio::net::TcpListener, config: Arc<ServerConfig>, app: Router) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .map(|c| ClientCertificate::from_der(c.as_ref().to_vec()));
            let svc = tower::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                if let Some(c) = &cert {
                    req.extensions_mut().insert(c.clone());
                }
                app.clone().call(req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    TokioIo::new(tls),
                    hyper_util::service::TowerToHyperService::new(svc),
                )
                .await;
        });
    }
}
