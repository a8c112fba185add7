//! Bearer token extraction from `Authorization` (RFC 6750 §2.1).

use http::{HeaderMap, header::AUTHORIZATION};

use crate::AuthError;

/// Where a request's credentials stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// No `Authorization` header, or one with another scheme (e.g. `Basic`).
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: DPoP <token>` (RFC 9449 §7.1); the proof is checked separately.
    Dpop(&'a str),
}

/// Read the bearer token of a request.
///
/// Rules (RFC 6750 §2.1, RFC 7235 §2.1): the scheme compares case-insensitively; exactly
/// one `Authorization` header; one space-separated token of `token68` characters
/// (`A-Z a-z 0-9 - . _ ~ + /` then `=` padding); nothing after it. A query-string
/// `access_token` (RFC 6750 §2.3) is refused: tokens in URLs end up in logs. The name is
/// compared form-decoded, trimmed and in any ASCII case, with `&` or `;` between
/// parameters, so `access%5Ftoken=`, `ACCESS_TOKEN=` and `+access_token=` are refused too.
///
/// ```
/// use a2a_guard::bearer::{Credentials, extract};
/// use http::HeaderMap;
/// let mut h = HeaderMap::new();
/// h.insert("authorization", "bEaReR abc.def.ghi".parse().unwrap());
/// assert_eq!(extract(&h, None), Ok(Credentials::Bearer("abc.def.ghi")));
/// h.insert("authorization", "Bearer a b".parse().unwrap());
/// assert!(extract(&h, None).is_err());
/// assert_eq!(extract(&HeaderMap::new(), None), Ok(Credentials::None));
/// assert!(extract(&HeaderMap::new(), Some("access%5Ftoken=abc")).is_err());
/// ```
pub fn extract<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<Credentials<'a>, AuthError> {
    let credentials = read(headers, query)?;
    if let Credentials::Bearer(t) | Credentials::Dpop(t) = credentials {
        check(t)?;
    }
    Ok(credentials)
}

/// [`extract`] without the `token68` check of the token's characters, which the caller
/// owes: [`check`] before the token is used for anything but an exact comparison with a
/// token already verified (the auth layer's cache-hit path, where the match itself shows
/// the characters are right).
pub(crate) fn read<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<Credentials<'a>, AuthError> {
    if query.is_some_and(has_access_token_param) {
        return Err(AuthError::InvalidRequest(
            "tokens in the query string are not accepted",
        ));
    }
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(Credentials::None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    // Work on bytes: one pass with a lookup table (the token68 check implies ASCII).
    let value = value.as_bytes();
    let split = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
    let (scheme, rest) = value.split_at(split);
    let dpop = scheme.eq_ignore_ascii_case(b"dpop");
    if !dpop && !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(Credentials::None);
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let token = &rest[start..];
    if token.is_empty() {
        return Err(AuthError::InvalidRequest(
            "the authorization scheme carries no token",
        ));
    }
    // Bytes that are not UTF-8 are not `token68` either: that is the error to report.
    let token = std::str::from_utf8(token).map_err(|_| {
        check_token68(token)
            .err()
            .unwrap_or(AuthError::InvalidRequest(
                "the token has characters outside token68",
            ))
    })?;
    Ok(if dpop {
        Credentials::Dpop(token)
    } else {
        Credentials::Bearer(token)
    })
}

/// The `token68` body characters (RFC 7235 §2.1): `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`.
const TOKEN68: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    t
};

/// The `token68` check [`read`] leaves out (RFC 7235 §2.1).
pub(crate) fn check(token: &str) -> Result<(), AuthError> {
    check_token68(token.as_bytes())
}

/// Whether every byte is a `token68` body character: eight bytes per step, without a branch
/// per byte (a 900-byte token is checked on every request, before any cache can answer).
fn all_token68(body: &[u8]) -> bool {
    let mut chunks = body.chunks_exact(8);
    let mut ok = true;
    for c in &mut chunks {
        ok &= c.iter().fold(true, |ok, &b| ok & TOKEN68[b as usize]);
    }
    chunks
        .remainder()
        .iter()
        .fold(ok, |ok, &b| ok & TOKEN68[b as usize])
}

/// RFC 7235 §2.1: `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn check_token68(token: &[u8]) -> Result<(), AuthError> {
    let pad = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - pad];
    if body.is_empty() {
        return Err(AuthError::InvalidRequest(
            "the token has characters outside token68",
        ));
    }
    if all_token68(body) {
        return Ok(());
    }
    if let Some(&bad) = body.iter().find(|&&b| !TOKEN68[b as usize]) {
        return Err(AuthError::InvalidRequest(
            if matches!(bad, b' ' | b'\t' | b',') {
                "more than one token"
            } else {
                "the token has characters outside token68"
            },
        ));
    }
    Ok(())
}

/// Whether the query carries an `access_token` parameter (RFC 6750 §2.3), however its name
/// is spelled on the wire.
///
/// The refusal exists to keep tokens out of URLs, which reach access logs (RFC 6750 §5.3),
/// so it reads the name the way the most lenient reader downstream might: form-decoded once
/// (`%5F` is `_`, `+` is a space: WHATWG `application/x-www-form-urlencoded`), whitespace
/// and control characters around it dropped, ASCII case ignored, and `;` taken as a
/// separator as well as `&` (some servers and frameworks split on it). RFC 6750 names the
/// parameter exactly; no registered OAuth parameter differs from it only in case or
/// padding, so the wider match refuses nothing legitimate. Decoding once, as every form
/// reader does: `access%255Ftoken` is the name `access%5Ftoken`, another parameter.
fn has_access_token_param(query: &str) -> bool {
    query.split(';').any(|part| {
        url::form_urlencoded::parse(part.as_bytes()).any(|(name, _)| {
            name.trim_matches(|c: char| c.is_whitespace() || c.is_control())
                .eq_ignore_ascii_case("access_token")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, http::HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn rules() {
        assert_eq!(
            extract(&headers(&[b"Bearer t.o.k"]), None),
            Ok(Credentials::Bearer("t.o.k"))
        );
        assert_eq!(
            extract(&headers(&[b"BEARER t.o.k"]), None),
            Ok(Credentials::Bearer("t.o.k"))
        );
        assert_eq!(
            extract(&headers(&[b"Bearer  t.o.k"]), None),
            Ok(Credentials::Bearer("t.o.k"))
        );
        assert_eq!(
            extract(&headers(&[b"Bearer abc=="]), None),
            Ok(Credentials::Bearer("abc=="))
        );
        assert_eq!(
            extract(&headers(&[b"Basic dXNlcjpwdw=="]), None),
            Ok(Credentials::None)
        );
        assert_eq!(
            extract(&headers(&[b"Bearertoken"]), None),
            Ok(Credentials::None)
        );
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer a b",
            b"Bearer a,b",
            b"Bearer a\tb",
            b"Bearer a=b",
            b"Bearer =",
            b"Bearer a\"b",
            b"Bearer caf\xc3\xa9",
        ] {
            assert!(
                matches!(
                    extract(&headers(&[bad]), None),
                    Err(AuthError::InvalidRequest(_))
                ),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            extract(&headers(&[b"Bearer a", b"Bearer b"]), None),
            Err(AuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            extract(&headers(&[b"Bearer a", b"Basic b"]), None),
            Err(AuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            extract(&headers(&[]), Some("x=1&access_token=abc")),
            Err(AuthError::InvalidRequest(_))
        ));
        assert_eq!(
            extract(&headers(&[]), Some("x=1&not_access_token=abc")),
            Ok(Credentials::None)
        );
    }

    /// RFC 6750 §2.3: the `access_token` query parameter is refused however its name is
    /// spelled on the wire, so a token never rides in a URL that reaches access logs.
    #[test]
    fn query_access_token_is_refused_in_every_spelling() {
        let refused = |q: &str| {
            matches!(
                extract(&headers(&[]), Some(q)),
                Err(AuthError::InvalidRequest(_))
            )
        };
        for q in [
            "access_token=abc",
            "x=1&access_token=abc",
            "access_token",
            "access_token=",
            // Percent-encoded name (RFC 3986 §2.1): a form decoder reads `access_token`.
            "access%5Ftoken=abc",
            "access%5ftoken=abc",
            "%61ccess_token=abc",
            "%61%63%63%65%73%73%5F%74%6F%6B%65%6E=abc",
            "x=1&access%5Ftoken=abc",
            // Case: RFC 6750 names it `access_token` exactly, but a lenient downstream reader
            // may not care; refusing costs nothing legitimate.
            "ACCESS_TOKEN=abc",
            "Access_Token=abc",
            // Whitespace around the name: `+` and `%20` decode to a space in a form.
            "+access_token=abc",
            "access_token+=abc",
            "%20access_token%20=abc",
            "access_token%09=abc",
            // `;` separates parameters for some servers and frameworks.
            "x=1;access_token=abc",
            "&&access_token=abc&&",
        ] {
            assert!(refused(q), "{q:?} was accepted");
        }
        for q in [
            "",
            "x=1",
            "not_access_token=abc",
            "access_token_hint=abc",
            "accesstoken=abc",
            "access-token=abc",
            "x=access_token",
            "x=access_token%3Dabc",
            // Decoded once only: this name reads `access%5Ftoken`, not `access_token`.
            "access%255Ftoken=abc",
            "access_token%FF=abc",
        ] {
            assert!(!refused(q), "{q:?} was refused");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(v in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(hv) = http::HeaderValue::from_bytes(&v) {
                let mut h = HeaderMap::new();
                h.insert(AUTHORIZATION, hv);
                let _ = extract(&h, None);
            }
        }
    }
}
