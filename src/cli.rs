//! The `signet` command line (CONTRACT §2). Every command reads the same
//! configuration as `serve`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use secrecy::SecretString;

use crate::app::{self, Services};
use crate::auth::accounts::Accounts;
use crate::auth::clients::Clients;
use crate::auth::passwords::Hasher;
use crate::auth::recovery::Recovery;
use crate::config::Config;
use crate::keys::SigningAlg;
use crate::keys::{self, KeyRing, Rotation};
use crate::store::{self, ClaimsOwner, SessionTarget, Store};
use crate::tokens::claims::{self, CustomClaims};
use crate::tokens::revocations::Reason;
use crate::tokens::revocations::Revocations;
use crate::tokens::sessions::live_sessions;

#[derive(Parser)]
#[command(name = "signet", version, about = "Token authentication service")]
pub struct Cli {
    /// Configuration file (default: signet.toml when present).
    #[arg(long, global = true, env = "SIGNET_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Create or upgrade the database schema, then exit (serve does this too).
    Migrate,
    /// Exit 0 when the local server's /readyz answers 200 (container health checks).
    Healthcheck,
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage confidential clients (client_credentials).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Inspect signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Work with tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// A user's sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
}

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// The user's live sessions, one JSON object per line.
    List { email: String },
    /// End a session: its refresh token and its access tokens stop working.
    Revoke { sid: String },
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user (prompts for the password on a terminal).
    Add {
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Scopes the user may be granted, space-separated.
        #[arg(long, default_value = "")]
        scope: String,
    },
    /// Disable a user and revoke all of the user's sessions.
    Disable { email: String },
    /// Print a single-use password-reset token for an operator to hand over.
    ResetLink { email: String },
    /// Replace the custom claims put into the user's tokens (a JSON object).
    SetClaims { email: String, json: String },
}

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Create a client; prints {"client_id","client_secret"} once.
    Add {
        name: String,
        /// Scopes the client may be granted, space-separated.
        #[arg(long, default_value = "")]
        scope: String,
        /// `aud` of the client's tokens (default: the configured audience).
        #[arg(long)]
        audience: Option<String>,
    },
    /// List clients (never their secrets).
    List,
    /// Remove a client: its credentials and the tokens it was issued stop working at once.
    Remove { client_id: String },
    /// Replace the custom claims put into the client's tokens (a JSON object).
    SetClaims { client_id: String, json: String },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// kid, algorithm, state and lifecycle times of every key.
    List,
    /// Add a key: published now, signing after the publication delay.
    Rotate {
        /// Algorithm of the new key (default: signing_alg).
        #[arg(long, value_parser = ["EdDSA", "ES256", "RS256"])]
        alg: Option<String>,
        /// Sign with the new key at once (for a compromised key).
        #[arg(long)]
        now: bool,
        /// With --now: withdraw the old key from the JWKS at once; tokens it
        /// signed stop working.
        #[arg(long, requires = "now")]
        revoke: bool,
    },
    /// Add a PEM private key made elsewhere (PKCS#8, SEC1 or PKCS#1):
    /// Ed25519, P-256 or RSA of 2048 to 4096 bits; scheduled like rotate.
    Import {
        /// The PEM file (left as it is; the key is copied into keys_dir).
        file: PathBuf,
        /// Sign with the imported key at once.
        #[arg(long)]
        now: bool,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Decode a token and verify it against the local keys.
    Inspect { token: String },
}

/// A command failed; `usage` errors exit 2, others 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

/// A failure with its causes on one line ("database: unavailable: connection refused").
fn failed(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> CliError {
    let error = error.into();
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    CliError::Failed(message)
}

/// Runs a non-server command.
pub async fn run(config: Config, command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve => serve(config).await,
        Command::Healthcheck => healthcheck(&config).await,
        Command::Migrate => {
            store::open(&config.database_url, config.pool_settings())
                .await
                .map_err(failed)?;
            println!("database is up to date");
            Ok(())
        }
        Command::Users(UsersCommand::Add {
            email,
            password_stdin,
            scope,
        }) => add_user(config, &email, password_stdin, &scope).await,
        Command::Users(UsersCommand::Disable { email }) => disable_user(config, &email).await,
        Command::Users(UsersCommand::ResetLink { email }) => reset_link(config, &email).await,
        Command::Users(UsersCommand::SetClaims { email, json }) => {
            let store = store::open(&config.database_url, config.pool_settings())
                .await
                .map_err(failed)?;
            set_claims(store, ClaimsTarget::User(&email), &json).await
        }
        Command::Clients(command) => clients(config, command).await,
        Command::Keys(KeysCommand::List) => list_keys(&config),
        Command::Keys(KeysCommand::Rotate { alg, now, revoke }) => {
            let alg = alg
                .map(|a| a.parse::<SigningAlg>())
                .transpose()
                .map_err(CliError::Usage)?;
            rotate_keys(&config, alg, now, revoke)
        }
        Command::Keys(KeysCommand::Import { file, now }) => import_key(&config, &file, now),
        Command::Token(TokenCommand::Inspect { token }) => inspect(&config, &token),
        Command::Sessions(command) => sessions(config, command).await,
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<(), CliError> {
    let listen = config.listen;
    let state = Services::start(config).await.map_err(failed)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| {
            failed(app::StartError::Bind {
                addr: listen,
                source,
            })
        })?;
    let bound = listener.local_addr().map_err(failed)?;
    tracing::info!(addr = %bound, issuer = %state.issuer, "signet listening");
    app::serve(listener, state, shutdown_signal())
        .await
        .map_err(failed)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

async fn add_user(
    config: Config,
    email: &str,
    password_stdin: bool,
    scope: &str,
) -> Result<(), CliError> {
    let password = read_password(password_stdin)?;
    let store = store::open(&config.database_url, config.pool_settings())
        .await
        .map_err(failed)?;
    let accounts = accounts(&config, store).await?;
    let user = accounts
        .register(email, password, scope)
        .await
        .map_err(failed)?;
    let out = serde_json::json!({ "id": user.id, "email": user.email, "scope": user.scope });
    println!("{out}");
    Ok(())
}

/// The revocation list, for commands that revoke.
async fn revocations(
    config: &Config,
    store: &Arc<dyn Store>,
) -> Result<Arc<Revocations>, CliError> {
    let revocations = Revocations::new(
        store.clone(),
        config.revocation_settings(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .map_err(failed)?;
    Ok(Arc::new(revocations))
}

/// Accounts with a single-threaded hasher, as one command needs.
async fn accounts(config: &Config, store: Arc<dyn Store>) -> Result<Accounts, CliError> {
    let hasher = Hasher::new(config.argon2, 1).map_err(failed)?;
    let revocations = revocations(config, &store).await?;
    Ok(Accounts::new(store, Arc::new(hasher), revocations)
        .with_recovery(config.recovery_settings()))
}

async fn disable_user(config: Config, email: &str) -> Result<(), CliError> {
    let store = store::open(&config.database_url, config.pool_settings())
        .await
        .map_err(failed)?;
    let accounts = accounts(&config, store).await?;
    match accounts.disable(email).await.map_err(failed)? {
        Some(user) => {
            println!(
                "{}",
                serde_json::json!({ "id": user.id, "email": user.email, "disabled": true })
            );
            Ok(())
        }
        None => Err(failed(format!("no user with email {email}"))),
    }
}

/// Prints the token alone on stdout, for the operator to pass on.
async fn reset_link(config: Config, email: &str) -> Result<(), CliError> {
    let store = store::open(&config.database_url, config.pool_settings())
        .await
        .map_err(failed)?;
    let hasher = Hasher::new(config.argon2, 1).map_err(failed)?;
    let recovery = Recovery::new(store, Arc::new(hasher), config.recovery_settings());
    match recovery.reset_link(email).await.map_err(failed)? {
        Some(token) => {
            println!("{token}");
            Ok(())
        }
        None => Err(failed(format!("no enabled user with email {email}"))),
    }
}

/// Whose claims `set-claims` replaces, as named on the command line.
enum ClaimsTarget<'a> {
    User(&'a str),
    Client(&'a str),
}

/// Checks the claims first (a bad object is bad usage, exit 2), then
/// replaces them; nothing changes when either step fails.
async fn set_claims(
    store: Arc<dyn Store>,
    target: ClaimsTarget<'_>,
    json: &str,
) -> Result<(), CliError> {
    let valid = claims::parse(json).map_err(|e| CliError::Usage(e.to_string()))?;
    let (owner_id, missing) = match target {
        ClaimsTarget::User(email) => {
            let user = match crate::auth::email::normalize(email) {
                Some(normal) => store.user_by_email(&normal).await.map_err(failed)?,
                None => None,
            };
            let missing = format!("no user with email {email}");
            (user.ok_or_else(|| failed(missing.clone()))?.id, missing)
        }
        ClaimsTarget::Client(id) => (id.to_owned(), format!("no client with id {id}")),
    };
    let owner = match target {
        ClaimsTarget::User(_) => ClaimsOwner::User(&owner_id),
        ClaimsTarget::Client(_) => ClaimsOwner::Client(&owner_id),
    };
    if !CustomClaims::new(store, None)
        .set(owner, &valid)
        .await
        .map_err(failed)?
    {
        return Err(failed(missing));
    }
    let claims: serde_json::Value = serde_json::from_str(valid.as_str()).map_err(failed)?;
    println!(
        "{}",
        serde_json::json!({ "id": owner_id, "claims": claims })
    );
    Ok(())
}

async fn clients(config: Config, command: ClientsCommand) -> Result<(), CliError> {
    let store = store::open(&config.database_url, config.pool_settings())
        .await
        .map_err(failed)?;
    let clients = Clients::new(store.clone(), revocations(&config, &store).await?);
    match command {
        ClientsCommand::Add {
            name,
            scope,
            audience,
        } => {
            let audience = audience.unwrap_or_else(|| config.audience.clone());
            let created = clients
                .add(&name, &scope, &audience)
                .await
                .map_err(failed)?;
            let out = serde_json::json!({
                "client_id": created.client.id,
                "client_secret": created.secret,
            });
            println!("{out}");
        }
        ClientsCommand::List => {
            for client in clients.list().await.map_err(failed)? {
                let out = serde_json::json!({
                    "client_id": client.id,
                    "name": client.name,
                    "scope": client.scope,
                    "audience": client.audience,
                    "created_at": time(Some(client.created_at)),
                });
                println!("{out}");
            }
        }
        ClientsCommand::Remove { client_id } => {
            if !clients.remove(&client_id).await.map_err(failed)? {
                return Err(failed(format!("no client with id {client_id}")));
            }
        }
        ClientsCommand::SetClaims { client_id, json } => {
            return set_claims(store, ClaimsTarget::Client(&client_id), &json).await;
        }
    }
    Ok(())
}

async fn sessions(config: Config, command: SessionsCommand) -> Result<(), CliError> {
    let store = store::open(&config.database_url, config.pool_settings())
        .await
        .map_err(failed)?;
    match command {
        SessionsCommand::List { email } => {
            let user = match crate::auth::email::normalize(&email) {
                Some(email) => store.user_by_email(&email).await.map_err(failed)?,
                None => None,
            }
            .ok_or_else(|| failed(format!("no user with email {email}")))?;
            let now = crate::clock::system().now();
            let live = live_sessions(&*store, &user.id, config.session_idle, now)
                .await
                .map_err(failed)?;
            for session in live {
                let out = serde_json::json!({
                    "sid": session.id,
                    "created_at": time(Some(session.created_at)),
                    "last_used_at": time(Some(session.last_used_at)),
                    "expires_at": time(Some(session.expires_at)),
                    "client_id": session.client_id,
                    "user_agent": session.user_agent,
                    "ip": session.ip,
                });
                println!("{out}");
            }
        }
        SessionsCommand::Revoke { sid } => {
            let revocations = Revocations::new(
                store,
                config.revocation_settings(),
                tokio_util::sync::CancellationToken::new(),
            )
            .await
            .map_err(failed)?;
            let ended = revocations
                .revoke_sessions(SessionTarget::One(&sid), Reason::Revoked)
                .await
                .map_err(failed)?;
            if ended.is_empty() {
                return Err(failed(format!("no live session with sid {sid}")));
            }
            tracing::info!(target: "signet::audit", event = "session_ended", sid = %sid);
            println!("{}", serde_json::json!({ "sid": sid, "revoked": true }));
        }
    }
    Ok(())
}

/// A dependency-free GET of `/readyz` on the configured listen address.
async fn healthcheck(config: &Config) -> Result<(), CliError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = vec![0u8; 64];
        let read = stream.read(&mut head).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head[..read]).into_owned())
    };
    let head = tokio::time::timeout(std::time::Duration::from_secs(5), probe)
        .await
        .map_err(|_| failed("no answer from /readyz within 5s"))?
        .map_err(failed)?;
    if head.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(failed(format!(
            "/readyz answered: {}",
            head.lines().next().unwrap_or("")
        )))
    }
}

fn read_password(from_stdin: bool) -> Result<SecretString, CliError> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(failed)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        return Ok(SecretString::from(password));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no terminal to prompt on: pass --password-stdin".into(),
        ));
    }
    let first = rpassword::prompt_password("Password: ").map_err(failed)?;
    let again = rpassword::prompt_password("Repeat password: ").map_err(failed)?;
    if first != again {
        return Err(failed("the passwords differ"));
    }
    Ok(SecretString::from(first))
}

fn list_keys(config: &Config) -> Result<(), CliError> {
    let ring =
        KeyRing::load(&config.keys_dir, chrono::Utc::now().timestamp(), true).map_err(failed)?;
    let row = |cells: [&str; 7]| {
        println!(
            "{:<44} {:<6} {:<9} {:<20} {:<20} {:<20} {:<20}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        );
    };
    row([
        "KID",
        "ALG",
        "STATE",
        "CREATED",
        "ACTIVATES",
        "RETIRES",
        "UNPUBLISHED",
    ]);
    for key in ring.keys() {
        row([
            &key.kid,
            &key.meta.alg,
            key.state.as_str(),
            &time(Some(key.meta.created_at)),
            &time(Some(key.meta.activates())),
            &time(key.retires_at),
            &time(key.meta.removes_at),
        ]);
    }
    Ok(())
}

fn rotate_keys(
    config: &Config,
    alg: Option<SigningAlg>,
    now: bool,
    revoke: bool,
) -> Result<(), CliError> {
    let settings = config.key_settings();
    let alg = alg.unwrap_or(settings.alg);
    let rotation = if now {
        Rotation::Now { alg, revoke }
    } else {
        Rotation::Routine(alg)
    };
    let report = keys::rotate(&config.keys_dir, &settings, rotation).map_err(failed)?;
    tracing::info!(target: "signet::audit", event = "key_rotated", new = %report.new_kid, revoked = report.revoked);
    print_report("added", &report);
    Ok(())
}

fn import_key(config: &Config, file: &std::path::Path, now: bool) -> Result<(), CliError> {
    let settings = config.key_settings();
    let report = keys::import(&config.keys_dir, &settings, file, now).map_err(failed)?;
    tracing::info!(target: "signet::audit", event = "key_imported", new = %report.new_kid, alg = report.alg.as_str());
    print_report("imported", &report);
    Ok(())
}

/// What a rotation or import did, for the operator.
fn print_report(verb: &str, report: &keys::RotationReport) {
    println!(
        "{verb} {} key {}: signs from {}",
        report.alg.as_str(),
        report.new_kid,
        time(Some(report.activates_at))
    );
    if let Some((old, removed)) = &report.replaced {
        if report.revoked {
            println!(
                "revoked key {old}: removed from the JWKS now; its tokens are refused by Signet within a second and by guards following the feed within 2 s"
            );
        } else {
            println!(
                "key {old} retires then and stays published until {}",
                time(Some(*removed))
            );
        }
    }
}

fn time(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
}

fn inspect(config: &Config, token: &str) -> Result<(), CliError> {
    signet_guard::crypto::install();
    let (header, claims) = crate::tokens::access::peek(token)
        .ok_or_else(|| CliError::Usage("not a compact JWS (header.payload.signature)".into()))?;
    println!("header: {header}");
    println!("claims: {claims}");
    let ring =
        KeyRing::load(&config.keys_dir, chrono::Utc::now().timestamp(), false).map_err(failed)?;
    match crate::tokens::access::verify_issued::<signet_guard::NoCustomClaims>(
        &config.issuer(),
        ring.keyset(),
        token,
    ) {
        Ok(_) => {
            println!("verdict: valid");
            Ok(())
        }
        Err(error) => {
            println!("verdict: invalid ({error})");
            Err(failed(format!("token is invalid: {error}")))
        }
    }
}
