//! The S2 domain: what basins, streams and records are, and the rules that
//! govern them.
//!
//! Architecture invariant: this crate never sees HTTP, JSON, protobuf or
//! SlateDB. It defines the ports ([`storage::Storage`], [`clock::Clock`]) that
//! adapters implement, and the services ([`service`]) that run the rules over
//! those ports. Every rule that a client can observe lives here and is tested
//! here.

pub mod access;
pub mod append;
pub mod clock;
pub mod config;
pub mod encryption;
pub mod error;
pub mod lifecycle;
pub mod limits;
pub mod names;
pub mod page;
pub mod position;
pub mod read;
pub mod record;
pub mod service;
pub mod storage;

pub use error::Error;
