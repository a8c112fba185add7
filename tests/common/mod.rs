//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod redis;

use std::ops::Deref;
use std::path::Path;
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

/// A fresh directory (`tempfile`: random name, created exclusively) that is removed
/// with everything in it when dropped, also when the test panics. Derefs to its `Path`.
pub struct TestDir(tempfile::TempDir);

impl Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

/// A [`TestDir`] named `a2a-guard-test-*` in the system temporary directory.
pub fn tempdir() -> TestDir {
    TestDir(
        tempfile::Builder::new()
            .prefix("a2a-guard-test-")
            .tempdir()
            .expect("a temporary directory"),
    )
}

/// Every field of a `tracing` event or span as text, by name: strings as they are,
/// everything else as its `Debug` form (`401`, `true`).
#[derive(Debug, Default)]
pub struct Fields(pub std::collections::BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}
