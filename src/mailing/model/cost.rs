//! What a mailing will cost: a price per SMS part (per country, with a
//! default) times the parts the dry run counts, per country and encoding.

use std::collections::BTreeMap;
use std::fmt;

use crate::mailing::{SpecError, SpecErrorKind};
use crate::sms::encoding::Encoding;

/// An amount in the user's currency with up to four decimals (`0.45`,
/// `0.0375`): kept exact in ten-thousandths, never a float.
///
/// ```
/// use crm_comms::mailing::Amount;
/// let p: Amount = "0.45".parse()?;
/// assert_eq!(p.times(3).to_string(), "1.35");
/// assert_eq!("0.0375".parse::<Amount>()?.times(1000).to_string(), "37.50");
/// assert!("0.12345".parse::<Amount>().is_err());
/// # Ok::<(), crm_comms::mailing::SpecError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

impl Amount {
    /// This amount `n` times (saturating).
    #[must_use]
    pub fn times(self, n: u64) -> Amount {
        Amount(self.0.saturating_mul(n))
    }

    /// The sum (saturating).
    #[must_use]
    pub fn plus(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }

    /// Ten-thousandths of the unit.
    #[must_use]
    pub fn ten_thousandths(self) -> u64 {
        self.0
    }
}

/// At least two decimals, at most four, trailing zeros past two dropped.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 10_000, self.0 % 10_000);
        let mut digits = format!("{frac:04}");
        while digits.len() > 2 && digits.ends_with('0') {
            digits.pop();
        }
        write!(f, "{whole}.{digits}")
    }
}

impl std::str::FromStr for Amount {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            SpecError::new(
                SpecErrorKind::Price,
                format!("price {s:?}: write an amount like `0.45` (at most four decimals)"),
            )
        };
        let s = s.trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > 4 {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let frac: u64 = format!("{frac:0<4}").parse().map_err(|_| bad())?;
        whole
            .checked_mul(10_000)
            .and_then(|w| w.checked_add(frac))
            .map(Amount)
            .ok_or_else(bad)
    }
}

/// Prices per SMS part: a default, and per country (region code) where
/// they differ. Written `0.45`, or `NO=0.45,SE=0.60,*=0.80` (`*` the
/// default).
///
/// ```
/// use crm_comms::mailing::PartPrices;
/// let p: PartPrices = "NO=0.45, SE=0.60, *=0.80".parse()?;
/// assert_eq!(p.for_region("SE").unwrap().to_string(), "0.60");
/// assert_eq!(p.for_region("DK").unwrap().to_string(), "0.80");
/// let only_no: PartPrices = "NO=0.45".parse()?;
/// assert_eq!(only_no.for_region("DK"), None);
/// # Ok::<(), crm_comms::mailing::SpecError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartPrices {
    default: Option<Amount>,
    by_region: BTreeMap<String, Amount>,
}

impl PartPrices {
    /// The price of a part to a number of `region`: its own, else the
    /// default, else `None`.
    #[must_use]
    pub fn for_region(&self, region: &str) -> Option<Amount> {
        self.by_region.get(region).copied().or(self.default)
    }
}

impl std::str::FromStr for PartPrices {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut prices = PartPrices::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item.split_once('=') {
                None | Some(("*", _)) => {
                    let amount = item.rsplit('=').next().unwrap_or(item);
                    prices.default = Some(amount.parse()?);
                }
                Some((region, amount)) => {
                    let region = region.trim();
                    if region.len() != 2 || !region.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(SpecError::new(
                            SpecErrorKind::Price,
                            format!("price {item:?}: the country is a two-letter code (`NO=0.45`)"),
                        ));
                    }
                    prices
                        .by_region
                        .insert(region.to_ascii_uppercase(), amount.parse()?);
                }
            }
        }
        if prices.default.is_none() && prices.by_region.is_empty() {
            return Err(SpecError::new(
                SpecErrorKind::Price,
                "prices: give at least one (`0.45` or `NO=0.45`)",
            ));
        }
        Ok(prices)
    }
}

/// Recipients and parts of one country in one encoding (a dry run's
/// line).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CountryParts {
    /// The numbers' region (`NO`; `001` for non-geographic numbers).
    pub region: String,
    /// The encoding.
    pub encoding: Encoding,
    /// Recipients.
    pub recipients: u64,
    /// Their parts.
    pub parts: u64,
}

/// One line of a [`Cost`]: a country and encoding, its parts and price.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CostLine {
    /// The parts counted.
    pub parts: CountryParts,
    /// The price per part, if one was given for the country.
    pub price: Option<Amount>,
    /// Parts times price.
    pub cost: Option<Amount>,
}

/// What a dry run's parts cost ([`DryRun::cost`](super::DryRun::cost)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cost {
    /// Per country and encoding.
    pub lines: Vec<CostLine>,
    /// The sum of the priced lines.
    pub total: Amount,
    /// Parts to countries without a price (not in the total).
    pub unpriced_parts: u64,
}

impl Cost {
    /// The cost of `by_country` at `prices`.
    pub(super) fn of(by_country: &[CountryParts], prices: &PartPrices) -> Cost {
        let mut cost = Cost::default();
        for p in by_country {
            let price = prices.for_region(&p.region);
            let line_cost = price.map(|a| a.times(p.parts));
            match line_cost {
                Some(c) => cost.total = cost.total.plus(c),
                None => cost.unpriced_parts += p.parts,
            }
            cost.lines.push(CostLine {
                parts: p.clone(),
                price,
                cost: line_cost,
            });
        }
        cost
    }
}
