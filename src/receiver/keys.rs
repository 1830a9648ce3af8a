//! Dedup keys: what makes two pushed messages the same one.

use crate::sms::{DeliveryReceipt, IncomingMessage};

/// 64-bit FNV-1a: a stable fingerprint of a text for dedup keys.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A dedup key of `parts`, each written as its length and itself
/// (`7:intelecom|2:mo|…`), so no two different part lists give one key
/// whatever the parts contain.
fn dedup_key(parts: &[&str]) -> String {
    use std::fmt::Write;
    let mut key = String::with_capacity(parts.iter().map(|p| p.len() + 6).sum());
    for p in parts {
        let _ = write!(key, "{}:{p}|", p.len());
    }
    key
}

/// An incoming SMS's dedup key: the gateway's id with the sender, the
/// number and the text (`PSWinCom`'s `ID` without a `REF` only numbers the
/// entries of one push, so the content tells messages apart).
pub(super) fn mo_key(m: &IncomingMessage) -> String {
    dedup_key(&[
        m.provider,
        "mo",
        if m.unique_id { "id" } else { "push-number" },
        &m.id,
        &m.from_raw,
        m.to.as_deref().unwrap_or(""),
        &format!("{:016x}", fingerprint(&m.text)),
    ])
}

/// A delivery report's dedup key: reference, state and recipient (a later
/// report with another state is new).
pub(super) fn dr_key(r: &DeliveryReceipt) -> String {
    dedup_key(&[
        r.provider,
        "dr",
        &r.reference,
        r.client_reference.as_deref().unwrap_or(""),
        &r.status_code,
        r.recipient
            .as_ref()
            .map_or("", crate::phone::PhoneNumber::digits),
    ])
}

#[cfg(test)]
mod key_tests {
    use super::*;

    /// Issue 19, item 11: parts that contain the separator cannot collide.
    #[test]
    fn dedup_keys_are_unambiguous() {
        let mut a = IncomingMessage::new("pswincom", "A:B", "C", "STOP");
        let mut b = IncomingMessage::new("pswincom", "A", "B:C", "STOP");
        assert_ne!(mo_key(&a), mo_key(&b));
        a.to = Some("1|2".into());
        b.to = Some("1".into());
        b.from_raw = "B:C|1:2".into();
        assert_ne!(mo_key(&a), mo_key(&b));
        assert_ne!(dedup_key(&["a|", "b"]), dedup_key(&["a", "|b"]));
        assert_ne!(dedup_key(&["1:a"]), dedup_key(&["1", "a"]));
    }
}
