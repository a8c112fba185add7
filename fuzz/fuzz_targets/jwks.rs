//! `a2a_guard::jwk::KeySet::from_json` on arbitrary bytes.
//!
//! Oracles: no panic; a parsed set never holds more keys than the document lists; every key
//! found for a kid and algorithm has that kid and supports that algorithm; verifying garbage
//! with any key is `false`, never a panic; no loaded key accepts the small-order universal
//! signatures (Ed25519 `R = identity, S = 0`), i.e. degenerate keys never load.
#![no_main]

use a2a_guard::Algorithm;
use a2a_guard::jwk::KeySet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(set) = KeySet::from_json(data) else {
        return;
    };
    let listed = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("keys").and_then(|k| k.as_array()).map(Vec::len))
        .unwrap_or(0);
    assert!(
        set.len() <= listed,
        "{} keys from {listed} entries",
        set.len()
    );
    let kids: Vec<String> = set.kids().map(str::to_owned).collect();
    for alg in Algorithm::ALL {
        for kid in kids.iter().map(|k| Some(k.as_str())).chain([None]) {
            for key in set.find(kid, alg) {
                assert!(key.supports(alg));
                if let Some(kid) = kid {
                    assert_eq!(key.kid(), Some(kid));
                }
                assert!(!key.verify(alg, b"header.payload", data));
                let mut universal = [0u8; 64];
                universal[0] = 1;
                assert!(!key.verify(alg, b"header.payload", &universal));
            }
        }
    }
});
