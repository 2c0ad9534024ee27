//! `lite-bench`: starts servers from command templates, runs the load
//! scenarios against them, and prints and records the figures.
//!
//! Invoked by `cargo xtask bench`; see docs/performance.md.

mod error;
mod report;
mod scenarios;
mod server;
mod stats;

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Value};

use crate::{
    error::{bail, Context, Error, Result},
    report::{summaries_json, summarize, table, Better, Figure, Figures, Via},
    scenarios::{Ctx, Profile, Scenario},
    server::{Server, ServerSpec},
    stats::MIB,
};

const USAGE: &str = "\
usage: lite-bench [OPTIONS] [--setup NAME] --server LABEL=CMD [--server LABEL=CMD]... [--setup NAME ...]

Starts each server from its command template ({port}: a free loopback port,
{dir}: a fresh temp dir), runs the scenarios against it, and prints one table
per setup. Within a setup the first server is A and is compared with the
others; rounds alternate A B A B.

options:
  --setup NAME        start a new group of servers (default group: \"default\")
  --server LABEL=CMD  a server under test
  --smoke             tiny sizes and durations (for CI)
  --rounds N          rounds per server (median is reported; default 1)
  --only LIST         comma-separated scenarios: append,many,unary,fanout,catchup
  --pin               servers on CPU 0, this generator on CPU 1 (needs 2 CPUs)
  --out-dir DIR       where <timestamp>.json and latest.json go (default target/bench)";

struct Setup {
    name: String,
    servers: Vec<ServerSpec>,
}

struct Args {
    setups: Vec<Setup>,
    smoke: bool,
    rounds: usize,
    scenarios: Vec<Scenario>,
    out_dir: PathBuf,
    pin: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut it = args.into_iter();
    let mut setups: Vec<Setup> = Vec::new();
    let mut smoke = false;
    let mut rounds = 1;
    let mut scenarios = Scenario::ALL.to_vec();
    let mut out_dir = PathBuf::from("target/bench");
    let mut pin = false;
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| Error::new(format!("{name} needs a value")));
        match arg.as_str() {
            "--setup" => setups.push(Setup { name: value("--setup")?, servers: Vec::new() }),
            "--server" => {
                let v = value("--server")?;
                let Some((label, cmd)) = v.split_once('=') else {
                    return bail(format!("--server wants LABEL=CMD, got {v:?}"));
                };
                if !cmd.contains("{port}") {
                    return bail(format!("the command of {label:?} has no {{port}}: {cmd:?}"));
                }
                if setups.is_empty() {
                    setups.push(Setup { name: "default".into(), servers: Vec::new() });
                }
                if let Some(s) = setups.last_mut() {
                    s.servers.push(ServerSpec { label: label.trim().into(), cmd: cmd.trim().into(), cpu: None });
                }
            }
            "--smoke" => smoke = true,
            "--pin" => pin = true,
            "--rounds" => {
                rounds = value("--rounds")?.parse().context("--rounds wants a positive number")?;
                if rounds == 0 {
                    return bail("--rounds wants a positive number");
                }
            }
            "--only" => {
                scenarios = value("--only")?
                    .split(',')
                    .map(|s| Scenario::parse(s.trim()).ok_or_else(|| Error::new(format!("unknown scenario {s:?}"))))
                    .collect::<Result<_>>()?;
            }
            "--out-dir" => out_dir = PathBuf::from(value("--out-dir")?),
            "-h" | "--help" => return bail(USAGE),
            other => return bail(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if setups.is_empty() || setups.iter().any(|s| s.servers.is_empty()) {
        return bail(format!("every setup needs at least one --server\n{USAGE}"));
    }
    for s in &setups {
        for (i, a) in s.servers.iter().enumerate() {
            if s.servers[..i].iter().any(|b| b.label == a.label) {
                return bail(format!("setup {:?} has two servers labelled {:?}", s.name, a.label));
            }
        }
    }
    if pin {
        for spec in setups.iter_mut().flat_map(|s| s.servers.iter_mut()) {
            spec.cpu = Some(server::SERVER_CPU);
        }
    }
    Ok(Args { setups, smoke, rounds, scenarios, out_dir, pin })
}

fn main() -> ExitCode {
    let args = match parse_args(env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    raise_fd_limit();
    // Before the runtime starts, so that its workers fit the one CPU.
    if args.pin {
        if let Err(e) = server::pin_to_cpu(0, server::GENERATOR_CPU) {
            eprintln!("lite-bench: --pin: {e}");
            return ExitCode::FAILURE;
        }
    }
    // reqwest and the SDK are built on rustls; plain HTTP needs no provider,
    // but installing one keeps their builders from refusing to start.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lite-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("lite-bench: some scenarios failed (see above); their figures are missing");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("lite-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; `Ok(false)` when some scenario failed.
async fn run(args: Args) -> Result<bool> {
    let profile = Profile::new(args.smoke);
    scenarios::epoch();
    let http = reqwest::Client::builder().build().context("cannot build the HTTP client")?;
    let stamp = utc_stamp(SystemTime::now());
    let log_dir = args.out_dir.join("logs").join(&stamp);
    let load_before = load_average();
    let started = std::time::Instant::now();
    let mut all_ok = true;
    let mut tables = String::new();
    let mut setups_json = Vec::new();
    for setup in &args.setups {
        let labels: Vec<String> = setup.servers.iter().map(|s| s.label.clone()).collect();
        let mut runs: Vec<(usize, Vec<Figure>)> = Vec::new();
        let mut failures = Vec::new();
        for round in 1..=args.rounds {
            for (si, spec) in setup.servers.iter().enumerate() {
                for &scenario in &args.scenarios {
                    eprintln!(
                        "lite-bench: setup {} round {round}/{}: {} on {}",
                        setup.name,
                        args.rounds,
                        scenario.name(),
                        spec.label
                    );
                    let log = log_dir.join(format!(
                        "{}-{}-r{round}-{}.log",
                        setup.name,
                        sanitize(&spec.label),
                        scenario.name()
                    ));
                    match run_scenario(spec, scenario, &profile, &http, &log).await {
                        Ok(figs) => runs.push((si, figs)),
                        Err(e) => {
                            all_ok = false;
                            eprintln!("lite-bench: {} on {} failed: {e}", scenario.name(), spec.label);
                            failures.push(json!({
                                "server": spec.label, "round": round, "scenario": scenario.name(), "error": e.to_string(),
                            }));
                        }
                    }
                }
            }
        }
        let summaries = summarize(setup.servers.len(), &runs);
        tables.push_str(&format!("\n== setup {}: {} ==\n", setup.name, describe(setup, args.rounds)));
        tables.push_str(&table(&labels, &summaries));
        if !failures.is_empty() {
            tables.push_str(&format!("!! {} scenario run(s) failed; see the log above and the JSON\n", failures.len()));
        }
        setups_json.push(json!({
            "name": setup.name,
            "servers": setup.servers.iter().map(|s| json!({"label": s.label, "cmd": s.cmd})).collect::<Vec<_>>(),
            "figures": summaries_json(&labels, &summaries),
            "failures": failures,
        }));
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("{tables}");
    println!("{}", legend(args.smoke, args.pin));
    let doc = json!({
        "timestamp": stamp,
        "smoke": args.smoke,
        "rounds": args.rounds,
        "scenarios": args.scenarios.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "elapsed_s": elapsed,
        "machine": machine(load_before),
        "pinned": args.pin.then(|| json!({"server_cpu": server::SERVER_CPU, "generator_cpu": server::GENERATOR_CPU})),
        "profile": format!("{profile:?}"),
        "setups": setups_json,
    });
    write_json(&args.out_dir, &stamp, &doc)?;
    Ok(all_ok)
}

fn describe(setup: &Setup, rounds: usize) -> String {
    let servers: Vec<String> = setup.servers.iter().map(|s| format!("{} = `{}`", s.label, s.cmd)).collect();
    format!("{}; {rounds} round(s), median per figure (max for must-be-zero counts)", servers.join(", "))
}

fn legend(smoke: bool, pin: bool) -> String {
    let mut s = String::from(
        "via: sdk = official Rust SDK (s2-sdk 0.35.3), http = raw HTTP generators (reqwest; the lean one of `unary`), proc = /proc of the server.\n\
         \"A vs B\" = how many times better A is than B (> 1: A better; throughput A/B, latency and cost B/A).\n\
         MiB are of record bodies.",
    );
    if pin {
        s.push_str(&format!(
            " PINNED: the server on CPU {}, this generator on CPU {}.",
            server::SERVER_CPU,
            server::GENERATOR_CPU
        ));
    } else {
        s.push_str(" Bench client and server share this machine's cores.");
    }
    if smoke {
        s.push_str("\nSMOKE MODE: tiny sizes; the figures only show that the harness works.");
    }
    s
}

/// Starts a fresh server, runs one scenario, adds its cost figures, stops the server.
async fn run_scenario(
    spec: &ServerSpec,
    scenario: Scenario,
    profile: &Profile,
    http: &reqwest::Client,
    log: &Path,
) -> Result<Vec<Figure>> {
    let mut server = Server::start(spec, log, http).await?;
    let result = measure(&server, scenario, profile, http).await;
    let result = match result {
        Ok(figs) => Ok(figs),
        Err(e) => Err(match server.exit_status() {
            Some(status) => server.failure(format!("{e}\n  the server exited with {status}")),
            None => server.failure(e.to_string()),
        }),
    };
    let stopped = server.stop().await;
    let mut figs = result?;
    if !stopped.graceful {
        eprintln!(
            "lite-bench: {} did not exit within {:.0} s of SIGTERM and was killed (status {:?})",
            spec.label, stopped.secs, stopped.status
        );
    }
    let mut cost = Figures::new(format!("cost.{}", scenario.name()), "5 cost");
    cost.add(
        "stop_s",
        format!("exit after SIGTERM, after {}", scenario.name()),
        "s",
        Via::Proc,
        Better::Lower,
        stopped.secs,
    );
    figs.extend(cost.list);
    Ok(figs)
}

async fn measure(
    server: &Server,
    scenario: Scenario,
    profile: &Profile,
    http: &reqwest::Client,
) -> Result<Vec<Figure>> {
    let s2 = scenarios::sdk_client(&server.endpoint())?;
    let basin = scenarios::create_basin(&s2).await?;
    let ctx = Ctx { profile, server, basin, http: http.clone(), basin_name: scenarios::BASIN.into() };
    let cpu0 = server.cpu_seconds()?;
    let figs = match scenario {
        Scenario::Append => scenarios::append::run(&ctx).await?,
        Scenario::Many => scenarios::many::run(&ctx).await?,
        Scenario::Unary => scenarios::unary::run(&ctx).await?,
        Scenario::Fanout => scenarios::fanout::run(&ctx).await?,
        Scenario::Catchup => scenarios::catchup::run(&ctx).await?,
    };
    let cpu = server.cpu_seconds()? - cpu0;
    let mut cost = Figures::new(format!("cost.{}", scenario.name()), "5 cost");
    let during = format!("during {}", scenario.name());
    cost.add(
        "peak_rss_mib",
        format!("peak RSS {during}"),
        "MiB",
        Via::Proc,
        Better::Lower,
        server.peak_rss_bytes()? as f64 / MIB,
    );
    cost.add("max_fds", format!("open fds (max) {during}"), "fds", Via::Proc, Better::Lower, server.max_fds() as f64);
    cost.add("cpu_s", format!("CPU seconds {during}"), "s", Via::Proc, Better::Lower, cpu);
    let mut all = figs.list;
    all.extend(cost.list);
    Ok(all)
}

fn sanitize(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

fn write_json(dir: &Path, stamp: &str, doc: &Value) -> Result<()> {
    fs::create_dir_all(dir).context(format!("cannot create {}", dir.display()))?;
    let text = serde_json::to_string_pretty(doc).context("cannot encode the results")?;
    let path = dir.join(format!("{stamp}.json"));
    fs::write(&path, &text).context(format!("cannot write {}", path.display()))?;
    fs::write(dir.join("latest.json"), &text).context("cannot write latest.json")?;
    eprintln!("lite-bench: wrote {} and latest.json", path.display());
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_string()).unwrap_or_default()
}

fn machine(load_before: String) -> Value {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim_start_matches("MemTotal:").trim().to_string()))
        .unwrap_or_default();
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memory": mem,
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    })
}

/// Lifts the soft open-files limit to the hard one: a thousand followers need
/// a thousand sockets here and in the server (which inherits the limit).
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid, initialized rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn args_group_servers_by_setup() {
        let a = parse_args(strings(&[
            "--smoke",
            "--rounds",
            "3",
            "--setup",
            "memory",
            "--server",
            "a=srv --port {port}",
            "--server",
            "b=other --port {port}",
            "--setup",
            "disk",
            "--server",
            "a=srv --port {port} --local-root {dir}",
            "--only",
            "append,catchup",
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(a.smoke);
        assert_eq!(a.rounds, 3);
        assert_eq!(a.setups.len(), 2);
        assert_eq!(a.setups[0].servers.len(), 2);
        assert_eq!(a.setups[1].servers[0].cmd, "srv --port {port} --local-root {dir}");
        assert_eq!(a.scenarios, vec![Scenario::Append, Scenario::Catchup]);
        assert!(!a.pin && a.setups[0].servers[0].cpu.is_none());
        let pinned = parse_args(strings(&["--server", "a=x {port}", "--pin"])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pinned.setups[0].servers[0].cpu, Some(server::SERVER_CPU));
    }

    #[test]
    fn args_are_checked() {
        assert!(parse_args(strings(&[])).is_err());
        assert!(parse_args(strings(&["--server", "a=srv"])).is_err());
        assert!(parse_args(strings(&["--server", "a=x {port}", "--server", "a=y {port}"])).is_err());
        assert!(parse_args(strings(&["--server", "a=x {port}", "--rounds", "0"])).is_err());
        assert!(parse_args(strings(&["--server", "a=x {port}", "--only", "nope"])).is_err());
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_709_251_199); // 2024-02-29 23:59:59
        assert_eq!(utc_stamp(t), "20240229T235959Z");
    }
}
