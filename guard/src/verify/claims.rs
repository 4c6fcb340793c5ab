//! The claims of a Signet access token (RFC 9068 §2.2).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// Claims of a validated access token. `C` receives any further claims a
/// service wants typed (flattened from the same JSON object).
///
/// Every field has a strict JSON type: a claim of the wrong type (e.g. a
/// string `exp` or a `null` `nbf`) fails deserialisation instead of being
/// treated as absent, so a forged shape can never skip a check.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Claims<C = NoCustomClaims> {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<i64>,
    pub jti: String,
    /// Space-separated scope tokens (RFC 6749 §3.3).
    #[serde(default)]
    pub scope: String,
    pub client_id: String,
    /// Session id; absent for `client_credentials` tokens.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub sid: Option<String>,
    /// When the user last proved a credential (RFC 9068 §2.2.1); a refresh
    /// keeps it. Absent for `client_credentials` tokens.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub auth_time: Option<i64>,
    /// How the user authenticated (RFC 8176 values, e.g. `["pwd"]`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub amr: Option<Vec<String>>,
    #[serde(flatten)]
    pub custom: C,
}

/// The default when a service needs no claims beyond Signet's own.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoCustomClaims {}

impl<C> Claims<C> {
    /// The individual scope tokens.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether the token grants `scope` (exact, case-sensitive match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Whether the user authenticated at most `max_age` seconds before `now`
    /// (Unix seconds); `false` without `auth_time`. A future `auth_time`
    /// (clock skew) counts as recent.
    pub fn authenticated_within(&self, max_age: u64, now: i64) -> bool {
        let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
        self.auth_time
            .is_some_and(|at| now.saturating_sub(at) <= max_age)
    }
}

/// Deserialises a claim that, when present, must hold a real value: `null`
/// is a type error rather than "absent".
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is among the token's audiences (exact match).
    pub fn contains(&self, audience: &str) -> bool {
        self.iter().any(|a| a == audience)
    }

    /// All audiences, in token order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match self {
            Audience::One(a) => std::slice::from_ref(a),
            Audience::Many(all) => all,
        };
        slice.iter().map(String::as_str)
    }
}

impl From<&str> for Audience {
    fn from(a: &str) -> Self {
        Audience::One(a.to_owned())
    }
}

impl From<String> for Audience {
    fn from(a: String) -> Self {
        Audience::One(a)
    }
}

impl From<Vec<String>> for Audience {
    fn from(all: Vec<String>) -> Self {
        Audience::Many(all)
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(a) => s.serialize_str(a),
            Audience::Many(all) => all.serialize(s),
        }
    }
}

/// Hand-written rather than `#[serde(untagged)]`: no buffering of the value,
/// and anything but a string or an array of strings is refused.
impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AudienceVisitor)
    }
}

struct AudienceVisitor;

impl<'de> Visitor<'de> for AudienceVisitor {
    type Value = Audience;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
        Ok(Audience::One(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
        Ok(Audience::One(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
        let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(a) = seq.next_element::<String>()? {
            all.push(a);
        }
        Ok(Audience::Many(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "iss": "https://issuer", "sub": "u1", "aud": "api", "exp": 10, "iat": 1,
            "jti": "j1", "scope": "read  write", "client_id": "c1"
        })
    }

    fn parse(v: serde_json::Value) -> Result<Claims, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn audience_shapes() {
        let one: Audience = serde_json::from_str(r#""a""#).unwrap();
        assert_eq!(one, Audience::One("a".into()));
        let many: Audience = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert!(many.contains("b") && !many.contains("c"));
        assert!(serde_json::from_str::<Audience>("5").is_err());
        assert!(serde_json::from_str::<Audience>("[5]").is_err());
        assert!(serde_json::from_str::<Audience>("null").is_err());
        assert_eq!(serde_json::to_string(&one).unwrap(), r#""a""#);
        assert_eq!(serde_json::to_string(&many).unwrap(), r#"["a","b"]"#);
    }

    #[test]
    fn scopes_split_on_spaces() {
        let c = parse(base()).unwrap();
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["read", "write"]);
        assert!(c.has_scope("write") && !c.has_scope("rea") && !c.has_scope(""));
    }

    #[test]
    fn null_optional_claims_are_refused() {
        let mut v = base();
        v["nbf"] = serde_json::Value::Null;
        assert!(parse(v).is_err());
        let mut v = base();
        v["sid"] = serde_json::Value::Null;
        assert!(parse(v).is_err());
    }

    #[test]
    fn recent_authentication() {
        let mut v = base();
        assert!(!parse(v.clone()).unwrap().authenticated_within(300, 1_000));
        v["auth_time"] = 1_000.into();
        v["amr"] = serde_json::json!(["pwd"]);
        let c = parse(v.clone()).unwrap();
        assert_eq!(c.amr.as_deref(), Some(&["pwd".to_owned()][..]));
        assert!(c.authenticated_within(300, 1_300));
        assert!(!c.authenticated_within(300, 1_301));
        assert!(c.authenticated_within(0, 999));
        v["auth_time"] = "1000".into();
        assert!(parse(v.clone()).is_err(), "a string auth_time is refused");
        v["auth_time"] = serde_json::Value::Null;
        assert!(parse(v).is_err());
    }

    #[test]
    fn duplicate_claims_are_refused() {
        let json = r#"{"iss":"i","sub":"s","aud":"a","exp":10,"exp":99,"iat":1,"jti":"j","client_id":"c"}"#;
        assert!(serde_json::from_str::<Claims>(json).is_err());
    }

    #[test]
    fn serialises_without_absent_members() {
        let c = parse(base()).unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert!(v.get("nbf").is_none() && v.get("sid").is_none());
        assert_eq!(v["aud"], "api");
    }
}
