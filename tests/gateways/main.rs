//! Both gateways against their loopback emulators, the webhook receiver
//! end to end, fault injection, hostile input and secret hygiene: one test
//! binary, a module per concern.

mod bad_day;
mod conformance_suite;
mod daytime;
mod fault_injection;
mod frequency_cap;
mod hardening_props;
mod injection_corpus;
mod intelecom_callbacks;
mod intelecom_gateway;
mod intelecom_mail;
mod intelecom_push;
mod mailing;
mod mailing_pg;
mod pswincom_gateway;
mod pswincom_push;
mod pswincom_wire;
mod push_kit;
mod receiver_e2e;
mod secret_hygiene;
mod store_contract;
mod support;
