//! The times a plain client reads in a history block: the server's UTC
//! time, `[HH:MM]` on the day the block is sent and `[MM-DD HH:MM]`
//! before it, so a person at `nc` sees when each line was said without a
//! date on every line of a busy morning.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The stamp for a message from `time`, in a block sent at `now` (both in
/// milliseconds since the epoch, UTC), with its trailing space.
pub fn stamp(time: u64, now: u64) -> String {
    let (Some(at), Some(today)) = (civil(time), civil(now)) else {
        return String::new();
    };
    if at.date() == today.date() {
        format!("[{:02}:{:02}] ", at.hour(), at.minute())
    } else {
        format!(
            "[{:02}-{:02} {:02}:{:02}] ",
            at.month(),
            at.day(),
            at.hour(),
            at.minute()
        )
    }
}

fn civil(millis: u64) -> Option<jiff::civil::DateTime> {
    let millis = i64::try_from(millis).ok()?;
    let at = Timestamp::from_millisecond(millis).ok()?;
    Some(at.to_zoned(TimeZone::UTC).datetime())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-12-01 10:04:05.123 UTC.
    const MORNING: u64 = 1_764_583_445_123;

    #[test]
    fn a_time_of_the_same_day_shows_hours_and_minutes() {
        assert_eq!(stamp(MORNING, MORNING + 60_000), "[10:04] ");
    }

    #[test]
    fn a_time_of_an_earlier_day_shows_its_date_too() {
        let yesterday = MORNING - 24 * 3600 * 1000;
        assert_eq!(stamp(yesterday, MORNING), "[11-30 10:04] ");
    }
}
