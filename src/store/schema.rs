//! What both database backends decide about a store's schema version (the
//! SQL that reads it is each backend's own).

use super::{StoreError, StoreErrorKind};

/// The schema version a store holds, checked against `known` (what this
/// build writes): `stored` is `None` when the store has no crm-comms tables
/// yet (version 0), else its `schema_version` meta value. Refused as
/// [`StoreErrorKind::Schema`] when that value is missing or unreadable, or
/// newer than `known`; `subject` names the store in the message ("the
/// store").
pub(crate) fn checked_version(
    stored: Option<Option<String>>,
    known: i64,
    subject: &str,
) -> Result<i64, StoreError> {
    let version = match stored {
        None => 0,
        Some(v) => v.and_then(|v| v.parse().ok()).ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Schema,
                format!("{subject} has no readable schema version"),
            )
        })?,
    };
    if version > known {
        return Err(StoreError::new(
            StoreErrorKind::Schema,
            format!(
                "{subject} was written by a newer crm-comms (schema version {version}; this build knows up to {known})"
            ),
        ));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_and_refused_alike() {
        assert_eq!(checked_version(None, 3, "the store").unwrap(), 0);
        assert_eq!(checked_version(Some(Some("2".into())), 3, "x").unwrap(), 2);
        assert_eq!(checked_version(Some(Some("3".into())), 3, "x").unwrap(), 3);
        for bad in [None, Some("two".to_owned()), Some(String::new())] {
            let e = checked_version(Some(bad), 3, "the store").unwrap_err();
            assert!(e.is_schema());
            assert_eq!(e.message(), "the store has no readable schema version");
        }
        let e = checked_version(Some(Some("4".into())), 3, "the store").unwrap_err();
        assert!(
            e.is_schema()
                && e.message()
                    .contains("schema version 4; this build knows up to 3")
        );
    }
}
