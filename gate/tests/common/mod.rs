//! Helpers shared by the gate's integration tests.
#![allow(dead_code)]

pub mod redis;
