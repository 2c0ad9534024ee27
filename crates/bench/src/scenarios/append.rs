//! Scenario 1: one stream, one S2S append session, open loop at doubling
//! target rates until the achieved rate falls below 90 % of the target; then
//! ack latency at half of the saturation rate.

use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use s2_sdk::{
    append_session::{AppendSessionConfig, BatchSubmitTicket},
    S2Stream,
};
use tokio::{
    sync::mpsc,
    time::{interval, sleep_until, timeout, timeout_at, Instant, MissedTickBehavior},
};

use super::{batch_of, max_batch_records, Ctx};
use crate::{
    error::{Context, Result},
    report::{Better, Figures, Via},
    stats::{latency_hist, quantile_ms, record, GIB, MIB},
};

/// A step counts as keeping up when it achieves this share of its target.
const KEEP_UP: f64 = 0.9;
/// How long after a step's end its last acks may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(ctx: &Ctx<'_>) -> Result<Figures> {
    let p = ctx.profile;
    let mut figs = Figures::new("append", "1 append");
    for &size in &p.append_record_sizes {
        let kib = size / 1024;
        let stream = ctx.create_stream(&format!("open-loop-{size}")).await?;
        let body = Bytes::from(vec![b'a'; size]);
        let max_batch = max_batch_records(size);
        let cpu0 = ctx.cpu()?;
        let mut appended_bytes = 0u64;
        let mut errors = 0u64;
        let mut best_rps = 0.0f64;
        let mut saturated = false;
        // Double the target until a step falls behind, then bisect between the
        // last step that kept up and the first that did not.
        let (mut kept_up, mut fell_behind) = (None::<f64>, None::<f64>);
        let mut target_mib = p.append_start_mib_s;
        let mut bisections = 0;
        ctx.quiesce().await?;
        loop {
            let rate = target_mib * MIB / size as f64;
            let mut step = open_loop(&stream, &body, rate, p.append_step, max_batch).await?;
            appended_bytes += step.acked * size as u64;
            errors += step.errors;
            report_step(ctx, kib, target_mib, &step);
            if step.errors == 0 && step.achieved_rps < KEEP_UP * rate {
                // One noisy step must not end the search: settle and confirm.
                ctx.quiesce().await?;
                let again = open_loop(&stream, &body, rate, p.append_step, max_batch).await?;
                appended_bytes += again.acked * size as u64;
                errors += again.errors;
                report_step(ctx, kib, target_mib, &again);
                if again.errors > 0 || again.achieved_rps > step.achieved_rps {
                    step = again;
                }
            }
            best_rps = best_rps.max(step.achieved_rps);
            if step.errors > 0 {
                saturated = true;
                break;
            }
            if step.achieved_rps < KEEP_UP * rate {
                saturated = true;
                fell_behind = Some(target_mib);
            } else {
                kept_up = Some(target_mib);
            }
            target_mib = match (kept_up, fell_behind) {
                (Some(ok), Some(bad)) if bisections < p.append_bisections => {
                    bisections += 1;
                    (ok + bad) / 2.0
                }
                (_, Some(_)) => break,
                (_, None) if target_mib * 2.0 > p.append_max_mib_s => break,
                (_, None) => target_mib * 2.0,
            };
        }
        ctx.quiesce().await?;
        let half = open_loop(&stream, &body, best_rps / 2.0, p.append_latency_phase, max_batch).await?;
        appended_bytes += half.acked * size as u64;
        errors += half.errors;
        let cpu = ctx.cpu()? - cpu0;
        ctx.note(format!(
            "append {kib} KiB: half load {:.1} MiB/s, p50 {:.2} ms",
            half.achieved_rps * size as f64 / MIB,
            quantile_ms(&half.hist, 0.5).unwrap_or(f64::NAN)
        ));
        let cap = if saturated { "" } else { " (generator cap; not saturated)" };
        let k = format!("{kib}k");
        figs.add(
            &format!("{k}.saturation_mib_s"),
            format!("{kib} KiB records: saturation throughput{cap}"),
            "MiB/s",
            Via::Sdk,
            Better::Higher,
            best_rps * size as f64 / MIB,
        );
        figs.add(
            &format!("{k}.saturation_records_s"),
            format!("{kib} KiB records: saturation rate{cap}"),
            "records/s",
            Via::Sdk,
            Better::Higher,
            best_rps,
        );
        for (q, label) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")] {
            figs.add_opt(
                &format!("{k}.half_load_ack_{label}_ms"),
                format!("{kib} KiB records: ack latency {label} at half saturation"),
                "ms",
                Via::Sdk,
                Better::Lower,
                quantile_ms(&half.hist, q),
            );
        }
        figs.add(
            &format!("{k}.errors"),
            format!("{kib} KiB records: append errors"),
            "count",
            Via::Sdk,
            Better::Zero,
            errors as f64,
        );
        if appended_bytes > 0 {
            figs.add(
                &format!("{k}.cpu_s_per_gib"),
                format!("{kib} KiB records: server CPU per GiB appended"),
                "s/GiB",
                Via::Proc,
                Better::Lower,
                cpu / (appended_bytes as f64 / GIB),
            );
        }
    }
    Ok(figs)
}

fn report_step(ctx: &Ctx<'_>, kib: usize, target_mib: f64, step: &Step) {
    ctx.note(format!(
        "append {kib} KiB: target {target_mib:.0} MiB/s -> achieved {:.1} MiB/s{}",
        step.achieved_rps * (kib * 1024) as f64 / MIB,
        step.first_error.as_deref().map(|e| format!(" (error: {e})")).unwrap_or_default()
    ));
}

struct Step {
    /// Records acked per second within the step's window, after its first tenth
    /// (so neither session start-up nor the tail of in-flight acks counts).
    achieved_rps: f64,
    acked: u64,
    errors: u64,
    first_error: Option<String>,
    /// Ack latency per record, measured from when its batch was due (so queueing
    /// behind backpressure counts; the ≤ 1 ms batching wait does not).
    hist: Histogram<u64>,
}

/// Appends records at `rate` per second for `dur` through one append session,
/// batching whatever is due every millisecond.
async fn open_loop(stream: &S2Stream, body: &Bytes, rate: f64, dur: Duration, max_batch: usize) -> Result<Step> {
    let session = stream.append_session(AppendSessionConfig::new());
    let (tx, mut rx) = mpsc::unbounded_channel::<(BatchSubmitTicket, u64, Instant)>();
    let start = Instant::now();
    let end = start + dur;
    let window_start = start + dur / 10;
    let collector = tokio::spawn(async move {
        let mut hist = latency_hist();
        let (mut acked, mut in_window, mut errors, mut first_error) = (0u64, 0u64, 0u64, None::<String>);
        let deadline = end + DRAIN_TIMEOUT;
        while let Some((ticket, n, due)) = rx.recv().await {
            match timeout_at(deadline, ticket).await {
                Ok(Ok(_ack)) => {
                    let now = Instant::now();
                    acked += n;
                    if now >= window_start && now <= end {
                        in_window += n;
                    }
                    record(&mut hist, now.saturating_duration_since(due), n);
                }
                Ok(Err(e)) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
                Err(_) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("no ack within {DRAIN_TIMEOUT:?} after the step"));
                    break;
                }
            }
        }
        (hist, acked, in_window, errors, first_error)
    });

    let mut sent = 0u64;
    let mut submit_error = None;
    let mut tick = interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    'generate: loop {
        tick.tick().await;
        let now = Instant::now();
        if now >= end {
            break;
        }
        let due = ((now - start).as_secs_f64() * rate) as u64;
        while sent < due {
            let n = (due - sent).min(max_batch as u64);
            let input = batch_of(body, n as usize)?;
            let due_at = start + Duration::from_secs_f64((sent + n) as f64 / rate);
            let submitted = tokio::select! {
                r = session.submit(input) => r,
                () = sleep_until(end) => break 'generate,
            };
            match submitted {
                Ok(ticket) => {
                    if tx.send((ticket, n, due_at)).is_err() {
                        break 'generate;
                    }
                }
                Err(e) => {
                    submit_error = Some(e.to_string());
                    break 'generate;
                }
            }
            sent += n;
        }
    }
    drop(tx);
    let close_error = match timeout(DRAIN_TIMEOUT, session.close()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("session did not close within {DRAIN_TIMEOUT:?}")),
    };
    let (hist, acked, in_window, mut errors, mut first_error) = collector.await.context("ack collector failed")?;
    for e in [submit_error, close_error].into_iter().flatten() {
        if first_error.is_none() {
            errors += 1;
            first_error = Some(e);
        }
    }
    let achieved_rps = in_window as f64 / (end - window_start).as_secs_f64();
    Ok(Step { achieved_rps, acked, errors, first_error, hist })
}
