//! Pushing callbacks (delivery reports, incoming SMS) to a URL the way a
//! gateway does: the emulators format the body, this module delivers it
//! and redelivers on anything but `200`, as the real gateways do.

use std::time::Duration;

/// Where and how an emulator pushes callbacks.
#[derive(Clone, Debug)]
pub struct PushTarget {
    /// The URL (for GET templates: the template, with `[field]` tokens).
    pub url: String,
    /// Extra headers on every push (a shared secret such as `X-API-Key`).
    pub headers: Vec<(String, String)>,
    /// How many times a push is redelivered after a non-200 answer or a
    /// failed connection (default 2).
    pub retries: usize,
    /// The pause before each redelivery (default 50 ms; the real gateways
    /// wait much longer).
    pub retry_delay: Duration,
}

impl PushTarget {
    /// A target at `url` with the default retries.
    pub fn new(url: impl Into<String>) -> Self {
        PushTarget {
            url: url.into(),
            headers: Vec::new(),
            retries: 2,
            retry_delay: Duration::from_millis(50),
        }
    }

    /// Adds a header to every push.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets how many redeliveries follow a failed push.
    #[must_use]
    pub fn retries(mut self, n: usize) -> Self {
        self.retries = n;
        self
    }
}

/// What became of a push.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushResult {
    /// The HTTP status of every attempt, in order (0 when the connection
    /// failed). Several requests (one per message for GET templates) are
    /// listed one after another.
    pub statuses: Vec<u16>,
    /// Whether every request was finally acknowledged: answered with 200
    /// (and, for `PSWinCom` XML pushes, every `ID` acknowledged `OK`).
    pub delivered: bool,
}

/// One HTTP request of a push.
#[derive(Clone, Debug)]
pub struct OutgoingPush {
    /// The URL the request goes to.
    pub url: String,
    /// The `Content-Type` and body; `None` for GET.
    pub body: Option<(String, Vec<u8>)>,
    /// Headers of this request (besides the target's).
    pub headers: Vec<(&'static str, String)>,
    /// The entry IDs it carries, where the receiver acknowledges each
    /// (`PSWinCom` XML); empty otherwise.
    pub ids: Vec<String>,
}

/// Sends `requests` in turn, each redelivered up to `target.retries` times
/// until it gets 200.
pub async fn deliver(target: &PushTarget, requests: Vec<OutgoingPush>) -> PushResult {
    deliver_until(target, requests, |request, status, _| {
        (status != 200).then(|| request.clone())
    })
    .await
}

/// Sends `requests` in turn. After each answer, `follow_up(request, status,
/// body)` says what is still to be delivered (`None`: nothing); that is
/// sent again after the retry delay, up to `target.retries` times. A failed
/// connection counts as status 0 with an empty body.
pub async fn deliver_until(
    target: &PushTarget,
    requests: Vec<OutgoingPush>,
    follow_up: impl Fn(&OutgoingPush, u16, &[u8]) -> Option<OutgoingPush>,
) -> PushResult {
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return PushResult::default();
    };
    let mut result = PushResult {
        statuses: Vec::new(),
        delivered: true,
    };
    for first in requests {
        let mut pending = Some(first);
        for attempt in 0..=target.retries {
            let Some(request) = pending.take() else {
                break;
            };
            if attempt > 0 {
                tokio::time::sleep(target.retry_delay).await;
            }
            let mut builder = match &request.body {
                Some((content_type, body)) => client
                    .post(&request.url)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body.clone()),
                None => client.get(&request.url),
            };
            for (name, value) in &target.headers {
                builder = builder.header(name, value);
            }
            for (name, value) in &request.headers {
                builder = builder.header(*name, value);
            }
            let (status, body) = match builder.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (
                        status,
                        r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                    )
                }
                Err(_) => (0, Vec::new()),
            };
            result.statuses.push(status);
            pending = follow_up(&request, status, &body);
        }
        result.delivered &= pending.is_none();
    }
    result
}
