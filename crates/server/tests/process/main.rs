//! Tests of the `s2-lite` binary as a process: crash safety on local disk
//! (kill -9 during a write load), storage on an S3 API, bounded storage
//! growth under append-and-trim, and no plaintext at rest for encrypted
//! streams.

mod at_rest;
mod crash;
mod harness;
mod s3;
mod storage_growth;
