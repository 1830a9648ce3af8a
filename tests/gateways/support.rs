//! What the gateway tests share.
// Used by modules that only build with their gateways' features.
#![allow(dead_code)]

use crm_comms::sms::{ErrorKind, Outcome, SendReport};

/// An outcome as (`accepted` / `rejected` / `unknown`, its kind).
pub fn category(o: &Outcome) -> (&'static str, Option<ErrorKind>) {
    match o {
        Outcome::Accepted { .. } => ("accepted", None),
        Outcome::Rejected(e) => ("rejected", Some(e.kind())),
        Outcome::Unknown(e) => ("unknown", Some(e.kind())),
        _ => ("other", None),
    }
}

/// Every outcome of a report as [`category`] gives it, in order.
pub fn kinds(r: &SendReport) -> Vec<(&'static str, Option<ErrorKind>)> {
    r.outcomes().iter().map(|o| category(&o.outcome)).collect()
}
