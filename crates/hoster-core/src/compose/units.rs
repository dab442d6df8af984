//! Durations (`1m30s`) and byte sizes (`512m`) as Compose writes them.

use std::time::Duration;

/// Go-style durations as Compose uses them: a sequence of number+unit pairs
/// (`1h`, `1m30s`, `1.5s`, `250ms`, `10us`, `100ns`). Exact: integer nanoseconds throughout.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("`{s}` is not a duration; write it like 30s, 1m30s or 500ms");
    let text = s.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(err());
    }
    const MAX_NANOS: u128 = 365 * 24 * 3600 * 1_000_000_000;
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(err)?;
        let (number, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" => 1_000,
            "ns" => 1,
            _ => return Err(err()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || whole.len() > 12 || fraction.len() > 9 {
            return Err(err());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err())?
        };
        let fraction_value: u128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| err())?
        };
        let scale = 10u128.pow(fraction.len() as u32);
        total += whole * nanos_per_unit + fraction_value * nanos_per_unit / scale;
        if total > MAX_NANOS {
            return Err(format!("`{s}` is longer than a year"));
        }
        rest = after;
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Canonical text of a duration, exact enough to parse back to the same value.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    match nanos {
        0 => "0s".into(),
        n if n % 1_000_000_000 == 0 => format!("{}s", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
        n => format!("{n}ns"),
    }
}

/// A byte size for people: the largest unit that divides it exactly (`512m`, `1g`, `1536k`).
pub fn format_bytes(bytes: u64) -> String {
    for (unit, shift) in [("t", 40), ("g", 30), ("m", 20), ("k", 10)] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}b")
}

/// Byte sizes as Docker accepts them: a number with an optional unit b, k, m, g, t
/// (optionally followed by `b` or `ib`), case-insensitive, powers of 1024.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let err = || format!("`{s}` is not a size; write it like 512m or 1g");
    let lower = s.trim().to_ascii_lowercase();
    let num_len = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    if num_len == 0 {
        return Err(err());
    }
    let value: f64 = lower[..num_len].parse().map_err(|_| err())?;
    let shift = match lower[num_len..].trim() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(err()),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{s}` is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_format_back_exactly() {
        for (n, text) in [
            (512 << 20, "512m"),
            (1 << 30, "1g"),
            (1536 << 10, "1536k"),
            (100, "100b"),
        ] {
            assert_eq!(format_bytes(n), text);
            assert_eq!(parse_bytes(text), Ok(n));
        }
    }

    #[test]
    fn durations_in_compose_syntax() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "30", "s", "1x", "1m30", "-1s", "99999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_in_docker_syntax() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("1.5GB"), Ok(3 << 29));
        assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
        for bad in ["", "m", "12x", "1e9"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
