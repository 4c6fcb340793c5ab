//! A real browser: Debian's Chromium, headless, driven by Playwright for
//! Python (`chromium.py`), against a real Signet and the example app
//! `guard/examples/browser_app.rs` (built by `cargo test` with the other
//! examples). Without Chromium, Playwright or the example binary the test
//! says why and skips — unless `CI` is set, where it fails.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{PASSWORD, TestServer};
use crate::{Running, example_binary, free_port, wait_healthy};

/// Access tokens live this long, so the script sees one expire.
const ACCESS_TTL_SECS: u64 = 3;

struct Prerequisites {
    chromium: PathBuf,
    python: String,
    app: PathBuf,
}

/// What the test needs, or why it cannot run here.
fn prerequisites() -> Result<Prerequisites, String> {
    let chromium = PathBuf::from(
        std::env::var("SIGNET_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    if !chromium.exists() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium, or set SIGNET_CHROMIUM)",
            chromium.display()
        ));
    }
    let python = std::env::var("SIGNET_BROWSER_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_playwright = Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_playwright {
        return Err(format!(
            "`{python}` cannot import playwright (pip install -r ci/browser-requirements.txt, or set SIGNET_BROWSER_PYTHON)"
        ));
    }
    let app = example_binary("browser_app");
    if !app.exists() {
        return Err(format!(
            "no example binary at {} (run `cargo test`, which builds the examples, or `cargo build -p signet-guard --example browser_app`)",
            app.display()
        ));
    }
    Ok(Prerequisites {
        chromium,
        python,
        app,
    })
}

#[tokio::test]
async fn chromium_logs_in_posts_refreshes_and_logs_out() {
    let needs = match prerequisites() {
        Ok(needs) => needs,
        Err(reason) if std::env::var_os("CI").is_some() => {
            panic!("the browser test cannot run in CI: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED chromium_logs_in_posts_refreshes_and_logs_out: {reason}");
            return;
        }
    };
    let port = free_port();
    let app_origin = format!("http://127.0.0.1:{port}");
    let server = TestServer::start_with(|c| {
        c.access_ttl = Duration::from_secs(ACCESS_TTL_SECS);
        // The app forwards /v1/browser/* with the page's Origin: its own.
        c.cors_origins = vec![app_origin.clone()];
    })
    .await;
    server.sign_up("ada@example.com").await;

    let _app = Running(
        Command::new(&needs.app)
            .env("BROWSER_APP_LISTEN", format!("127.0.0.1:{port}"))
            .env("SIGNET_ISSUER", &server.base)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the example app"),
    );
    wait_healthy(&app_origin).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/chromium.py");
    let mut command = tokio::process::Command::new(&needs.python);
    command
        .arg(script)
        .arg(&app_origin)
        .arg("ada@example.com")
        .arg(PASSWORD)
        .arg(ACCESS_TTL_SECS.to_string())
        .env("SIGNET_CHROMIUM", &needs.chromium)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the browser script finishes within 120 s")
        .expect("run the browser script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("browser flow passed"), "{stdout}");
}
