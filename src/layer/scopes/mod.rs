//! [`RequireScopes`]: a per-route scope guard, for `route_layer`.
//!
//! It reads the [`AuthContext`](super::AuthContext) that [`AuthLayer`](super::AuthLayer) put
//! into the request and answers 403 `insufficient_scope` naming what was required, or 401 if
//! the request was not authenticated. Requirements are fixed (`all`, `any`, nested), computed
//! from the request (`from_fn`), or filled from path parameters (`template`, axum).

mod future;
mod layer;
mod service;

pub use future::ScopesFuture;
pub use layer::RequireScopes;
pub use service::RequireScopesService;
