//! The provider-neutral core, call links, preferences and phone numbers:
//! one test binary (each module was its own before; one link is faster).

#[cfg(feature = "mailing")]
mod dry_run;
mod encoding_props;
mod fuzz_regressions;
mod inbound_and_tracking;
mod links;
mod links_props;
#[cfg(feature = "mailing")]
mod local_time;
mod msrv;
mod phone_oracle;
mod prefs;
mod sms_core;
