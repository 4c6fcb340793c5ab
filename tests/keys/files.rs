//! Key files others can use and keys others made: every key Signet writes is
//! read by OpenSSL, keys made by OpenSSL are imported through the real
//! binary and sign tokens the JWKS verifies, keys Signet cannot sign with
//! are refused, and private files that other users can read or write stop
//! start-up (or are skipped at reload).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use signet::keys::Keys;
use signet::keys::SigningAlg;

use crate::common::{PASSWORD, TestServer, client, config_in};
use crate::process::{serve, signet, terminate};
use crate::{access_token, eventually, independently_verified, jwks_kids, kid_of};

/// Writes `path` with `mode` (umask permitting), as an operator's tool would.
pub fn write_with_mode(path: &Path, contents: &str, mode: u32) {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .unwrap();
    file.write_all(contents.as_bytes()).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// True when the openssl CLI runs; otherwise says that `test` is skipped.
fn have_openssl(test: &str) -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping {test}: the openssl CLI is not installed");
    }
    found
}

/// Runs openssl with `args`; panics with its stderr unless it succeeds.
fn openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The public key of a private key file, as OpenSSL derives it (SPKI DER).
fn public_key(pem: &Path) -> Vec<u8> {
    openssl(&[
        "pkey",
        "-in",
        pem.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
    ])
}

/// A key made by openssl (`args` without `-out`) in `dir`.
fn openssl_key(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(format!("{name}.pem"));
    // Right after the command: `genrsa` wants its bit count last.
    let mut full = args.to_vec();
    full.splice(1..1, ["-out", path.to_str().unwrap()]);
    openssl(&full);
    path
}

fn keys_dir_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `signet keys import FILE [--now]` beside the files of `dir`.
fn import(dir: &Path, file: &Path, now: bool) -> Output {
    let mut command = signet(dir);
    command.args(["keys", "import", file.to_str().unwrap()]);
    if now {
        command.arg("--now");
    }
    command.output().unwrap()
}

/// The kid an import reports ("imported ALG key KID: signs from …").
fn imported_kid(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    first
        .split_whitespace()
        .nth(3)
        .and_then(|kid| kid.strip_suffix(':'))
        .unwrap_or_else(|| panic!("no kid in {stdout}"))
        .to_owned()
}

/// Runs a command that must end by itself (a refused start-up).
fn run_to_exit(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "it kept running: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn every_key_signet_generates_is_read_by_openssl() {
    if !have_openssl("every_key_signet_generates_is_read_by_openssl") {
        return;
    }
    for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::RS256] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_in(dir.path());
        config.signing_alg = alg;
        let keys = Keys::open(&config.keys_dir, config.key_settings()).unwrap();
        let ring = keys.current();
        let key = ring.active();
        let pem = config.keys_dir.join(format!("{}.pem", key.kid));
        openssl(&["pkey", "-in", pem.to_str().unwrap(), "-noout"]);
        // OpenSSL derives the same public key Signet publishes.
        let spki = public_key(&pem);
        let jwk = serde_json::to_value(&key.jwk).unwrap();
        let published = |member: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[member].as_str().unwrap())
                .unwrap()
        };
        match alg {
            SigningAlg::EdDSA => assert!(spki.ends_with(&published("x")), "{alg:?}"),
            SigningAlg::ES256 => {
                let point = [vec![4], published("x"), published("y")].concat();
                assert!(spki.ends_with(&point), "{alg:?}");
            }
            SigningAlg::RS256 => {
                let modulus = published("n");
                assert!(spki.windows(modulus.len()).any(|w| w == modulus), "{alg:?}");
            }
        }
    }
}

#[tokio::test]
async fn an_ed25519_key_file_in_the_old_v2_form_still_signs() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let keys = dir.path().join("keys");
    fs::create_dir_all(&keys).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let v2 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    assert_eq!(v2.as_ref()[4], 1, "ring writes PKCS#8 v2 (version 1)");
    let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", v2.as_ref().to_vec()));
    write_with_mode(&keys.join("legacy.pem"), &pem_text, 0o600);
    let created = chrono::Utc::now().timestamp() - 60;
    let meta = format!(r#"{{"alg":"EdDSA","created_at":{created},"activates_at":{created}}}"#);
    write_with_mode(&keys.join("legacy.json"), &meta, 0o644);

    let server = TestServer::start_in(dir, |_| {}).await;
    let tokens = server.user_tokens("ada@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(kid_of(token), "legacy");
    let info = client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
}

#[tokio::test]
async fn keys_made_by_openssl_are_imported_and_sign_tokens_the_jwks_verifies() {
    if !have_openssl("keys_made_by_openssl_are_imported_and_sign_tokens_the_jwks_verifies") {
        return;
    }
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let made = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "ed25519",
            &["genpkey", "-algorithm", "ed25519"],
            "PRIVATE KEY",
        ),
        // Without -noout: an EC PARAMETERS block comes first.
        (
            "p256-sec1",
            &["ecparam", "-name", "prime256v1", "-genkey"],
            "EC PRIVATE KEY",
        ),
        (
            "p256-pkcs8",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
            "PRIVATE KEY",
        ),
        (
            "rsa-pkcs1",
            &["genrsa", "-traditional", "2048"],
            "RSA PRIVATE KEY",
        ),
        (
            "rsa-pkcs8",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            "PRIVATE KEY",
        ),
    ];
    for (name, args, tag) in cases {
        let source = openssl_key(made.path(), name, args);
        let text = fs::read_to_string(&source).unwrap();
        assert!(
            text.contains(&format!("-----BEGIN {tag}-----")),
            "{name}: {text}"
        );

        let kid = imported_kid(&import(&server.path(), &source, true));
        let stored = server.path().join("keys").join(format!("{kid}.pem"));
        assert_eq!(mode_of(&stored), 0o600, "{name}");
        let stored_text = fs::read_to_string(&stored).unwrap();
        assert!(
            stored_text.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{name}: stored as PKCS#8"
        );
        assert_eq!(
            public_key(&stored),
            public_key(&source),
            "{name}: the key openssl made"
        );

        let published = eventually(Duration::from_secs(5), async || {
            jwks_kids(&server).await.contains(&kid)
        })
        .await;
        assert!(published, "{name}: the running server published {kid}");
        let token = access_token(&server).await;
        assert_eq!(kid_of(&token), kid, "{name}: --now signs at once");
        let jwks = server.jwks().await;
        let jwk = jwks.iter().find(|k| k["kid"] == kid.as_str()).unwrap();
        assert!(
            independently_verified(jwk, &token),
            "{name}: the token verifies against the JWKS"
        );
        let info = client()
            .get(server.url("/v1/userinfo"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200, "{name}");
    }
}

#[tokio::test]
async fn an_imported_key_is_published_before_it_signs() {
    if !have_openssl("an_imported_key_is_published_before_it_signs") {
        return;
    }
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let old = server.state.keys.current().active().kid.clone();
    let made = tempfile::tempdir().unwrap();
    let source = openssl_key(made.path(), "ed", &["genpkey", "-algorithm", "ed25519"]);
    let output = import(&server.path(), &source, false);
    let kid = imported_kid(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("key {old} retires then")),
        "{stdout}"
    );

    let published = eventually(Duration::from_secs(5), async || {
        jwks_kids(&server).await.contains(&kid)
    })
    .await;
    assert!(published, "the next key is in the JWKS");
    assert_eq!(kid_of(&access_token(&server).await), old, "not signing yet");
    let list = signet(&server.path())
        .args(["keys", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    let row = listed.lines().find(|l| l.starts_with(&kid)).unwrap();
    assert_eq!(row.split_whitespace().nth(2), Some("next"), "{listed}");
}

#[test]
fn keys_signet_cannot_sign_with_are_refused_on_import() {
    if !have_openssl("keys_signet_cannot_sign_with_are_refused_on_import") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    Keys::open(&config.keys_dir, config.key_settings()).unwrap();
    let before = keys_dir_files(&config.keys_dir);
    let made = tempfile::tempdir().unwrap();
    let ed25519 = openssl_key(made.path(), "ed", &["genpkey", "-algorithm", "ed25519"]);
    let public = made.path().join("public.pem");
    openssl(&[
        "pkey",
        "-in",
        ed25519.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let cases: [(&str, &[&str], &str); 6] = [
        (
            "rsa1024-pkcs1",
            &["genrsa", "-traditional", "1024"],
            "1024 bits is too weak",
        ),
        (
            "rsa1024-pkcs8",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
            ],
            "1024 bits is too weak",
        ),
        (
            "p384",
            &["ecparam", "-name", "secp384r1", "-genkey", "-noout"],
            "P-384 is not supported",
        ),
        (
            "secp256k1",
            &["ecparam", "-name", "secp256k1", "-genkey", "-noout"],
            "secp256k1 is not supported",
        ),
        (
            "ed448",
            &["genpkey", "-algorithm", "ed448"],
            "Ed448 keys are not supported",
        ),
        (
            "encrypted",
            &[
                "genpkey",
                "-algorithm",
                "ed25519",
                "-aes256",
                "-pass",
                "pass:secret",
            ],
            "encrypted",
        ),
    ];
    let mut files: Vec<(PathBuf, &str)> = cases
        .iter()
        .map(|(name, args, expected)| (openssl_key(made.path(), name, args), *expected))
        .collect();
    files.push((public, "not a private key"));
    files.push((made.path().join("missing.pem"), "No such file"));
    for (file, expected) in files {
        let output = import(dir.path(), &file, true);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: {stderr}",
            file.display()
        );
        assert!(stderr.contains(expected), "{}: {stderr}", file.display());
        assert!(
            stderr.contains(file.to_str().unwrap()),
            "names the file: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert_eq!(keys_dir_files(&config.keys_dir), before, "nothing added");
    }

    let kid = imported_kid(&import(dir.path(), &ed25519, false));
    let again = import(dir.path(), &ed25519, true);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("already in keys_dir as {kid}")),
        "{stderr}"
    );

    let usage = signet(dir.path())
        .args(["keys", "import"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2), "no FILE is bad usage");
}

#[tokio::test]
async fn the_sqlite_database_is_created_private() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _) = serve(dir.path(), &[]).await;
    let data = dir.path().join("data");
    for name in ["signet.db", "signet.db-wal", "signet.db-shm"] {
        let path = data.join(name);
        if name == "signet.db" || path.exists() {
            assert_eq!(mode_of(&path), 0o600, "{name}");
        }
    }
    terminate(child.id());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
}

#[tokio::test]
async fn private_files_other_users_can_use_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _) = serve(dir.path(), &[]).await;
    terminate(child.id());
    assert!(child.wait_with_output().unwrap().status.success());
    let keys = dir.path().join("keys");
    let key = keys_dir_files(&keys)
        .into_iter()
        .find(|name| name.ends_with(".pem"))
        .map(|name| keys.join(name))
        .unwrap();
    let secret = keys.join("refresh.secret");
    for (file, mode) in [(&key, 0o644), (&key, 0o620), (&secret, 0o604)] {
        fs::set_permissions(file, fs::Permissions::from_mode(mode)).unwrap();
        let mut command = signet(dir.path());
        command.arg("serve").env("SIGNET_LISTEN", "127.0.0.1:0");
        let output = run_to_exit(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{mode:o}: {stderr}");
        let last = stderr.trim().lines().last().unwrap_or_default();
        assert!(
            last.contains(file.to_str().unwrap()) && last.contains("other users"),
            "names the file: {stderr}"
        );
        fs::set_permissions(file, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (child, _) = serve(dir.path(), &[]).await;
    terminate(child.id());
    assert!(child.wait_with_output().unwrap().status.success());
}

#[tokio::test]
async fn a_key_file_other_users_can_read_is_skipped_at_reload() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let kids = jwks_kids(&server).await;
    // A valid key, made elsewhere, that would sign at once.
    let scratch = tempfile::tempdir().unwrap();
    let config = config_in(scratch.path());
    let other = Keys::open(&config.keys_dir, config.key_settings()).unwrap();
    let kid = other.current().active().kid.clone();
    let pem_text = fs::read_to_string(config.keys_dir.join(format!("{kid}.pem"))).unwrap();
    let now = chrono::Utc::now().timestamp();
    let meta: Value = serde_json::json!({"alg": "EdDSA", "created_at": now, "activates_at": now});
    let keys = server.path().join("keys");
    let planted = keys.join(format!("{kid}.pem"));
    write_with_mode(&planted, &pem_text, 0o644);
    write_with_mode(&keys.join(format!("{kid}.json")), &meta.to_string(), 0o644);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(jwks_kids(&server).await, kids, "the exposed key is skipped");
    let token = access_token(&server).await;
    assert_ne!(kid_of(&token), kid);
    let (status, _) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "the running keys are kept");

    fs::set_permissions(&planted, fs::Permissions::from_mode(0o600)).unwrap();
    let loaded = eventually(Duration::from_secs(5), async || {
        jwks_kids(&server).await.contains(&kid)
    })
    .await;
    assert!(loaded, "once private, the key is picked up");
}
