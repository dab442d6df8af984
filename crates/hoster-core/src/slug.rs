//! Slugs: the URL- and DNS-safe form of a name (lowercase a–z, 0–9, single `-`).

/// Longest slug kept; fits a DNS label (63) with room for a uniqueness suffix.
pub const MAX_SLUG_LEN: usize = 50;

/// Lowercases, maps every run of other characters to one `-`, and trims dashes from both ends.
/// Returns an empty string when the name has no ASCII letters or digits at all.
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len().min(MAX_SLUG_LEN));
    let mut pending_dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
        if slug.len() >= MAX_SLUG_LEN {
            break;
        }
    }
    slug.truncate(MAX_SLUG_LEN);
    slug.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slugs_follow_the_spec_examples() {
        assert_eq!(slugify("nginx-web"), "nginx-web");
        assert_eq!(slugify("My WebApp"), "my-webapp");
        assert_eq!(slugify("  Three  Tier -- App!! "), "three-tier-app");
        assert_eq!(slugify("Ünïcode Café 2"), "n-code-caf-2");
        assert_eq!(slugify("!!!"), "");
    }

    #[test]
    fn slugs_are_bounded() {
        let slug = slugify(&"ab-".repeat(100));
        assert!(slug.len() <= MAX_SLUG_LEN);
        assert!(!slug.ends_with('-'));
    }

    proptest! {
        #[test]
        fn slugs_only_hold_safe_characters(name in ".{0,200}") {
            let slug = slugify(&name);
            prop_assert!(slug.len() <= MAX_SLUG_LEN);
            prop_assert!(slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            prop_assert!(!slug.starts_with('-') && !slug.ends_with('-') && !slug.contains("--"));
            prop_assert_eq!(slugify(&slug), slug.clone(), "slugify is idempotent");
        }
    }
}
