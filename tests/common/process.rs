//! The `signet` binary as a separate process, configured for a temp dir.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `signet` with its settings pointed at `dir`; nothing inherited from the
/// caller's `SIGNET_*` environment; cheap argon2.
pub fn signet(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signet"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGNET_") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(dir)
        .env(
            "SIGNET_DATABASE_URL",
            format!("sqlite://{}", dir.join("data/signet.db").display()),
        )
        .env("SIGNET_KEYS_DIR", dir.join("keys"))
        .env("SIGNET_ARGON2__MEMORY_KIB", "1024")
        .env("SIGNET_ARGON2__ITERATIONS", "1");
    command
}

/// Runs `signet ARGS` for `dir`, asserts it succeeded (showing its stderr
/// otherwise), and returns what it printed.
pub fn succeeds(dir: &Path, args: &[&str]) -> String {
    let output = signet(dir).args(args).output().expect("run signet");
    assert!(
        output.status.success(),
        "signet {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Starts `signet serve` on a free port with `envs`, waits until ready, and
/// returns the process (output piped) and its base URL.
pub async fn serve(dir: &Path, envs: &[(&str, &str)]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = signet(dir)
        .env("SIGNET_LISTEN", format!("127.0.0.1:{port}"))
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn signet");
    let http = crate::common::client();
    for _ in 0..600 {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("signet did not become ready");
}

/// Sends SIGTERM, as container runtimes do.
pub fn terminate(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}
