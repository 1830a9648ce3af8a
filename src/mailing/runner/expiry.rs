//! A mailing's expiry: how long what is sent now may live at the gateway,
//! and ending every recipient still waiting once it has passed.
//!
//! The safest reading of "never sent late": the gateways take a validity
//! of at least five minutes (Intelecom's code 0, `PSWinCom`'s `TTL` in
//! minutes), so a message is sent only while at least that much is left,
//! and asks the gateway to drop it when the mailing expires (never later:
//! at most seven days, the longest either takes). With less left, the
//! recipient ends `expired` without being sent.

use super::*;

/// The shortest validity both gateways take.
pub(super) const MIN_VALIDITY: Duration = Duration::from_secs(5 * 60);
/// The longest validity both gateways take.
pub(super) const MAX_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a message sent at `now` may live at the gateway: `Ok(None)`
/// without an expiry, `Err` when the mailing has expired (less than
/// [`MIN_VALIDITY`] left).
pub(super) fn validity_left(
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<Duration>, String> {
    let Some(at) = expires_at else {
        return Ok(None);
    };
    let left = now.duration_until(at);
    match Duration::try_from(left) {
        Ok(d) if d >= MIN_VALIDITY => Ok(Some(d.min(MAX_VALIDITY))),
        _ => Err(format!("the mailing expired at {at} before its turn")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_left_is_the_validity_and_too_little_is_expired() {
        let now: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
        let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        assert_eq!(validity_left(None, now), Ok(None));
        assert_eq!(
            validity_left(at("2026-12-04T18:00:00Z"), now),
            Ok(Some(Duration::from_secs(6 * 3600)))
        );
        assert_eq!(
            validity_left(at("2026-12-04T12:05:00Z"), now),
            Ok(Some(MIN_VALIDITY))
        );
        assert!(validity_left(at("2026-12-04T12:04:59Z"), now).is_err());
        assert!(validity_left(at("2026-12-04T11:00:00Z"), now).is_err());
        assert_eq!(
            validity_left(at("2027-01-04T12:00:00Z"), now),
            Ok(Some(MAX_VALIDITY))
        );
    }
}
