//! Starting and stopping the built binary, and reading a stream whole.

use std::{
    num::NonZeroU32,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use s2_sdk::{
    types::{ReadFrom, ReadInput, ReadLimits, ReadStart, ReadStop, RetryConfig, S2Config, S2Endpoints},
    S2Stream, S2,
};
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::watch,
};

pub struct Process {
    pub child: Child,
    pub port: u16,
    /// Every line the server wrote to stdout and stderr so far.
    output: watch::Receiver<Vec<String>>,
}

/// Appends each line of `reader` to `output` until it ends.
fn collect_lines(reader: impl AsyncBufRead + Unpin + Send + 'static, output: watch::Sender<Vec<String>>) {
    tokio::spawn(async move {
        let mut lines = reader.lines();
        while let Ok(Some(line)) = lines.next_line().await {
            output.send_modify(|all| all.push(line));
        }
    });
}

impl Process {
    /// Starts `s2-lite` on 127.0.0.1 with an ephemeral port and waits until
    /// it serves.
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::start_under(&[], args, envs).await
    }

    /// As [`Process::start`], with the binary run by `wrapper` (a command
    /// and its arguments, such as a tracer); `child` is then the wrapper.
    pub async fn start_under(wrapper: &[&str], args: &[&str], envs: &[(&str, &str)]) -> Self {
        // Background lifecycle passes only when a test asks for them.
        let lifecycle: &[&str] =
            if args.contains(&"--lifecycle-interval-secs") { &[] } else { &["--lifecycle-interval-secs", "3600"] };
        let binary = env!("CARGO_BIN_EXE_s2-lite");
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(lifecycle)
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        // Keep draining both so that the server never blocks on them.
        let (output_tx, output) = watch::channel(Vec::new());
        collect_lines(BufReader::new(child.stdout.take().expect("stdout is piped")), output_tx.clone());
        collect_lines(BufReader::new(child.stderr.take().expect("stderr is piped")), output_tx);
        let mut process = Self { child, port: 0, output };
        let endpoint = process
            .wait_for_line("export S2_ACCOUNT_ENDPOINT=", |line| line.starts_with("export S2_ACCOUNT_ENDPOINT="));
        let endpoint = endpoint.await;
        process.port = endpoint.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).expect("a port");
        process
    }

    /// The first output line that `matches`, waiting up to 30 s for it.
    pub async fn wait_for_line(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let mut output = self.output.clone();
        let found =
            tokio::time::timeout(Duration::from_secs(30), output.wait_for(|all| all.iter().any(|l| matches(l))));
        let line = match found.await {
            Ok(Ok(all)) => all.iter().find(|l| matches(l)).cloned(),
            _ => None,
        };
        line.unwrap_or_else(|| panic!("no output line {what} within 30 s: {:#?}", self.output.borrow()))
    }

    /// Every output line so far.
    pub fn output(&self) -> Vec<String> {
        self.output.borrow().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends SIGTERM.
    pub async fn signal_term(&self) {
        let pid = self.child.id().expect("the process runs").to_string();
        let sent = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill runs");
        assert!(sent.success(), "SIGTERM delivered");
    }

    /// Waits (up to 30 s) for the process to exit.
    pub async fn exit_status(&mut self) -> ExitStatus {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server exits within 30 s")
            .expect("the process ends")
    }

    pub fn client(&self) -> S2 {
        client_for(self.port)
    }

    /// SIGTERM, then waits for the graceful shutdown to finish.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("the process runs");
        let sent = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
        assert!(sent.success(), "SIGTERM was delivered");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server stops within 30 s of SIGTERM")
            .expect("the process ends");
        assert!(status.success(), "the server exits cleanly on SIGTERM: {status}");
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill_9(mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("the process ends");
    }
}

/// An SDK client for a server on 127.0.0.1, without retries (so that every
/// failure is seen).
pub fn client_for(port: u16) -> S2 {
    let config = S2Config::new("test-token")
        .with_endpoints(S2Endpoints::for_endpoint(&format!("http://127.0.0.1:{port}")).unwrap())
        .with_request_timeout(Duration::from_secs(10))
        .with_retry(RetryConfig::new().with_max_attempts(NonZeroU32::new(1).unwrap()));
    S2::new(config).unwrap()
}

/// Every record of a stream, as (seq num, body).
pub async fn read_all(stream: &S2Stream) -> Vec<(u64, Vec<u8>)> {
    let tail = stream.check_tail().await.unwrap().seq_num;
    let mut out = Vec::new();
    while (out.len() as u64) < tail {
        let input = ReadInput::new()
            .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(out.len() as u64)))
            .with_stop(ReadStop::new().with_limits(ReadLimits::new().with_count(1000)));
        let batch = stream.read(input).await.unwrap();
        assert!(!batch.records.is_empty(), "records below the tail are readable");
        out.extend(batch.records.into_iter().map(|r| (r.seq_num, r.body.to_vec())));
    }
    out
}
