//! Fleet propagation of revocations, measured end to end (issue 14): `--instances` `agent_api`
//! processes share one `redis-server`; a `jti` revoked through one instance's
//! `POST /admin/revoke` must be refused by every instance. Prints p50/p99/max of the time from
//! sending the revocation until the last instance refuses the token, over `--revocations`
//! revocations. Then kills `redis-server` and checks that no instance crashed, that what was
//! revoked still holds, and that other tokens are still accepted.
//!
//! ```text
//! scripts/fleet_propagation.sh                    # builds both, 3 instances, 100 revocations
//! revocation_fleet [--agent-api PATH] [--instances 3] [--revocations 100]
//! ```
//! `agent_api` must be built with the `redis` feature; its default path is next to this
//! binary. Everything listens on 127.0.0.1. Exit status 1 when a check fails: a token accepted
//! after an instance had refused it, an instance that exited, a revocation lost.

#[path = "../tests/common/redis.rs"]
mod redis_server;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use a2a_guard::testing::TestIssuer;
use clap::Parser;

/// How long one instance may take to refuse a revoked token before the run fails.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(10);

/// Measure how fast a revocation reaches every instance of an `agent_api` fleet.
#[derive(Parser, Debug)]
#[command(name = "revocation_fleet")]
struct Args {
    /// The `agent_api` binary (built with `--features redis`) [default: next to this one].
    #[arg(long, value_name = "PATH")]
    agent_api: Option<PathBuf>,
    /// Instances in the fleet.
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// Revocations measured.
    #[arg(long, default_value_t = 100)]
    revocations: usize,
}

/// One `agent_api` process, killed on drop.
struct Instance {
    child: Child,
    url: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => {}
        Err(e) => {
            eprintln!("revocation_fleet: FAIL: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.instances < 2 || args.revocations == 0 {
        return Err("--instances must be at least 2 and --revocations at least 1".into());
    }
    let agent_api = match args.agent_api {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("agent_api"),
    };
    let redis = redis_server::redis().await;
    let issuer = TestIssuer::builder()
        .audience("agent-api")
        .start()
        .await
        .map_err(|e| format!("test issuer: {e}"))?;
    let mut fleet = Vec::new();
    for _ in 0..args.instances {
        fleet.push(spawn(&agent_api, &issuer, &redis.url)?);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let admin = issuer.token().scope("admin:revoke").sign();
    println!(
        "{} agent_api instances on one redis-server ({})",
        fleet.len(),
        redis.url
    );

    // Warm-up: every instance is connected to Redis once a revocation reaches it.
    measure(&http, &issuer, &fleet, &admin, "warm-up", 0).await?;
    let mut times = Vec::with_capacity(args.revocations);
    let mut revoked = Vec::new();
    for i in 0..args.revocations {
        let jti = format!("fleet-{i}");
        let (elapsed, token) = measure(&http, &issuer, &fleet, &admin, &jti, i).await?;
        times.push(elapsed);
        revoked.push(token);
    }
    times.sort();
    let pct = |p: usize| times[(times.len() - 1) * p / 100];
    println!(
        "revocation reached all {} instances: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} revocations)",
        fleet.len(),
        ms(pct(50)),
        ms(pct(99)),
        ms(times[times.len() - 1]),
        times.len()
    );

    // Redis killed: nothing crashes, what was revoked holds, other tokens still pass.
    drop(redis);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh = issuer.token().claim("jti", "after-redis-kill").sign();
    for (n, inst) in fleet.iter_mut().enumerate() {
        if let Ok(Some(status)) = inst.child.try_wait() {
            return Err(format!(
                "instance {n} exited ({status}) after redis-server was killed"
            ));
        }
        for token in revoked.iter().step_by(revoked.len().div_ceil(10).max(1)) {
            let s = whoami(&http, &inst.url, token).await?;
            if s != 401 {
                return Err(format!(
                    "instance {n} answered {s} to a revoked token after redis-server was killed"
                ));
            }
        }
        let s = whoami(&http, &inst.url, &fresh).await?;
        if s != 200 {
            return Err(format!(
                "instance {n} answered {s} to a valid token after redis-server was killed"
            ));
        }
    }
    println!(
        "redis-server killed: all {} instances up, revocations still held, other tokens accepted",
        fleet.len()
    );
    println!("PASS");
    Ok(())
}

/// Start one `agent_api` on a free port, wait for its "listening on" line.
fn spawn(path: &PathBuf, issuer: &TestIssuer, redis: &str) -> Result<Instance, String> {
    let mut child = Command::new(path)
        .args([
            "--issuer",
            &issuer.issuer(),
            "--jwks-url",
            &issuer.jwks_url(),
            "--audience",
            "agent-api",
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            redis,
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    break addr.trim().to_owned();
                }
            }
            _ => {
                let _ = child.kill();
                return Err(format!(
                    "{} exited before listening (built with --features redis?)",
                    path.display()
                ));
            }
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Instance {
        child,
        url: format!("http://{addr}"),
    })
}

/// One revocation: a new token accepted everywhere, revoked through instance `i % n`, then
/// polled on every instance until refused — and never accepted again after that.
async fn measure(
    http: &reqwest::Client,
    issuer: &TestIssuer,
    fleet: &[Instance],
    admin: &str,
    jti: &str,
    i: usize,
) -> Result<(Duration, String), String> {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 600;
    let token = issuer
        .token()
        .claim("jti", jti)
        .claim("exp", exp as i64)
        .sign();
    for (n, inst) in fleet.iter().enumerate() {
        let s = whoami(http, &inst.url, &token).await?;
        if s != 200 {
            return Err(format!("instance {n} answered {s} to a fresh token"));
        }
    }
    let start = Instant::now();
    let res = http
        .post(format!("{}/admin/revoke", fleet[i % fleet.len()].url))
        .bearer_auth(admin)
        .header("content-type", "application/json")
        .body(format!(r#"{{"jti":"{jti}","exp":{exp}}}"#))
        .send()
        .await
        .map_err(|e| format!("admin revoke: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("admin revoke answered {}", res.status()));
    }
    let polls = fleet.iter().enumerate().map(|(n, inst)| {
        let token = token.clone();
        async move {
            loop {
                let s = whoami(http, &inst.url, &token).await?;
                if s == 401 {
                    break;
                }
                if start.elapsed() > PROPAGATION_LIMIT {
                    return Err(format!(
                        "instance {n} still accepts {jti} after {PROPAGATION_LIMIT:?}"
                    ));
                }
            }
            let refused_at = start.elapsed();
            // Once refused, refused for good.
            for _ in 0..3 {
                let s = whoami(http, &inst.url, &token).await?;
                if s != 401 {
                    return Err(format!("instance {n} accepted {jti} again ({s})"));
                }
            }
            Ok(refused_at)
        }
    });
    let mut last = Duration::ZERO;
    for r in futures_util::future::join_all(polls).await {
        last = last.max(r?);
    }
    Ok((last, token))
}

async fn whoami(http: &reqwest::Client, base: &str, token: &str) -> Result<u16, String> {
    http.get(format!("{base}/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("GET {base}/whoami: {e}"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
