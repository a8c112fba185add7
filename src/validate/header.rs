//! The JOSE header (RFC 7515 §4): parsed strictly, and only the members a verifier may use.

use std::borrow::Cow;

use serde::Deserialize;

use crate::claims::check_strict;

use crate::{Algorithm, AuthError};

/// What the verifier takes from a token header. `jku`, `x5u`, `jwk` and `x5c` are never read:
/// keys come only from the configured issuer (RFC 8725 §3.10, CVE-2018-0114).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    /// `typ`, normalised (see [`normalize_typ`]).
    pub(crate) typ: Option<String>,
}

/// RFC 7515 §4.1.9: `typ` compares case-insensitively and `application/` may be omitted.
pub(crate) fn normalize_typ(t: &str) -> String {
    let lower = t.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

/// The members a verifier reads, borrowed from the decoded header where possible. Duplicate
/// members among these are an error (serde's derive); unknown members are skipped unread.
#[derive(serde::Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cty: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
}

/// `true` whenever the member exists, whatever its value (even `null`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

pub(crate) fn parse(json: &[u8], allowed: &[Algorithm]) -> Result<Header, AuthError> {
    // Duplicate member names are refused at every depth, read or not (RFC 7515 §4 allows
    // either refusing or last-wins; refusing leaves no room for parser differentials). The
    // check builds no tree; the members read are then borrowed from the decoded header.
    let stats =
        check_strict(json).map_err(|_| AuthError::Malformed("the header is not valid JSON"))?;
    if !stats.top_object {
        return Err(AuthError::Malformed("the header is not a JSON object"));
    }
    let raw: RawHeader<'_> = serde_json::from_slice(json)
        .map_err(|_| AuthError::Malformed("the header is not a valid JOSE header"))?;
    let alg = raw
        .alg
        .ok_or(AuthError::Malformed("the header has no `alg`"))?
        .parse::<Algorithm>()
        .map_err(|_| AuthError::DisallowedAlgorithm)?;
    if !allowed.contains(&alg) {
        return Err(AuthError::DisallowedAlgorithm);
    }
    // RFC 7515 §4.1.11: a recipient must reject a token whose `crit` names an extension it
    // does not understand. This verifier understands none.
    if raw.crit {
        return Err(AuthError::UnsupportedHeader(
            "`crit` names an extension this verifier does not support",
        ));
    }
    // RFC 7797: unencoded payloads change what is signed; refuse rather than misread.
    if raw.b64 {
        return Err(AuthError::UnsupportedHeader("`b64` is not supported"));
    }
    // RFC 7519 §5.2: `cty: JWT` marks a nested token; an access token is never nested
    // (RFC 8725 §3.11 explicit typing), so refuse rather than validate the outer layer only.
    if raw.cty.is_some_and(|c| normalize_typ(&c) == "jwt") {
        return Err(AuthError::UnsupportedHeader("nested JWTs are not accepted"));
    }
    Ok(Header {
        alg,
        kid: raw.kid.map(Cow::into_owned),
        typ: raw.typ.map(|t| normalize_typ(&t)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Header, AuthError> {
        parse(s.as_bytes(), &Algorithm::ALL)
    }

    #[test]
    fn header_rules() {
        assert_eq!(
            p(r#"{"alg":"RS256","typ":"AT+JWT","kid":"k"}"#)
                .unwrap()
                .typ
                .as_deref(),
            Some("at+jwt")
        );
        assert_eq!(
            p(r#"{"alg":"RS256","typ":"application/at+jwt"}"#)
                .unwrap()
                .typ
                .as_deref(),
            Some("at+jwt")
        );
        for none in ["none", "None", "NONE", "nOnE", "HS256", "HS512"] {
            assert_eq!(
                p(&format!(r#"{{"alg":"{none}"}}"#)),
                Err(AuthError::DisallowedAlgorithm)
            );
        }
        assert_eq!(
            parse(br#"{"alg":"ES256"}"#, &[Algorithm::RS256]),
            Err(AuthError::DisallowedAlgorithm)
        );
        assert!(matches!(
            p(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#),
            Err(AuthError::UnsupportedHeader(_))
        ));
        assert!(matches!(
            p(r#"{"alg":"RS256","crit":[]}"#),
            Err(AuthError::UnsupportedHeader(_))
        ));
        assert!(matches!(
            p(r#"{"alg":"RS256","cty":"JWT"}"#),
            Err(AuthError::UnsupportedHeader(_))
        ));
        assert!(matches!(
            p(r#"{"alg":"RS256","cty":"jwt"}"#),
            Err(AuthError::UnsupportedHeader(_))
        ));
        assert!(p(r#"{"alg":"RS256","cty":"json"}"#).is_ok());
        assert!(matches!(
            p(r#"{"alg":"RS256","b64":false}"#),
            Err(AuthError::UnsupportedHeader(_))
        ));
        assert!(matches!(
            p(r#"{"alg":"RS256","alg":"RS256"}"#),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(p(r#"{"alg":256}"#), Err(AuthError::Malformed(_))));
        assert!(matches!(
            p(r#"{"typ":"at+jwt"}"#),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            p(r#"{"alg":"RS256","kid":1}"#),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(p(r#"["alg"]"#), Err(AuthError::Malformed(_))));
        // Embedded keys and key URLs are ignored, never followed.
        let h = p(r#"{"alg":"RS256","jku":"http://evil","x5u":"http://evil","jwk":{"kty":"oct"},"x5c":["AA"]}"#).unwrap();
        assert_eq!(h.alg, Algorithm::RS256);
    }
}
