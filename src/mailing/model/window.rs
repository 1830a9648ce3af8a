//! The daily window, in a time zone, in which a mailing may send.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;

use crate::mailing::{DailyHours, SpecError, SpecErrorKind};

/// A daily window in a time zone in which a mailing may send (the CRM
/// sends marketing SMS 08:00–21:00 local time); outside it, sending waits
/// for the next opening. Written `08:00-21:00 Europe/Oslo`.
///
/// ```
/// use crm_comms::mailing::SendWindow;
///
/// let w: SendWindow = "08:00-21:00 Europe/Oslo".parse()?;
/// // 22:30 in Oslo in winter (UTC+1): closed until 08:00 the next morning.
/// let at = "2026-12-02T21:30:00Z".parse()?;
/// assert_eq!(w.next_opening(at).unwrap().to_string(), "2026-12-03T07:00:00Z");
/// // 12:00 in Oslo: open.
/// assert_eq!(w.next_opening("2026-12-02T11:00:00Z".parse()?), None);
/// assert_eq!(w.to_string(), "08:00-21:00 Europe/Oslo");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SendWindow {
    hours: DailyHours,
    zone_name: String,
    zone: TimeZone,
}

impl SendWindow {
    /// The window `start`–`end` (local times, `start` before `end`) in
    /// the IANA zone `zone` (`Europe/Oslo`), from the bundled time-zone
    /// database.
    ///
    /// # Errors
    ///
    /// A [`SpecError`] of kind [`SpecErrorKind::SendWindow`]: an unknown
    /// zone, or `start` not before `end`.
    pub fn new(start: Time, end: Time, zone: &str) -> Result<Self, SpecError> {
        let bad = |m: String| SpecError::new(SpecErrorKind::SendWindow, m);
        let tz = TimeZone::get(zone)
            .map_err(|_| bad(format!("send window: unknown time zone {zone:?}")))?;
        let hours = DailyHours::new(start, end)
            .map_err(|_| bad(format!("send window: {start} is not before {end}")))?;
        Ok(SendWindow {
            hours,
            zone_name: zone.to_owned(),
            zone: tz,
        })
    }

    /// Its daily hours.
    #[must_use]
    pub fn hours(&self) -> DailyHours {
        self.hours
    }

    /// Its time zone's IANA name.
    #[must_use]
    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    /// When the window next opens after `now`, or `None` while it is open.
    #[must_use]
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        let local = now.to_zoned_datetime(self.zone.clone());
        let t = local.time();
        if self.hours.contains(t) {
            return None;
        }
        let mut day = local.date();
        if t >= self.hours.end() {
            day = day.tomorrow().ok()?;
        }
        day.to_datetime(self.hours.start())
            .to_zoned_datetime(self.zone.clone())
            .ok()
            .map(|z| z.timestamp())
    }
}

impl fmt::Display for SendWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.hours, self.zone_name)
    }
}

impl fmt::Debug for SendWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SendWindow({self})")
    }
}

impl std::str::FromStr for SendWindow {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            SpecError::new(
                SpecErrorKind::SendWindow,
                format!("send window {s:?}: write it as `08:00-21:00 Europe/Oslo`"),
            )
        };
        let (times, zone) = s.trim().split_once(' ').ok_or_else(bad)?;
        let hours: DailyHours = times.parse().map_err(|_| bad())?;
        SendWindow::new(hours.start(), hours.end(), zone.trim())
    }
}
