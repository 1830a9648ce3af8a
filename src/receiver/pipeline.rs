//! The request pipeline every route runs before a gateway's parser: the
//! source address, the shared secret (header or query), the method, and
//! the body read within its size and time limits; then each entry handed
//! on once, deduplicated, with the delivery tracker in between.

use super::*;

/// A request after the checks every route makes.
#[derive(Clone)]
pub(super) struct Checked {
    pub(super) method: Method,
    pub(super) content_type: String,
    /// The query without the secret parameter.
    pub(super) query: String,
    pub(super) body: axum::body::Bytes,
}

/// A request refused before any handler: the status and the reason.
pub(super) struct Refusal(pub(super) StatusCode, pub(super) String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        text(self.0, self.1)
    }
}

pub(super) fn refuse(status: StatusCode, reason: impl Into<String>) -> Refusal {
    Refusal(status, reason.into())
}

pub(super) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

impl Inner {
    /// Source, secret and body checks; the response to give instead when
    /// one fails.
    pub(super) async fn check(&self, request: Request) -> Result<Checked, Refusal> {
        let (parts, body) = request.into_parts();
        if !self.sources.is_empty() {
            let from = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            if !from.is_some_and(|ip| self.sources.iter().any(|n| n.contains(&ip))) {
                return Err(refuse(StatusCode::FORBIDDEN, "source address not allowed"));
            }
        }
        let raw_query = parts.uri.query().unwrap_or("");
        let (query, query_ok) = self.strip_query_secret(raw_query);
        if self.authenticates() && !(query_ok || self.header_ok(&parts.headers)) {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "missing or wrong callback secret",
            ));
        }
        let read = axum::body::to_bytes(Body::new(body), self.max_body);
        let body = match tokio::time::timeout(self.body_timeout, read).await {
            Ok(Ok(b)) => b,
            Err(_) => {
                return Err(refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body did not arrive within {} s",
                        self.body_timeout.as_secs_f32()
                    ),
                ));
            }
            Ok(Err(e)) if too_large(&e) => {
                return Err(refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {} bytes", self.max_body),
                ));
            }
            // Bad chunked framing, a body cut off: the request is broken,
            // not too large.
            Ok(Err(_)) => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "the body is malformed (its framing) or was cut off",
                ));
            }
        };
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok(Checked {
            method: parts.method,
            content_type,
            query,
            body,
        })
    }

    /// Hands one incoming SMS to its handler, once.
    pub(super) async fn take_mo(&self, message: IncomingMessage) -> EntryFate {
        let key = mo_key(&message);
        let window = if message.unique_id {
            self.dedup_window
        } else {
            self.dedup_window_without_id
        };
        self.once(&key, window, async {
            self.incoming.dispatch(message).await.map(|_| ())
        })
        .await
    }

    /// Hands one delivery report to the delivery handler, once.
    pub(super) async fn take_dr(&self, receipt: DeliveryReceipt) -> EntryFate {
        let key = dr_key(&receipt);
        self.once(&key, self.dedup_window, async {
            let event = match &self.tracker {
                Some(t) => t.on_receipt(receipt).await.map_err(HandlerError::from)?,
                None => Some(DeliveryEvent::unmatched(receipt)),
            };
            match event {
                Some(event) => self.deliveries.handle(event).await,
                // Held by the tracker until its record arrives; the tracker
                // hands it to the same handler.
                None => Ok(()),
            }
        })
        .await
    }

    /// Hands a push's delivery reports to the delivery handler, each once:
    /// their dedup keys claimed together, the new ones handled together
    /// ([`DeliveryHandler::handle_many`]), and recorded together. One fate
    /// per receipt, in order.
    pub(super) async fn take_drs(&self, receipts: Vec<DeliveryReceipt>) -> Vec<EntryFate> {
        use futures_util::FutureExt;

        if receipts.len() == 1 {
            let r = receipts.into_iter().next().expect("one receipt");
            return vec![self.take_dr(r).await];
        }
        let keys: Vec<String> = receipts.iter().map(dr_key).collect();
        let seen = match self.dedup.begin_many(&keys, self.dedup_window).await {
            Ok(s) if s.len() == keys.len() => s,
            Ok(_) | Err(_) => {
                tracing::warn!("the dedup store failed; asking for redelivery");
                return vec![EntryFate::Redeliver; keys.len()];
            }
        };
        let mut fates: Vec<EntryFate> = seen
            .iter()
            .map(|s| match s {
                Seen::Done => EntryFate::Acknowledged,
                _ => EntryFate::Redeliver,
            })
            .collect();
        // The new ones, matched by the tracker (held ones are handed on by
        // it later), then handled together.
        let mut new: Vec<usize> = Vec::new();
        let mut events = Vec::new();
        let mut handled: Vec<(String, bool)> = Vec::new();
        for (i, (receipt, s)) in receipts.into_iter().zip(&seen).enumerate() {
            if *s != Seen::New {
                continue;
            }
            let event = match &self.tracker {
                Some(t) => match t.on_receipt(receipt).await {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "the sent-message store failed; asking for redelivery");
                        handled.push((keys[i].clone(), false));
                        continue;
                    }
                },
                None => Some(DeliveryEvent::unmatched(receipt)),
            };
            if let Some(e) = event {
                new.push(i);
                events.push(e);
            } else {
                fates[i] = EntryFate::Acknowledged;
                handled.push((keys[i].clone(), true));
            }
        }
        if !events.is_empty() {
            let results = std::panic::AssertUnwindSafe(self.deliveries.handle_many(events))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("a handler panicked; asking for redelivery");
                    Vec::new()
                });
            for (k, i) in new.iter().enumerate() {
                let ok = match results.get(k) {
                    Some(Ok(())) => true,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "a handler failed; asking for redelivery");
                        false
                    }
                    None => false,
                };
                fates[*i] = if ok {
                    EntryFate::Acknowledged
                } else {
                    EntryFate::Redeliver
                };
                handled.push((keys[*i].clone(), ok));
            }
        }
        if let Err(e) = self.dedup.finish_many(&handled).await {
            tracing::warn!(error = %e, "the dedup store failed to record entries");
        }
        fates
    }

    /// Runs `handle` unless `key` was handled within `window`; a handler
    /// that fails or panics releases the key, so the redelivery is handled.
    pub(super) async fn once(
        &self,
        key: &str,
        window: std::time::Duration,
        handle: impl std::future::Future<Output = Result<(), HandlerError>>,
    ) -> EntryFate {
        use futures_util::FutureExt;

        match self.dedup.begin(key, window).await {
            Ok(Seen::New) => {}
            Ok(Seen::Done) => return EntryFate::Acknowledged,
            Ok(Seen::InProgress) => return EntryFate::Redeliver,
            Err(e) => {
                tracing::warn!(error = %e, "the dedup store failed; asking for redelivery");
                return EntryFate::Redeliver;
            }
        }
        let handled = match std::panic::AssertUnwindSafe(handle).catch_unwind().await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "a handler failed; asking for redelivery");
                false
            }
            Err(_) => {
                tracing::error!("a handler panicked; asking for redelivery");
                false
            }
        };
        if let Err(e) = self.dedup.finish(key, handled).await {
            tracing::warn!(error = %e, "the dedup store failed to record an entry");
        }
        if handled {
            EntryFate::Acknowledged
        } else {
            EntryFate::Redeliver
        }
    }

    pub(super) fn malformed(
        &self,
        provider: &'static str,
        kind: &'static str,
        id: &str,
        error: CallbackError,
    ) {
        (self.on_malformed)(MalformedEntry {
            provider,
            kind,
            id: id.to_owned(),
            error,
        });
    }
}

/// Whether reading a body failed on the size limit (not on its framing).
pub(super) fn too_large(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}
