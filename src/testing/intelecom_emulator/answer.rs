//! How the gateway answers a request: the HTTP status for a request it
//! cannot read, otherwise one `messageStatus` per message (access error,
//! scripted fault, syntax error, duplicate reference or "enqueued"), with
//! the delivery reports it will push for the accepted ones.

use std::sync::atomic::Ordering;

use axum::http::HeaderMap;

use super::push::IntelecomPushedDr;
use super::reading::{Req, recorded, skips_dr, syntax_error};
use super::{DUPLICATE_WINDOW, IntelecomAnswerFault, IntelecomWire};
use crate::testing::loopback::{self, Answer};

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    batch_reference: Option<&'a str>,
    message_status: Vec<StatusOut<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusOut<'a> {
    status_code: i64,
    status_message: String,
    client_reference: Option<&'a str>,
    recipient: &'a str,
    message_id: Option<String>,
    session_id: Option<&'a str>,
    sequence_index: usize,
}

/// The answer to one request.
pub(super) fn answer(
    wire: &IntelecomWire,
    headers: &HeaderMap,
    body: &[u8],
    fault: Option<&IntelecomAnswerFault>,
) -> Answer<IntelecomWire> {
    if !loopback::content_type(headers)
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Answer::error_page(415, "Content-Type must be application/json")
            .recorded(recorded(body, None, wire.password.expose()));
    }
    let req: Req =
        match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return Answer::error_page(400, &format!("invalid request: {e}"))
                    .recorded(recorded(body, None, wire.password.expose()));
            }
        };
    let mut record = recorded(body, Some(&req), wire.password.expose());
    let auth_ok = req.service_id == wire.service_id
        && req.username == wire.username
        && req.password == wire.password.expose();
    let max_batch = wire.max_batch.load(Ordering::Relaxed) as usize;
    if req.message.is_empty() || req.message.len() > max_batch {
        return Answer::error_page(400, "message must have 1 to max-batch entries")
            .recorded(record);
    }
    if matches!(fault, Some(IntelecomAnswerFault::MalformedJson)) {
        return Answer::new(
            200,
            "application/json",
            "{\"messageStatus\":[{\"statusCode\":1,",
        )
        .recorded(record);
    }
    let scripted = match fault {
        Some(IntelecomAnswerFault::StatusCodes(codes)) => Some(codes.clone()),
        _ => None,
    };
    let n = req.message.len() as u64;
    let first_id = wire.next_id.fetch_add(n, Ordering::Relaxed);
    let duplicate_check = wire.duplicate_check.load(Ordering::Relaxed);
    let mut ledger = wire
        .ledger
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = std::time::Instant::now();
    let mut statuses: Vec<StatusOut<'_>> = req
        .message
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (code, text) = if !auth_ok {
                (
                    2,
                    "Access error: invalid service, user name or password".to_string(),
                )
            } else if let Some(codes) = &scripted {
                (
                    codes.get(i).copied().unwrap_or(1),
                    "scripted status".to_string(),
                )
            } else if let Some(reason) = syntax_error(m) {
                (5, format!("Syntax error: {reason}"))
            } else if duplicate_check
                && m.client_reference.as_ref().is_some_and(|r| {
                    ledger
                        .references
                        .get(r)
                        .is_some_and(|at| now.duration_since(*at) < DUPLICATE_WINDOW)
                })
            {
                (
                    25,
                    "ERROR_NOT_UNIQUE: clientReference is not unique".to_string(),
                )
            } else {
                (1, "Message enqueued for sending".to_string())
            };
            if code == 1 {
                *ledger.accepted.entry(m.recipient.clone()).or_default() += 1;
                if let Some(r) = &m.client_reference {
                    ledger.references.insert(r.clone(), now);
                }
            }
            StatusOut {
                status_code: code,
                status_message: text,
                client_reference: m.client_reference.as_deref(),
                recipient: &m.recipient,
                message_id: (code == 1)
                    .then(|| format!("{:012x}", 0x7600_0000_0000u64 + first_id + i as u64 + 1)),
                session_id: None,
                sequence_index: i + 1,
            }
        })
        .collect();
    drop(ledger);
    let dr_status = wire.dr_status.load(Ordering::Relaxed);
    let reports: Vec<IntelecomPushedDr> = statuses
        .iter()
        .zip(&req.message)
        .filter(|(st, m)| st.status_code == 1 && !skips_dr(m))
        .map(|(st, _)| IntelecomPushedDr {
            message_id: st.message_id.clone().unwrap_or_default(),
            client_reference: st.client_reference.map(str::to_owned),
            batch_reference: req.batch_reference.clone(),
            status_code: dr_status,
        })
        .collect();
    if matches!(fault, Some(IntelecomAnswerFault::DropLastStatus)) {
        statuses.pop();
    }
    for (m, st) in record.request.messages.iter_mut().zip(&statuses) {
        m.gateway_reference.clone_from(&st.message_id);
    }
    let answer = serde_json::to_string(&ResponseOut {
        batch_reference: req.batch_reference.as_deref(),
        message_status: statuses,
    })
    .unwrap_or_default();
    Answer::new(200, "application/json", answer)
        .recorded(record)
        .reports(reports)
}
