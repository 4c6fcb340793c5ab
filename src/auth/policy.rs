//! Password policy after NIST SP 800-63B §5.1.1.2: length, not composition,
//! plus a refusal of passwords attackers try first.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Shortest accepted password, in characters.
pub const MIN_CHARS: usize = 8;
/// Longest accepted password, in characters: generous for passphrases,
/// bounded so hashing cost stays predictable.
pub const MAX_CHARS: usize = 256;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .collect()
});

/// Why a password was refused; safe to show to the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the password must have at least {MIN_CHARS} characters")]
    TooShort,
    #[error("the password must have at most {MAX_CHARS} characters")]
    TooLong,
    #[error("the password is one of the most common passwords; choose another")]
    Common,
}

/// Checks a new password against the policy.
pub fn check(password: &str) -> Result<(), PolicyError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PolicyError::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PolicyError::TooLong);
    }
    if COMMON.contains(password.to_lowercase().as_str()) {
        return Err(PolicyError::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_common_list() {
        assert_eq!(check("short"), Err(PolicyError::TooShort));
        assert_eq!(check(&"x".repeat(MAX_CHARS + 1)), Err(PolicyError::TooLong));
        assert_eq!(check("password"), Err(PolicyError::Common));
        assert_eq!(check("Password"), Err(PolicyError::Common));
        assert_eq!(check("1qaz2wsx"), Err(PolicyError::Common));
        assert!(check("correct horse battery staple").is_ok());
        assert!(check("ünïcödé✓").is_ok(), "eight characters, more bytes");
        assert!(COMMON.len() > 9_000);
    }
}
