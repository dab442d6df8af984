//! Wall-clock time, the one source of timestamps (the core never reads the clock).

use time::OffsetDateTime;
use time::macros::format_description;

/// Now, as RFC 3339 UTC with milliseconds: fixed width, so text order is time order.
pub fn now() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .expect("a UTC timestamp formats")
}

/// Now, in seconds since the Unix epoch (to compare with certificate expiry dates).
pub fn unix_seconds() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}
