//! How the emulators serve HTTP: hyper per connection in front of an axum
//! router, so that a scripted fault can close a connection mid-request (a
//! service error closes an HTTP/1 connection without an answer) — which
//! `axum::serve` cannot do.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::Response;
use http_body_util::BodyExt;

/// A scripted connection reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reset {
    /// Close once the request head is read, before the body.
    BeforeBody,
    /// Read the whole body, then close without answering.
    AfterBody,
    /// Answer normally, but close the connection after half of the
    /// answer's body (its `Content-Length` promises all of it).
    TruncateAnswer,
}

/// What an emulator tells the server loop.
pub(crate) trait ResetHooks: Send + Sync + 'static {
    /// The reset scripted for this request, if any (and takes it).
    fn take_reset(&self) -> Option<Reset>;
    /// Records a request that is about to be reset; `body` is empty for
    /// [`Reset::BeforeBody`].
    fn record_reset(self: Arc<Self>, headers: &axum::http::HeaderMap, body: &Bytes);
}

/// Why a connection was closed on purpose.
#[derive(Debug)]
struct ScriptedReset;

impl std::fmt::Display for ScriptedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted connection reset")
    }
}

impl std::error::Error for ScriptedReset {}

/// Accepts connections on `listener` for ever, serving `app`.
pub(crate) async fn serve<H: ResetHooks>(
    listener: tokio::net::TcpListener,
    app: Router,
    hooks: Arc<H>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let app = app.clone();
        let hooks = hooks.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                let hooks = hooks.clone();
                async move { route(app, hooks, req).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route<H: ResetHooks>(
    app: Router,
    hooks: Arc<H>,
    req: axum::http::Request<hyper::body::Incoming>,
) -> Result<Response, ScriptedReset> {
    match hooks.take_reset() {
        Some(Reset::BeforeBody) => {
            hooks.record_reset(req.headers(), &Bytes::new());
            Err(ScriptedReset)
        }
        Some(Reset::AfterBody) => {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            hooks.record_reset(&parts.headers, &body);
            Err(ScriptedReset)
        }
        Some(Reset::TruncateAnswer) => {
            let (mut parts, body) = call(app, req).await.into_parts();
            let whole = body
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            parts.headers.insert(
                axum::http::header::CONTENT_LENGTH,
                axum::http::HeaderValue::from(whole.len()),
            );
            let half = whole.slice(..whole.len() / 2);
            let frames = futures_util::stream::iter([
                Ok(hyper::body::Frame::data(half)),
                Err(ScriptedReset),
            ]);
            Ok(Response::from_parts(
                parts,
                Body::new(http_body_util::StreamBody::new(frames)),
            ))
        }
        None => Ok(call(app, req).await),
    }
}

async fn call(mut app: Router, req: axum::http::Request<hyper::body::Incoming>) -> Response {
    use tower_service::Service;
    match app.call(req.map(Body::new)).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}
