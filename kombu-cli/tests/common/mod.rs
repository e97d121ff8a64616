//! What every test of the `kombu` binary needs: the workspace root, a way to run the binary,
//! and whether the RabbitMQ management API is there.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, where the binary runs and fixture paths start.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `kombu ARGS` in the workspace root; returns (exit code, stdout, stderr).
pub fn kombu(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kombu"))
        .args(args)
        .current_dir(workspace())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether RabbitMQ's management API answers on 127.0.0.1:15672; with `KOMBU_REQUIRE_BROKER`
/// set, its absence fails the test instead of skipping it.
pub fn broker_available() -> bool {
    let up = Command::new("curl")
        .args([
            "-sf",
            "-u",
            "guest:guest",
            "http://127.0.0.1:15672/api/overview",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !up {
        assert!(
            std::env::var("KOMBU_REQUIRE_BROKER").is_err(),
            "KOMBU_REQUIRE_BROKER is set but the RabbitMQ management API is not reachable on 127.0.0.1:15672 (rabbitmq-plugins enable rabbitmq_management)"
        );
        eprintln!("skipped: no RabbitMQ management API on 127.0.0.1:15672");
    }
    up
}
