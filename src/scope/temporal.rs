//! Temporal scopes: `temporal:<N>s|min|h` and `temporal:business-hours`.
//!
//! They restrict the token that carries them on every route. An unknown `temporal:` scope
//! is rejected, never ignored: a restriction the verifier does not understand must not turn
//! into no restriction.

use std::str::FromStr;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::TEMPORAL_PREFIX;

/// The longest relative window accepted (`temporal:8760h`, one year); larger is malformed.
pub const MAX_TEMPORAL_SECS: u64 = 365 * 24 * 3600;

/// A parsed temporal scope.
///
/// ```
/// use a2a_guard::scope::TemporalScope;
/// assert_eq!(TemporalScope::parse("temporal:30min"), Some(TemporalScope::WithinSecs(1800)));
/// assert_eq!(TemporalScope::parse("temporal:45s"), Some(TemporalScope::WithinSecs(45)));
/// assert_eq!(TemporalScope::parse("temporal:2h"), Some(TemporalScope::WithinSecs(7200)));
/// assert_eq!(TemporalScope::parse("temporal:business-hours"), Some(TemporalScope::BusinessHours));
/// assert_eq!(TemporalScope::parse("temporal:30m"), None);
/// assert_eq!(TemporalScope::parse("temporal:forever"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalScope {
    /// Usable only until `iat + N` seconds.
    WithinSecs(u64),
    /// Usable only inside the configured business hours.
    BusinessHours,
}

impl TemporalScope {
    /// Parse a `temporal:` scope; `None` for anything not in the grammar.
    pub fn parse(scope: &str) -> Option<TemporalScope> {
        let rest = scope.strip_prefix(TEMPORAL_PREFIX)?;
        if rest == "business-hours" {
            return Some(TemporalScope::BusinessHours);
        }
        let split = rest.find(|c: char| !c.is_ascii_digit())?;
        let (digits, unit) = rest.split_at(split);
        // No sign, no leading zeros beyond "0" itself, at most 9 digits: no overflow.
        if digits.is_empty() || digits.len() > 9 || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        let secs = match unit {
            "s" => n,
            "min" => n * 60,
            "h" => n * 3600,
            _ => return None,
        };
        (secs > 0 && secs <= MAX_TEMPORAL_SECS).then_some(TemporalScope::WithinSecs(secs))
    }
}

/// A weekly business-hours window in an IANA time zone, e.g. `Mon-Fri 09:00-17:00 Europe/Berlin`.
///
/// The window is half-open, `[start, end)`. When `end` is before `start` the window runs
/// past midnight and belongs to the day it starts on.
///
/// ```
/// use a2a_guard::scope::BusinessHours;
/// let bh: BusinessHours = "Mon-Fri 09:00-17:00 Europe/Berlin".parse().unwrap();
/// // Wednesday 2026-11-25 10:00 in Berlin is 09:00 UTC.
/// let wed_10 = "2026-11-25T09:00:00Z".parse().unwrap();
/// let sat_10 = "2026-11-28T09:00:00Z".parse().unwrap();
/// assert!(bh.contains(wed_10));
/// assert!(!bh.contains(sat_10));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    days: [bool; 7],
    start: Time,
    end: Time,
    tz: TimeZone,
}

/// A business-hours specification that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid business hours (expected e.g. `Mon-Fri 09:00-17:00 Europe/Berlin`): {0}")]
pub struct BusinessHoursError(&'static str);

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("Mon", Weekday::Monday),
    ("Tue", Weekday::Tuesday),
    ("Wed", Weekday::Wednesday),
    ("Thu", Weekday::Thursday),
    ("Fri", Weekday::Friday),
    ("Sat", Weekday::Saturday),
    ("Sun", Weekday::Sunday),
];

fn day(s: &str) -> Result<Weekday, BusinessHoursError> {
    DAY_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, d)| *d)
        .ok_or(BusinessHoursError("unknown day name"))
}

fn index(d: Weekday) -> usize {
    d.to_monday_zero_offset() as usize
}

impl BusinessHours {
    /// Build from parts: the days the window opens on, its start and end, and the zone.
    pub fn new(
        days: impl IntoIterator<Item = Weekday>,
        start: Time,
        end: Time,
        tz: TimeZone,
    ) -> Self {
        let mut mask = [false; 7];
        for d in days {
            mask[index(d)] = true;
        }
        BusinessHours {
            days: mask,
            start,
            end,
            tz,
        }
    }

    /// Whether `at` falls inside the window.
    pub fn contains(&self, at: Timestamp) -> bool {
        let local: Zoned = at.to_zoned(self.tz.clone());
        let t = local.time();
        let today = index(local.weekday());
        if self.start <= self.end {
            self.days[today] && t >= self.start && t < self.end
        } else {
            let yesterday = (today + 6) % 7;
            (self.days[today] && t >= self.start) || (self.days[yesterday] && t < self.end)
        }
    }
}

impl FromStr for BusinessHours {
    type Err = BusinessHoursError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split_whitespace();
        let (days, hours, zone) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(d), Some(h), Some(z), None) => (d, h, z),
            _ => return Err(BusinessHoursError("expected three fields")),
        };
        let mut mask = [false; 7];
        for item in days.split(',') {
            match item.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (index(day(a)?), index(day(b)?));
                    let mut i = a;
                    loop {
                        mask[i] = true;
                        if i == b {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                }
                None => mask[index(day(item)?)] = true,
            }
        }
        let (start, end) = hours
            .split_once('-')
            .ok_or(BusinessHoursError("expected HH:MM-HH:MM"))?;
        let time = |t: &str| {
            t.parse::<Time>()
                .map_err(|_| BusinessHoursError("invalid time of day"))
        };
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err(BusinessHoursError("start and end are equal"));
        }
        let tz = TimeZone::get(zone).map_err(|_| BusinessHoursError("unknown IANA time zone"))?;
        Ok(BusinessHours {
            days: mask,
            start,
            end,
            tz,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn grammar() {
        for bad in [
            "temporal:",
            "temporal:0s",
            "temporal:-5s",
            "temporal:5",
            "temporal:5 s",
            "temporal:05s",
            "temporal:9999999999h",
            "temporal:1d",
            "temporal:business_hours",
            "temporal:1.5h",
            "temporal:9000h",
        ] {
            assert_eq!(TemporalScope::parse(bad), None, "{bad}");
        }
        assert_eq!(
            TemporalScope::parse("temporal:8760h"),
            Some(TemporalScope::WithinSecs(MAX_TEMPORAL_SECS))
        );
    }

    #[test]
    fn business_hours_edges_in_zone() {
        let bh: BusinessHours = "Mon-Fri 09:00-17:00 Europe/Berlin".parse().unwrap();
        // Winter: Berlin = UTC+1.
        assert!(!bh.contains(ts("2026-11-25T07:59:59Z")));
        assert!(bh.contains(ts("2026-11-25T08:00:00Z")));
        assert!(bh.contains(ts("2026-11-25T15:59:59Z")));
        assert!(!bh.contains(ts("2026-11-25T16:00:00Z")));
        // Summer: Berlin = UTC+2.
        assert!(bh.contains(ts("2026-07-01T07:00:00Z")));
        assert!(!bh.contains(ts("2026-07-01T15:00:00Z")));
        assert!(!bh.contains(ts("2026-11-29T10:00:00Z"))); // Sunday
    }

    #[test]
    fn overnight_and_lists() {
        let bh: BusinessHours = "Fri,Sun 22:00-06:00 UTC".parse().unwrap();
        assert!(bh.contains(ts("2026-11-27T23:00:00Z"))); // Fri night
        assert!(bh.contains(ts("2026-11-28T05:00:00Z"))); // Sat early, window opened Fri
        assert!(!bh.contains(ts("2026-11-28T23:00:00Z"))); // Sat night
        let wrap: BusinessHours = "Sat-Mon 00:00-23:59 UTC".parse().unwrap();
        assert!(wrap.contains(ts("2026-11-29T12:00:00Z")));
        assert!(!wrap.contains(ts("2026-11-25T12:00:00Z")));
    }

    #[test]
    fn bad_specs() {
        for bad in [
            "",
            "Mon-Fri",
            "Mon-Fri 09:00-17:00",
            "Mon-Xyz 09:00-17:00 UTC",
            "Mon 9-17 UTC",
            "Mon 09:00-09:00 UTC",
            "Mon 09:00-17:00 Mars/Olympus",
            "Mon 09:00-17:00 UTC extra",
        ] {
            assert!(bad.parse::<BusinessHours>().is_err(), "{bad}");
        }
    }
}
