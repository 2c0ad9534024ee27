//! Developer tasks: `cargo xtask ci` runs what CI runs.
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
        _ => {
            eprintln!("usage: cargo xtask <ci|e2e>\n  ci   fmt check, clippy -D warnings, all tests, e2e with official clients\n  e2e  only the end-to-end suites with the official clients");
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
    eprintln!("xtask: running {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
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
    run("cargo", &["fmt", "--all", "--check"])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    run("cargo", &["test", "--workspace"])?;
    e2e()
}

fn e2e() -> Result<(), String> {
    let script = workspace_root().join("e2e/run.sh");
    if !script.exists() {
        return Err("e2e/run.sh is missing".into());
    }
    run("cargo", &["build", "-p", "lite-server"])?;
    run("bash", &["e2e/run.sh"])
}
