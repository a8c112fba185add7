//! The A2A v1.0 security types, as the proto3 JSON mapping of `a2a.proto` (package
//! `lf.a2a.v1`) spells them: lowerCamelCase member names (specification §5.5), a oneof as an
//! object with exactly one member. Only what an OAuth2 resource server declares is modelled.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An A2A `SecurityScheme` (a oneof): serialized as an object with exactly one member.
/// Only the schemes this crate produces are modelled; a card with another kind
/// (`apiKeySecurityScheme`, `httpAuthSecurityScheme`, `openIdConnectSecurityScheme`) does
/// not deserialize into this type.
///
/// ```
/// use a2a_guard::metadata::{MutualTlsSecurityScheme, SecurityScheme};
/// let mtls = SecurityScheme::MutualTls(MutualTlsSecurityScheme::new());
/// assert_eq!(serde_json::to_string(&mtls).unwrap(), r#"{"mtlsSecurityScheme":{}}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SecurityScheme {
    /// `oauth2SecurityScheme`.
    #[serde(rename = "oauth2SecurityScheme")]
    OAuth2(OAuth2SecurityScheme),
    /// `mtlsSecurityScheme`.
    #[serde(rename = "mtlsSecurityScheme")]
    MutualTls(MutualTlsSecurityScheme),
}

/// An A2A `OAuth2SecurityScheme`: `description`, `flows` (required), `oauth2MetadataUrl`
/// (the authorization server's RFC 8414 metadata).
///
/// ```
/// use a2a_guard::metadata::{ClientCredentialsOAuthFlow, OAuth2SecurityScheme, OAuthFlows};
/// let flow = ClientCredentialsOAuthFlow::new("https://auth.example.com/token");
/// let scheme = OAuth2SecurityScheme::new(OAuthFlows::ClientCredentials(flow));
/// assert_eq!(
///     serde_json::to_value(&scheme).unwrap(),
///     serde_json::json!({"flows": {"clientCredentials": {
///         "tokenUrl": "https://auth.example.com/token", "scopes": {}}}}),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OAuth2SecurityScheme {
    /// A description for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The supported flow.
    pub flows: OAuthFlows,
    /// URL of the authorization server's metadata (RFC 8414).
    #[serde(
        rename = "oauth2MetadataUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub oauth2_metadata_url: Option<String>,
}

impl OAuth2SecurityScheme {
    /// A scheme with these flows and nothing else.
    ///
    /// ```
    /// # use a2a_guard::metadata::{ClientCredentialsOAuthFlow, OAuth2SecurityScheme, OAuthFlows};
    /// let flows = OAuthFlows::ClientCredentials(ClientCredentialsOAuthFlow::new("https://a.example/t"));
    /// assert!(OAuth2SecurityScheme::new(flows).oauth2_metadata_url.is_none());
    /// ```
    pub fn new(flows: OAuthFlows) -> Self {
        OAuth2SecurityScheme {
            description: None,
            flows,
            oauth2_metadata_url: None,
        }
    }
}

/// An A2A `OAuthFlows` (a oneof): one member naming the flow. Only the client-credentials
/// flow, the one agents use to call agents, is modelled.
///
/// ```
/// use a2a_guard::metadata::{ClientCredentialsOAuthFlow, OAuthFlows};
/// let flows: OAuthFlows = serde_json::from_str(
///     r#"{"clientCredentials":{"tokenUrl":"https://a.example/t","scopes":{"read:data":"Read"}}}"#,
/// ).unwrap();
/// let OAuthFlows::ClientCredentials(flow) = flows else { unreachable!() };
/// assert_eq!(flow.scopes["read:data"], "Read");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OAuthFlows {
    /// `clientCredentials` (RFC 6749 §4.4).
    #[serde(rename = "clientCredentials")]
    ClientCredentials(ClientCredentialsOAuthFlow),
}

/// An A2A `ClientCredentialsOAuthFlow`: `tokenUrl` and `scopes` (both required; the scope map
/// goes from scope to a description and may be empty), `refreshUrl`.
///
/// ```
/// use a2a_guard::metadata::ClientCredentialsOAuthFlow;
/// let mut flow = ClientCredentialsOAuthFlow::new("https://auth.example.com/token");
/// flow.scopes.insert("read:data".into(), "Read the data set".into());
/// assert_eq!(
///     serde_json::to_string(&flow).unwrap(),
///     r#"{"tokenUrl":"https://auth.example.com/token","scopes":{"read:data":"Read the data set"}}"#,
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientCredentialsOAuthFlow {
    /// The authorization server's token endpoint.
    #[serde(rename = "tokenUrl")]
    pub token_url: String,
    /// The URL for refresh tokens.
    #[serde(
        rename = "refreshUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_url: Option<String>,
    /// Scope → description.
    #[serde(default)]
    pub scopes: BTreeMap<String, String>,
}

impl ClientCredentialsOAuthFlow {
    /// A flow with this token endpoint and no scopes.
    ///
    /// ```
    /// # use a2a_guard::metadata::ClientCredentialsOAuthFlow;
    /// assert!(ClientCredentialsOAuthFlow::new("https://a.example/t").scopes.is_empty());
    /// ```
    pub fn new(token_url: impl Into<String>) -> Self {
        ClientCredentialsOAuthFlow {
            token_url: token_url.into(),
            refresh_url: None,
            scopes: BTreeMap::new(),
        }
    }
}

/// An A2A `MutualTlsSecurityScheme`: only a `description`.
///
/// ```
/// use a2a_guard::metadata::MutualTlsSecurityScheme;
/// let s = MutualTlsSecurityScheme { description: Some("client certificates".into()) };
/// assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"description":"client certificates"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutualTlsSecurityScheme {
    /// A description for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl MutualTlsSecurityScheme {
    /// A scheme without a description.
    ///
    /// ```
    /// # use a2a_guard::metadata::MutualTlsSecurityScheme;
    /// assert!(MutualTlsSecurityScheme::new().description.is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

/// An A2A `SecurityRequirement`: scheme name → the scopes needed with it (`StringList`).
/// Every scheme listed is needed; an empty list means "a credential of this scheme, no
/// particular scope".
///
/// ```
/// use a2a_guard::metadata::SecurityRequirement;
/// let req = SecurityRequirement::new().scheme("oauth2", ["read:data"]).scheme("mtls", [""; 0]);
/// assert_eq!(
///     serde_json::to_string(&req).unwrap(),
///     r#"{"schemes":{"mtls":{"list":[]},"oauth2":{"list":["read:data"]}}}"#,
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityRequirement {
    /// Scheme name → scopes.
    #[serde(default)]
    pub schemes: BTreeMap<String, StringList>,
}

impl SecurityRequirement {
    /// An empty requirement.
    ///
    /// ```
    /// # use a2a_guard::metadata::SecurityRequirement;
    /// assert!(SecurityRequirement::new().schemes.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Also need scheme `name` with these scopes.
    ///
    /// ```
    /// # use a2a_guard::metadata::SecurityRequirement;
    /// let req = SecurityRequirement::new().scheme("oauth2", ["execute:payment"]);
    /// assert_eq!(req.schemes["oauth2"].list, ["execute:payment"]);
    /// ```
    pub fn scheme<I, S>(mut self, name: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.schemes.insert(
            name.into(),
            StringList {
                list: scopes.into_iter().map(Into::into).collect(),
            },
        );
        self
    }
}

/// An A2A `StringList`: `{"list": [...]}`.
///
/// ```
/// use a2a_guard::metadata::StringList;
/// let l: StringList = serde_json::from_str(r#"{"list":["a","b"]}"#).unwrap();
/// assert_eq!(l.list, ["a", "b"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StringList {
    /// The strings.
    #[serde(default)]
    pub list: Vec<String>,
}
