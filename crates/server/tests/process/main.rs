//! Tests of the `s2-lite` binary as a process: crash safety on local disk
//! (kill -9 during a write load), storage on an S3 API, bounded storage
//! growth under append-and-trim, every acknowledged append fsynced first
//! (power-loss durability), health under fencing, clean shutdown,
//! request logs, no plaintext at rest for encrypted streams, and access
//! tokens across a restart.

mod access_tokens;
mod admission;
mod at_rest;
mod crash;
mod harness;
mod health;
mod history;
mod metrics;
mod overload;
mod power_loss;
mod request_log;
mod s3;
mod shutdown;
mod storage_growth;
