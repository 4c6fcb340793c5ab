//! Email normalisation, so one person cannot register twice by changing case.

/// Longest accepted address (RFC 5321 path limit).
const MAX_LEN: usize = 254;

/// Trims and lower-cases the address and checks its basic shape: one `@`,
/// non-empty local part, a dotted domain, no whitespace or control characters.
pub fn normalize(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.len() > MAX_LEN {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && email.chars().all(|c| !c.is_whitespace() && !c.is_control());
    plausible.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalises_and_validates() {
        assert_eq!(
            normalize("  Ada@Example.COM ").as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@example..com",
            "ada@.example.com",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
        assert_eq!(normalize(&format!("{}@example.com", "a".repeat(65))), None);
    }
}
