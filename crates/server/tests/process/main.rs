//! Tests of the `s2-lite` binary as a process: crash safety on local disk
//! (kill -9 during a write load) and storage on an S3 API.

mod crash;
mod harness;
mod s3;
