//! Developer tasks: `cargo xtask ci` runs what CI runs; `cargo xtask bench`
//! runs the benchmark harness (docs/performance.md).
//!
//! Kept dependency-free so that it builds in seconds.

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("e2e") => e2e(),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <ci|e2e|bench>\n  ci     prepare test clients, fmt check, clippy -D warnings, all tests (S3 ones on a local S3 API), e2e with official clients and diffprobe\n  e2e    only the end-to-end suites with the official clients\n  bench  the benchmark harness; `cargo xtask bench --help` for its flags");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_with(program, args, &[])
}

fn run_with(program: &str, args: &[&str], envs: &[(String, String)]) -> Result<(), String> {
    eprintln!("xtask: running {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} {} failed with {status}", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    // The test clients first: a run without them would not check what CI
    // checks, so a missing one fails here, by name.
    run("bash", &[".ci/prepare.sh"])?;
    run("cargo", &["fmt", "--all", "--check"])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    // Tests that need an S3 API are ignored here (reported as such) ...
    run("cargo", &["test", "--workspace"])?;
    // ... and run on their own against a local one.
    s3_tests()?;
    e2e()?;
    // The benchmark harness, tiny, so that it cannot rot (no figure is judged).
    bench(&["--smoke".to_owned(), "--memory-only".to_owned()])
}

/// The tests marked `#[ignore]` because they need an S3 API, run against a
/// local S3 server (moto) started by `.ci/s3-server.sh`. A server that does
/// not start fails the run; so do the tests if they do not find it.
fn s3_tests() -> Result<(), String> {
    eprintln!("xtask: starting a local S3 API (.ci/s3-server.sh)");
    let out = Command::new("bash")
        .arg(".ci/s3-server.sh")
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cannot run .ci/s3-server.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the local S3 API did not start ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let envs: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let pid = envs.iter().find(|(k, _)| k == "LITE_TEST_S3_PID").map(|(_, v)| v.clone());
    let Some(pid) = pid else {
        return Err(".ci/s3-server.sh printed no LITE_TEST_S3_PID".into());
    };
    // The S3 tests are the only ignored ones. The same `--workspace` build
    // as the run before, so nothing is rebuilt.
    let result = run_with("cargo", &["test", "--workspace", "--", "--ignored"], &envs);
    let _ = Command::new("kill").arg(&pid).status();
    result
}

fn e2e() -> Result<(), String> {
    let script = workspace_root().join("e2e/run.sh");
    if !script.exists() {
        return Err("e2e/run.sh is missing".into());
    }
    run("cargo", &["build", "-p", "lite-server"])?;
    run("bash", &["e2e/run.sh"])
}

const BENCH_USAGE: &str = "\
usage: cargo xtask bench [--server-cmd CMD] [--server-cmd-disk CMD] [--server-label NAME]
                         [--smoke] [--rounds N] [--only LIST] [--memory-only] [--release] [--pin]

Builds s2-lite and lite-bench and benchmarks s2-lite twice: in memory, and
with --local-root {dir}. Results: a table on stdout, target/bench/latest.json.

  --server-cmd CMD       also benchmark another server (B), e.g. 's2 lite --port {port}';
                         {port} is a free loopback port, {dir} a fresh temp dir.
                         Rounds alternate A B A B; the table compares A with B.
  --server-cmd-disk CMD  B's command for the disk run (default: CMD --local-root {dir})
  --server-label NAME    B's name in the table (default: from CMD)
  --smoke                tiny sizes and durations; builds with the dev profile
                         (unless --release) so CI reuses its test build
  --rounds N             rounds per server (median reported; default 1)
  --only LIST            scenarios: append,many,unary,fanout,catchup
  --pin                  every server on CPU 0, the load generator on CPU 1
                         (sched_setaffinity), so a server's one core is what saturates
  --memory-only          skip the --local-root run
  --release              build with the release profile even with --smoke";

fn bench(args: &[String]) -> Result<(), String> {
    let mut other: Option<String> = None;
    let mut other_disk: Option<String> = None;
    let mut label: Option<String> = None;
    let mut smoke = false;
    let mut release = false;
    let mut memory_only = false;
    let mut pass: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{arg} needs a value\n{BENCH_USAGE}"));
        match arg.as_str() {
            "--server-cmd" => other = Some(value()?),
            "--server-cmd-disk" => other_disk = Some(value()?),
            "--server-label" => label = Some(value()?),
            "--smoke" => smoke = true,
            "--release" => release = true,
            "--memory-only" => memory_only = true,
            "--pin" => pass.push(arg.clone()),
            "--rounds" | "--only" => {
                let v = value()?;
                pass.push(arg.clone());
                pass.push(v);
            }
            "-h" | "--help" => {
                println!("{BENCH_USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{BENCH_USAGE}")),
        }
    }
    if let Some(cmd) = &other {
        if !cmd.contains("{port}") {
            return Err(format!("--server-cmd needs a {{port}} placeholder: {cmd:?}"));
        }
    }
    // Smoke mode checks that the harness works; a dev build is enough and
    // reuses what `cargo test` already built.
    let profile = if smoke && !release { "debug" } else { "release" };
    let mut build = vec!["build", "-p", "lite-server", "-p", "lite-bench"];
    if profile == "release" {
        build.insert(1, "--release");
    }
    run("cargo", &build)?;

    let root = workspace_root();
    let target = env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let bin_dir = target.join(profile);
    let server = shell_quote(&bin_dir.join("s2-lite").display().to_string());
    let ours = format!("{server} --host 127.0.0.1 --port {{port}}");
    let label = label.unwrap_or_else(|| other.as_deref().map(label_of).unwrap_or_default());
    if other.is_some() && label == "s2-lite" {
        return Err("the other server needs a label other than s2-lite (--server-label)".into());
    }

    let mut bench_args: Vec<String> = vec!["--out-dir".into(), target.join("bench").display().to_string()];
    if smoke {
        bench_args.push("--smoke".into());
    }
    bench_args.extend(pass);
    bench_args.extend(["--setup".into(), "memory".into(), "--server".into(), format!("s2-lite={ours}")]);
    if let Some(cmd) = &other {
        bench_args.extend(["--server".into(), format!("{label}={cmd}")]);
    }
    if !memory_only {
        bench_args.extend([
            "--setup".into(),
            "disk".into(),
            "--server".into(),
            format!("s2-lite={ours} --local-root {{dir}}"),
        ]);
        if let Some(cmd) = &other {
            let disk = other_disk.unwrap_or_else(|| format!("{cmd} --local-root {{dir}}"));
            eprintln!("xtask: disk run of {label}: {disk}");
            bench_args.extend(["--server".into(), format!("{label}={disk}")]);
        }
    }
    let bench = bin_dir.join("lite-bench").display().to_string();
    let refs: Vec<&str> = bench_args.iter().map(String::as_str).collect();
    run(&bench, &refs)
}

/// A short name for a server command: the program's file name and its first
/// word if that is a subcommand (`s2 lite --port {port}` -> `s2 lite`).
fn label_of(cmd: &str) -> String {
    let mut words = cmd.split_whitespace();
    let program = words.next().unwrap_or("other");
    let program = Path::new(program).file_name().and_then(|s| s.to_str()).unwrap_or(program);
    match words.next() {
        Some(w) if !w.starts_with('-') && !w.contains('{') => format!("{program} {w}"),
        _ => program.to_string(),
    }
}

/// Quotes a word for `sh` when it needs it.
fn shell_quote(word: &str) -> String {
    if word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
