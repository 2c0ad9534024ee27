//! Scenario 4: append a backlog, then read it from seq_num 0 with one read
//! session that ends when it has caught up (wait = 0).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use s2_sdk::{
    append_session::AppendSessionConfig,
    types::{ReadFrom, ReadInput, ReadSessionConfig, ReadStart, ReadStop},
};
use tokio::time::{timeout, timeout_at, Instant};

use super::{batch_of, max_batch_records, Ctx};
use crate::{
    error::{bail, Context, Result},
    report::{Better, Figures, Via},
    stats::{GIB, MIB},
};

/// Bounds for each phase.
const APPEND_TIMEOUT: Duration = Duration::from_secs(300);
const READ_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn run(ctx: &Ctx<'_>) -> Result<Figures> {
    let p = ctx.profile;
    let mut figs = Figures::new("catchup", "4 catch-up");
    let size = p.catchup_record_size;
    let stream = ctx.create_stream("catchup").await?;
    let body = Bytes::from(vec![b'c'; size]);
    let per_batch = max_batch_records(size);
    let records = p.catchup_backlog.div_ceil(size as u64);

    // Backlog: full batches through one append session, as fast as it takes them.
    let cpu0 = ctx.cpu()?;
    let started = Instant::now();
    let deadline = started + APPEND_TIMEOUT;
    let session = stream.append_session(AppendSessionConfig::new());
    let mut tickets = Vec::new();
    let mut left = records;
    while left > 0 {
        let n = left.min(per_batch as u64);
        let input = batch_of(&body, n as usize)?;
        let ticket = timeout_at(deadline, session.submit(input))
            .await
            .context("backlog append timed out")?
            .context("backlog append failed")?;
        tickets.push(ticket);
        left -= n;
    }
    timeout_at(deadline, session.close())
        .await
        .context("backlog append timed out")?
        .context("backlog append failed")?;
    for t in tickets {
        timeout(Duration::from_secs(1), t).await.context("backlog ack missing")?.context("backlog append failed")?;
    }
    let append_secs = started.elapsed().as_secs_f64();
    let cpu_appended = ctx.cpu()?;
    let bytes = records * size as u64;

    // Catch-up read, once the server has settled after the backlog.
    ctx.quiesce().await?;
    let cpu1 = ctx.cpu()?;
    let started = Instant::now();
    let deadline = started + READ_TIMEOUT;
    let input = ReadInput::new()
        .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)))
        .with_stop(ReadStop::new().with_wait(0));
    let mut session = timeout_at(deadline, stream.read_session(input, ReadSessionConfig::new()))
        .await
        .context("read session not open in time")?
        .context("cannot open the read session")?;
    let (mut read_records, mut read_bytes, mut out_of_order) = (0u64, 0u64, 0u64);
    let mut error = None;
    loop {
        match timeout_at(deadline, session.next()).await {
            Ok(Some(Ok(batch))) => {
                for r in &batch.records {
                    if r.seq_num != read_records {
                        out_of_order += 1;
                    }
                    read_records += 1;
                    read_bytes += r.body.len() as u64;
                }
            }
            Ok(Some(Err(e))) => {
                error = Some(e.to_string());
                break;
            }
            Ok(None) => break,
            Err(_) => {
                error = Some(format!("read not finished within {READ_TIMEOUT:?}"));
                break;
            }
        }
    }
    let read_secs = started.elapsed().as_secs_f64();
    let cpu2 = ctx.cpu()?;
    if let Some(e) = error {
        return bail(format!("catch-up read failed after {read_records} records: {e}"));
    }
    ctx.note(format!(
        "catch-up: appended {:.0} MiB in {append_secs:.1} s, read {read_records} records in {read_secs:.1} s",
        bytes as f64 / MIB
    ));
    let label = format!("{} MiB backlog of {} KiB records", bytes >> 20, size / 1024);
    figs.add(
        "read_mib_s",
        format!("{label}: read from seq_num 0"),
        "MiB/s",
        Via::Sdk,
        Better::Higher,
        read_bytes as f64 / MIB / read_secs,
    );
    figs.add(
        "read_records_s",
        format!("{label}: read rate"),
        "records/s",
        Via::Sdk,
        Better::Higher,
        read_records as f64 / read_secs,
    );
    figs.add(
        "missing",
        format!("{label}: records missing or out of order"),
        "count",
        Via::Sdk,
        Better::Zero,
        (records.saturating_sub(read_records) + out_of_order) as f64,
    );
    figs.add(
        "append_mib_s",
        format!("{label}: backlog append (1 MiB batches, one session)"),
        "MiB/s",
        Via::Sdk,
        Better::Higher,
        bytes as f64 / MIB / append_secs,
    );
    figs.add(
        "append_cpu_s_per_gib",
        format!("{label}: server CPU per GiB appended"),
        "s/GiB",
        Via::Proc,
        Better::Lower,
        (cpu_appended - cpu0) / (bytes as f64 / GIB),
    );
    if read_bytes > 0 {
        figs.add(
            "read_cpu_s_per_gib",
            format!("{label}: server CPU per GiB read"),
            "s/GiB",
            Via::Proc,
            Better::Lower,
            (cpu2 - cpu1) / (read_bytes as f64 / GIB),
        );
    }
    Ok(figs)
}
