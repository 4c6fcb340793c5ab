//! Email normalisation, so one person cannot register twice with an address
//! that looks the same: Unicode NFKC first (fullwidth letters, ligatures and
//! other compatibility forms become their plain equivalents), then case.

use unicode_normalization::UnicodeNormalization;

/// Longest accepted address (RFC 5321 path limit).
const MAX_LEN: usize = 254;

/// The comparable form of any username, valid or not: trimmed, NFKC,
/// lower-cased (and NFKC again, since lower-casing can leave composed forms).
pub fn fold(raw: &str) -> String {
    raw.trim()
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect()
}

/// Folds the address and checks its basic shape: one `@`, non-empty local
/// part, a dotted domain, no whitespace or control characters.
pub fn normalize(raw: &str) -> Option<String> {
    let email = fold(raw);
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

    #[test]
    fn compatibility_forms_fold_to_the_plain_address() {
        for variant in [
            "\u{ff21}\u{ff24}\u{ff21}@example.com", // fullwidth ＡＤＡ
            "ada@\u{ff45}xample.com",               // fullwidth ｅ
            "Ada@Example.com",
        ] {
            assert_eq!(normalize(variant).as_deref(), Some("ada@example.com"));
        }
        assert_eq!(
            normalize("\u{fb01}onn@example.com").as_deref(), // ligature ﬁ
            Some("fionn@example.com")
        );
    }
}
