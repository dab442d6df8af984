//! Hostnames: the host a request names, which names the API answers on, and the custom domains
//! customers may attach.

use std::net::IpAddr;

/// The host a request is for, normalised: a DNS name (lowercase, no port, no trailing dot) or
/// an IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

/// Reads the host part of an authority (`Host` header or `:authority`): `Name:8080`,
/// `name.`, `127.0.0.1:9090`, `[::1]:9090`. `None` for anything that is neither a plausible DNS
/// name nor an IP literal (empty, spaces, underscores, a non-numeric port, over 253 bytes).
pub fn parse_authority(raw: &str) -> Option<Host> {
    if let Some(rest) = raw.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok.then(|| ip.parse().ok().map(Host::Ip)).flatten();
    }
    let name = match raw.rsplit_once(':') {
        Some((name, port)) if is_port(port) => name,
        Some(_) => return None,
        None => raw,
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Some(Host::Ip(ip));
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let plausible = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    plausible.then_some(Host::Name(name))
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `name` is a name under `parent` (`a.b.example.com` under `example.com`), not
/// `parent` itself.
pub fn is_under(name: &str, parent: &str) -> bool {
    name.len() > parent.len() + 1 && name.ends_with(parent) && name.as_bytes()[name.len() - parent.len() - 1] == b'.'
}

fn is_at_or_under(name: &str, parent: &str) -> bool {
    name == parent || is_under(name, parent)
}

/// One label of a DNS name (RFC 1123): 1 to 63 letters, digits and `-`, not starting or ending
/// with `-`.
pub fn valid_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// What a customer's TXT record must hold to prove control of a domain: `hoster-` and 128
/// random bits (the caller's), base32.
pub fn proof_token(random: [u8; 16]) -> String {
    format!("hoster-{}", crate::id::base32(&random))
}

/// The hostnames (and IP literals) the API answers on. Anything else reaching the API's
/// listener is a deployment's hostname or is refused, so that no one can point a name of their
/// own at the API (DNS rebinding) or take an API name for a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiHosts {
    names: Vec<String>,
    ips: Vec<IpAddr>,
}

impl ApiHosts {
    /// `listed` are names or IP literals (any case, trailing dot allowed); loopback addresses are
    /// always API hosts, since only this machine can use them.
    pub fn new<'a>(listed: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut hosts = Self {
            names: Vec::new(),
            ips: Vec::new(),
        };
        for raw in listed {
            match parse_authority(raw.trim()) {
                Some(Host::Name(name)) => hosts.names.push(name),
                Some(Host::Ip(ip)) => hosts.ips.push(ip),
                None => return Err(format!("`{raw}` is not a hostname or IP address")),
            }
        }
        Ok(hosts)
    }

    pub fn contains(&self, host: &Host) -> bool {
        match host {
            Host::Name(name) => self.names.iter().any(|n| n == name),
            Host::Ip(ip) => ip.to_canonical().is_loopback() || self.ips.contains(ip),
        }
    }

    /// Whether `name` is an API hostname or a name under one (`api.localhost` under
    /// `localhost`): such names may never be a deployment's.
    pub fn reserves(&self, name: &str) -> bool {
        self.names.iter().any(|n| is_at_or_under(name, n))
    }
}

/// Why a name cannot be a custom domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// Not a hostname at all.
    Invalid(String),
    /// A hostname that belongs to Hoster: the API's, one under it, one under the base domain,
    /// or an IP literal.
    Reserved(String),
}

/// A custom domain, normalised (lowercase, no trailing dot), or why it cannot be one.
pub fn custom_domain(raw: &str, base_domain: &str, api: &ApiHosts) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    let unbracketed = trimmed.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Err(DomainError::Reserved(format!(
            "`{raw}` is an IP address; only hostnames can be attached"
        )));
    }
    let name = trimmed.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    if labels
        .last()
        .is_some_and(|tld| !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DomainError::Reserved(format!(
            "`{raw}` is an IP address; only hostnames can be attached"
        )));
    }
    let invalid = || DomainError::Invalid(format!("`{raw}` is not a hostname such as www.example.com"));
    if name.len() > 253 || !labels.iter().all(|l| valid_label(l)) {
        return Err(invalid());
    }
    if is_at_or_under(&name, base_domain) {
        return Err(DomainError::Reserved(format!(
            "names under {base_domain} are assigned by Hoster"
        )));
    }
    if api.reserves(&name) {
        return Err(DomainError::Reserved(format!(
            "{name} is (or is under) a hostname of Hoster's API"
        )));
    }
    if labels.len() < 2 {
        return Err(invalid());
    }
    Ok(name)
}

/// The name whose TXT record proves control of `domain`.
pub fn proof_record_name(domain: &str) -> String {
    format!("_hoster.{domain}")
}

/// What DNS said about a custom domain: the TXT strings at [`proof_record_name`] and the
/// domain's own CNAME target, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsAnswers {
    pub txt: Vec<String>,
    pub cname: Option<String>,
}

/// Whether the answers prove the customer controls `domain`: a TXT record holding exactly
/// `token`, or a CNAME to the deployment's generated hostname. `Err` says what is missing.
pub fn proves_control(domain: &str, answers: &DnsAnswers, token: &str, generated: &str) -> Result<(), String> {
    if answers.txt.iter().any(|t| t.trim() == token) {
        return Ok(());
    }
    let cname = answers
        .cname
        .as_deref()
        .map(|c| c.trim_end_matches('.').to_ascii_lowercase());
    if cname.as_deref() == Some(generated) {
        return Ok(());
    }
    let found = match cname {
        Some(c) => format!("its CNAME points to {c}"),
        None => "it has no CNAME".into(),
    };
    Err(format!(
        "no TXT record {} holding {token}, and {found}, not {generated}",
        proof_record_name(domain)
    ))
}

/// The address a deployment answers at through the proxy on `port`.
pub fn deployment_url(domain: &str, port: u16) -> String {
    match port {
        80 => format!("http://{domain}"),
        port => format!("http://{domain}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> ApiHosts {
        ApiHosts::new(["localhost", "Hoster.Example.com.", "203.0.113.7"]).unwrap()
    }

    #[test]
    fn authorities_are_normalised_and_hostile_ones_refused() {
        let name = |s: &str| Some(Host::Name(s.into()));
        assert_eq!(
            parse_authority("My-Site.Apps.Localhost:9090"),
            name("my-site.apps.localhost")
        );
        assert_eq!(parse_authority("site.apps.localhost."), name("site.apps.localhost"));
        assert_eq!(
            parse_authority("127.0.0.1:9090"),
            Some(Host::Ip("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(parse_authority("[::1]:9090"), Some(Host::Ip("::1".parse().unwrap())));
        assert_eq!(parse_authority("[::1]"), Some(Host::Ip("::1".parse().unwrap())));
        for bad in [
            "",
            ":80",
            "a b",
            "x:y",
            "x:123456",
            &"a".repeat(300),
            "a/b",
            "a_b.apps.localhost",
            "[::1",
            "[::1]x",
            "[nope]:80",
        ] {
            assert_eq!(parse_authority(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn api_hosts_are_exact_names_and_loopback_addresses() {
        let api = api();
        for yes in [
            "localhost",
            "hoster.example.com",
            "127.0.0.1",
            "127.8.9.1",
            "[::1]",
            "203.0.113.7:80",
        ] {
            assert!(api.contains(&parse_authority(yes).unwrap()), "{yes}");
        }
        for no in ["evil.example", "api.localhost", "10.0.0.1", "[fe80::1]"] {
            assert!(!api.contains(&parse_authority(no).unwrap()), "{no}");
        }
        assert!(api.reserves("api.localhost"));
        assert!(api.reserves("hoster.example.com"));
        assert!(!api.reserves("nothoster.example.com"));
        assert!(ApiHosts::new(["a b"]).is_err());
    }

    #[test]
    fn proof_tokens_and_labels() {
        let token = proof_token([7; 16]);
        assert!(
            token.starts_with("hoster-") && token.len() == "hoster-".len() + 26,
            "{token}"
        );
        assert_ne!(token, proof_token([8; 16]));
        assert!(valid_label("a-1") && valid_label("A"));
        for bad in ["", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(!valid_label(bad), "{bad}");
        }
        assert!(is_under("a.b.example.com", "example.com"));
        assert!(!is_under("example.com", "example.com"));
        assert!(!is_under("badexample.com", "example.com"));
    }

    #[test]
    fn control_is_proven_by_the_token_or_a_cname_to_the_deployment() {
        let ok = |txt: &[&str], cname: Option<&str>| {
            let answers = DnsAnswers {
                txt: txt.iter().map(|t| t.to_string()).collect(),
                cname: cname.map(str::to_string),
            };
            proves_control("shop.example.com", &answers, "hoster-abc", "shop.apps.localhost")
        };
        assert_eq!(ok(&["other", "hoster-abc"], None), Ok(()));
        assert_eq!(ok(&[], Some("Shop.Apps.Localhost.")), Ok(()));
        let missing = ok(&["hoster-abd"], Some("elsewhere.example.net.")).unwrap_err();
        assert!(missing.contains("_hoster.shop.example.com"), "{missing}");
        assert!(missing.contains("elsewhere.example.net"), "{missing}");
        assert!(ok(&[], None).unwrap_err().contains("no CNAME"));
        assert!(ok(&["hoster-abc-and-more"], None).is_err());
    }

    #[test]
    fn custom_domains_are_normalised_and_checked() {
        let api = api();
        assert_eq!(
            custom_domain("WWW.Example.COM.", "apps.localhost", &api),
            Ok("www.example.com".into())
        );
        assert_eq!(
            custom_domain("a-b.c1.io", "apps.localhost", &api),
            Ok("a-b.c1.io".into())
        );
        for bad in ["", "example", "-a.com", "a-.com", "a..com", "a_b.com", "a b.com"] {
            assert!(
                matches!(custom_domain(bad, "apps.localhost", &api), Err(DomainError::Invalid(_))),
                "{bad}"
            );
        }
        assert!(custom_domain(&format!("{}.com", "a".repeat(64)), "apps.localhost", &api).is_err());
        for reserved in [
            "1.2.3.4",
            "localhost",
            "LOCALHOST.",
            "127.0.0.1",
            "::1",
            "[::1]",
            "x.apps.localhost",
            "apps.localhost",
            "hoster.example.com",
            "HOSTER.example.com.",
            "api.localhost",
            "Deep.Api.LOCALHOST.",
            "x.hoster.example.com",
        ] {
            assert!(
                matches!(
                    custom_domain(reserved, "apps.localhost", &api),
                    Err(DomainError::Reserved(_))
                ),
                "{reserved}"
            );
        }
    }
}
