//! Timestamps: each line's time (`HH:MM`, local time) from the server's
//! `t=`, and a line with the day whenever the day changes. Pure: the time
//! zone and today's date are given.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The times shown for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// A line to print first, naming the new day, when the day changed.
    pub day: Option<String>,
    /// `HH:MM`.
    pub time: String,
}

/// Turns server times into what is shown, remembering the last day shown.
#[derive(Debug)]
pub struct Clock {
    /// Where the person is.
    tz: TimeZone,
    /// The day of the last line stamped (at first: today, so a session
    /// that starts today shows no day line until midnight).
    day: Date,
}

impl Clock {
    /// A clock in `tz`, starting at `now` (milliseconds since the epoch).
    pub fn new(tz: TimeZone, now: u64) -> Clock {
        let day = local(&tz, now).map_or(Date::MIN, |(date, _, _)| date);
        Clock { tz, day }
    }

    /// The person's own time zone (`TZ`, else the system's).
    pub fn system(now: u64) -> Clock {
        Clock::new(TimeZone::system(), now)
    }

    /// The stamp of a line sent at `millis`; None if that is no time at all.
    pub fn stamp(&mut self, millis: u64) -> Option<Stamp> {
        let (date, hour, minute) = local(&self.tz, millis)?;
        let day = (date != self.day).then(|| day_line(date));
        self.day = date;
        Some(Stamp {
            day,
            time: format!("{hour:02}:{minute:02}"),
        })
    }

    /// `HH:MM` if `millis` is on the day last shown, else `MM-DD HH:MM`
    /// (for the catch-up marker's "since").
    pub fn short(&self, millis: u64) -> Option<String> {
        let (date, hour, minute) = local(&self.tz, millis)?;
        Some(match date == self.day {
            true => format!("{hour:02}:{minute:02}"),
            false => format!(
                "{:02}-{:02} {hour:02}:{minute:02}",
                date.month(),
                date.day()
            ),
        })
    }
}

/// The date, hour and minute of `millis` in `tz`.
fn local(tz: &TimeZone, millis: u64) -> Option<(Date, i8, i8)> {
    let millis = i64::try_from(millis).ok()?;
    let at = tz.to_datetime(Timestamp::from_millisecond(millis).ok()?);
    Some((at.date(), at.hour(), at.minute()))
}

/// `── Tue 2025-12-02 ──`
fn day_line(date: Date) -> String {
    let weekday = match date.weekday() {
        jiff::civil::Weekday::Monday => "Mon",
        jiff::civil::Weekday::Tuesday => "Tue",
        jiff::civil::Weekday::Wednesday => "Wed",
        jiff::civil::Weekday::Thursday => "Thu",
        jiff::civil::Weekday::Friday => "Fri",
        jiff::civil::Weekday::Saturday => "Sat",
        jiff::civil::Weekday::Sunday => "Sun",
    };
    format!(
        "── {weekday} {:04}-{:02}-{:02} ──",
        date.year(),
        date.month(),
        date.day()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::Offset;

    /// 2025-12-01 10:00:00 UTC, a Monday.
    const MONDAY_10H: u64 = 1_764_583_200_000;
    const HOUR: u64 = 3_600_000;

    #[test]
    fn a_line_shows_its_local_hour_and_minute() {
        let mut utc = Clock::new(TimeZone::UTC, MONDAY_10H);
        let stamp = utc.stamp(MONDAY_10H + 5 * 60_000 + 59_999).unwrap();
        assert_eq!(
            stamp,
            Stamp {
                day: None,
                time: "10:05".into()
            }
        );
        let mut paris = Clock::new(TimeZone::fixed(Offset::constant(1)), MONDAY_10H);
        assert_eq!(paris.stamp(MONDAY_10H).unwrap().time, "11:00");
    }

    #[test]
    fn the_day_is_shown_when_it_changes_and_only_then() {
        let mut clock = Clock::new(TimeZone::UTC, MONDAY_10H);
        assert_eq!(clock.stamp(MONDAY_10H).unwrap().day, None);
        let tuesday = clock.stamp(MONDAY_10H + 14 * HOUR).unwrap();
        assert_eq!(tuesday.day.as_deref(), Some("── Tue 2025-12-02 ──"));
        assert_eq!(tuesday.time, "00:00");
        assert_eq!(clock.stamp(MONDAY_10H + 15 * HOUR).unwrap().day, None);
    }

    #[test]
    fn history_from_an_earlier_day_names_its_day_then_today() {
        let mut clock = Clock::new(TimeZone::UTC, MONDAY_10H);
        let sunday = clock.stamp(MONDAY_10H - 20 * HOUR).unwrap();
        assert_eq!(sunday.day.as_deref(), Some("── Sun 2025-11-30 ──"));
        assert_eq!(
            clock.short(MONDAY_10H - 20 * HOUR).as_deref(),
            Some("14:00")
        );
        assert_eq!(clock.short(MONDAY_10H).as_deref(), Some("12-01 10:00"));
        let today = clock.stamp(MONDAY_10H).unwrap();
        assert_eq!(today.day.as_deref(), Some("── Mon 2025-12-01 ──"));
    }

    #[test]
    fn a_time_out_of_range_is_no_stamp_not_a_panic() {
        let mut clock = Clock::new(TimeZone::UTC, MONDAY_10H);
        assert_eq!(clock.stamp(u64::MAX), None);
        assert_eq!(clock.stamp(i64::MAX as u64), None);
        assert_eq!(clock.short(u64::MAX), None);
    }
}
