//! `Validator::validate` on arbitrary input, with a static key set and a fixed clock.
//!
//! Input: one mode byte, then
//! - even mode: the rest is the token (lossy UTF-8), exactly as a request would carry it;
//! - odd mode: `header JSON` 0x00 `payload JSON`, signed with the deterministic Ed25519 key,
//!   so header rules and every claim check behind the signature are reached.
//!
//! Oracles: no panic; every error is a 401 with a renderable `WWW-Authenticate`; a token that
//! passes really has the configured issuer and audience, an `exp` in the future, an accepted
//! `typ`, and no `crit`.
#![no_main]

use a2a_guard::Principal;
use a2a_guard_fuzz::{
    AUDIENCE, ISSUER, LEEWAY, MAX_LIFETIME, NOW, SIGNED_MODE_SEPARATOR, fixture, header_of, sign,
};
use libfuzzer_sys::fuzz_target;
use std::borrow::Borrow;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let cut = rest
            .iter()
            .position(|b| *b == SIGNED_MODE_SEPARATOR)
            .unwrap_or(rest.len());
        let (header, payload) = rest.split_at(cut);
        sign(header, payload.get(1..).unwrap_or_default())
    };
    match fixture().validate(&token) {
        Err(e) => {
            assert_eq!(e.status(), 401, "{e:?}");
            assert_eq!(e.error_code(), Some("invalid_token"), "{e:?}");
            assert!(e.www_authenticate("fuzz").is_some(), "{e:?}");
        }
        Ok(p) => {
            let p: &Principal = p.borrow();
            let r = p.registered();
            assert_eq!(p.issuer(), Some(ISSUER));
            assert!(r.aud.contains(AUDIENCE), "{:?}", r.aud);
            let exp = r.exp.expect("exp is required").0;
            assert!(exp > NOW - LEEWAY, "expired token passed: exp {exp}");
            if let Some(nbf) = r.nbf {
                assert!(nbf.0 <= NOW + LEEWAY);
            }
            let iat = r.iat.expect("the lifetime cap requires iat").0;
            assert!(iat <= NOW + LEEWAY);
            assert!(exp.saturating_sub(iat) <= MAX_LIFETIME);
            let header = header_of(&token).expect("a passing token has a JSON header");
            let typ = header["typ"]
                .as_str()
                .expect("typ is required")
                .to_ascii_lowercase();
            assert!(typ == "at+jwt" || typ == "application/at+jwt", "{typ}");
            assert!(header.get("crit").is_none() && header.get("b64").is_none());
            for scope in p.scopes() {
                assert!(!scope.as_str().is_empty());
            }
        }
    }
});
