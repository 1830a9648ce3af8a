//! SMS: the provider-neutral core the gateways are built on.
//!
//! Today: [`encoding`] (which alphabet a text needs, how many parts it
//! takes under each gateway's limits). The provider contract, message model
//! and gateways follow.

pub mod encoding;
