//! Test kit for providers (feature `testing`): the conformance suite every
//! [`SmsProvider`](crate::sms::SmsProvider) must pass. Not API-stable.

pub mod conformance;
