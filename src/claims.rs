//! Typed claims: [`RegisteredClaims`] and [`Principal<C>`].
//!
//! Before the signature is checked only the payload's `iss` is read (borrowed, everything
//! else skipped). After it verifies, one strict pass rejects duplicate member names at every
//! level, nesting deeper than 32 and more than [`MAX_JSON_NODES`] values (RFC 7515 §4 /
//! RFC 8725 §3.8 style strictness). With the default [`ExtraClaims`] that pass builds the
//! map handed to you (moved, not rebuilt); with your own `C` the tree is moved into `C`. The
//! registered claims are read from the same tree.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
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
    /// Proof-of-possession confirmation (RFC 7800). When present it is an object with at
    /// least one member this crate enforces (`x5t#S256`, `jkt`); otherwise the token is
    /// refused (fail closed).
    #[serde(default, deserialize_with = "cnf_understood")]
    pub cnf: Option<Confirmation>,
    /// Authentication context class reference (OIDC Core §2, RFC 9068 §2.2.1): how strongly
    /// the user behind the token authenticated. Read by
    /// [`RequireAuthStrength`](crate::RequireAuthStrength) (RFC 9470).
    pub acr: Option<String>,
    /// When the user behind the token authenticated (OIDC Core §2, RFC 9068 §2.2.1).
    pub auth_time: Option<NumericDate>,
    /// Session id (OpenID Front-/Back-Channel Logout), read by revocation epochs.
    pub sid: Option<String>,
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
///
/// A `Principal` is a shared handle: cloning it (what the axum extractor does per request)
/// bumps a reference count, it never copies the claims. The verified-token cache, the
/// request extensions and every extractor share one allocation per verified token.
pub struct Principal<C = ExtraClaims>(Arc<PrincipalInner<C>>);

#[derive(Debug)]
pub(crate) struct PrincipalInner<C> {
    pub(crate) registered: RegisteredClaims,
    pub(crate) custom: C,
    pub(crate) scopes: ScopeSet,
}

impl<C> Clone for Principal<C> {
    fn clone(&self) -> Self {
        Principal(Arc::clone(&self.0))
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for Principal<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("registered", &self.0.registered)
            .field("custom", &self.0.custom)
            .field("scopes", &self.0.scopes)
            .finish()
    }
}

impl<C> Principal<C> {
    pub(crate) fn new(registered: RegisteredClaims, custom: C, scopes: ScopeSet) -> Self {
        Principal(Arc::new(PrincipalInner {
            registered,
            custom,
            scopes,
        }))
    }

    /// The shared allocation, for the claims-type-free view the layer keeps beside it.
    pub(crate) fn shared(&self) -> &Arc<PrincipalInner<C>> {
        &self.0
    }

    /// The registered claims.
    pub fn registered(&self) -> &RegisteredClaims {
        &self.0.registered
    }

    /// The caller's own claims, as `C`.
    pub fn claims(&self) -> &C {
        &self.0.custom
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &ScopeSet {
        &self.0.scopes
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.0.registered.sub.as_deref()
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.0.registered.iss.as_deref()
    }

    /// `client_id`, or `azp` when there is no `client_id`.
    pub fn client_id(&self) -> Option<&str> {
        self.0
            .registered
            .client_id
            .as_deref()
            .or(self.0.registered.azp.as_deref())
    }

    /// `jti`.
    pub fn jti(&self) -> Option<&str> {
        self.0.registered.jti.as_deref()
    }

    /// `exp` in seconds since the epoch (always present on a validated token).
    pub fn expires_at(&self) -> i64 {
        self.0.registered.exp.map_or(0, |d| d.0)
    }

    /// The current actor (the outermost `act`, RFC 8693 §4.1), if the token is delegated.
    pub fn actor(&self) -> Option<&Actor> {
        self.0.registered.act.as_ref()
    }

    /// The whole delegation chain, current actor first, back to the earliest actor.
    pub fn delegation_chain(&self) -> impl Iterator<Item = &Actor> {
        std::iter::successors(self.0.registered.act.as_ref(), |a| a.act.as_deref())
    }

    /// Split into registered claims, custom claims and scopes: moved out when this is the
    /// last handle, cloned otherwise.
    pub fn into_parts(self) -> (RegisteredClaims, C, ScopeSet)
    where
        C: Clone,
    {
        match Arc::try_unwrap(self.0) {
            Ok(p) => (p.registered, p.custom, p.scopes),
            Err(p) => (p.registered.clone(), p.custom.clone(), p.scopes.clone()),
        }
    }
}

/// Parse JSON into a `Value`, rejecting duplicate member names at every depth, nesting
/// deeper than [`MAX_DEPTH`] and more than [`MAX_JSON_NODES`] values.
pub(crate) fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    parse_strict_counted(bytes).map(|(v, _)| v)
}

/// [`parse_strict`], also returning what the tree is made of.
pub(crate) fn parse_strict_counted(bytes: &[u8]) -> Result<(Value, JsonStats), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut stats = JsonStats::default();
    let v = de::DeserializeSeed::deserialize(
        Build {
            stats: &mut stats,
            depth: 0,
        },
        &mut de,
    )?;
    de.end()?;
    stats.top_object = v.is_object();
    Ok((v, stats))
}

/// The deepest JSON nesting accepted in a header or payload (serde_json's own limit is 128).
pub(crate) const MAX_DEPTH: usize = 32;

/// The most JSON values (objects, arrays, strings, numbers, literals; member names are not
/// counted) accepted in one header or payload. A parsed tree costs up to ~100 bytes per
/// value, so this bounds it whatever [`max_token_size`](crate::ValidatorBuilder::max_token_size)
/// allows; the default token size cap (16 KiB) admits at most ~6 000 values. A token over
/// the cap is refused as malformed.
///
/// ```
/// assert_eq!(a2a_guard::claims::MAX_JSON_NODES, 10_000);
/// ```
pub const MAX_JSON_NODES: usize = 10_000;

/// Maps with more members than this are checked for duplicates by sorting their names once,
/// not by comparing each new name with every earlier one (no quadratic work on hostile input).
const LINEAR_DUPLICATE_CHECK: usize = 16;

/// What a strict pass saw: enough to estimate the heap of the claims read from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JsonStats {
    /// Values of any kind, nested ones included.
    pub(crate) nodes: usize,
    /// Objects among them.
    pub(crate) objects: usize,
    /// Members of all objects.
    pub(crate) members: usize,
    /// Bytes of strings and member names.
    pub(crate) string_bytes: usize,
    /// Whether the top-level value is an object.
    pub(crate) top_object: bool,
}

impl JsonStats {
    fn node<E: de::Error>(&mut self) -> Result<(), E> {
        self.nodes += 1;
        if self.nodes > MAX_JSON_NODES {
            return Err(de::Error::custom("too many JSON values"));
        }
        Ok(())
    }
}

fn too_deep<E: de::Error>(depth: usize) -> Result<(), E> {
    if depth > MAX_DEPTH {
        return Err(de::Error::custom("JSON nested too deeply"));
    }
    Ok(())
}

/// Builds a strict tree: the seed of one value at `depth`.
struct Build<'s> {
    stats: &'s mut JsonStats,
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for Build<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        too_deep(self.depth)?;
        self.stats.node()?;
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_> {
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
        self.stats.string_bytes += v.len();
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        self.stats.string_bytes += v.len();
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(Build {
            stats: &mut *self.stats,
            depth: self.depth + 1,
        })? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.stats.objects += 1;
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            self.stats.members += 1;
            self.stats.string_bytes += k.len();
            let v = map.next_value_seed(Build {
                stats: &mut *self.stats,
                depth: self.depth + 1,
            })?;
            // One search per member: the entry is vacant unless the name is a duplicate.
            match m.entry(k) {
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(v);
                }
                serde_json::map::Entry::Occupied(_) => {
                    return Err(de::Error::custom("duplicate member name"));
                }
            }
        }
        Ok(Value::Object(m))
    }
}

/// Check JSON as strictly as [`parse_strict`] without building a tree (for the header,
/// whose few members are then read borrowed). Member names are borrowed from the input
/// where they have no escapes; one scratch list serves every object.
pub(crate) fn check_strict(bytes: &[u8]) -> Result<JsonStats, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut cx = CheckCx {
        stats: JsonStats::default(),
        names: Vec::new(),
    };
    let top = de::DeserializeSeed::deserialize(
        Check {
            cx: &mut cx,
            depth: 0,
        },
        &mut de,
    )?;
    de.end()?;
    cx.stats.top_object = top;
    Ok(cx.stats)
}

struct CheckCx<'de> {
    stats: JsonStats,
    /// Member names of the objects being read, innermost last.
    names: Vec<Cow<'de, str>>,
}

/// Checks one value; yields whether it was an object.
struct Check<'c, 'de> {
    cx: &'c mut CheckCx<'de>,
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for Check<'_, 'de> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        too_deep(self.depth)?;
        self.cx.stats.node()?;
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        self.cx.stats.string_bytes += v.len();
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq
            .next_element_seed(Check {
                cx: &mut *self.cx,
                depth: self.depth + 1,
            })?
            .is_some()
        {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let cx = self.cx;
        cx.stats.objects += 1;
        let base = cx.names.len();
        while let Some(Name(k)) = map.next_key()? {
            let here = &cx.names[base..];
            if here.len() < LINEAR_DUPLICATE_CHECK && here.contains(&k) {
                return Err(de::Error::custom("duplicate member name"));
            }
            cx.stats.members += 1;
            cx.stats.string_bytes += k.len();
            map.next_value_seed(Check {
                cx: &mut *cx,
                depth: self.depth + 1,
            })?;
            cx.names.push(k);
        }
        let here = &mut cx.names[base..];
        if here.len() > LINEAR_DUPLICATE_CHECK {
            here.sort_unstable();
            if here.windows(2).any(|w| w[0] == w[1]) {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        cx.names.truncate(base);
        Ok(true)
    }
}

/// A string borrowed from the input when it has no escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The unverified `iss` of a payload, read before the signature is checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UnverifiedIss<'a> {
    /// The payload is JSON but not an object.
    NotAnObject,
    /// No `iss` member.
    Missing,
    /// `iss` is not a string.
    NotAString,
    /// `iss`, borrowed from the payload where it has no escapes.
    Found(Cow<'a, str>),
}

/// Read only `iss` from a payload; every other member is skipped unread (no allocation, no
/// tree: RFC 8725 §3.11 has the unverified issuer select the key, nothing else). A duplicate
/// top-level `iss` is an error here; every other strictness rule runs after the signature.
pub(crate) fn read_unverified_iss(bytes: &[u8]) -> Result<UnverifiedIss<'_>, serde_json::Error> {
    struct Top;
    impl<'de> Visitor<'de> for Top {
        type Value = UnverifiedIss<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(UnverifiedIss::NotAnObject)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(UnverifiedIss::NotAnObject)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(UnverifiedIss::NotAnObject)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(UnverifiedIss::NotAnObject)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(UnverifiedIss::NotAnObject)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(UnverifiedIss::NotAnObject)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok(UnverifiedIss::NotAnObject)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut iss = UnverifiedIss::Missing;
            while let Some(Name(k)) = map.next_key()? {
                if k != "iss" {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
                if iss != UnverifiedIss::Missing {
                    return Err(de::Error::custom("duplicate member name"));
                }
                iss = match map.next_value::<IssValue<'de>>()? {
                    IssValue(Some(s)) => UnverifiedIss::Found(s),
                    IssValue(None) => UnverifiedIss::NotAString,
                };
            }
            Ok(iss)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let iss = de.deserialize_any(Top)?;
    de.end()?;
    Ok(iss)
}

/// A string, or `None` for any other JSON value (consumed unread).
struct IssValue<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for IssValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IssValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(IssValue(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(IssValue(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(IssValue(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(IssValue(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(IssValue(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(IssValue(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(IssValue(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(IssValue(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(IssValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// RFC 7800 §3 / §3.1: `cnf` must be an object, and a verifier that understands none of
/// its confirmation members cannot enforce the binding. Understood: `x5t#S256` (RFC 8705
/// §3.1) and `jkt` (RFC 9449 §6.1), names compared exactly. Anything else alone (`jwk`,
/// `kid`, `jku`, `X5T#S256`, an empty object) fails closed, as an unknown `crit` does, rather
/// than letting a bound token pass as a plain bearer token.
fn cnf_understood<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Confirmation>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Confirmation;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a `cnf` object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Confirmation, A::Error> {
            let mut c = Confirmation::default();
            while let Some(Name(k)) = map.next_key()? {
                let slot = match &*k {
                    "x5t#S256" => &mut c.x5t_s256,
                    "jkt" => &mut c.jkt,
                    _ => {
                        map.next_value::<de::IgnoredAny>()?;
                        continue;
                    }
                };
                if slot.is_some() {
                    return Err(de::Error::custom("duplicate member in `cnf`"));
                }
                *slot = Some(map.next_value::<String>().map_err(|_| {
                    de::Error::custom("a `cnf` confirmation member is not a string")
                })?);
            }
            if c.x5t_s256.is_none() && c.jkt.is_none() {
                return Err(de::Error::custom(
                    "`cnf` has no confirmation method this verifier understands",
                ));
            }
            Ok(c)
        }
    }
    d.deserialize_map(V).map(Some)
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
        let p = Principal::new(c, (), ScopeSet::default());
        let chain: Vec<_> = p
            .delegation_chain()
            .map(|a| a.sub.as_deref().unwrap())
            .collect();
        assert_eq!(chain, ["specialist", "orchestrator"]);
        assert_eq!(p.actor().unwrap().sub.as_deref(), Some("specialist"));
    }
}
