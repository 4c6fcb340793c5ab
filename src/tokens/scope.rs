//! Scope arithmetic: what a request may be granted out of what is allowed.

use std::collections::BTreeSet;

/// The request asked for a scope outside the allowed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the requested scope exceeds what is allowed")]
pub struct ScopeExceeded;

/// Grants `requested` when it is within `allowed`; no request gets `allowed`.
/// The result is normalised: unique scopes, sorted, space-separated.
pub fn grant(allowed: &str, requested: Option<&str>) -> Result<String, ScopeExceeded> {
    let allowed: BTreeSet<&str> = allowed.split_whitespace().collect();
    let Some(requested) = requested else {
        return Ok(join(allowed));
    };
    let requested: BTreeSet<&str> = requested.split_whitespace().collect();
    if requested.is_subset(&allowed) {
        Ok(join(requested))
    } else {
        Err(ScopeExceeded)
    }
}

fn join(scopes: BTreeSet<&str>) -> String {
    scopes.into_iter().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        assert_eq!(grant("b a", None).unwrap(), "a b");
        assert_eq!(grant("a b", Some("b")).unwrap(), "b");
        assert_eq!(grant("a b", Some(" b  b a")).unwrap(), "a b");
        assert_eq!(grant("a b", Some("")).unwrap(), "");
        assert_eq!(grant("a", Some("a c")), Err(ScopeExceeded));
        assert_eq!(grant("", Some("a")), Err(ScopeExceeded));
    }
}
