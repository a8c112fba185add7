//! Writes the seed corpora under `fuzz/seeds/`: real tokens minted by `TestIssuer` around the
//! fuzz clock, their public JWK Set (`seeds/keys.json`, compiled into the targets), signed-mode
//! inputs, JWK Sets, `Authorization` values and scope lines.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example write_seeds
//! ```
//! Rerunning replaces the keys (fresh random keys) and the tokens together; the fuzz targets
//! must be rebuilt afterwards, which `cargo fuzz` does.

use std::fs;
use std::path::{Path, PathBuf};

use a2a_guard::Algorithm;
use a2a_guard::testing::TestIssuer;
use a2a_guard_fuzz::{
    AUDIENCE, Fixture, ISSUER, KID, NOW, SIGNED_MODE_SEPARATOR, sign, with_fixed_key,
};
use serde_json::{Value, json};

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("seed dir");
    d
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    fs::write(dir.join(name), bytes).expect("write seed");
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (trusted, token_dir) = rt.block_on(seeds());
    drop(rt);
    // Every seed the fuzz validator should accept does: the fuzzer starts past the signature.
    let fixture = Fixture::new(&trusted);
    let mut entries: Vec<_> = fs::read_dir(&token_dir).expect("seeds").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let bytes = fs::read(e.path()).expect("seed");
        let token = if bytes[0] % 2 == 0 {
            String::from_utf8(bytes[1..].to_vec()).expect("token")
        } else {
            let cut = bytes[1..]
                .iter()
                .position(|b| *b == SIGNED_MODE_SEPARATOR)
                .expect("sep");
            sign(&bytes[1..1 + cut], &bytes[2 + cut..])
        };
        let result = fixture.validate(&token).map(|_| ());
        let should_fail = ["expired", "crit", "cty"].iter().any(|n| name.contains(n));
        assert_eq!(result.is_err(), should_fail, "{name}: {result:?}");
        println!(
            "{name:24} {}",
            result.map_or_else(|e| e.to_string(), |()| "valid".into())
        );
    }
}

async fn seeds() -> (Value, PathBuf) {
    let algs = [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    let issuer = TestIssuer::builder()
        .audience(AUDIENCE)
        .algorithms(algs)
        .start()
        .await
        .expect("issuer");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let keys = serde_json::to_string_pretty(&issuer.jwks()).expect("json");
    fs::write(root.join("keys.json"), format!("{keys}\n")).expect("keys.json");

    // token: raw mode (first byte 0) — real tokens, valid at the fuzz clock.
    let token = dir("token");
    let base = || {
        issuer
            .token()
            .issuer(ISSUER)
            .issued_at(NOW - 60)
            .expires_at(NOW + 600)
    };
    let mut raw = Vec::new();
    for alg in algs {
        raw.push((format!("{alg}"), base().alg(alg).scope("read:data").sign()));
    }
    raw.push((
        "delegated".into(),
        base()
            .scope("delegate:analysis read:data temporal:30min temporal:business-hours")
            .claim(
                "act",
                json!({"sub": "specialist", "act": {"sub": "orchestrator"}}),
            )
            .audience([AUDIENCE, "other"])
            .not_before(NOW - 10)
            .sign(),
    ));
    raw.push((
        "scp-array".into(),
        base()
            .claim("scp", ["read:data", "write:*"])
            .no_kid()
            .sign(),
    ));
    raw.push((
        "typ-application".into(),
        base()
            .typ("application/at+jwt")
            .claim("cnf", json!({"jkt": "abc"}))
            .sign(),
    ));
    raw.push(("expired".into(), base().expires_at(NOW - 31).sign()));
    raw.push(("crit".into(), base().header("crit", json!(["exp"])).sign()));
    for (name, t) in raw {
        write(
            &token,
            &format!("raw-{name}"),
            [b"\0", t.as_bytes()].concat(),
        );
    }
    // Signed mode (first byte 1): header 0x00 payload, signed by the deterministic key.
    let header = json!({"alg": "EdDSA", "kid": KID, "typ": "at+jwt"}).to_string();
    let claims = |extra: Value| {
        let mut c = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "agent", "client_id": "agent",
            "iat": NOW - 60, "exp": NOW + 600, "jti": "j1", "scope": "read:data",
        });
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        c.to_string()
    };
    let signed = [
        ("plain", header.clone(), claims(json!({}))),
        (
            "temporal",
            header.clone(),
            claims(json!({"scope": "read:data temporal:5min temporal:business-hours"})),
        ),
        (
            "act",
            header.clone(),
            claims(json!({"act": {"sub": "a", "act": {"sub": "b"}}, "aud": [AUDIENCE, "x"]})),
        ),
        ("nbf", header.clone(), claims(json!({"nbf": NOW + 30}))),
        (
            "cty",
            json!({"alg": "EdDSA", "kid": KID, "typ": "at+jwt", "cty": "JWT"}).to_string(),
            claims(json!({})),
        ),
        (
            "no-kid",
            json!({"alg": "EdDSA", "typ": "application/at+jwt"}).to_string(),
            claims(json!({"scp": ["a", "b:c"]})),
        ),
    ];
    for (name, h, p) in signed {
        let mut input = vec![1u8];
        input.extend_from_slice(h.as_bytes());
        input.push(SIGNED_MODE_SEPARATOR);
        input.extend_from_slice(p.as_bytes());
        write(&token, &format!("signed-{name}"), &input);
        // The same, already signed, as a raw token.
        let t = sign(h.as_bytes(), p.as_bytes());
        write(
            &token,
            &format!("raw-fixed-{name}"),
            [b"\0", t.as_bytes()].concat(),
        );
    }

    // jwks: the issuer's set, the full trusted set, and odd shapes.
    let jwks_dir = dir("jwks");
    write(&jwks_dir, "issuer.json", &keys);
    let trusted = with_fixed_key(issuer.jwks());
    write(&jwks_dir, "trusted.json", trusted.to_string());
    for (i, key) in issuer.jwks()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .enumerate()
    {
        write(
            &jwks_dir,
            &format!("one-{i}.json"),
            json!({"keys": [key]}).to_string(),
        );
    }
    write(
        &jwks_dir,
        "odd.json",
        json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
            {"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "use": "enc"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "key_ops": ["verify"], "alg": "EdDSA", "kid": 7},
            null, 1, "x", []
        ]})
        .to_string(),
    );
    write(&jwks_dir, "empty.json", r#"{"keys":[]}"#);

    // bearer: header lines, optionally a query first.
    let bearer = dir("bearer");
    let t = base().sign();
    write(&bearer, "one", format!("Bearer {t}"));
    write(&bearer, "lower", format!("bearer  {t}"));
    write(&bearer, "two", format!("Bearer {t}\nBearer {t}"));
    write(&bearer, "comma", format!("Bearer {t}, Bearer {t}"));
    write(&bearer, "basic", "Basic dXNlcjpwYXNz");
    write(
        &bearer,
        "query",
        format!("?x=1&access_token={t}\nBearer {t}"),
    );
    write(&bearer, "padding", "Bearer abc+/~_-.==");

    // scope: granted \n requirement \n rule \n business hours \n unix time.
    let scope = dir("scope");
    let lines = [
        (
            "hierarchy",
            "read:customers write:orders read:*:archive",
            "read:customers:eu|read:orders write:x",
            "write>read",
            "Mon-Fri 09:00-17:00 Europe/Berlin",
            NOW.to_string(),
        ),
        (
            "temporal",
            "temporal:30min temporal:business-hours temporal:0s read",
            "read:x",
            "admin>write",
            "Sat,Sun 22:00-06:00 America/New_York",
            "0".into(),
        ),
        (
            "wildcard",
            "* a:*:c",
            "a:b:c|x",
            "a:b>c",
            "mon-sun 00:00-23:59 UTC",
            "-1".into(),
        ),
    ];
    for (name, g, r, rule, bh, at) in lines {
        write(&scope, name, format!("{g}\n{r}\n{rule}\n{bh}\n{at}"));
    }
    println!("seeds written under {}", root.display());
    (trusted, token)
}
