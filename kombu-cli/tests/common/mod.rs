//! What every test of the `kombu` binary needs: the workspace root, a way to run the binary,
//! and whether the RabbitMQ management API is there.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, where the binary runs and fixture paths start.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `kombu ARGS` in the workspace root; returns (exit code, stdout, stderr).
pub(crate) fn kombu(args: &[&str]) -> (i32, String, String) {
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
pub(crate) fn broker_available() -> bool {
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

/// The RabbitMQ management API the broker tests use.
pub(crate) const MANAGEMENT: &str = "http://127.0.0.1:15672/api";

/// `METHOD MANAGEMENT/path` with `body` (JSON), as guest; returns the answer's body.
pub(crate) fn api(method: &str, path: &str, body: Option<&str>) -> String {
    let url = format!("{MANAGEMENT}/{path}");
    let mut args = vec![
        "-s",
        "-X",
        method,
        "-u",
        "guest:guest",
        "-H",
        "content-type: application/json",
    ];
    if let Some(b) = body {
        args.extend(["-d", b]);
    }
    args.push(&url);
    let out = Command::new("curl").args(&args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A virtual host of one test's own (with guest's permissions) and a folder for its files;
/// both are deleted on drop, so also when an assertion fails.
pub(crate) struct Vhost {
    pub name: String,
    pub dir: PathBuf,
}

impl Vhost {
    /// `kombu-<tag>-<pid>`, deleted first if a killed run left it behind.
    pub(crate) fn new(tag: &str) -> Vhost {
        let name = format!("kombu-{tag}-{}", std::process::id());
        api("DELETE", &format!("vhosts/{name}"), None);
        api("PUT", &format!("vhosts/{name}"), Some("{}"));
        api(
            "PUT",
            &format!("permissions/{name}/guest"),
            Some(r#"{"configure":".*","write":".*","read":".*"}"#),
        );
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        Vhost { name, dir }
    }

    /// The AMQP URL of this virtual host.
    pub(crate) fn amqp(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    /// Writes a file in this test's folder; returns its path.
    pub(crate) fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// `METHOD MANAGEMENT/<kind>/<this vhost>/<rest>`, parsed (`Null` for an empty answer).
    pub(crate) fn api(
        &self,
        method: &str,
        kind: &str,
        rest: &str,
        body: Option<&str>,
    ) -> serde_json::Value {
        let path = if rest.is_empty() {
            format!("{kind}/{}", self.name)
        } else {
            format!("{kind}/{}/{rest}", self.name)
        };
        let answer = api(method, &path, body);
        if answer.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&answer)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}: {answer}"))
        }
    }

    /// Runs `kombu ARGS --vhost <this>`; returns (exit code, stdout, stderr).
    pub(crate) fn kombu(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = args.to_vec();
        all.extend(["--vhost", &self.name]);
        kombu(&all)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        api("DELETE", &format!("vhosts/{}", self.name), None);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Vhost {
    /// The queues' names.
    pub(crate) fn queues(&self) -> Vec<String> {
        self.api("GET", "queues", "", None)
            .as_array()
            .into_iter()
            .flatten()
            .map(|q| q["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The bindings (the default exchange's left out): source, destination, routing key.
    pub(crate) fn bindings(&self) -> Vec<(String, String, String)> {
        self.api("GET", "bindings", "", None)
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["source"] != "")
            .map(|b| {
                let s = |k: &str| b[k].as_str().unwrap().to_owned();
                (s("source"), s("destination"), s("routing_key"))
            })
            .collect()
    }
}
