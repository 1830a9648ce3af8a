//! Serving the receiver with the limits a server facing the internet
//! needs: a header timeout, an idle timeout, a connection cap and a
//! graceful shutdown (the body timeout is in the router itself, so it also
//! holds when the router is mounted in the application's own server).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::WebhookReceiver;

/// The server limits (see the builder's setters for their meaning).
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub(super) header_timeout: Duration,
    pub(super) first_byte_timeout: Duration,
    pub(super) idle_timeout: Duration,
    pub(super) max_connections: usize,
    pub(super) shutdown_grace: Duration,
}

/// Default: a new connection's first byte within 3 s.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(3);
/// Default: the whole request head within 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default: the whole body within 30 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default: a connection with no request for 60 s is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default: at most 256 connections at once; more are closed at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default: on shutdown, requests in flight get 30 s to finish.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl WebhookReceiver {
    /// Serves the [`router`](Self::router) at the root of `listener` until
    /// the process ends, with the builder's header and idle timeouts and
    /// connection cap. The connection's address reaches the source check.
    ///
    /// # Errors
    ///
    /// Never in practice: accept errors (out of file descriptors) are
    /// logged and retried after a pause.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending::<()>())
            .await
    }

    /// As [`serve`](Self::serve), until `shutdown` completes: then no new
    /// connection is accepted, requests in flight get the builder's
    /// shutdown grace to finish (their pushes are answered, so the gateway
    /// does not send them again), idle connections are closed, and the
    /// delivery reports the tracker holds are handed on.
    ///
    /// # Errors
    ///
    /// As [`serve`](Self::serve).
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let limits = self.inner.limits;
        let sources = self.inner.sources.clone();
        let app = self.router();
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        // Connections still waiting for their first byte hold none of the
        // permits above. At most four times as many wait; one more evicts
        // the one that has waited longest (a gateway sends at once, an idle
        // socket never does).
        let waiting = Arc::new(Waiting::new(limits.max_connections.saturating_mul(4)));
        let refusals = Arc::new(RefusalLog::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                a = listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // The allow-list before anything is held for the connection.
            if !sources.is_empty() && !sources.iter().any(|n| n.contains(&peer.ip())) {
                refusals.note("source address not allowed", peer);
                drop(stream);
                continue;
            }
            let ticket = waiting.enter();
            let app = app.clone();
            let stop = stop_rx.clone();
            let permits = permits.clone();
            let refusals = refusals.clone();
            tokio::spawn(async move {
                // Nothing sent within the first-byte timeout, or evicted by
                // newer connections: closed, never having taken a slot.
                let mut byte = [0u8; 1];
                let first = tokio::select! {
                    r = tokio::time::timeout(limits.first_byte_timeout, stream.peek(&mut byte)) => {
                        matches!(r, Ok(Ok(n)) if n > 0)
                    }
                    () = ticket.evicted() => false,
                };
                drop(ticket);
                if !first {
                    return;
                }
                let Ok(permit) = permits.try_acquire_owned() else {
                    refusals.note("connection limit reached", peer);
                    return;
                };
                connection(stream, peer, app, limits, stop).await;
                drop(permit);
            });
        }
        drop(listener);
        let _ = stop_tx.send(true);
        let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(limits.shutdown_grace, permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = limits.max_connections - permits.available_permits(),
                "shutdown grace over; closing the connections still open"
            );
        }
        let held = self.flush_held().await;
        if held > 0 {
            tracing::info!(held, "held delivery reports handed on unmatched");
        }
        Ok(())
    }
}

/// Serves one connection: HTTP/1.1 with the header timeout; closed when
/// idle past the idle timeout, and gracefully on shutdown.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (activity_tx, mut activity) = watch::channel(());
    let service = {
        let in_flight = in_flight.clone();
        hyper::service::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
            let mut app = app.clone();
            let in_flight = in_flight.clone();
            let activity_tx = activity_tx.clone();
            in_flight.fetch_add(1, Ordering::SeqCst);
            let _ = activity_tx.send(());
            let mut req = req.map(Body::new);
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            async move {
                use tower_service::Service;
                let response = match app.call(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = activity_tx.send(());
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            idle = tokio::time::timeout(limits.idle_timeout, activity.changed()) => {
                match idle {
                    Ok(Ok(())) => {}
                    // No request started or ended for the idle timeout.
                    Err(_) if in_flight.load(Ordering::SeqCst) == 0 => return,
                    Err(_) => {}
                    // The service is gone: the connection is ending.
                    Ok(Err(_)) => {
                        let _ = conn.as_mut().await;
                        return;
                    }
                }
            }
        }
    }
}

/// Connections refused, logged at most once every 10 s with how many
/// there were since (a flood must not become 190,000 log lines).
#[derive(Default)]
struct RefusalLog {
    state: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

impl RefusalLog {
    fn note(&self, why: &'static str, peer: std::net::SocketAddr) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.1 += 1;
        let due = state
            .0
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if due {
            tracing::warn!(
                %peer,
                refused = state.1,
                "{why}; closing the new connection (refusals since the last such line)"
            );
            *state = (Some(std::time::Instant::now()), 0);
        }
    }
}

/// Connections waiting for their first byte, oldest first, at most `max`:
/// a newer one evicts the oldest.
struct Waiting {
    max: usize,
    queue: std::sync::Mutex<std::collections::VecDeque<Arc<Ticket>>>,
}

/// One waiting connection: told when it is evicted; leaves the queue when
/// dropped.
struct Ticket {
    evict: tokio::sync::Notify,
    gone: std::sync::atomic::AtomicBool,
}

impl Waiting {
    fn new(max: usize) -> Self {
        Waiting {
            max: max.max(1),
            queue: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Queues a new connection, evicting the oldest while too many wait.
    fn enter(&self) -> TicketGuard {
        let ticket = Arc::new(Ticket {
            evict: tokio::sync::Notify::new(),
            gone: std::sync::atomic::AtomicBool::new(false),
        });
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queue.retain(|t| !t.gone.load(Ordering::Relaxed));
        while queue.len() >= self.max {
            if let Some(oldest) = queue.pop_front() {
                oldest.gone.store(true, Ordering::Relaxed);
                oldest.evict.notify_one();
            }
        }
        queue.push_back(ticket.clone());
        TicketGuard(ticket)
    }
}

/// A waiting connection's place in [`Waiting`].
struct TicketGuard(Arc<Ticket>);

impl TicketGuard {
    /// Completes when a newer connection evicts this one.
    async fn evicted(&self) {
        self.0.evict.notified().await;
    }
}

impl Drop for TicketGuard {
    fn drop(&mut self) {
        self.0.gone.store(true, Ordering::Relaxed);
    }
}
