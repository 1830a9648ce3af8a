//! Both gateways against their loopback emulators, the webhook receiver
//! end to end, fault injection, hostile input and secret hygiene: one test
//! binary, a module per concern.

mod intelecom_gateway;
mod intelecom_callbacks;
mod intelecom_push;
mod intelecom_mail;
mod pswincom_gateway;
mod pswincom_wire;
mod pswincom_push;
mod fault_injection;
mod hardening_props;
mod injection_corpus;
mod secret_hygiene;
mod receiver_e2e;
