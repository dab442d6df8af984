//! Hostnames customers attach to deployments.

/// A custom domain, normalised (lowercase, no trailing dot), or why it cannot be one. Names
/// under `base_domain` are refused: Hoster hands those out itself.
pub fn custom_domain(raw: &str, base_domain: &str) -> Result<String, String> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let labels: Vec<&str> = name.split('.').collect();
    if name.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
        return Err(format!("`{raw}` is not a hostname such as www.example.com"));
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("`{raw}` is an IP address, not a hostname"));
    }
    if name == base_domain || name.ends_with(&format!(".{base_domain}")) {
        return Err(format!("names under {base_domain} are assigned by Hoster"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::custom_domain;

    #[test]
    fn custom_domains_are_normalised_and_checked() {
        assert_eq!(
            custom_domain("WWW.Example.COM.", "apps.localhost"),
            Ok("www.example.com".into())
        );
        assert_eq!(custom_domain("a-b.c1.io", "apps.localhost"), Ok("a-b.c1.io".into()));
        for bad in [
            "",
            "localhost",
            "example",
            "-a.com",
            "a-.com",
            "a..com",
            "a_b.com",
            "a b.com",
            "1.2.3.4",
            "x.apps.localhost",
            "apps.localhost",
        ] {
            assert!(custom_domain(bad, "apps.localhost").is_err(), "{bad}");
        }
        assert!(custom_domain(&format!("{}.com", "a".repeat(64)), "apps.localhost").is_err());
    }
}
