//! Callback authentication: the shared secret in a header or a query
//! parameter, compared in constant time; the query parameter is removed
//! before a GET template is read.

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use super::Inner;

impl Inner {
    /// Whether a secret is required at all.
    pub(super) fn authenticates(&self) -> bool {
        self.header_secret.is_some() || self.query_secret.is_some()
    }

    /// Whether the secret header carries the secret.
    pub(super) fn header_ok(&self, headers: &HeaderMap) -> bool {
        let Some((name, secret)) = &self.header_secret else {
            return false;
        };
        // One guess per request: a request with the header twice (or
        // more) is refused whatever its values.
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => same(v.as_bytes(), secret.expose().as_bytes()),
            _ => false,
        }
    }

    /// The query without the secret parameter, and whether it carried the
    /// secret.
    pub(super) fn strip_query_secret(&self, query: &str) -> (String, bool) {
        let Some((name, secret)) = &self.query_secret else {
            return (query.to_owned(), false);
        };
        let mut ok = false;
        let mut seen = 0usize;
        let mut kept = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if k == name.as_str() {
                // One guess per request: with the parameter twice (or a
                // thousand times), none of them counts.
                seen += 1;
                ok = seen == 1 && same(v.as_bytes(), secret.expose().as_bytes());
            } else {
                kept.append_pair(&k, &v);
            }
        }
        (kept.finish(), ok && seen == 1)
    }
}

/// Compares in constant time (for equal lengths).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
