//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn now_real() -> ManualClock {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        ManualClock(Arc::new(AtomicI64::new(t)))
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_secs() as i64, Ordering::SeqCst);
    }
    pub fn as_clock(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let c = self.0.clone();
        move || UNIX_EPOCH + Duration::from_secs(c.load(Ordering::SeqCst) as u64)
    }
}

/// Fail the test if `f` takes longer than `limit` — a hang detector, not a speed claim.
pub async fn within<F: std::future::Future>(limit: Duration, f: F) -> F::Output {
    tokio::time::timeout(limit, f)
        .await
        .expect("operation hung")
}
