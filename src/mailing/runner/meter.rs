//! What a run counts, through the `metrics` facade (feature `metrics`;
//! without it nothing is recorded and this costs nothing). Names:
//!
//! - `crm_comms_mailing_recipients_total{gateway, outcome}`: settled
//!   recipients by outcome (`accepted`, `failed`, `unknown`, `retried`,
//!   `blocked`, `expired`), and `held` for their own daytime;
//! - `crm_comms_mailing_messages_sent_total{gateway}`: messages handed to
//!   the gateway (accepted, failed or unknown);
//! - `crm_comms_mailing_parts_sent_total{gateway}`: parts of the accepted;
//! - `crm_comms_mailing_blocked_total{reason}`: blocked when their turn
//!   came, by reason (`opted_out`, `frequency_cap`, `never_daytime`).

use super::*;

/// The outcome label of a settlement.
fn outcome(s: &Settlement) -> &'static str {
    match s {
        Settlement::Accepted { .. } => "accepted",
        Settlement::Failed { .. } => "failed",
        Settlement::Unknown { .. } => "unknown",
        Settlement::Retry { .. } => "retried",
        Settlement::Blocked { .. } => "blocked",
        Settlement::Expired { .. } => "expired",
    }
}

/// The reason label of a blocked settlement's reason.
fn blocked_reason(reason: &str) -> &'static str {
    if reason.starts_with("frequency cap") {
        "frequency_cap"
    } else if reason.starts_with("opted out") {
        "opted_out"
    } else {
        "never_daytime"
    }
}

/// Counts one batch's settlements.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(super) fn settled(gateway: &str, settlements: &[(Claimed, Settlement)]) {
    #[cfg(feature = "metrics")]
    {
        let gateway = gateway.to_owned();
        let mut sent = 0u64;
        let mut parts = 0u64;
        for (c, s) in settlements {
            metrics::counter!(
                "crm_comms_mailing_recipients_total",
                "gateway" => gateway.clone(),
                "outcome" => outcome(s)
            )
            .increment(1);
            match s {
                Settlement::Accepted { .. } => {
                    sent += 1;
                    parts += u64::from(c.parts);
                }
                Settlement::Failed { .. } | Settlement::Unknown { .. } => sent += 1,
                Settlement::Blocked { reason } => {
                    metrics::counter!(
                        "crm_comms_mailing_blocked_total",
                        "reason" => blocked_reason(reason)
                    )
                    .increment(1);
                }
                _ => {}
            }
        }
        metrics::counter!("crm_comms_mailing_messages_sent_total", "gateway" => gateway.clone())
            .increment(sent);
        metrics::counter!("crm_comms_mailing_parts_sent_total", "gateway" => gateway)
            .increment(parts);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (outcome, blocked_reason);
}

/// Counts recipients held for their own daytime.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(super) fn held(gateway: &str, n: u64) {
    #[cfg(feature = "metrics")]
    if n > 0 {
        metrics::counter!(
            "crm_comms_mailing_recipients_total",
            "gateway" => gateway.to_owned(),
            "outcome" => "held"
        )
        .increment(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_reasons_are_labelled_by_their_origin() {
        assert_eq!(blocked_reason("opted out during the mailing"), "opted_out");
        assert_eq!(
            blocked_reason(
                "frequency cap: this number got 2 message(s) in the last 7d (at most 2/7d)"
            ),
            "frequency_cap"
        );
        assert_eq!(
            blocked_reason(
                "the hours 09:00-10:00 on a working day never fall inside all of RU's 26 time zones at once"
            ),
            "never_daytime"
        );
        let accepted = Settlement::Accepted {
            reference: None,
            note: None,
        };
        assert_eq!(outcome(&accepted), "accepted");
    }
}
