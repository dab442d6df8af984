//! What a deployment costs. A deployment is charged its version's `price_monthly` (cents) for
//! the time it exists, from its first successful start until it is deleted (stopped too: its
//! volumes, ports and hostname are held), pro rata per whole second of a 30-day month. The
//! amount of a deployment over a billing window is rounded once (half up), from an exact sum.
//! Pure: the shell passes the periods in with their times as Unix milliseconds.

/// Seconds in the month prices are quoted for.
pub const MONTH_SECONDS: i64 = 30 * 24 * 60 * 60;

/// A stretch of time a deployment ran one version at one price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub price_monthly: i64,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds; `None` while it lasts.
    pub ended_at: Option<i64>,
}

/// Whole seconds of `p` inside the window `[from, to)` (Unix milliseconds); a period still
/// open counts up to `to`.
pub fn seconds_within(p: &Period, from: i64, to: i64) -> i64 {
    let start = p.started_at.max(from);
    let end = p.ended_at.unwrap_or(to).min(to);
    ((end - start).max(0)) / 1000
}

/// Seconds and amount (cents) of one deployment's periods within `[from, to)`: the exact sum
/// of price × seconds over the month's seconds, rounded once, half up.
pub fn charge(periods: &[Period], from: i64, to: i64) -> (i64, i64) {
    let (seconds, cent_seconds) = periods.iter().fold((0_i64, 0_i128), |(s, c), p| {
        let n = seconds_within(p, from, to);
        (s + n, c + i128::from(p.price_monthly) * i128::from(n))
    });
    let month = i128::from(MONTH_SECONDS);
    let amount = (cent_seconds * 2 + month) / (month * 2);
    (seconds, i64::try_from(amount).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_timeline_costs_what_a_hand_computation_says() {
        // Created at 0 (not charged), first started at day 1, stopped and started again
        // (still charged: it exists), upgraded at day 11.5 from 3000 to 4500 cents a month,
        // deleted at day 20.
        let periods = [
            Period {
                price_monthly: 3000,
                started_at: DAY,
                ended_at: Some(DAY * 23 / 2),
            },
            Period {
                price_monthly: 4500,
                started_at: DAY * 23 / 2,
                ended_at: Some(20 * DAY),
            },
        ];
        // 10.5 days at 3000 + 8.5 days at 4500: 1050 + 1275 = 2325 cents.
        assert_eq!(charge(&periods, 0, 30 * DAY), (19 * 86_400, 2325));
        // A window of days 10 to 15: 1.5 days at 3000 (150) + 3.5 days at 4500 (525).
        assert_eq!(charge(&periods, 10 * DAY, 15 * DAY), (5 * 86_400, 675));
        // Nothing before the first start or after the deletion.
        assert_eq!(charge(&periods, 0, DAY), (0, 0));
        assert_eq!(charge(&periods, 20 * DAY, 30 * DAY), (0, 0));
    }

    #[test]
    fn rounding_is_once_half_up_and_exact_over_many_periods() {
        // 1 cent a month for one second: 1/2,592,000 of a cent, rounds to 0.
        let one = Period {
            price_monthly: 1,
            started_at: 0,
            ended_at: Some(1000),
        };
        assert_eq!(charge(&[one], 0, 1000), (1, 0));
        // The same second a million times rounded once: 1,000,000 / 2,592,000 = 0.386 -> 0;
        // 1,296,000 of them is exactly half a cent -> 1.
        let many = vec![one; 1_296_000];
        assert_eq!(charge(&many, 0, 1000).1, 1);
        assert_eq!(charge(&many[..1_295_999], 0, 1000).1, 0);
        // A whole month at any price is that price.
        let month = Period {
            price_monthly: 999,
            started_at: 0,
            ended_at: None,
        };
        assert_eq!(charge(&[month], 0, MONTH_SECONDS * 1000), (MONTH_SECONDS, 999));
        // Part seconds are not charged.
        assert_eq!(seconds_within(&month, 0, 1999), 1);
    }
}
