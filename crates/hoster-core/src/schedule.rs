//! Schedules in cron syntax (`0 3 * * *`, UTC) and what a retention count keeps: when the next
//! backup runs and which old ones go. The shell passes the time in.

use chrono::{DateTime, Utc};

/// A parsed cron expression: five fields (minute hour day-of-month month day-of-week), or six
/// with seconds first.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    text: String,
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let cron = croner::Cron::new(text.trim())
            .with_seconds_optional()
            .parse()
            .map_err(|e| format!("`{text}` is not a cron schedule (e.g. `0 3 * * *`, daily at 03:00 UTC): {e}"))?;
        Ok(Schedule {
            cron,
            text: text.trim().to_string(),
        })
    }

    /// The first time strictly after `unix_millis` the schedule fires, in Unix milliseconds.
    pub fn next_after(&self, unix_millis: i64) -> Option<i64> {
        let now: DateTime<Utc> = DateTime::from_timestamp_millis(unix_millis)?;
        self.cron
            .find_next_occurrence(&now, false)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Of backups named so that their names sort oldest first, the ones beyond the newest `keep`.
pub fn expired(mut names: Vec<String>, keep: usize) -> Vec<String> {
    names.sort();
    let excess = names.len().saturating_sub(keep);
    names.truncate(excess);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    /// 2026-12-07T23:24:00Z
    const T: i64 = 1_796_685_840_000;

    #[test]
    fn the_next_run_is_strictly_later() {
        let daily = Schedule::parse("0 3 * * *").unwrap();
        let next = daily.next_after(T).unwrap();
        assert_eq!(next, T + (3 * 60 + 36) * MINUTE, "03:00 the next day");
        assert_eq!(daily.next_after(next).unwrap(), next + 24 * 60 * MINUTE);
        let every_five = Schedule::parse("*/5 * * * *").unwrap();
        assert_eq!(every_five.next_after(T).unwrap(), T + MINUTE);
        let seconds = Schedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(seconds.next_after(T).unwrap(), T + 10_000);
    }

    #[test]
    fn bad_schedules_say_what_is_expected() {
        for bad in ["", "every day", "61 * * * *", "* * *"] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.contains("0 3 * * *"), "{bad}: {e}");
        }
    }

    #[test]
    fn retention_drops_the_oldest_beyond_the_count() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let all = names(&["db-20261203", "db-20261201", "db-20261202", "db-20261204"]);
        assert_eq!(expired(all.clone(), 2), names(&["db-20261201", "db-20261202"]));
        assert!(expired(all.clone(), 4).is_empty());
        assert_eq!(expired(all, 0).len(), 4);
    }
}
