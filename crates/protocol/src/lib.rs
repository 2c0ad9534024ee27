//! The S2 v1 wire protocol: JSON and protobuf shapes and their conversions to
//! and from domain types, the S2S session framing, SSE events, and the error
//! code table.
//!
//! Architecture invariant: no HTTP server and no storage here; this crate
//! turns bytes into domain values and back, and says which error code a
//! failure carries.

pub mod access;
pub mod codes;
pub mod config;
pub mod error;
pub mod field;
pub mod format;
pub mod proto;
pub mod records;
pub mod resources;
pub mod s2s;
pub mod sse;
pub mod time;
