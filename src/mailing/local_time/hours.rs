//! A daily span of local time, `08:00-21:00`: the part a send window and
//! a recipient's daytime share.

use std::fmt;

use jiff::civil::Time;

use crate::mailing::{SpecError, SpecErrorKind};

/// A daily span of local time, start included and end not, written
/// `08:00-21:00`; with no time zone of its own (a
/// [`SendWindow`](crate::mailing::SendWindow) gives it one, a
/// [`RecipientHours`](super::RecipientHours) reads it in each recipient's).
///
/// ```
/// use crm_comms::mailing::DailyHours;
///
/// let h: DailyHours = "08:00-21:00".parse()?;
/// assert!(h.contains("20:59".parse()?) && !h.contains("21:00".parse()?));
/// assert_eq!(h.to_string(), "08:00-21:00");
/// assert!("21:00-08:00".parse::<DailyHours>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DailyHours {
    start: Time,
    end: Time,
}

impl DailyHours {
    /// The span `start`–`end` (`start` before `end`; a span across
    /// midnight is not one).
    ///
    /// # Errors
    ///
    /// A [`SpecError`] of kind [`SpecErrorKind::Hours`] when `start` is not
    /// before `end`.
    pub fn new(start: Time, end: Time) -> Result<Self, SpecError> {
        if start >= end {
            return Err(SpecError::new(
                SpecErrorKind::Hours,
                format!("hours: {start} is not before {end}"),
            ));
        }
        Ok(DailyHours { start, end })
    }

    /// Where the span starts (included).
    #[must_use]
    pub fn start(&self) -> Time {
        self.start
    }

    /// Where it ends (not included).
    #[must_use]
    pub fn end(&self) -> Time {
        self.end
    }

    /// Whether `t` is inside the span.
    #[must_use]
    pub fn contains(&self, t: Time) -> bool {
        t >= self.start && t < self.end
    }
}

impl fmt::Display for DailyHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.strftime("%H:%M"),
            self.end.strftime("%H:%M")
        )
    }
}

impl fmt::Debug for DailyHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DailyHours({self})")
    }
}

impl std::str::FromStr for DailyHours {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            SpecError::new(
                SpecErrorKind::Hours,
                format!("hours {s:?}: write them as `08:00-21:00`"),
            )
        };
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let time = |t: &str| Time::strptime("%H:%M", t.trim()).map_err(|_| bad());
        DailyHours::new(time(a)?, time(b)?)
    }
}
