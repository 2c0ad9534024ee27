//! Server processes: start from a command template, wait for health, watch
//! /proc, stop by PID.

use std::{
    fs::{self, File},
    io::{Read, Seek, SeekFrom},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use tempfile::TempDir;
use tokio::time::{sleep, Instant};

use crate::error::{bail, Context, Error, Result};

/// A server to benchmark: a label for the table and a command template with
/// `{port}` and, optionally, `{dir}`.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    pub label: String,
    pub cmd: String,
    /// The one CPU the server may run on (`--pin`).
    pub cpu: Option<usize>,
}

/// With `--pin`: the server's CPU and the generator's.
pub const SERVER_CPU: usize = 0;
pub const GENERATOR_CPU: usize = 1;

/// Restricts process `pid` (0: this one) to `cpu`, which must be one this
/// process may use.
pub fn pin_to_cpu(pid: i32, cpu: usize) -> Result<()> {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if cpu >= cpus || cpus < 2 {
        return bail(format!("cannot pin to CPU {cpu}: {cpus} CPU(s) available, 2 needed"));
    }
    set_affinity(pid, cpu).map_err(|e| Error::new(format!("sched_setaffinity to CPU {cpu} failed: {e}")))
}

fn set_affinity(pid: i32, cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside it
    // for cpu < CPU_SETSIZE, and sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How long a server may take to answer `GET /health` after it was started.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How often open fds are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// A running server process.
pub struct Server {
    pub label: String,
    pub port: u16,
    pub log_path: PathBuf,
    child: Child,
    pid: i32,
    sampler: Sampler,
    _dir: Option<TempDir>,
}

/// What happened when a server was stopped.
pub struct Stopped {
    pub graceful: bool,
    pub secs: f64,
    pub status: Option<ExitStatus>,
}

impl Server {
    /// Starts `spec` on a free loopback port, logging to `log_path`, and
    /// waits until it answers `GET /health`.
    pub async fn start(spec: &ServerSpec, log_path: &Path, http: &reqwest::Client) -> Result<Server> {
        let port = free_port()?;
        let dir = if spec.cmd.contains("{dir}") {
            Some(tempfile::Builder::new().prefix("lite-bench-").tempdir().context("cannot create a temp dir")?)
        } else {
            None
        };
        let mut cmd = spec.cmd.replace("{port}", &port.to_string());
        if let Some(d) = &dir {
            cmd = cmd.replace("{dir}", &d.path().display().to_string());
        }
        if let Some(parent) = log_path.parent() {
            fs::create_dir_all(parent).context(format!("cannot create {}", parent.display()))?;
        }
        let log = File::create(log_path).context(format!("cannot create {}", log_path.display()))?;
        let log_err = log.try_clone().context("cannot duplicate the log file handle")?;
        // `exec` makes the server itself the child, so the PID is the server's.
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("exec {cmd}")).stdin(Stdio::null()).stdout(log).stderr(log_err);
        if let Some(cpu) = spec.cpu {
            // This process may be pinned elsewhere already: widen nothing,
            // just move the child (and everything it execs) to its CPU.
            // SAFETY: the closure only makes one syscall, which is
            // async-signal-safe, between fork and exec.
            unsafe {
                use std::os::unix::process::CommandExt;
                command.pre_exec(move || set_affinity(0, cpu));
            }
        }
        let child = command.spawn().context(format!("cannot start `{cmd}`"))?;
        let pid = i32::try_from(child.id()).context("PID out of range")?;
        let sampler = Sampler::start(pid);
        let mut server = Server {
            label: spec.label.clone(),
            port,
            log_path: log_path.to_path_buf(),
            child,
            pid,
            sampler,
            _dir: dir,
        };
        server.wait_healthy(http, &cmd).await?;
        Ok(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_healthy(&mut self, http: &reqwest::Client, cmd: &str) -> Result<()> {
        let url = format!("{}/health", self.endpoint());
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status() {
                return Err(self.failure(format!("`{cmd}` exited with {status} before it was healthy")));
            }
            match http.get(&url).timeout(Duration::from_secs(1)).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("GET /health answered {}", r.status()),
                Err(e) => last = format!("GET /health failed: {e}"),
            }
            sleep(Duration::from_millis(50)).await;
        }
        Err(self.failure(format!("`{cmd}` was not healthy within {HEALTH_TIMEOUT:?} ({last})")))
    }

    /// The exit status if the process has ended.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// An error that carries the end of the server's log.
    pub fn failure(&self, msg: impl Into<String>) -> Error {
        let tail = log_tail(&self.log_path, 15);
        Error::new(format!("{}\n  server log {} ends with:\n{tail}", msg.into(), self.log_path.display()))
    }

    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> Result<f64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid)).context("cannot read /proc/PID/stat")?;
        cpu_seconds_from_stat(&stat, clock_ticks_per_second())
    }

    /// Peak resident set size in bytes (VmHWM).
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        let status =
            fs::read_to_string(format!("/proc/{}/status", self.pid)).context("cannot read /proc/PID/status")?;
        vm_hwm_bytes(&status)
    }

    /// The most file descriptors seen open at once so far.
    pub fn max_fds(&self) -> usize {
        self.sampler.max_fds.load(Ordering::Relaxed)
    }

    /// Sends SIGTERM, waits for the exit, and kills the process if it does not
    /// exit in time.
    pub async fn stop(mut self) -> Stopped {
        self.sampler.stop();
        let started = Instant::now();
        if let Some(status) = self.exit_status() {
            return Stopped { graceful: false, secs: 0.0, status: Some(status) };
        }
        // SAFETY: kill(2) with a PID we spawned and have not reaped yet; it
        // only sends a signal.
        unsafe {
            libc::kill(self.pid, libc::SIGTERM);
        }
        while started.elapsed() < STOP_TIMEOUT {
            if let Some(status) = self.exit_status() {
                return Stopped { graceful: true, secs: started.elapsed().as_secs_f64(), status: Some(status) };
            }
            sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        Stopped { graceful: false, secs: started.elapsed().as_secs_f64(), status }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.sampler.stop();
        if self.exit_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A thread that samples the number of open fds of a process.
struct Sampler {
    stop: Arc<AtomicBool>,
    max_fds: Arc<AtomicUsize>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: i32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max_fds = Arc::new(AtomicUsize::new(0));
        let (s, m) = (stop.clone(), max_fds.clone());
        let handle = thread::Builder::new()
            .name("fd-sampler".into())
            .spawn(move || {
                let dir = format!("/proc/{pid}/fd");
                while !s.load(Ordering::Relaxed) {
                    if let Ok(entries) = fs::read_dir(&dir) {
                        m.fetch_max(entries.count(), Ordering::Relaxed);
                    }
                    thread::sleep(SAMPLE_EVERY);
                }
            })
            .ok();
        Sampler { stop, max_fds, handle }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind an ephemeral port")?;
    Ok(listener.local_addr().context("cannot read the ephemeral port")?.port())
}

pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime (fields 14 and 15 of /proc/PID/stat) in seconds. The
/// command name (field 2) may contain spaces, so fields are counted after
/// its closing parenthesis.
pub fn cpu_seconds_from_stat(stat: &str, ticks_per_second: f64) -> Result<f64> {
    let Some(close) = stat.rfind(')') else { return bail("unexpected /proc/PID/stat format") };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After ")": state is field 3, so field N is at index N - 3.
    let field = |n: usize| -> Result<f64> {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v as f64)
            .ok_or_else(|| Error::new(format!("/proc/PID/stat has no field {n}")))
    };
    Ok((field(14)? + field(15)?) / ticks_per_second)
}

fn vm_hwm_bytes(status: &str) -> Result<u64> {
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmHWM:") {
            let kib = rest.trim().trim_end_matches("kB").trim();
            return kib.parse::<u64>().map(|k| k * 1024).context("cannot parse VmHWM");
        }
    }
    bail("/proc/PID/status has no VmHWM")
}

/// The last `lines` lines of a log file (at most the last 64 KiB are read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else { return "    (no log)".into() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_from_stat_with_spaces_in_the_name() {
        let stat = "1234 (s2 lite (x)) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0";
        let secs = cpu_seconds_from_stat(stat, 100.0).unwrap_or(-1.0);
        assert!((secs - 3.0).abs() < 1e-9, "{secs}");
    }

    #[test]
    fn parses_vm_hwm() {
        let status = "Name:\ts2-lite\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm_bytes(status).ok(), Some(2048 * 1024));
        assert!(vm_hwm_bytes("Name: x\n").is_err());
    }

    #[test]
    fn reads_own_process_stats() {
        let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
        assert!(cpu_seconds_from_stat(&stat, clock_ticks_per_second()).is_ok());
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        assert!(vm_hwm_bytes(&status).unwrap_or(0) > 0);
    }
}
