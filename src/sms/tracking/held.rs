//! Reports that matched nothing yet, held for a bounded time until their
//! gateway reference is recorded.

use super::*;

/// Reports that matched nothing yet.
pub(super) struct Held {
    pub(super) hold_for: Duration,
    pub(super) max: usize,
    pub(super) next: u64,
    pub(super) entries: HashMap<u64, HeldReceipt>,
    pub(super) by_reference: HashMap<String, Vec<u64>>,
    pub(super) by_client: HashMap<String, Vec<u64>>,
    pub(super) order: VecDeque<u64>,
}

pub(super) struct HeldReceipt {
    receipt: DeliveryReceipt,
    since: Instant,
    /// When the store is asked again (another process may have recorded it).
    next_check: Instant,
}

fn unlink(map: &mut HashMap<String, Vec<u64>>, key: &str, id: u64) {
    if let Some(ids) = map.get_mut(key) {
        ids.retain(|x| *x != id);
        if ids.is_empty() {
            map.remove(key);
        }
    }
}

impl Held {
    pub(super) fn new() -> Self {
        Held {
            hold_for: DEFAULT_HOLD,
            max: DEFAULT_MAX_HELD,
            next: 0,
            entries: HashMap::new(),
            by_reference: HashMap::new(),
            by_client: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Holds `receipt`; returns its id and what no longer fits.
    pub(super) fn hold(
        &mut self,
        receipt: DeliveryReceipt,
        now: Instant,
    ) -> (u64, Vec<DeliveryReceipt>) {
        self.next += 1;
        let id = self.next;
        if !receipt.reference.is_empty() {
            self.by_reference
                .entry(receipt.reference.clone())
                .or_default()
                .push(id);
        }
        if let Some(c) = receipt
            .client_reference
            .as_deref()
            .filter(|c| !c.is_empty())
        {
            self.by_client.entry(c.to_owned()).or_default().push(id);
        }
        self.entries.insert(
            id,
            HeldReceipt {
                receipt,
                since: now,
                next_check: now + Duration::from_millis(500),
            },
        );
        self.order.push_back(id);
        let mut out = Vec::new();
        while self.entries.len() > self.max {
            match self.order.pop_front() {
                Some(old) => out.extend(self.take(old)),
                None => break,
            }
        }
        (id, out)
    }

    pub(super) fn take(&mut self, id: u64) -> Option<DeliveryReceipt> {
        let h = self.entries.remove(&id)?;
        unlink(&mut self.by_reference, &h.receipt.reference, id);
        if let Some(c) = &h.receipt.client_reference {
            unlink(&mut self.by_client, c, id);
        }
        Some(h.receipt)
    }

    /// The held reports `record` answers.
    pub(super) fn take_matching(&mut self, record: &SentRecord) -> Vec<DeliveryReceipt> {
        let mut ids: Vec<u64> = Vec::new();
        if let Some(r) = &record.reference {
            ids.extend(self.by_reference.get(r).into_iter().flatten());
        }
        if let Some(c) = &record.client_reference {
            ids.extend(self.by_client.get(c).into_iter().flatten().filter(|id| {
                self.entries[id]
                    .receipt
                    .recipient
                    .is_none_or(|n| n == record.recipient)
            }));
        }
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().filter_map(|id| self.take(id)).collect()
    }

    /// The reports held too long, oldest first.
    pub(super) fn take_expired(&mut self, now: Instant) -> Vec<DeliveryReceipt> {
        let mut out = Vec::new();
        while let Some(&id) = self.order.front() {
            match self.entries.get(&id) {
                None => {
                    self.order.pop_front();
                }
                Some(h) if now.duration_since(h.since) >= self.hold_for => {
                    self.order.pop_front();
                    out.extend(self.take(id));
                }
                Some(_) => break,
            }
        }
        out
    }

    /// The held reports due to be looked up again (with back-off).
    pub(super) fn due(&mut self, now: Instant) -> Vec<(u64, DeliveryReceipt)> {
        let mut out = Vec::new();
        for (id, h) in &mut self.entries {
            if h.next_check <= now {
                let waited = now.duration_since(h.since);
                h.next_check =
                    now + waited.clamp(Duration::from_millis(500), Duration::from_secs(30));
                out.push((*id, h.receipt.clone()));
            }
        }
        out
    }
}
