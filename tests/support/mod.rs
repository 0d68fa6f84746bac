//! Test harness shared by the integration tests: a fake GitHub REST API served on a loopback
//! socket, and builders for signed webhook deliveries made from GitHub's own example payloads.
//!
//! Each integration test file is its own binary and pulls this module in with `mod support;`.
// Each test binary uses only part of the harness, so the parts it leaves unused (including
// re-exports) must not warn.
#![allow(dead_code, unused_imports)]

pub mod fake_github;
pub mod harness;
pub mod process;
pub mod webhooks;
