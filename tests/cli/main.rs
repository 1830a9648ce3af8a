//! The `crm-comms` binary, run as a user runs it, against the loopback
//! emulators and SMTP server: what each command does (`commands.rs`,
//! `mailing.rs`), and the harness that kills `mailing send` at random
//! moments and checks nobody is lost or sent twice (`kill_harness.rs`).
#![cfg(feature = "cli")]

#[path = "../gateways/support.rs"]
mod support;

mod commands;
mod common;
mod kill_harness;
mod mailing;
