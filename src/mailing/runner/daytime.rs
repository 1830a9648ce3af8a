//! Claimed recipients sorted by their own daytime (the mailing's
//! [`RecipientHours`](crate::mailing::RecipientHours)): sent now, held
//! until their morning, or ended (expired before their morning comes, or
//! never in daytime).

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::mailing::Daytime;

/// Claimed rows sorted by their own daytime.
#[derive(Default)]
pub(super) struct ByDaytime {
    /// In daytime: sent now.
    pub(super) send: Vec<Claimed>,
    /// Held until then, with the reason.
    pub(super) hold: Vec<(Claimed, Timestamp, String)>,
    /// Never sent: expired before their daytime comes, or blocked (their
    /// country's zones share no hour of the mailing's).
    pub(super) end: Vec<(Claimed, Settlement)>,
}

/// What becomes of one claimed row.
enum Verdict {
    Send,
    Hold(Timestamp, String),
    End(Settlement),
}

/// Sorts claimed rows by the mailing's recipient hours at one moment;
/// each region is read once.
pub(super) struct DaytimeSorter<'a> {
    spec: &'a MailingSpec,
    now: Timestamp,
    by_region: Mutex<HashMap<&'static str, Daytime>>,
}

impl<'a> DaytimeSorter<'a> {
    pub(super) fn new(spec: &'a MailingSpec, now: Timestamp) -> Self {
        DaytimeSorter {
            spec,
            now,
            by_region: Mutex::new(HashMap::new()),
        }
    }

    /// A row queued for a resend (its first send's outcome unknown) is
    /// sent at once: its first send was in daytime, and the resend is only
    /// safe inside the gateway's duplicate window, which a hold would
    /// outlast.
    fn verdict(&self, c: &Claimed) -> Verdict {
        let Some(rule) = self.spec.recipient_hours else {
            return Verdict::Send;
        };
        if c.resend {
            return Verdict::Send;
        }
        let region = c.number.region();
        let mut cache = self
            .by_region
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let daytime = cache
            .entry(region)
            .or_insert_with(|| rule.check(region, self.now));
        match daytime {
            Daytime::From { at, reason } => {
                if super::expiry::validity_left(self.spec.expires_at, *at).is_err() {
                    Verdict::End(Settlement::Expired {
                        reason: format!(
                            "{reason}: its daytime ({at}) comes after the mailing expires"
                        ),
                    })
                } else {
                    Verdict::Hold(*at, reason.clone())
                }
            }
            Daytime::Never { reason } => Verdict::End(Settlement::Blocked {
                reason: reason.clone(),
            }),
            _ => Verdict::Send,
        }
    }

    /// When `c` is to be held: until when, and why (the store's hold
    /// check while it claims).
    pub(super) fn hold_until(&self, c: &Claimed) -> Option<(Timestamp, String)> {
        match self.verdict(c) {
            Verdict::Hold(at, why) => Some((at, why)),
            _ => None,
        }
    }

    /// Sorts `rows`.
    pub(super) fn sort(&self, rows: Vec<Claimed>) -> ByDaytime {
        let mut out = ByDaytime::default();
        for c in rows {
            match self.verdict(&c) {
                Verdict::Send => out.send.push(c),
                Verdict::Hold(at, why) => out.hold.push((c, at, why)),
                Verdict::End(s) => out.end.push((c, s)),
            }
        }
        out
    }
}
