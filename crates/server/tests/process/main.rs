//! Tests of the `s2-lite` binary as a process: crash safety on local disk
//! (kill -9 during a write load), storage on an S3 API, bounded storage
//! growth under append-and-trim, health under fencing, clean shutdown, and
//! request logs.

mod crash;
mod harness;
mod health;
mod request_log;
mod s3;
mod shutdown;
mod storage_growth;
