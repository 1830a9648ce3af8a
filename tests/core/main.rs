//! The provider-neutral core, call links, preferences and phone numbers:
//! one test binary (each module was its own before; one link is faster).

mod sms_core;
mod links;
mod links_props;
mod prefs;
mod phone_fast_path;
mod encoding_props;
mod fuzz_regressions;
mod inbound_and_tracking;
mod msrv;
