//! Sending one claimed batch and settling each recipient from the
//! gateway's answer (the rule itself is `mailing::settle`).

use super::*;

/// What sending one batch needs, owned: each batch in flight is a task.
#[derive(Clone)]
pub(super) struct BatchSend {
    pub(super) outbox: Arc<dyn Outbox>,
    pub(super) provider: Arc<dyn SmsProvider>,
    pub(super) spec: Arc<MailingSpec>,
    pub(super) lease: Duration,
    pub(super) max_retries: u32,
    pub(super) clock: super::Clock,
}

impl BatchSend {
    /// Sends the rows (renewing their leases meanwhile) and reads each
    /// one's settlement, and what the answers say about the gateway;
    /// `decided` are rows already settled without a send (settled with
    /// them).
    pub(super) async fn send(
        self,
        rows: Vec<Claimed>,
        decided: Vec<(Claimed, Settlement)>,
    ) -> BatchResult {
        let spec = &*self.spec;
        let mut result = BatchResult {
            settlements: decided,
            ..BatchResult::default()
        };
        if rows.is_empty() {
            return result;
        }
        let mut messages = Vec::with_capacity(rows.len());
        let mut sent_rows = Vec::with_capacity(rows.len());
        // A STOPP may have come in since the mailing was made: the list is
        // read when the recipients' turn comes. Unreadable, nobody is sent
        // (they are put back).
        let numbers: Vec<&str> = rows.iter().map(|c| c.number.e164()).collect();
        let opted_out = match self.outbox.opted_out_among(&numbers).await {
            Ok(set) => set,
            Err(e) => {
                tracing::warn!(error = %e, "the opt-out list could not be read; the batch waits");
                result.passing = true;
                result.settlements.extend(rows.into_iter().map(|c| {
                    (
                        c,
                        Settlement::Retry {
                            reason: format!("the opt-out list could not be read: {e}"),
                        },
                    )
                }));
                return result;
            }
        };
        // A frequency cap counts what each number got from every mailing
        // in its period (real time, as the store writes it), this batch's
        // own rows aside; read once per batch.
        let recent = match &spec.frequency_cap {
            None => std::collections::HashMap::new(),
            Some(cap) => {
                let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
                let since = Timestamp::now()
                    .checked_sub(jiff::SignedDuration::try_from(cap.period()).unwrap_or_default())
                    .unwrap_or(Timestamp::MIN);
                match self.outbox.sends_since(&ids, since).await {
                    Ok(counts) => counts,
                    Err(e) => {
                        tracing::warn!(error = %e, "recent sends could not be counted; the batch waits");
                        result.passing = true;
                        result.settlements.extend(rows.into_iter().map(|c| {
                            (
                                c,
                                Settlement::Retry {
                                    reason: format!("recent sends could not be counted: {e}"),
                                },
                            )
                        }));
                        return result;
                    }
                }
            }
        };
        let mut in_batch: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let validity = super::expiry::validity_left(spec.expires_at, (self.clock)());
        let lifetime = validity.as_ref().ok().copied().flatten();
        for c in rows {
            if let Err(reason) = &validity {
                result.settlements.push((
                    c,
                    Settlement::Expired {
                        reason: reason.clone(),
                    },
                ));
                continue;
            }
            if opted_out.contains(c.number.e164()) {
                result.settlements.push((
                    c,
                    Settlement::Blocked {
                        reason: "opted out during the mailing".into(),
                    },
                ));
                continue;
            }
            if let Some(cap) = &spec.frequency_cap {
                let number = c.number.e164();
                let earlier = recent.get(number).copied().unwrap_or(0)
                    + in_batch.get(number).copied().unwrap_or(0);
                if earlier >= u64::from(cap.max()) {
                    result.settlements.push((
                        c,
                        Settlement::Blocked {
                            reason: format!(
                                "frequency cap: this number got {earlier} message(s) in the last {} (at most {cap})",
                                cap.period_text()
                            ),
                        },
                    ));
                    continue;
                }
                *in_batch.entry(number.to_owned()).or_insert(0) += 1;
            }
            match message_for(spec, &c, lifetime) {
                Ok(m) => {
                    messages.push(m);
                    sent_rows.push(c);
                }
                Err(e) => result.settlements.push((
                    c,
                    Settlement::Failed {
                        reason: e.to_string(),
                    },
                )),
            }
        }
        if messages.is_empty() {
            return result;
        }
        let send = self.provider.send_each(&messages);
        tokio::pin!(send);
        let mut beat = tokio::time::interval(self.lease / 3);
        beat.tick().await;
        let reports = loop {
            tokio::select! {
                r = &mut send => break r,
                _ = beat.tick() => {
                    if let Err(e) = self.outbox.extend(&sent_rows, self.lease).await {
                        tracing::warn!(error = %e, "could not renew the lease of recipients in flight");
                    }
                }
            }
        };
        // An unknown answer is resent at once (well inside the window).
        let resend_safe = self.provider.capabilities().rejects_duplicates.is_some();
        let mut reports = reports.into_iter();
        for c in sent_rows {
            let outcome = reports
                .next()
                .and_then(|r| r.into_outcomes().into_iter().next())
                .map_or_else(
                    || {
                        Outcome::Unknown(SmsError::new(
                            SmsErrorKind::Protocol,
                            self.provider.name().to_owned(),
                            "the provider returned no report for this message",
                        ))
                    },
                    |o| o.outcome,
                );
            let retries_left = c.retries < i64::from(self.max_retries);
            let s = settlement_of(outcome, retries_left, resend_safe, &mut result);
            result.settlements.push((c, s));
        }
        result
    }
}

/// The message for one claimed recipient.
pub(super) fn message_for(
    spec: &MailingSpec,
    c: &Claimed,
    validity: Option<Duration>,
) -> Result<Message, SmsError> {
    let mut b = Message::builder()
        .to(c.number)
        .text(c.text.clone())
        .priority(spec.priority)
        .delivery_report(spec.delivery_report)
        .client_reference(c.client_reference.clone());
    if let Some(s) = &spec.sender {
        b = b.sender(s.clone());
    }
    if let Some(v) = validity {
        b = b.validity(v);
    }
    b.build()
}
