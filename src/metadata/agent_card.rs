//! A2A v1.0 agent card security: the `securitySchemes` and `securityRequirements` members of
//! an `AgentCard` (and of each `AgentSkill`), built from the validator's issuer and the scopes
//! its route guards require.
//!
//! The types serialize exactly as the proto3 JSON mapping of the A2A v1.0 `a2a.proto`
//! (package `lf.a2a.v1`, specification §5.5: lowerCamelCase names): `SecurityScheme` is a
//! oneof, so a scheme is an object with one member (`oauth2SecurityScheme`,
//! `mtlsSecurityScheme`); `OAuthFlows` is a oneof too (`clientCredentials`); a
//! `SecurityRequirement` maps scheme names to a `StringList` (`{"list": [...]}`).
//!
//! Requirements follow OpenAPI's rule, which A2A adopts: the entries of a
//! `securityRequirements` array are alternatives (any one suffices), the schemes inside one
//! entry are all needed. A scope requirement is therefore written in disjunctive normal form:
//! `all(["a", any(["b", "c"])])` becomes two entries, `{a, b}` and `{a, c}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::a2a::{
    ClientCredentialsOAuthFlow, MutualTlsSecurityScheme, OAuth2SecurityScheme, OAuthFlows,
    SecurityRequirement, SecurityScheme,
};
use super::resource::check_uri_chars;
use crate::scope::{Scope, ScopeRequirement};
use crate::validate::Config;
use crate::{ConfigError, RequireScopes, Validator};

/// The name of the OAuth2 scheme in `securitySchemes`.
pub const OAUTH2_SCHEME: &str = "oauth2";
/// The name of the mutual-TLS scheme in `securitySchemes`.
pub const MTLS_SCHEME: &str = "mtls";
/// Where an agent card is served: the A2A well-known URI (specification §14.3, RFC 8615).
pub const AGENT_CARD_PATH: &str = "/.well-known/agent-card.json";
/// The most alternatives one requirement may expand to (its disjunctive normal form):
/// `all` of several `any` multiplies; past this the card would be unreadable, so
/// [`build`](AgentCardSecurityBuilder::build) refuses it.
pub const MAX_REQUIREMENT_ALTERNATIVES: usize = 32;
/// The mutual-TLS scheme's `description` unless another is given.
pub const DEFAULT_MTLS_DESCRIPTION: &str =
    "Mutual TLS: access tokens are bound to the client certificate (RFC 8705)";

/// The security members of an A2A v1.0 agent card: serializes as
/// `{"securitySchemes": {...}, "securityRequirements": [...]}` (so it can be
/// `#[serde(flatten)]`ed into a card type), with each skill's requirements beside it in
/// [`skills`](Self::skills). Build one with [`AgentCardSecurity::builder`]; put it into a
/// card with [`apply_to`](Self::apply_to).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), a2a_guard::ConfigError> {
/// use a2a_guard::metadata::AgentCardSecurity;
/// # let validator = a2a_guard::Validator::builder()
/// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
/// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
/// #     .audience("agent-api").build().await?;
/// let security = AgentCardSecurity::builder(&validator)
///     .token_url("https://auth.example.com/oauth2/token")
///     .scope("read:data", "Read the data set")
///     .skill("data", "read:data")
///     .build()?;
/// let json = serde_json::to_value(&security).unwrap();
/// assert_eq!(json["securityRequirements"], serde_json::json!([{"schemes": {"oauth2": {"list": []}}}]));
/// assert_eq!(security.skills["data"][0].schemes["oauth2"].list, ["read:data"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AgentCardSecurity {
    /// `securitySchemes`: scheme name → scheme.
    #[serde(rename = "securitySchemes")]
    pub security_schemes: BTreeMap<String, SecurityScheme>,
    /// `securityRequirements` of the card: what contacting the agent at all needs.
    #[serde(rename = "securityRequirements")]
    pub security_requirements: Vec<SecurityRequirement>,
    /// Skill id → that `AgentSkill`'s `securityRequirements`. Not a card member.
    #[serde(skip)]
    pub skills: BTreeMap<String, Vec<SecurityRequirement>>,
}

impl AgentCardSecurity {
    /// Start from the validator that guards the agent: its issuer names the authorization
    /// server, and the scopes its guards [advertise](Validator::advertise) are listed in the
    /// OAuth2 scheme. Build after the router, so every guard has advertised its scopes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// use a2a_guard::RequireScopes;
    /// use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// let pay = validator.advertise(RequireScopes::all(["execute:payment"]));
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/oauth2/token")
    ///     .skill_routes("payments", [&pay])
    ///     .build()?;
    /// assert_eq!(security.skills["payments"][0].schemes["oauth2"].list, ["execute:payment"]);
    /// # Ok(()) }
    /// ```
    pub fn builder<C>(validator: &Validator<C>) -> AgentCardSecurityBuilder {
        AgentCardSecurityBuilder {
            config: validator.config.clone(),
            issuer: None,
            token_url: None,
            metadata_url: None,
            description: None,
            scopes: Vec::new(),
            mtls: None,
            card: ScopeRequirement::all(Vec::<ScopeRequirement>::new()),
            skills: Vec::new(),
        }
    }

    /// Put these members into an agent card (JSON): `securitySchemes` and
    /// `securityRequirements` on the card, and `securityRequirements` on each skill of
    /// [`skills`](Self::skills), found in the card's `skills` array by `id`. Members already
    /// there are replaced. A skill id the card does not have is a
    /// [`ConfigError::UnknownSkill`], so a renamed skill cannot silently lose its requirements.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/oauth2/token")
    ///     .scope("read:data", "Read the data set")
    ///     .skill("data", "read:data")
    ///     .build()?;
    /// let mut card = serde_json::json!({
    ///     "name": "Data agent",
    ///     "skills": [{"id": "data", "name": "Data", "description": "Reads data", "tags": []}],
    /// });
    /// security.apply_to(&mut card)?;
    /// assert_eq!(card["skills"][0]["securityRequirements"][0]["schemes"]["oauth2"]["list"][0], "read:data");
    /// assert!(card["securitySchemes"]["oauth2"]["oauth2SecurityScheme"].is_object());
    /// # Ok(()) }
    /// ```
    pub fn apply_to(&self, card: &mut Value) -> Result<(), ConfigError> {
        let Some(obj) = card.as_object_mut() else {
            return Err(ConfigError::InvalidSetting {
                name: "AgentCardSecurity::apply_to",
                reason: "the agent card must be a JSON object",
            });
        };
        let mut skills_left: Vec<&String> = self.skills.keys().collect();
        if let Some(skills) = obj.get_mut("skills").and_then(Value::as_array_mut) {
            for skill in skills.iter_mut() {
                let id = skill.get("id").and_then(Value::as_str).map(str::to_owned);
                if let (Some(id), Some(s)) = (id, skill.as_object_mut())
                    && let Some(reqs) = self.skills.get(&id)
                {
                    s.insert("securityRequirements".into(), json(reqs));
                    skills_left.retain(|k| **k != id);
                }
            }
        }
        if let Some(missing) = skills_left.first() {
            return Err(ConfigError::UnknownSkill((*missing).clone()));
        }
        obj.insert("securitySchemes".into(), json(&self.security_schemes));
        obj.insert(
            "securityRequirements".into(),
            json(&self.security_requirements),
        );
        Ok(())
    }
}

/// This crate's types as JSON; serializing them cannot fail (string keys, no floats).
fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Where a skill's requirement comes from.
enum SkillSource {
    Requirement(ScopeRequirement),
    Routes(Vec<RequireScopes>),
}

/// Builds [`AgentCardSecurity`]; from [`AgentCardSecurity::builder`]. Every setting is
/// checked by [`build`](Self::build).
#[must_use]
pub struct AgentCardSecurityBuilder {
    config: Arc<Config>,
    issuer: Option<String>,
    token_url: Option<String>,
    metadata_url: Option<String>,
    description: Option<String>,
    scopes: Vec<(String, String)>,
    mtls: Option<String>,
    card: ScopeRequirement,
    skills: Vec<(String, SkillSource)>,
}

impl AgentCardSecurityBuilder {
    /// The configured issuer whose authorization server the card names. Needed only when the
    /// validator has several; with one, it is used.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .issuer("https://auth.example.com")
    ///     .token_url("https://auth.example.com/token")
    ///     .build()?;
    /// let oauth2 = &card(&security)["securitySchemes"]["oauth2"]["oauth2SecurityScheme"];
    /// assert_eq!(oauth2["oauth2MetadataUrl"], "https://auth.example.com/.well-known/oauth-authorization-server");
    /// assert!(AgentCardSecurity::builder(&validator).issuer("https://other.example")
    ///     .token_url("https://auth.example.com/token").build().is_err());
    /// # Ok(()) }
    /// ```
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// `tokenUrl`: the authorization server's token endpoint. Takes precedence over
    /// [`discover`](Self::discover). Must be `https` (plain `http` only on a loopback host,
    /// for development): clients send their credentials there.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .build()?;
    /// let flow = &card(&security)["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["flows"];
    /// assert_eq!(flow["clientCredentials"]["tokenUrl"], "https://auth.example.com/token");
    /// let err = AgentCardSecurity::builder(&validator).token_url("http://auth.example.com/token").build();
    /// assert!(matches!(err, Err(a2a_guard::ConfigError::InvalidUrl { .. })));
    /// # Ok(()) }
    /// ```
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// `oauth2MetadataUrl`. Default: the issuer's RFC 8414 §3.1 metadata URL
    /// (`/.well-known/oauth-authorization-server` inserted before the issuer's path), or the
    /// URL [`discover`](Self::discover) read the metadata from; omitted when the issuer is
    /// not an `https` (or loopback `http`) URL. Same URL rules as
    /// [`token_url`](Self::token_url).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .oauth2_metadata_url("https://auth.example.com/.well-known/openid-configuration")
    ///     .build()?;
    /// let oauth2 = &card(&security)["securitySchemes"]["oauth2"]["oauth2SecurityScheme"];
    /// assert_eq!(oauth2["oauth2MetadataUrl"], "https://auth.example.com/.well-known/openid-configuration");
    /// # Ok(()) }
    /// ```
    pub fn oauth2_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.metadata_url = Some(url.into());
        self
    }

    /// The OAuth2 scheme's `description`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .description("Client credentials from the example authorization server")
    ///     .build()?;
    /// let oauth2 = &card(&security)["securitySchemes"]["oauth2"]["oauth2SecurityScheme"];
    /// assert_eq!(oauth2["description"], "Client credentials from the example authorization server");
    /// # Ok(()) }
    /// ```
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// List `scope` in the OAuth2 flow's `scopes` with this description. Scopes the guards
    /// [advertise](Validator::advertise) are listed anyway (with an empty description unless
    /// given here). Must be an RFC 6749 §3.3 scope token.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .scope("read:data", "Read the data set")
    ///     .build()?;
    /// let flow = &card(&security)["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["flows"];
    /// assert_eq!(flow["clientCredentials"]["scopes"]["read:data"], "Read the data set");
    /// # Ok(()) }
    /// ```
    pub fn scope(mut self, scope: impl Into<String>, description: impl Into<String>) -> Self {
        self.scopes.push((scope.into(), description.into()));
        self
    }

    /// Add the mutual-TLS scheme ([`MTLS_SCHEME`]) and require it beside the OAuth2 scheme in
    /// every requirement: declare this when your TLS acceptor verifies client certificates
    /// and passes them on as [`ClientCertificate`](crate::pop::ClientCertificate), so tokens
    /// bound to them (RFC 8705) are checked. Its description is
    /// [`DEFAULT_MTLS_DESCRIPTION`] unless [`mtls_description`](Self::mtls_description).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .certificate_bound_tokens()
    ///     .build()?;
    /// assert!(card(&security)["securitySchemes"]["mtls"]["mtlsSecurityScheme"].is_object());
    /// assert_eq!(card(&security)["securityRequirements"],
    ///     serde_json::json!([{"schemes": {"mtls": {"list": []}, "oauth2": {"list": []}}}]));
    /// # Ok(()) }
    /// ```
    pub fn certificate_bound_tokens(mut self) -> Self {
        self.mtls
            .get_or_insert_with(|| DEFAULT_MTLS_DESCRIPTION.to_owned());
        self
    }

    /// [`certificate_bound_tokens`](Self::certificate_bound_tokens) with another description.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .mtls_description("Client certificates from the agents' CA")
    ///     .build()?;
    /// let mtls = &card(&security)["securitySchemes"]["mtls"]["mtlsSecurityScheme"];
    /// assert_eq!(mtls["description"], "Client certificates from the agents' CA");
    /// # Ok(()) }
    /// ```
    pub fn mtls_description(mut self, text: impl Into<String>) -> Self {
        self.mtls = Some(text.into());
        self
    }

    /// The card-level requirement (`securityRequirements` of the card): what every call
    /// needs. Default: an OAuth2 token with no particular scope (every route behind the
    /// auth layer needs a valid token; skills say which scopes).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .scope("agent:call", "Call this agent at all")
    ///     .requirement("agent:call")
    ///     .build()?;
    /// assert_eq!(card(&security)["securityRequirements"],
    ///     serde_json::json!([{"schemes": {"oauth2": {"list": ["agent:call"]}}}]));
    /// # Ok(()) }
    /// ```
    pub fn requirement(mut self, requirement: impl Into<ScopeRequirement>) -> Self {
        self.card = requirement.into();
        self
    }

    /// The requirement of skill `id` (its `AgentSkill.securityRequirements`), written out.
    /// Every scope it names must be listed in the scheme (advertised or
    /// [described](Self::scope)), or [`build`](Self::build) fails with
    /// [`ConfigError::UnknownScope`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// use a2a_guard::scope::ScopeRequirement;
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .scope("write:reports", "File reports")
    ///     .scope("admin", "Everything")
    ///     .skill("reports", ScopeRequirement::any(["write:reports", "admin"]))
    ///     .build()?;
    /// // Alternatives: either scope will do.
    /// assert_eq!(security.skills["reports"].len(), 2);
    /// assert_eq!(security.skills["reports"][1].schemes["oauth2"].list, ["admin"]);
    /// # Ok(()) }
    /// ```
    pub fn skill(
        mut self,
        id: impl Into<String>,
        requirement: impl Into<ScopeRequirement>,
    ) -> Self {
        self.skills
            .push((id.into(), SkillSource::Requirement(requirement.into())));
        self
    }

    /// The requirement of skill `id` from the guards of the routes it uses: all of them must
    /// pass. A fixed guard gives its requirement, a [template](RequireScopes::template) its
    /// prefix (`read:customers:{region}` needs `read:customers`, which covers every region);
    /// a [computed](RequireScopes::from_fn) guard cannot be known ahead of a request, so
    /// [`build`](Self::build) refuses it (write the requirement out with
    /// [`skill`](Self::skill)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// use a2a_guard::RequireScopes;
    /// let data = validator.advertise(RequireScopes::all(["read:data"]));
    /// let regions = validator.advertise(RequireScopes::template("read:customers:{region}"));
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .skill_routes("data", [&data, &regions])
    ///     .build()?;
    /// assert_eq!(security.skills["data"][0].schemes["oauth2"].list, ["read:data", "read:customers"]);
    /// # Ok(()) }
    /// ```
    pub fn skill_routes<'a>(
        mut self,
        id: impl Into<String>,
        guards: impl IntoIterator<Item = &'a RequireScopes>,
    ) -> Self {
        self.skills.push((
            id.into(),
            SkillSource::Routes(guards.into_iter().cloned().collect()),
        ));
        self
    }

    /// Read the token endpoint (`token_endpoint`) from the issuer's metadata — OIDC
    /// discovery, then RFC 8414, whose `issuer` must match byte for byte — with the
    /// validator's HTTP client and URL rules (the ones its keys are fetched under), and
    /// remember the URL that answered as `oauth2MetadataUrl`. An explicit
    /// [`token_url`](Self::token_url) / [`oauth2_metadata_url`](Self::oauth2_metadata_url)
    /// is kept. Fails with [`ConfigError::Discovery`] when the metadata cannot be read, has
    /// no `token_endpoint`, or lists `grant_types_supported` without `client_credentials`;
    /// an issuer with static keys has no HTTP client to read with.
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use a2a_guard::{Validator, metadata::AgentCardSecurity, testing::TestIssuer};
    /// let issuer = TestIssuer::start().await?;
    /// let validator = Validator::builder().issuer(issuer.issuer()).audience("agent-api").build().await?;
    /// let security = AgentCardSecurity::builder(&validator).discover().await?.build()?;
    /// let json = serde_json::to_value(&security)?;
    /// let oauth2 = &json["securitySchemes"]["oauth2"]["oauth2SecurityScheme"];
    /// assert_eq!(oauth2["flows"]["clientCredentials"]["tokenUrl"], format!("{}/token", issuer.issuer()));
    /// # Ok(()) }
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// ```
    pub async fn discover(mut self) -> Result<Self, ConfigError> {
        if self.token_url.is_some() && self.metadata_url.is_some() {
            return Ok(self);
        }
        let config = self.config.clone();
        let entry = chosen_issuer(&config, self.issuer.as_deref())?;
        let fail = |reason: String| ConfigError::Discovery {
            issuer: entry.issuer.clone(),
            reason,
        };
        let http = entry
            .keys
            .http()
            .ok_or_else(|| fail("the issuer has static keys and no HTTP client".into()))?;
        let (url, doc) = crate::keys::authorization_server_metadata(&entry.issuer, http)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if let Some(grants) = doc.get("grant_types_supported").and_then(Value::as_array)
            && !grants.iter().any(|g| g == "client_credentials")
        {
            return Err(fail(
                "grant_types_supported does not list client_credentials".into(),
            ));
        }
        let token = doc
            .get("token_endpoint")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("no token_endpoint".into()))?;
        self.token_url.get_or_insert_with(|| token.to_owned());
        self.metadata_url.get_or_insert(url);
        Ok(self)
    }

    /// Check everything and produce the members: the token URL is set and `https` (or
    /// loopback `http`), every scope is a scope token, every requirement names only listed
    /// scopes, can be satisfied, and expands to at most [`MAX_REQUIREMENT_ALTERNATIVES`]
    /// entries; no skill id is given twice.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), a2a_guard::ConfigError> {
    /// # use a2a_guard::metadata::AgentCardSecurity;
    /// # let validator = a2a_guard::Validator::builder()
    /// #     .issuer_keys("https://auth.example.com", a2a_guard::jwk::KeySet::from_json(
    /// #         br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?)
    /// #     .audience("agent-api").build().await?;
    /// # let card = |s: &AgentCardSecurity| serde_json::to_value(s).unwrap();
    /// let security = AgentCardSecurity::builder(&validator)
    ///     .token_url("https://auth.example.com/token")
    ///     .skill("pay", "execute:payment") // never advertised nor described
    ///     .build();
    /// assert!(matches!(security, Err(a2a_guard::ConfigError::UnknownScope { .. })));
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<AgentCardSecurity, ConfigError> {
        let entry = chosen_issuer(&self.config, self.issuer.as_deref())?;
        let token_url = self.token_url.ok_or(ConfigError::InvalidSetting {
            name: "AgentCardSecurityBuilder::token_url",
            reason: "the OAuth2 scheme needs a token URL: set it or call discover()",
        })?;
        check_endpoint_url(&token_url)?;
        let metadata_url = match self.metadata_url {
            Some(url) => Some(check_endpoint_url(&url).map(|()| url)?),
            None => crate::keys::rfc8414_url(&entry.issuer)
                .filter(|u| check_endpoint_url(u).is_ok() && entry.issuer.starts_with("http")),
        };

        let mut scopes: BTreeMap<String, String> = self
            .config
            .resources
            .advertised()
            .into_iter()
            .map(|s| (s.as_str().to_owned(), String::new()))
            .collect();
        for (scope, description) in self.scopes {
            Scope::parse(&scope).map_err(|_| ConfigError::InvalidSetting {
                name: "AgentCardSecurityBuilder::scope",
                reason: "not an RFC 6749 §3.3 scope token",
            })?;
            scopes.insert(scope, description);
        }

        let mtls = self.mtls.is_some();
        let entries =
            |req: &ScopeRequirement, context: &str| requirements(req, &scopes, mtls, context);
        let security_requirements = entries(&self.card, "the card")?;
        let mut skills = BTreeMap::new();
        for (id, source) in &self.skills {
            let context = format!("skill \"{id}\"");
            let req = match source {
                SkillSource::Requirement(r) => r.clone(),
                SkillSource::Routes(guards) => ScopeRequirement::All(
                    guards
                        .iter()
                        .map(|g| g.known_requirement())
                        .collect::<Option<Vec<_>>>()
                        .ok_or(ConfigError::InvalidSetting {
                            name: "AgentCardSecurityBuilder::skill_routes",
                            reason: "a computed guard (RequireScopes::from_fn) cannot be \
                                     described ahead of a request: use skill() instead",
                        })?,
                ),
            };
            if skills
                .insert(id.clone(), entries(&req, &context)?)
                .is_some()
            {
                return Err(ConfigError::InvalidSetting {
                    name: "AgentCardSecurityBuilder::skill",
                    reason: "a skill id is given twice",
                });
            }
        }

        let mut flow = ClientCredentialsOAuthFlow::new(token_url);
        flow.scopes = scopes;
        let mut oauth2 = OAuth2SecurityScheme::new(OAuthFlows::ClientCredentials(flow));
        oauth2.description = self.description;
        oauth2.oauth2_metadata_url = metadata_url;
        let mut security_schemes = BTreeMap::new();
        security_schemes.insert(OAUTH2_SCHEME.to_owned(), SecurityScheme::OAuth2(oauth2));
        if let Some(description) = self.mtls {
            security_schemes.insert(
                MTLS_SCHEME.to_owned(),
                SecurityScheme::MutualTls(MutualTlsSecurityScheme {
                    description: Some(description),
                }),
            );
        }
        Ok(AgentCardSecurity {
            security_schemes,
            security_requirements,
            skills,
        })
    }
}

/// The issuer the card names: the one asked for (which must be configured), or the only one.
fn chosen_issuer<'a>(
    config: &'a Config,
    wanted: Option<&str>,
) -> Result<&'a crate::validate::IssuerEntry, ConfigError> {
    match (wanted, &config.issuers[..]) {
        (Some(w), all) => all
            .iter()
            .find(|e| e.issuer == w)
            .ok_or(ConfigError::InvalidSetting {
                name: "AgentCardSecurityBuilder::issuer",
                reason: "not an issuer the validator is configured with",
            }),
        (None, [one]) => Ok(one),
        (None, _) => Err(ConfigError::InvalidSetting {
            name: "AgentCardSecurityBuilder::issuer",
            reason: "the validator has several issuers: choose the one the card names",
        }),
    }
}

/// A URL clients send credentials to or trust: `https`, or `http` on a loopback host
/// (development); absolute, no userinfo, no fragment (A2A: "TLS is required").
fn check_endpoint_url(url: &str) -> Result<(), ConfigError> {
    let bad = |reason| ConfigError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    check_uri_chars(url).map_err(bad)?;
    let parsed = url::Url::parse(url).map_err(|_| bad("not an absolute URL"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("needs a host"));
    }
    match parsed.scheme() {
        "https" => {}
        "http" if crate::keys::is_loopback_url(url) => {}
        _ => return Err(bad("must be https (plain http only on a loopback host)")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry userinfo"));
    }
    if parsed.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    Ok(())
}

/// A requirement as `securityRequirements` entries: its disjunctive normal form, each
/// alternative an OAuth2 entry (plus mTLS when required). Every scope must be listed.
fn requirements(
    req: &ScopeRequirement,
    listed: &BTreeMap<String, String>,
    mtls: bool,
    context: &str,
) -> Result<Vec<SecurityRequirement>, ConfigError> {
    if let Some(unknown) = req
        .scopes()
        .into_iter()
        .find(|s| !listed.contains_key(s.as_str()))
    {
        return Err(ConfigError::UnknownScope {
            scope: unknown.as_str().to_owned(),
            context: context.to_owned(),
        });
    }
    let alternatives = dnf(req).ok_or(ConfigError::InvalidSetting {
        name: "AgentCardSecurityBuilder::skill",
        reason: "a requirement expands to more alternatives than MAX_REQUIREMENT_ALTERNATIVES",
    })?;
    if alternatives.is_empty() {
        return Err(ConfigError::InvalidSetting {
            name: "AgentCardSecurityBuilder::skill",
            reason: "a requirement can never be satisfied (an empty `any`)",
        });
    }
    Ok(alternatives
        .into_iter()
        .map(|scopes| {
            let req = SecurityRequirement::new()
                .scheme(OAUTH2_SCHEME, scopes.iter().map(|s| s.as_str().to_owned()));
            if mtls {
                req.scheme(MTLS_SCHEME, Vec::<String>::new())
            } else {
                req
            }
        })
        .collect())
}

/// Disjunctive normal form: alternatives, each the scopes all needed (in order of first
/// appearance, without repeats); repeated alternatives dropped. `None` past
/// [`MAX_REQUIREMENT_ALTERNATIVES`].
fn dnf(req: &ScopeRequirement) -> Option<Vec<Vec<Scope>>> {
    let out = match req {
        ScopeRequirement::Scope(s) => vec![vec![s.clone()]],
        ScopeRequirement::Any(v) => {
            let mut out: Vec<Vec<Scope>> = Vec::new();
            for r in v {
                for alt in dnf(r)? {
                    if !out.contains(&alt) {
                        out.push(alt);
                    }
                }
                if out.len() > MAX_REQUIREMENT_ALTERNATIVES {
                    return None;
                }
            }
            out
        }
        ScopeRequirement::All(v) => {
            let mut out: Vec<Vec<Scope>> = vec![Vec::new()];
            for r in v {
                let right = dnf(r)?;
                if out.len().saturating_mul(right.len()) > MAX_REQUIREMENT_ALTERNATIVES {
                    return None;
                }
                let mut next = Vec::with_capacity(out.len() * right.len());
                for left in &out {
                    for alt in &right {
                        let mut both = left.clone();
                        both.extend(alt.iter().filter(|s| !left.contains(s)).cloned());
                        if !next.contains(&both) {
                            next.push(both);
                        }
                    }
                }
                out = next;
            }
            out
        }
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(alts: Vec<Vec<Scope>>) -> Vec<Vec<String>> {
        alts.into_iter()
            .map(|a| a.iter().map(|s| s.as_str().to_owned()).collect())
            .collect()
    }

    #[test]
    fn requirements_become_alternatives_of_conjunctions() {
        let req = ScopeRequirement::all([
            ScopeRequirement::from("read:data"),
            ScopeRequirement::any(["write:reports", "admin"]),
        ]);
        assert_eq!(
            names(dnf(&req).unwrap()),
            [["read:data", "write:reports"], ["read:data", "admin"]]
        );
        assert_eq!(
            names(dnf(&ScopeRequirement::any(["a", "b", "a"])).unwrap()),
            [["a"], ["b"]]
        );
        // all([]) needs nothing: one alternative with no scope; any([]) can never hold.
        assert_eq!(
            dnf(&ScopeRequirement::all(Vec::<ScopeRequirement>::new())).unwrap(),
            [Vec::<Scope>::new()]
        );
        assert!(
            dnf(&ScopeRequirement::any(Vec::<ScopeRequirement>::new()))
                .unwrap()
                .is_empty()
        );
        // A scope needed twice is listed once.
        assert_eq!(
            names(dnf(&ScopeRequirement::all(["a", "a"])).unwrap()),
            [["a"]]
        );
    }

    #[test]
    fn expansion_is_bounded() {
        // (a1|a2) & (b1|b2) & ... six pairs: 64 alternatives > 32.
        let pairs = (0..6).map(|i| ScopeRequirement::any([format!("a{i}"), format!("b{i}")]));
        assert!(dnf(&ScopeRequirement::all(pairs.clone().take(5))).is_some());
        assert!(dnf(&ScopeRequirement::all(pairs)).is_none());
    }

    #[test]
    fn endpoint_urls() {
        for ok in [
            "https://auth.example.com/token",
            "http://127.0.0.1:8080/token",
            "http://localhost/token",
            "http://[::1]:9/t",
        ] {
            assert!(check_endpoint_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://auth.example.com/token",
            "ftp://auth.example.com/token",
            "https://user:pw@auth.example.com/token",
            "https://auth.example.com/token#frag",
            "/token",
            "https://auth.example.com/to ken",
            "",
        ] {
            assert!(
                matches!(check_endpoint_url(bad), Err(ConfigError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }
}
