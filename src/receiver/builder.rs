//! Building a [`WebhookReceiver`]: what it hands on, how it
//! authenticates and deduplicates, its limits, and the gateways it reads.

use super::*;

/// Builds a [`WebhookReceiver`].
pub struct ReceiverBuilder {
    pub(super) incoming: InboundRouter,
    pub(super) deliveries: Arc<dyn DeliveryHandler>,
    pub(super) tracker: Option<DeliveryTracker>,
    pub(super) dedup: Arc<dyn DedupStore>,
    pub(super) header_secret: Option<(String, Secret)>,
    pub(super) query_secret: Option<(String, Secret)>,
    pub(super) sources: Vec<IpNet>,
    pub(super) bad_sources: Vec<String>,
    pub(super) max_body: usize,
    pub(super) body_timeout: std::time::Duration,
    pub(super) limits: serve::Limits,
    pub(super) dedup_window: std::time::Duration,
    pub(super) dedup_window_without_id: std::time::Duration,
    pub(super) gateways: Vec<Arc<dyn PushFormat>>,
    pub(super) on_malformed: MalformedHook,
}

impl fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("incoming", &self.incoming)
            .field("tracker", &self.tracker.is_some())
            .field("header_secret", &self.header_secret)
            .field("query_secret", &self.query_secret)
            .field("sources", &self.sources)
            .field("max_body", &self.max_body)
            .field("body_timeout", &self.body_timeout)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ReceiverBuilder {
    /// Mounts another gateway's pushes under `/{name}/mo` and
    /// `/{name}/dr` (replacing a built-in one of the same name): routing,
    /// dedup, tracking, limits and answers come with it. The built-in
    /// gateways are mounted when their features are on.
    #[must_use]
    pub fn gateway(mut self, format: impl PushFormat) -> Self {
        let name = format.name();
        self.gateways.retain(|g| g.name() != name);
        self.gateways.push(Arc::new(format));
        self
    }

    /// How long a handled message with a gateway id is remembered, so its
    /// redeliveries are acknowledged without handling (default
    /// [`DEFAULT_DEDUP_WINDOW`]).
    #[must_use]
    pub fn dedup_window(mut self, window: std::time::Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// How long an incoming SMS **without** a gateway id (`PSWinCom`'s MO
    /// without `REF`) is remembered (default
    /// [`DEFAULT_DEDUP_WINDOW_WITHOUT_ID`]). Such a message is told apart
    /// only by sender, number and text, so a second `STOPP` from the same
    /// phone is real traffic once the gateway's redelivery horizon has
    /// passed; keep this short. `PSWinCom` does not document its retry
    /// schedule; redeliveries follow a failed or late answer within
    /// minutes.
    #[must_use]
    pub fn dedup_window_without_id(mut self, window: std::time::Duration) -> Self {
        self.dedup_window_without_id = window;
        self
    }

    /// How long a client may take to send the whole body once the head is
    /// in (default [`DEFAULT_BODY_TIMEOUT`]); slower ones get 408. Holds
    /// wherever the router is served.
    #[must_use]
    pub fn body_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's head (default
    /// [`DEFAULT_HEADER_TIMEOUT`]); then the connection is closed. Applies
    /// to [`WebhookReceiver::serve`]; configure your own server likewise
    /// when you mount the router yourself.
    #[must_use]
    pub fn header_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.limits.header_timeout = timeout;
        self
    }

    /// How long a new connection may take to send its first byte (default
    /// [`DEFAULT_FIRST_BYTE_TIMEOUT`]). A connection takes one of the
    /// [`max_connections`](Self::max_connections) only once it has sent
    /// something, so sockets that never send a byte cannot shut the
    /// gateway out; at most four times that many wait for their first
    /// byte. Applies to [`WebhookReceiver::serve`].
    #[must_use]
    pub fn first_byte_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.limits.first_byte_timeout = timeout;
        self
    }

    /// How long a connection may sit without a request (default
    /// [`DEFAULT_IDLE_TIMEOUT`]). Applies to [`WebhookReceiver::serve`].
    #[must_use]
    pub fn idle_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// The most connections served at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]); one more is closed as soon as it is
    /// accepted, so file descriptors never run out. Applies to
    /// [`WebhookReceiver::serve`].
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// How long requests in flight may take to finish on shutdown (default
    /// [`DEFAULT_SHUTDOWN_GRACE`]). Applies to
    /// [`WebhookReceiver::serve_with_shutdown`].
    #[must_use]
    pub fn shutdown_grace(mut self, grace: std::time::Duration) -> Self {
        self.limits.shutdown_grace = grace;
        self
    }

    /// Matches delivery reports to sent messages (without one, every
    /// [`DeliveryEvent`] has `sent: None`).
    #[must_use]
    pub fn tracker(mut self, tracker: DeliveryTracker) -> Self {
        self.tracker = Some(tracker);
        self
    }

    /// Where handled messages are remembered (default [`MemoryDedup::new`];
    /// use a shared store when several processes receive).
    #[must_use]
    pub fn dedup(mut self, store: impl DedupStore + 'static) -> Self {
        self.dedup = Arc::new(store);
        self
    }

    /// Requires the header `name` to carry `secret` (Intelecom's fixed
    /// header, e.g. `X-API-Key`).
    #[must_use]
    pub fn secret_header(mut self, name: &str, secret: impl Into<Secret>) -> Self {
        self.header_secret = Some((name.to_owned(), secret.into()));
        self
    }

    /// Requires the query parameter `name` to carry `secret` (a fixed query
    /// parameter in the URL given to the gateway; the only option for
    /// `PSWinCom`). With a header secret too, either one is enough.
    #[must_use]
    pub fn secret_query(mut self, name: &str, secret: impl Into<Secret>) -> Self {
        self.query_secret = Some((name.to_owned(), secret.into()));
        self
    }

    /// Accepts requests only from these networks (the gateways' published
    /// addresses), in CIDR form: `"185.39.124.0/22"`, `"2001:db8::/32"`, or
    /// a single address. [`WebhookReceiver::serve`] passes the connection's
    /// address; in your own server, serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    ///
    /// A network that cannot be read makes [`build`](Self::build) fail.
    #[must_use]
    pub fn allow_sources<S: AsRef<str>>(mut self, networks: impl IntoIterator<Item = S>) -> Self {
        for n in networks {
            let text = n.as_ref().trim();
            match text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                Ok(net) => self.sources.push(net),
                Err(_) => self.bad_sources.push(text.to_owned()),
            }
        }
        self
    }

    /// The largest body read (default [`DEFAULT_MAX_BODY`]); larger ones get
    /// 413.
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Called for every entry that cannot be read (default: a `tracing`
    /// warning without the entry's content).
    #[must_use]
    pub fn on_malformed(mut self, hook: impl Fn(MalformedEntry) + Send + Sync + 'static) -> Self {
        self.on_malformed = Arc::new(hook);
        self
    }

    /// Validates and builds the receiver.
    ///
    /// # Errors
    ///
    /// An empty secret, a header or parameter name that cannot be used, or
    /// a zero body limit.
    pub fn build(self) -> Result<WebhookReceiver, ReceiverError> {
        let bad = |field: &'static str, m: &str| Err(ReceiverError::invalid(field, m));
        let mut header = None;
        if let Some((name, secret)) = &self.header_secret {
            let Ok(n) = HeaderName::try_from(name.as_str()) else {
                return bad(
                    "secret_header",
                    "the secret header's name is not a valid header name",
                );
            };
            if secret.is_empty() {
                return bad("secret_header", "the header secret is empty");
            }
            header = Some((n, secret.clone()));
        }
        if let Some((name, secret)) = &self.query_secret {
            if name.is_empty() {
                return bad("secret_query", "the secret query parameter's name is empty");
            }
            if secret.is_empty() {
                return bad("secret_query", "the query secret is empty");
            }
        }
        if let Some(n) = self.bad_sources.first() {
            return bad(
                "allow_sources",
                &format!("{n:?} is not a network (CIDR such as 185.39.124.0/22) or an address"),
            );
        }
        if self.max_body == 0 {
            return bad("max_body", "the body limit is zero");
        }
        if self.max_body > MAX_BODY_LIMIT {
            return bad(
                "max_body",
                "the body limit is above 32 MiB, the most the parsers read",
            );
        }
        if self.limits.max_connections == 0 {
            return bad("max_connections", "the connection limit is zero");
        }
        for (field, t) in [
            ("body_timeout", self.body_timeout),
            ("header_timeout", self.limits.header_timeout),
            ("first_byte_timeout", self.limits.first_byte_timeout),
            ("idle_timeout", self.limits.idle_timeout),
        ] {
            if t.is_zero() {
                return bad(field, "the timeout is zero");
            }
        }
        if let Some(t) = &self.tracker {
            t.deliver_held_to(self.deliveries.clone());
        }
        Ok(WebhookReceiver {
            inner: Arc::new(Inner {
                incoming: self.incoming,
                deliveries: self.deliveries,
                tracker: self.tracker,
                dedup: self.dedup,
                header_secret: header,
                query_secret: self.query_secret,
                sources: self.sources,
                max_body: self.max_body,
                body_timeout: self.body_timeout,
                limits: self.limits,
                dedup_window: self.dedup_window,
                dedup_window_without_id: self.dedup_window_without_id,
                gateways: self.gateways,
                on_malformed: self.on_malformed,
                sweeping: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}
