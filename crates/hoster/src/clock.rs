//! Wall-clock time, the one source of timestamps (the core never reads the clock).

use std::fmt;
use std::str::FromStr;

use sqlx::Sqlite;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// A moment in UTC, to the millisecond. Stored and shown as RFC 3339 text of fixed width
/// (`2026-11-29T12:38:42.123Z`), so the text order of stored times is their time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        Self(
            now.replace_millisecond(now.millisecond())
                .expect("a millisecond of a valid time is valid"),
        )
    }
}

impl Timestamp {
    /// This moment plus `span`.
    pub fn plus(&self, span: std::time::Duration) -> Self {
        Self(self.0 + span)
    }

    /// `2026-12-07 23:40 UTC`: to the minute, for people.
    pub fn to_minute(&self) -> String {
        self.0
            .format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
            .unwrap_or_default()
    }

    /// Milliseconds since the Unix epoch, for the core's arithmetic on times.
    pub fn unix_millis(&self) -> i64 {
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// Now; see [`Timestamp`].
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// Now, in seconds since the Unix epoch (to compare with certificate expiry dates).
pub fn unix_seconds() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self
            .0
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl FromStr for Timestamp {
    type Err = time::error::Parse;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(OffsetDateTime::parse(text, &Rfc3339)?.to_offset(UtcOffset::UTC)))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl sqlx::Type<Sqlite> for Timestamp {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <String as sqlx::Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> sqlx::Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut <Sqlite as sqlx::Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
        <String as sqlx::Encode<'q, Sqlite>>::encode(self.to_string(), buf)
    }
}

impl<'r> sqlx::Decode<'r, Sqlite> for Timestamp {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as sqlx::Decode<'r, Sqlite>>::decode(value)?;
        Ok(text.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn timestamps_read_back_as_written_and_sort_as_text() {
        let at: Timestamp = "2026-11-29T12:38:42.120Z".parse().unwrap();
        assert_eq!(at.to_string(), "2026-11-29T12:38:42.120Z");
        let offset: Timestamp = "2026-11-29T13:38:42.120+01:00".parse().unwrap();
        assert_eq!(offset, at, "another offset is the same moment");
        let now = Timestamp::now();
        assert_eq!(
            now.to_string().parse::<Timestamp>().unwrap(),
            now,
            "milliseconds, no more"
        );
        assert!(at.to_string() < now.to_string() && at < now);
        assert!("yesterday".parse::<Timestamp>().is_err());
    }
}
