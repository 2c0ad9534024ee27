//! End-to-end API tests: the server runs in-process on an ephemeral
//! loopback port and is driven by the official Rust SDK (`s2-sdk`), and by
//! raw HTTP where exact statuses and bodies matter.

mod access_tokens;
mod common;
mod compression;
mod concurrency;
mod connections;
mod control_plane;
mod data_plane;
mod encryption;
mod leaks;
mod lifecycle;
mod metrics;
mod permission_matrix;
mod records_http;
mod sessions;
mod stream_config_header;
mod tls;
