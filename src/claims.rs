//! Typed claims: [`RegisteredClaims`] and [`Principal<C>`].
//!
//! The payload is parsed once into a JSON tree (rejecting duplicate member names at every
//! level, RFC 7515 §4 / RFC 8725 §3.8 style strictness); the registered claims and the user's
//! own `C` are both read from that tree.

use std::fmt;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::scope::ScopeSet;

/// The default custom-claims type: every claim of the token, as JSON.
pub type ExtraClaims = Map<String, Value>;

/// The `aud` claim: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// No `aud`.
    #[default]
    None,
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

/// A direct visitor rather than `#[serde(untagged)]`, which buffers the value and builds
/// an error per variant tried, on every token.
impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Audience, E> {
                Ok(Audience::None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Audience, E> {
                Ok(Audience::None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(a) = seq.next_element::<String>()? {
                    v.push(a);
                }
                Ok(Audience::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Audience {
    /// The audiences, whichever form the claim took.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&String>, &[String]) = match self {
            Audience::None => (None, &[]),
            Audience::One(a) => (Some(a), &[]),
            Audience::Many(v) => (None, v),
        };
        one.into_iter().chain(many).map(String::as_str)
    }

    /// Whether `aud` names this audience (byte-for-byte).
    pub fn contains(&self, aud: &str) -> bool {
        self.iter().any(|a| a == aud)
    }
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch. Fractions are truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct NumericDate(pub i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Number::deserialize(d)?;
        if let Some(i) = v.as_i64() {
            return Ok(NumericDate(i));
        }
        match v.as_f64() {
            Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(NumericDate(f as i64)),
            _ => Err(de::Error::custom("NumericDate out of range")),
        }
    }
}

/// An actor in an RFC 8693 §4.1 delegation chain (`act`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The acting party.
    pub sub: Option<String>,
    /// The actor's issuer, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The client the actor used, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The actor before this one (informational only, RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// The confirmation claim (RFC 7800), for proof-of-possession tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// RFC 8705 §3.1: SHA-256 thumbprint of the client certificate.
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    /// RFC 9449 §6.1: JWK SHA-256 thumbprint of the DPoP key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// The `scp` claim: an array of scope tokens, or (as some issuers send) one string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScpClaim {
    /// A space-separated string.
    String(String),
    /// An array of scope tokens.
    Array(Vec<String>),
}

/// The registered and OAuth-profile claims a resource server checks (RFC 7519 §4.1,
/// RFC 9068 §2.2, RFC 8693 §4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisteredClaims {
    /// Issuer.
    pub iss: Option<String>,
    /// Subject: the agent or user the token is about.
    pub sub: Option<String>,
    /// Audience.
    #[serde(default)]
    pub aud: Audience,
    /// Expiry.
    pub exp: Option<NumericDate>,
    /// Not before.
    pub nbf: Option<NumericDate>,
    /// Issued at.
    pub iat: Option<NumericDate>,
    /// Token id.
    pub jti: Option<String>,
    /// The OAuth client the token was issued to (RFC 9068 §2.2).
    pub client_id: Option<String>,
    /// Authorized party (OIDC).
    pub azp: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// Scopes as an array (Azure AD, Okta style).
    pub scp: Option<ScpClaim>,
    /// The current actor of a delegated token (RFC 8693 §4.1).
    pub act: Option<Actor>,
    /// Proof-of-possession confirmation (RFC 7800).
    pub cnf: Option<Confirmation>,
}

/// A verified token's identity: registered claims, the caller's own claims `C`, and the
/// parsed scopes. It goes into request extensions for handlers.
///
/// ```
/// # use a2a_guard::{Principal, claims::RegisteredClaims, scope::ScopeSet};
/// fn handler(p: &Principal) {
///     println!("{:?} acting for {:?} with {}", p.actor().and_then(|a| a.sub.as_deref()), p.subject(), p.scopes());
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Principal<C = ExtraClaims> {
    pub(crate) registered: RegisteredClaims,
    pub(crate) custom: C,
    pub(crate) scopes: ScopeSet,
}

impl<C> Principal<C> {
    /// The registered claims.
    pub fn registered(&self) -> &RegisteredClaims {
        &self.registered
    }

    /// The caller's own claims, as `C`.
    pub fn claims(&self) -> &C {
        &self.custom
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.registered.sub.as_deref()
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.registered.iss.as_deref()
    }

    /// `client_id`, or `azp` when there is no `client_id`.
    pub fn client_id(&self) -> Option<&str> {
        self.registered
            .client_id
            .as_deref()
            .or(self.registered.azp.as_deref())
    }

    /// `jti`.
    pub fn jti(&self) -> Option<&str> {
        self.registered.jti.as_deref()
    }

    /// `exp` in seconds since the epoch (always present on a validated token).
    pub fn expires_at(&self) -> i64 {
        self.registered.exp.map_or(0, |d| d.0)
    }

    /// The current actor (the outermost `act`, RFC 8693 §4.1), if the token is delegated.
    pub fn actor(&self) -> Option<&Actor> {
        self.registered.act.as_ref()
    }

    /// The whole delegation chain, current actor first, back to the earliest actor.
    pub fn delegation_chain(&self) -> impl Iterator<Item = &Actor> {
        std::iter::successors(self.registered.act.as_ref(), |a| a.act.as_deref())
    }

    /// Split into registered claims, custom claims and scopes.
    pub fn into_parts(self) -> (RegisteredClaims, C, ScopeSet) {
        (self.registered, self.custom, self.scopes)
    }
}

/// Parse JSON into a `Value`, rejecting duplicate member names at every depth and
/// nesting deeper than [`MAX_DEPTH`].
pub(crate) fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictValue::deserialize(&mut de)?;
    de.end()?;
    Ok(v.0)
}

/// The deepest JSON nesting accepted in a header or payload (serde_json's own limit is 128).
pub(crate) const MAX_DEPTH: usize = 32;

struct StrictValue(Value);

struct StrictVisitor(usize);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor(0)).map(StrictValue)
    }
}

struct Seeded(usize);

impl<'de> de::DeserializeSeed<'de> for Seeded {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.0 > MAX_DEPTH {
            return Err(de::Error::custom("JSON nested too deeply"));
        }
        d.deserialize_any(StrictVisitor(self.0))
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(Seeded(self.0 + 1))? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let v = map.next_value_seed(Seeded(self.0 + 1))?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// Read `T` from an already-parsed tree without cloning it.
pub(crate) fn from_tree<T: DeserializeOwned>(v: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_rejected_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_strict(br#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(parse_strict(br#"{"a":[{"b":1,"b":1}]}"#).is_err());
        assert!(parse_strict(br#"{"a":1,"b":2}"#).is_ok());
        assert!(parse_strict(br#"{"a":1} x"#).is_err());
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(parse_strict(deep.as_bytes()).is_err());
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse_strict(ok.as_bytes()).is_ok());
    }

    #[test]
    fn audience_forms() {
        let one: RegisteredClaims = serde_json::from_str(r#"{"aud":"a"}"#).unwrap();
        let many: RegisteredClaims = serde_json::from_str(r#"{"aud":["b","a"]}"#).unwrap();
        let none: RegisteredClaims = serde_json::from_str(r#"{}"#).unwrap();
        assert!(one.aud.contains("a") && many.aud.contains("a") && !none.aud.contains("a"));
        assert!(serde_json::from_str::<RegisteredClaims>(r#"{"aud":5}"#).is_err());
    }

    #[test]
    fn numeric_dates() {
        let c: RegisteredClaims = serde_json::from_str(r#"{"exp":1.9e9,"iat":10}"#).unwrap();
        assert_eq!(c.exp, Some(NumericDate(1_900_000_000)));
        assert!(serde_json::from_str::<RegisteredClaims>(r#"{"exp":"10"}"#).is_err());
        assert!(serde_json::from_str::<RegisteredClaims>(r#"{"exp":1e300}"#).is_err());
    }

    #[test]
    fn delegation_chain_order() {
        let c: RegisteredClaims = serde_json::from_str(
            r#"{"sub":"user","act":{"sub":"specialist","act":{"sub":"orchestrator"}}}"#,
        )
        .unwrap();
        let p = Principal {
            registered: c,
            custom: (),
            scopes: ScopeSet::default(),
        };
        let chain: Vec<_> = p
            .delegation_chain()
            .map(|a| a.sub.as_deref().unwrap())
            .collect();
        assert_eq!(chain, ["specialist", "orchestrator"]);
        assert_eq!(p.actor().unwrap().sub.as_deref(), Some("specialist"));
    }
}
