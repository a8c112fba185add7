//! Helpers shared by the gate's integration tests.
#![allow(dead_code)]

/// The library's own real-`redis-server` harness, used as is (one copy of it).
#[path = "../../../tests/common/redis.rs"]
pub mod redis;
