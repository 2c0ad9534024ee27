//! Scenario 2: many streams, one closed-loop writer each (unary appends of
//! one small record through the SDK, over its pooled HTTP/2 connections).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use s2_sdk::S2Stream;
use tokio::{
    sync::Semaphore,
    task::JoinSet,
    time::{sleep, sleep_until, timeout_at, Instant},
};

use super::{
    batch_of,
    writers::{join_writers, Tally},
    Ctx,
};
use crate::{
    error::Result,
    report::{Better, Figures, Via},
    stats::{latency_hist, quantile_ms, record_samples, sample_us},
};

/// How long creating all streams (the first append of each writer) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
/// First appends in flight at once while the streams are created.
const SETUP_CONCURRENCY: usize = 500;

pub async fn run(ctx: &Ctx<'_>) -> Result<Figures> {
    let p = ctx.profile;
    let mut figs = Figures::new("many", "2 many streams");
    let body = Bytes::from(vec![b'm'; p.many_record_size]);
    for &n in &p.many_streams {
        let streams = (0..n).map(|i| ctx.stream(&format!("many-{n}-{i:05}"))).collect::<Result<Vec<S2Stream>>>()?;

        // Setup: each writer's first append creates its stream (not measured).
        let setup_start = Instant::now();
        let deadline = setup_start + SETUP_TIMEOUT;
        let gate = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
        let mut set = JoinSet::new();
        for s in &streams {
            let (s, gate, body) = (s.clone(), gate.clone(), body.clone());
            set.spawn(async move {
                let _permit = gate.acquire_owned().await.ok();
                let input = batch_of(&body, 1).ok()?;
                timeout_at(deadline, s.append(input)).await.ok()?.ok().map(|_| ())
            });
        }
        let mut setup_errors = 0u64;
        while let Some(r) = set.join_next().await {
            if !matches!(r, Ok(Some(()))) {
                setup_errors += 1;
            }
        }
        let setup_secs = setup_start.elapsed().as_secs_f64();

        // Measurement: all writers start together and stop at `end`.
        ctx.quiesce().await?;
        let cpu0 = ctx.cpu()?;
        let start = Instant::now() + Duration::from_millis(100);
        let end = start + p.many_duration;
        let mut set = JoinSet::new();
        for s in streams {
            let body = body.clone();
            set.spawn(async move { writer(s, body, start, end).await });
        }
        let mut hist = latency_hist();
        let Tally { appends, errors, first_error } = join_writers(set, end, |w: Writer, tally| {
            record_samples(&mut hist, &w.samples);
            tally.add(w.appends, w.errors, w.first_error);
            Ok(())
        })
        .await?;
        let cpu = ctx.cpu()? - cpu0;
        let rate = appends as f64 / p.many_duration.as_secs_f64();
        ctx.note(format!(
            "many streams {n}: setup {setup_secs:.1} s ({setup_errors} errors), {rate:.0} appends/s, {errors} errors{}",
            first_error.map(|e| format!(" (first: {e})")).unwrap_or_default()
        ));
        let k = n.to_string();
        let label = format!("{n} streams");
        figs.add(&format!("{k}.appends_s"), format!("{label}: appends"), "appends/s", Via::Sdk, Better::Higher, rate);
        figs.add_opt(
            &format!("{k}.ack_p50_ms"),
            format!("{label}: ack latency p50"),
            "ms",
            Via::Sdk,
            Better::Lower,
            quantile_ms(&hist, 0.5),
        );
        figs.add_opt(
            &format!("{k}.ack_p99_ms"),
            format!("{label}: ack latency p99"),
            "ms",
            Via::Sdk,
            Better::Lower,
            quantile_ms(&hist, 0.99),
        );
        figs.add(
            &format!("{k}.errors"),
            format!("{label}: append errors"),
            "count",
            Via::Sdk,
            Better::Zero,
            errors as f64,
        );
        figs.add(
            &format!("{k}.setup_errors"),
            format!("{label}: errors creating the streams"),
            "count",
            Via::Sdk,
            Better::Zero,
            setup_errors as f64,
        );
        figs.add(
            &format!("{k}.setup_s"),
            format!("{label}: time to create them (first appends)"),
            "s",
            Via::Sdk,
            Better::Lower,
            setup_secs,
        );
        if appends > 0 {
            figs.add(
                &format!("{k}.cpu_us_per_append"),
                format!("{label}: server CPU per append"),
                "µs",
                Via::Proc,
                Better::Lower,
                cpu * 1e6 / appends as f64,
            );
        }
    }
    Ok(figs)
}

struct Writer {
    appends: u64,
    errors: u64,
    first_error: Option<String>,
    samples: Vec<u32>,
}

async fn writer(stream: S2Stream, body: Bytes, start: Instant, end: Instant) -> Writer {
    let mut w = Writer { appends: 0, errors: 0, first_error: None, samples: Vec::new() };
    sleep_until(start).await;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let input = match batch_of(&body, 1) {
            Ok(i) => i,
            Err(e) => {
                w.errors += 1;
                w.first_error.get_or_insert_with(|| e.to_string());
                break;
            }
        };
        match stream.append(input).await {
            Ok(_) => {
                let t1 = Instant::now();
                if t1 <= end {
                    w.appends += 1;
                    w.samples.push(sample_us(t1 - t0));
                }
            }
            Err(e) => {
                w.errors += 1;
                w.first_error.get_or_insert_with(|| e.to_string());
                // Do not spin on a failing server.
                sleep(Duration::from_millis(10)).await;
            }
        }
    }
    w
}
