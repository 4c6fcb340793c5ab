//! Custom claims (CONTRACT §11): a static JSON object per user or client,
//! plus what the optional claims hook adds, merged into every token issued
//! to that subject. Signet's own claims can never be set or overridden.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::store::{ClaimsOwner, Store, StoreError};
use crate::tokens::claims_hook::{ClaimsHook, HookFailure, HookRequest};

/// Claims Signet sets itself (or that carry protocol meaning), refused as
/// custom claims from the CLI and dropped from hook answers.
pub const RESERVED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "typ",
    "scope",
    "client_id",
    "sid",
    "auth_time",
    "amr",
    "email_verified",
    "cnf",
    "act",
];

/// Largest custom-claims object (compact JSON), so tokens stay far below
/// the guard's 8 KiB limit: static and hook claims together.
pub const MAX_BYTES: usize = 2048;

/// Whether `name` is one of Signet's own claims.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}

/// Why a custom-claims object was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidClaims {
    #[error("the claims must be a JSON object: {0}")]
    NotAnObject(String),
    #[error("the claims are {0} bytes as JSON; at most {MAX_BYTES} are allowed")]
    TooLarge(usize),
    #[error("`{0}` is a reserved claim and cannot be set")]
    Reserved(String),
}

/// A checked custom-claims object, in the compact JSON form stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidClaims(String);

impl ValidClaims {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses and checks claims given by an operator (`set-claims`): a JSON
/// object of at most [`MAX_BYTES`] without reserved names.
pub fn parse(json: &str) -> Result<ValidClaims, InvalidClaims> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| InvalidClaims::NotAnObject(e.to_string()))?;
    let Value::Object(claims) = value else {
        return Err(InvalidClaims::NotAnObject("not an object".into()));
    };
    if let Some(name) = claims.keys().find(|name| is_reserved(name)) {
        return Err(InvalidClaims::Reserved(escape(name)));
    }
    let compact = Value::Object(claims).to_string();
    if compact.len() > MAX_BYTES {
        return Err(InvalidClaims::TooLarge(compact.len()));
    }
    Ok(ValidClaims(compact))
}

/// A claim name fit for a log line or a one-line message: control
/// characters escaped, at most 64 characters.
pub fn escape(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if name.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// Which grant a token is issued for, as the hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    Password,
    RefreshToken,
    ClientCredentials,
    Reauthenticate,
}

impl GrantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::Password => "password",
            GrantKind::RefreshToken => "refresh_token",
            GrantKind::ClientCredentials => "client_credentials",
            GrantKind::Reauthenticate => "reauthenticate",
        }
    }
}

/// The subject a token is about to be issued to.
pub struct Subject<'a> {
    pub owner: ClaimsOwner<'a>,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub sid: Option<&'a str>,
    pub grant: GrantKind,
    pub scope: &'a str,
}

/// Collecting the claims failed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    /// `claims_hook_failure = deny` and the hook failed.
    #[error("the claims hook is unavailable")]
    HookUnavailable(#[source] HookFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Gathers the custom claims of each token.
pub struct CustomClaims {
    store: Arc<dyn Store>,
    hook: Option<ClaimsHook>,
}

impl CustomClaims {
    pub fn new(store: Arc<dyn Store>, hook: Option<ClaimsHook>) -> Self {
        Self { store, hook }
    }

    /// The stored claims of `subject`, with the hook's answer merged over
    /// them (the hook wins for a name both set). Reserved names never pass.
    pub async fn for_token(
        &self,
        subject: &Subject<'_>,
    ) -> Result<Map<String, Value>, ClaimsError> {
        let mut claims = self.stored(subject.owner).await?;
        let Some(hook) = &self.hook else {
            return Ok(claims);
        };
        let request = HookRequest {
            sub: subject.sub,
            client_id: subject.client_id,
            sid: subject.sid,
            grant: subject.grant.as_str(),
            scope: subject.scope,
        };
        let added = match hook.call(&request).await {
            Ok(added) => merged(&claims, added),
            Err(failure) => Err(failure),
        };
        match added {
            Ok(merged) => claims = merged,
            Err(failure) => {
                crate::telemetry::claims_hook_failed(failure.reason());
                tracing::warn!(error = %failure, sub = %subject.sub, grant = subject.grant.as_str(), "claims hook failed");
                if hook.denies_on_failure() {
                    return Err(ClaimsError::HookUnavailable(failure));
                }
            }
        }
        Ok(claims)
    }

    /// Replaces the stored claims of `owner`; `Ok(false)` when it does not exist.
    pub async fn set(
        &self,
        owner: ClaimsOwner<'_>,
        claims: &ValidClaims,
    ) -> Result<bool, StoreError> {
        self.store.set_claims(owner, claims.as_str()).await
    }

    async fn stored(&self, owner: ClaimsOwner<'_>) -> Result<Map<String, Value>, StoreError> {
        let text = self.store.claims(owner).await?.unwrap_or_default();
        // Stored text was checked on the way in; anything odd (a hand edit)
        // is ignored rather than failing every login.
        let mut claims = match serde_json::from_str(&text) {
            Ok(Value::Object(claims)) => claims,
            _ => Map::new(),
        };
        claims.retain(|name, _| !is_reserved(name));
        Ok(claims)
    }
}

/// `added` over `base`, reserved names dropped (and logged), within [`MAX_BYTES`].
fn merged(
    base: &Map<String, Value>,
    added: Map<String, Value>,
) -> Result<Map<String, Value>, HookFailure> {
    let mut claims = base.clone();
    for (name, value) in added {
        if is_reserved(&name) {
            tracing::warn!(claim = %escape(&name), "claims hook answered a reserved claim; dropped");
            continue;
        }
        claims.insert(name, value);
    }
    let size = Value::Object(claims.clone()).to_string().len();
    if size > MAX_BYTES {
        return Err(HookFailure::TooLarge);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_claims_are_checked() {
        let valid = parse(r#"{ "roles": ["admin"], "tenant": 7 }"#).unwrap();
        assert_eq!(valid.as_str(), r#"{"roles":["admin"],"tenant":7}"#);
        for name in RESERVED {
            let json = format!(r#"{{"ok":1,"{name}":"x"}}"#);
            assert_eq!(parse(&json), Err(InvalidClaims::Reserved((*name).into())));
        }
        assert!(matches!(parse("[1]"), Err(InvalidClaims::NotAnObject(_))));
        assert!(matches!(parse("{"), Err(InvalidClaims::NotAnObject(_))));
        let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(MAX_BYTES));
        assert!(matches!(parse(&big), Err(InvalidClaims::TooLarge(_))));
        let fits = format!(r#"{{"b":"{}"}}"#, "x".repeat(MAX_BYTES - 8));
        assert_eq!(parse(&fits).unwrap().as_str().len(), MAX_BYTES);
    }

    #[test]
    fn hook_answers_cannot_override_reserved_claims() {
        let base: Map<String, Value> = serde_json::from_str(r#"{"a":1}"#).unwrap();
        let added = serde_json::from_str(r#"{"sub":"admin","scope":"all","a":2,"b":3}"#).unwrap();
        let claims = merged(&base, added).unwrap();
        assert_eq!(Value::Object(claims), serde_json::json!({"a": 2, "b": 3}));
        let huge = serde_json::from_value(serde_json::json!({"x": "y".repeat(MAX_BYTES)})).unwrap();
        assert!(matches!(merged(&base, huge), Err(HookFailure::TooLarge)));
    }

    #[test]
    fn names_in_messages_are_escaped_and_short() {
        assert_eq!(escape("a\nb"), "a\\nb");
        assert_eq!(escape(&"z".repeat(100)).chars().count(), 65);
    }
}
