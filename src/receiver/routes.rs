//! The routes: each gateway's `/{name}/mo` and `/{name}/dr`, a push
//! parsed through its [`PushFormat`] (off the async threads when large),
//! each entry handled once, and the gateway's answer.

use super::*;

/// Bodies larger than this are parsed on Tokio's blocking pool, so a big
/// push never holds up the requests served beside it.
const PARSE_INLINE_MAX: usize = 32 * 1024;

/// `gateway.parse` of the push, on the blocking pool for a large body.
async fn parse_off_thread(
    gateway: &Arc<dyn PushFormat>,
    kind: PushKind,
    c: &Checked,
) -> Result<Vec<PushEntry<Pushed>>, Refusal> {
    let parse = move |gateway: &dyn PushFormat, c: &Checked| {
        gateway
            .parse(kind, &c.request())
            .map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))
    };
    if c.body.len() <= PARSE_INLINE_MAX {
        return parse(gateway.as_ref(), c);
    }
    let (owned, gateway) = (c.clone(), gateway.clone());
    tokio::task::spawn_blocking(move || parse(gateway.as_ref(), &owned))
        .await
        .unwrap_or_else(|_| {
            Err(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the body could not be parsed; please redeliver",
            ))
        })
}

impl Checked {
    fn request(&self) -> PushRequest<'_> {
        PushRequest::new(
            self.method.as_str(),
            &self.content_type,
            &self.query,
            &self.body,
        )
    }
}

impl Inner {
    async fn take(&self, item: Pushed) -> EntryFate {
        match item {
            Pushed::Incoming(m) => self.take_mo(m).await,
            Pushed::Delivery(r) => self.take_dr(r).await,
        }
    }

    /// One push to `gateway`: checked, parsed, each entry handled once (or
    /// reported), then answered as the gateway expects.
    async fn push(
        &self,
        gateway: &Arc<dyn PushFormat>,
        kind: PushKind,
        request: Request,
    ) -> Result<Response, Refusal> {
        let c = self.check(request).await?;
        let entries = parse_off_thread(gateway, kind, &c).await?;
        let fates: Vec<(String, EntryFate)> = if kind == PushKind::Delivery {
            // The reports of one push are claimed, handled and recorded
            // together (a shared store does each in one statement).
            let mut fates: Vec<(String, EntryFate)> = Vec::with_capacity(entries.len());
            let mut receipts = Vec::new();
            for PushEntry { id, result } in entries {
                match result {
                    Ok(Pushed::Delivery(r)) => {
                        receipts.push((fates.len(), r));
                        fates.push((id, EntryFate::Redeliver));
                    }
                    Ok(item) => {
                        let fate = self.take(item).await;
                        fates.push((id, fate));
                    }
                    Err(e) => {
                        self.malformed(gateway.name(), kind.route(), &id, e);
                        fates.push((id, EntryFate::Acknowledged));
                    }
                }
            }
            let (places, receipts): (Vec<usize>, Vec<_>) = receipts.into_iter().unzip();
            for (place, fate) in places.into_iter().zip(self.take_drs(receipts).await) {
                fates[place].1 = fate;
            }
            fates
        } else {
            let mut fates = Vec::with_capacity(entries.len());
            for PushEntry { id, result } in entries {
                let fate = match result {
                    Ok(item) => self.take(item).await,
                    Err(e) => {
                        self.malformed(gateway.name(), kind.route(), &id, e);
                        EntryFate::Acknowledged
                    }
                };
                fates.push((id, fate));
            }
            fates
        };
        let answer = gateway.answer(kind, &c.request(), &fates);
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
        Ok(match answer.content_type {
            Some(ct) => (status, [(header::CONTENT_TYPE, ct)], answer.body).into_response(),
            None => (status, answer.body).into_response(),
        })
    }
}

/// The routes of one gateway: `/{name}/mo` and `/{name}/dr`.
pub(super) fn gateway_routes(inner: &Arc<Inner>, gateway: &Arc<dyn PushFormat>) -> Router {
    let mut router = Router::new();
    for kind in [PushKind::Incoming, PushKind::Delivery] {
        let handler = {
            let (inner, gateway) = (inner.clone(), gateway.clone());
            move |request: Request| {
                let (inner, gateway) = (inner.clone(), gateway.clone());
                async move { inner.push(&gateway, kind, request).await.into_response() }
            }
        };
        let route = if gateway.accepts_get() {
            get(handler.clone()).post(handler)
        } else {
            post(handler)
        };
        router = router.route(&format!("/{}/{}", gateway.name(), kind.route()), route);
    }
    router
}
