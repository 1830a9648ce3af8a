//! A cap on how often one number is texted, across mailings.

use std::fmt;
use std::time::Duration;

use crate::mailing::{SpecError, SpecErrorKind};

/// At most `max` messages to one number per `period`, across every
/// mailing in the store, checked when a recipient's turn comes (a
/// recipient over it is blocked with the reason). Written `2/7d`, `1/24h`
/// or `3/30m` (minutes, hours or days).
///
/// ```
/// use crm_comms::mailing::FrequencyCap;
/// let cap: FrequencyCap = "2/7d".parse()?;
/// assert_eq!((cap.max(), cap.period().as_secs()), (2, 7 * 86_400));
/// assert_eq!(cap.to_string(), "2/7d");
/// assert!("0/7d".parse::<FrequencyCap>().is_err());
/// # Ok::<(), crm_comms::mailing::SpecError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrequencyCap {
    max: u32,
    amount: u32,
    unit: Unit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Unit {
    Minutes,
    Hours,
    Days,
}

impl Unit {
    fn seconds(self) -> u64 {
        match self {
            Unit::Minutes => 60,
            Unit::Hours => 3600,
            Unit::Days => 86_400,
        }
    }

    fn suffix(self) -> char {
        match self {
            Unit::Minutes => 'm',
            Unit::Hours => 'h',
            Unit::Days => 'd',
        }
    }
}

impl FrequencyCap {
    /// The most messages per period (at least 1).
    #[must_use]
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The period as written: `7d`.
    #[must_use]
    pub fn period_text(&self) -> String {
        format!("{}{}", self.amount, self.unit.suffix())
    }

    /// The period.
    #[must_use]
    pub fn period(&self) -> Duration {
        Duration::from_secs(u64::from(self.amount) * self.unit.seconds())
    }
}

impl fmt::Display for FrequencyCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.max, self.amount, self.unit.suffix())
    }
}

impl std::str::FromStr for FrequencyCap {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            SpecError::new(
                SpecErrorKind::FrequencyCap,
                format!(
                    "frequency cap {s:?}: write it as messages per period, `2/7d` (m, h or d; at least 1 per 1 minute, at most 366 days)"
                ),
            )
        };
        let (max, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let max: u32 = max.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let unit = match period.chars().last() {
            Some('m') => Unit::Minutes,
            Some('h') => Unit::Hours,
            Some('d') => Unit::Days,
            _ => return Err(bad()),
        };
        let amount: u32 = period[..period.len() - 1].parse().map_err(|_| bad())?;
        let cap = FrequencyCap { max, amount, unit };
        if max == 0 || amount == 0 || cap.period() > Duration::from_secs(366 * 86_400) {
            return Err(bad());
        }
        Ok(cap)
    }
}
