//! Power-loss durability on local disk, checked on the server's system
//! calls. kill -9 (`crash.rs`) cannot drop what the OS page cache holds, so
//! here the server runs under `strace`, and every acknowledged append must
//! have had, before its acknowledgement reached the client: the WAL file
//! that holds it fsynced, that file linked into `wal/` under its final name,
//! and then the `wal` directory fsynced. What a power cut can lose (file
//! data or a directory entry not yet synced) was therefore never
//! acknowledged, on a disk that honours `fsync`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use s2_sdk::types::{AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, CreateBasinInput};

use crate::harness::Process;

const APPENDS: usize = 20;

/// One completed system call from the trace, times in seconds since the epoch.
#[derive(Debug)]
struct Call {
    start: f64,
    end: f64,
    name: String,
    /// The argument text, with fds shown as `fd</path>` (`strace -y`).
    args: String,
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Parses `strace -f -ttt -T -y` output: `PID START name(args) = RESULT
/// <DURATION>`, joining `<unfinished ...>` / `<... name resumed>` pairs.
/// Failed calls are left out.
fn parse_trace(text: &str) -> Vec<Call> {
    let mut pending: HashMap<&str, (f64, String)> = HashMap::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        // strace pads the pid to five columns (`%-5u `), so a short pid is
        // followed by more than one space.
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let Some((start, rest)) = rest.trim_start().split_once(' ') else { continue };
        let Ok(start) = start.parse::<f64>() else { continue };
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, (start, head.to_owned()));
            continue;
        }
        let (start, full) = match rest.strip_prefix("<... ") {
            Some(resumed) => {
                let Some((_, tail)) = resumed.split_once(" resumed>") else { continue };
                let Some((start, head)) = pending.remove(pid) else { continue };
                (start, format!("{head}{tail}"))
            }
            None => (start, rest.to_owned()),
        };
        let Some((call, outcome)) = full.rsplit_once(" = ") else { continue };
        let Some((name, args)) = call.split_once('(') else { continue };
        let mut outcome = outcome.split_whitespace();
        if outcome.next() != Some("0") {
            continue;
        }
        let duration = outcome.last().and_then(|d| d.strip_prefix('<')?.strip_suffix('>')?.parse::<f64>().ok());
        let Some(duration) = duration else { continue };
        calls.push(Call { start, end: start + duration, name: name.to_owned(), args: args.to_owned() });
    }
    calls
}

/// The WAL file under `wal_dir` whose bytes contain `needle`.
fn wal_file_holding(wal_dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    std::fs::read_dir(wal_dir).unwrap().map(|entry| entry.unwrap().path()).find(|path| {
        path.extension().is_some_and(|e| e == "sst")
            && std::fs::read(path).unwrap().windows(needle.len()).any(|w| w == needle)
    })
}

/// Checks that `file` was fsynced, then linked under its name, then its
/// directory fsynced, all finished by `acked_at`.
fn synced_before(calls: &[Call], file: &Path, acked_at: f64) -> Result<(), String> {
    let file = file.to_str().unwrap();
    let dir = Path::new(file).parent().unwrap().to_str().unwrap();
    let data_synced = calls
        .iter()
        .filter(|c| c.name == "fsync" || c.name == "fdatasync")
        .filter(|c| c.args.contains(&format!("<{file}#")) || c.args.contains(&format!("<{file}>")))
        .map(|c| c.end)
        .reduce(f64::min)
        .ok_or("the WAL file was never fsynced")?;
    let linked = calls
        .iter()
        .filter(|c| c.name.starts_with("link") || c.name.starts_with("rename"))
        .filter(|c| c.args.contains(&format!("\"{file}\"")) && c.start >= data_synced)
        .map(|c| c.end)
        .reduce(f64::min)
        .ok_or("the WAL file was never linked under its name after its data was fsynced")?;
    let dir_synced = calls
        .iter()
        .filter(|c| c.name == "fsync" && c.args.contains(&format!("<{dir}>")) && c.start >= linked)
        .map(|c| c.end)
        .reduce(f64::min)
        .ok_or("the WAL directory was never fsynced after the link")?;
    if dir_synced > acked_at {
        return Err(format!("acknowledged at {acked_at:.6} before the WAL directory was synced at {dir_synced:.6}"));
    }
    Ok(())
}

#[tokio::test]
async fn every_acknowledged_append_was_fsynced_with_its_directory_first() {
    let traced = std::process::Command::new("strace").arg("-V").output();
    assert!(traced.is_ok_and(|o| o.status.success()), "this test needs strace (apt-get install strace)");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let trace = root.join("strace.out");
    let data = root.join("data");
    let (trace_arg, data_arg) = (trace.to_str().unwrap(), data.to_str().unwrap());
    let strace =
        ["strace", "-f", "-ttt", "-T", "-y", "-e", "trace=fsync,fdatasync,link,linkat,rename,renameat,renameat2"];
    let mut process =
        Process::start_under(&[&strace[..], &["-o", trace_arg, "--"]].concat(), &["--local-root", data_arg], &[]).await;
    let s2 = process.client();
    let config = BasinConfig::new().with_create_stream_on_append(true);
    s2.create_basin(CreateBasinInput::new("power-loss".parse().unwrap()).with_config(config)).await.unwrap();
    let stream = s2.basin("power-loss".parse().unwrap()).stream("s".parse().unwrap());

    let tag = format!("{:x}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
    let mut acks = Vec::new();
    for i in 0..APPENDS {
        let body = format!("power-loss-{tag}-{i:03}");
        let batch = AppendRecordBatch::try_from_iter([AppendRecord::new(body.clone()).unwrap()]).unwrap();
        let ack = stream.append(AppendInput::new(batch)).await.unwrap();
        acks.push((body, now_secs()));
        assert_eq!(ack.start.seq_num, i as u64);
    }

    // Stop the server itself (the tracer's child); the tracer then exits
    // with its status and has written the whole trace.
    let tracer = process.child.id().unwrap();
    let children = std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children")).unwrap();
    let server = children.split_whitespace().next().expect("the tracer runs the server").to_owned();
    let sent = std::process::Command::new("kill").args(["-TERM", &server]).status().unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), process.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "the server exits cleanly: {status}");

    let text = std::fs::read_to_string(&trace).unwrap();
    let calls = parse_trace(&text);
    for (body, acked_at) in &acks {
        let file = wal_file_holding(&data.join("wal"), body.as_bytes())
            .unwrap_or_else(|| panic!("{body} is in no WAL file under {}", data.display()));
        if let Err(why) = synced_before(&calls, &file, *acked_at) {
            let wal_calls: Vec<_> = calls.iter().filter(|c| c.args.contains("/wal")).collect();
            let head: Vec<_> = text.lines().take(20).collect();
            panic!(
                "{body} in {}: {why}; {} calls parsed from {} trace lines, WAL calls: {wal_calls:#?}; trace head: {head:#?}",
                file.display(),
                calls.len(),
                text.lines().count()
            );
        }
    }
}

#[test]
fn the_trace_parser_joins_interrupted_calls_and_skips_failures() {
    let text = "\
7     100.000000 fsync(3</d/wal/1.sst#1>) = 0 <0.000500>
81234 100.001000 linkat(AT_FDCWD, \"/d/wal/1.sst#1\", AT_FDCWD, \"/d/wal/1.sst\", 0 <unfinished ...>
7     100.001100 fsync(4</d/x>) = -1 EIO (Input/output error) <0.000010>
81234 100.001200 <... linkat resumed>) = 0 <0.000300>
9     100.002000 fsync(5</d/wal>) = 0 <0.000100>
";
    let calls = parse_trace(text);
    let names: Vec<_> = calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["fsync", "linkat", "fsync"]);
    assert!((calls[1].start - 100.001).abs() < 1e-9 && (calls[1].end - 100.0013).abs() < 1e-9, "{calls:?}");
    let file = Path::new("/d/wal/1.sst");
    assert_eq!(synced_before(&calls, file, 100.003), Ok(()));
    assert!(synced_before(&calls, file, 100.0015).unwrap_err().contains("before the WAL directory was synced"));
    assert!(synced_before(&calls[1..], file, 100.003).unwrap_err().contains("never fsynced"));
    assert!(synced_before(&calls[..2], file, 100.003).unwrap_err().contains("directory was never fsynced"));
}
