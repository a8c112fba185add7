//! A loopback authorization server for `scripts/outage_drill.sh`, driven line by line on
//! standard input. It is `TestIssuer` (real keys, real JWKS over HTTP) behind a tiny protocol.
//!
//! ```text
//! cargo run --release --example drill_issuer -- [--audience AUD] [--max-age SECS]
//! ```
//! Prints `issuer URL` and `jwks URL`, then answers each command with one line, `ok …` or
//! `error …`:
//!
//! | command | effect |
//! |---|---|
//! | `tokens PATH N [LIFETIME_SECS]` | writes N fresh tokens (one per line, default lifetime 1800 s), signed by the current RS256 key; `ok KID` |
//! | `forged PATH` | writes a token signed by the current key under a kid nobody publishes; `ok KID` |
//! | `stop` / `start` | takes the server down (connections refused) / brings it back on the same port |
//! | `hang` / `normal` | JWKS and discovery accept connections and never answer / serve normally |
//! | `rotate` | publishes a new RS256 key and signs with it; the old one stays published; `ok NEWKID` |
//! | `retire KID` | stops publishing that key |
//! | `quit` | exits |

use std::time::Duration;

use a2a_guard::Algorithm;
use a2a_guard::testing::{Behavior, TestIssuer};
use tokio::io::{AsyncBufReadExt, BufReader};

const USAGE: &str = "usage: drill_issuer [--audience AUD] [--max-age SECS]";

#[tokio::main]
async fn main() {
    let mut audience = "drill-api".to_owned();
    let mut max_age: u64 = 60;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--audience", Some(v)) => audience = v,
            ("--max-age", Some(v)) => max_age = v.parse().unwrap_or(max_age),
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let issuer = match TestIssuer::builder().audience(audience).start().await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("drill_issuer: cannot start: {e}");
            std::process::exit(1);
        }
    };
    // The resource server refreshes at `max-age`, clamped to at least a minute.
    issuer.set_cache_control(Some(format!("max-age={max_age}")));
    println!("issuer {}", issuer.issuer());
    println!("jwks {}", issuer.jwks_url());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            [] => continue,
            ["quit"] => break,
            ["tokens", path, n, rest @ ..] => {
                let lifetime = rest.first().and_then(|s| s.parse().ok()).unwrap_or(1800);
                let n: usize = n.parse().unwrap_or(1);
                let tokens: Vec<String> = (0..n)
                    .map(|_| {
                        issuer
                            .token()
                            .lifetime(Duration::from_secs(lifetime))
                            .sign()
                    })
                    .collect();
                write_atomically(path, &(tokens.join("\n") + "\n"))
                    .map(|()| issuer.signing_key(Algorithm::RS256).kid().to_owned())
            }
            ["forged", path] => {
                let kid = format!("forged-{}", std::process::id());
                let t = issuer.token().kid(&kid).sign();
                write_atomically(path, &(t + "\n")).map(|()| kid)
            }
            ["stop"] => {
                issuer.stop().await;
                Ok("stopped".into())
            }
            ["start"] => issuer
                .restart()
                .await
                .map(|()| "started".into())
                .map_err(|e| e.to_string()),
            ["hang"] => {
                issuer.set_behavior(Behavior::Hang);
                Ok("hanging".into())
            }
            ["normal"] => {
                issuer.set_behavior(Behavior::Normal);
                Ok("normal".into())
            }
            ["rotate"] => Ok(issuer.rotate(Algorithm::RS256)),
            ["retire", kid] => {
                if issuer.retire(kid) {
                    Ok(format!("retired {kid}"))
                } else {
                    Err(format!("no published key {kid}"))
                }
            }
            _ => Err(format!("unknown command: {line}")),
        };
        match reply {
            Ok(s) => println!("ok {s}"),
            Err(e) => println!("error {e}"),
        }
    }
}

/// Write to a temporary file and rename it, so a reader never sees half a token list.
fn write_atomically(path: &str, contents: &str) -> Result<(), String> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, contents)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{path}: {e}"))
}
