//! The JOSE header (RFC 7515 §4): parsed strictly, and only the members a verifier may use.

use serde_json::Value;

use crate::claims::parse_strict;
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

pub(crate) fn parse(json: &[u8], allowed: &[Algorithm]) -> Result<Header, AuthError> {
    let v = parse_strict(json).map_err(|_| AuthError::Malformed("the header is not valid JSON"))?;
    let obj = v
        .as_object()
        .ok_or(AuthError::Malformed("the header is not a JSON object"))?;
    let alg = match obj.get("alg") {
        Some(Value::String(s)) => s
            .parse::<Algorithm>()
            .map_err(|_| AuthError::DisallowedAlgorithm)?,
        Some(_) => return Err(AuthError::Malformed("`alg` is not a string")),
        None => return Err(AuthError::Malformed("the header has no `alg`")),
    };
    if !allowed.contains(&alg) {
        return Err(AuthError::DisallowedAlgorithm);
    }
    // RFC 7515 §4.1.11: a recipient must reject a token whose `crit` names an extension it
    // does not understand. This verifier understands none.
    if obj.contains_key("crit") {
        return Err(AuthError::UnsupportedHeader(
            "`crit` names an extension this verifier does not support",
        ));
    }
    // RFC 7797: unencoded payloads change what is signed; refuse rather than misread.
    if obj.contains_key("b64") {
        return Err(AuthError::UnsupportedHeader("`b64` is not supported"));
    }
    // RFC 7519 §5.2: `cty: JWT` marks a nested token; an access token is never nested
    // (RFC 8725 §3.11 explicit typing), so refuse rather than validate the outer layer only.
    match obj.get("cty") {
        None => {}
        Some(Value::String(c)) if !normalize_typ(c).eq("jwt") => {}
        Some(Value::String(_)) => {
            return Err(AuthError::UnsupportedHeader("nested JWTs are not accepted"));
        }
        Some(_) => return Err(AuthError::Malformed("`cty` is not a string")),
    }
    let string = |name: &'static str| match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AuthError::Malformed(match name {
            "kid" => "`kid` is not a string",
            _ => "`typ` is not a string",
        })),
    };
    let kid = string("kid")?;
    let typ = string("typ")?.map(|t| normalize_typ(&t));
    Ok(Header { alg, kid, typ })
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
