//! Adapters for the domain's storage port ([`lite_domain::storage::Storage`]).
//!
//! Architecture invariant: nothing here knows about HTTP or the wire
//! protocol; every backend passes the same conformance kit ([`kit`]).

mod memory;

pub use memory::MemoryStorage;

#[cfg(test)]
mod kit {}
