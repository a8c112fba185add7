//! Discovery: the resource server's identity (RFC 8707 §2 resource URIs), its RFC 9728
//! Protected Resource Metadata, the challenge parameters that point agents to it, and the
//! security members of an A2A v1.0 agent card ([`AgentCardSecurity`]).
//!
//! ```
//! # async fn demo() -> Result<(), a2a_guard::ConfigError> {
//! use a2a_guard::Validator;
//! let validator = Validator::builder()
//!     .issuer("https://auth.example.com")
//!     .resource("https://api.example.com/mcp") // accepted as `aud`, advertised as `resource`
//!     .build()
//!     .await?;
//! assert_eq!(validator.resources().next(), Some("https://api.example.com/mcp"));
//! # Ok(()) }
//! ```

mod a2a;
mod agent_card;
mod document;
mod resource;

pub use a2a::{
    ClientCredentialsOAuthFlow, MutualTlsSecurityScheme, OAuth2SecurityScheme, OAuthFlows,
    SecurityRequirement, SecurityScheme, StringList,
};
pub use agent_card::{
    AGENT_CARD_PATH, AgentCardSecurity, AgentCardSecurityBuilder, DEFAULT_MTLS_DESCRIPTION,
    MAX_REQUIREMENT_ALTERNATIVES, MTLS_SCHEME, OAUTH2_SCHEME,
};
pub use document::{ProtectedResourceMetadata, ResourceMetadata, ResourceMetadataBuilder};
pub use resource::{MAX_ADVERTISED_SCOPES, WELL_KNOWN_PATH};

use crate::{RequireScopes, Validator};

impl<C> Validator<C> {
    /// List the scopes a route guard requires in this validator's Protected Resource Metadata
    /// (`scopes_supported`) and agent cards, and return the guard unchanged. Fixed
    /// requirements list every scope they name; a [template](RequireScopes::template)
    /// lists its prefix before the first placeholder (`read:customers:{region}` lists
    /// `read:customers`, which covers every region); a [computed](RequireScopes::from_fn)
    /// one lists nothing (add its scopes with [`ResourceMetadataBuilder::scopes`]).
    ///
    /// The catalog belongs to this validator and its clones (two validators never mix
    /// scopes) and keeps at most [`MAX_ADVERTISED_SCOPES`]. Invalid scope tokens are not
    /// listed.
    ///
    /// ```
    /// # async fn demo(validator: a2a_guard::Validator) {
    /// use a2a_guard::RequireScopes;
    /// use axum::{Router, routing::post};
    /// let app: Router = Router::new()
    ///     .route("/pay", post(|| async { "paid" })
    ///         .route_layer(validator.advertise(RequireScopes::all(["execute:payment"]))))
    ///     .layer(validator.layer());
    /// # }
    /// ```
    pub fn advertise(&self, guard: RequireScopes) -> RequireScopes {
        self.config
            .resources
            .advertise(guard.advertised_scopes().iter());
        guard
    }
}
pub(crate) use resource::{ResourceUri, Resources, index_for_path};
