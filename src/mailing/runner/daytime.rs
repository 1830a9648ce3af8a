//! Claimed recipients sorted by their own daytime (the mailing's
//! [`RecipientHours`](crate::mailing::RecipientHours)): sent now, held
//! until their morning, or ended (expired before their morning comes, or
//! never in daytime).

use std::collections::HashMap;

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

/// Sorts `rows` by the mailing's recipient hours at `now` (all sent when it
/// has none). Each region is read once per call.
///
/// A row queued for a resend (its first send's outcome unknown) is sent at
/// once: its first send was in daytime, and the resend is only safe inside
/// the gateway's duplicate window, which a hold would outlast.
pub(super) fn sort_by_daytime(spec: &MailingSpec, rows: Vec<Claimed>, now: Timestamp) -> ByDaytime {
    let Some(rule) = spec.recipient_hours else {
        return ByDaytime {
            send: rows,
            ..ByDaytime::default()
        };
    };
    let mut by_region: HashMap<&'static str, Daytime> = HashMap::new();
    let mut out = ByDaytime::default();
    for c in rows {
        if c.resend {
            out.send.push(c);
            continue;
        }
        let region = c.number.region();
        let daytime = by_region
            .entry(region)
            .or_insert_with(|| rule.check(region, now));
        match daytime {
            Daytime::From { at, reason } => {
                if super::expiry::validity_left(spec.expires_at, *at).is_err() {
                    let reason =
                        format!("{reason}: its daytime ({at}) comes after the mailing expires");
                    out.end.push((c, Settlement::Expired { reason }));
                } else {
                    out.hold.push((c, *at, reason.clone()));
                }
            }
            Daytime::Never { reason } => {
                let reason = reason.clone();
                out.end.push((c, Settlement::Blocked { reason }));
            }
            _ => out.send.push(c),
        }
    }
    out
}
