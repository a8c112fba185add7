//! [`AuthLayer`] / [`AuthService`]: authenticate every request with a [`Validator`](crate::Validator).
//!
//! On success the request carries [`Principal<C>`](crate::Principal) and
//! [`AuthContext`](super::AuthContext) in its extensions; on failure the inner service is not
//! called and the client gets the RFC 6750 response (or a gRPC status for gRPC requests).
//! Exactly one audit event is emitted per request, after the inner service answers, so it
//! includes the decision of any [`RequireScopes`](super::RequireScopes) guard inside.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::AuthLayer;
pub use service::AuthService;
