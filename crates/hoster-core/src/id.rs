//! Resource identifiers: a kind prefix and 80 random bits in lowercase base32
//! (`tmpl_` + 16 characters). The shell supplies the random bytes; the core formats and checks.

use std::fmt;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Random bytes per id: 80 bits, comfortably over the 64 bits needed to be unguessable.
pub const RANDOM_BYTES: usize = 10;
const SUFFIX_LEN: usize = RANDOM_BYTES * 8 / 5;

macro_rules! id_type {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[doc = concat!("Identifier of a ", $what, ": `", $prefix, "` followed by 16 base32 characters.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn from_random(bytes: [u8; RANDOM_BYTES]) -> Self {
                Self(format!("{}{}", $prefix, encode(bytes)))
            }

            /// Accepts only well-formed ids, so a malformed path segment is "not found" without
            /// a database round trip.
            pub fn parse(s: &str) -> Option<Self> {
                let suffix = s.strip_prefix($prefix)?;
                (suffix.len() == SUFFIX_LEN && suffix.bytes().all(|b| ALPHABET.contains(&b)))
                    .then(|| Self(s.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        crate::problem::try_from_text!($name, concat!($what, " id"));

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(TemplateId, "tmpl_", "template");
id_type!(DeploymentId, "depl_", "deployment");
id_type!(TokenId, "tok_", "API token");
id_type!(BackupId, "bkp_", "backup");

fn encode(bytes: [u8; RANDOM_BYTES]) -> String {
    base32(&bytes)
}

/// Lowercase base32 of `bytes`, most significant bit first, the last character zero-padded.
pub(crate) fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u16, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[usize::from((acc >> bits) & 31)] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[usize::from((acc << (5 - bits)) & 31)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_16_base32_characters() {
        let id = TemplateId::from_random([0xff; RANDOM_BYTES]);
        assert_eq!(id.as_str(), "tmpl_7777777777777777");
        let id = DeploymentId::from_random([0; RANDOM_BYTES]);
        assert_eq!(id.as_str(), "depl_aaaaaaaaaaaaaaaa");
    }

    #[test]
    fn different_bytes_give_different_ids() {
        let a = TemplateId::from_random([1; RANDOM_BYTES]);
        let b = TemplateId::from_random([2; RANDOM_BYTES]);
        assert_ne!(a, b);
    }

    #[test]
    fn parse_round_trips_and_rejects_malformed_ids() {
        let id = TemplateId::from_random([7; RANDOM_BYTES]);
        assert_eq!(TemplateId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(DeploymentId::parse(id.as_str()), None, "wrong prefix");
        for bad in [
            "",
            "tmpl_",
            "tmpl_abc",
            "tmpl_AAAAAAAAAAAAAAAA",
            "tmpl_aaaaaaaaaaaaaaa1",
            "x/../tmpl",
        ] {
            assert_eq!(TemplateId::parse(bad), None, "{bad}");
        }
    }
}
