//! `a2a_guard::bearer::extract` on arbitrary header bytes.
//!
//! Input: lines separated by `\n`. A first line starting with `?` is the query string; every
//! other line is one `Authorization` header value (lines `HeaderValue` refuses are dropped,
//! as an HTTP server would never deliver them).
//!
//! Oracles: no panic; a token comes back only from exactly one header, with a
//! case-insensitive `Bearer` scheme, non-empty token68 characters, and no `access_token` in
//! the query; every error is a 400 `invalid_request`.
#![no_main]

use a2a_guard::bearer::{Credentials, extract};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fn token68(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n').peekable();
    let query = match lines.peek() {
        Some(first) if first.first() == Some(&b'?') => {
            let q = &first[1..];
            lines.next();
            std::str::from_utf8(q).ok()
        }
        _ => None,
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(AUTHORIZATION, v);
        }
    }
    let count = headers.get_all(AUTHORIZATION).iter().count();
    let query_token = query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.split('=').next() == Some("access_token"))
    });
    match extract(&headers, query) {
        Ok(Credentials::Bearer(t)) => {
            assert_eq!(count, 1);
            assert!(!query_token);
            assert!(token68(t), "{t:?}");
            let value = headers[AUTHORIZATION].to_str().expect("visible ASCII");
            assert!(value.len() > 7 && value[..6].eq_ignore_ascii_case("bearer"));
            assert!(value.ends_with(t));
        }
        Ok(Credentials::None) => {
            assert!(count <= 1 && !query_token);
            if let Some(v) = headers.get(AUTHORIZATION) {
                let scheme = v
                    .as_bytes()
                    .split(|b| *b == b' ')
                    .next()
                    .unwrap_or_default();
                assert!(!scheme.eq_ignore_ascii_case(b"bearer"), "{v:?}");
            }
        }
        // Other schemes the crate may learn (e.g. DPoP, RFC 9449) carry their own rules.
        #[allow(unreachable_patterns)]
        Ok(_) => assert!(count == 1 && !query_token),
        Err(e) => {
            assert_eq!(e.status(), 400, "{e:?}");
            assert_eq!(e.error_code(), Some("invalid_request"));
            assert!(e.www_authenticate("fuzz").is_some());
        }
    }
});
