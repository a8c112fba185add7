//! Discovery: the resource server's identity (RFC 8707 §2 resource URIs), its RFC 9728
//! Protected Resource Metadata, and the challenge parameters that point agents to it.
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

mod resource;

pub use resource::{MAX_ADVERTISED_SCOPES, WELL_KNOWN_PATH};
pub(crate) use resource::{ResourceUri, Resources};
