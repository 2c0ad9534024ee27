//! Prometheus metrics at `GET /metrics`, in the text exposition format
//! (encoded by the `prometheus` crate).
//!
//! - The append histograms under the reference's names, observed by the
//!   domain's append path through [`AppendObserver`] (lock-free atomics).
//! - Per-basin totals of appends and reads, read at scrape time from the
//!   domain's [`Usage`](lite_domain::service::usage::Usage): labelled by
//!   basin, never by stream, so the number of series is bounded by the
//!   basins an operator creates.
//! - Gauges: active streams, open sessions by kind, in-flight append bytes,
//!   open connections; error answers by kind (counted by the API's request
//!   log layer, [`ErrorCounts`]); SlateDB's own statistics
//!   (`slatedb_*`), and the process's CPU, memory and file descriptors.
//!
//! It is served without access tokens, like `/health`, for scrapers.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use lite_api::ErrorCounts;
use lite_domain::service::{
    usage::{AppendObserver, SessionKind},
    Service,
};
use lite_storage::{EngineMetric, EngineValue, SlateStorage};
use prometheus::{
    proto::{self, MetricFamily, MetricType},
    Encoder, Histogram, HistogramOpts, Registry, TextEncoder,
};

/// The histograms and counters kept between scrapes.
pub struct Metrics {
    registry: Registry,
    permit_latency: Histogram,
    ack_latency: Histogram,
    batch_records: Histogram,
    batch_bytes: Histogram,
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let histogram = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid histogram");
    registry.register(Box::new(histogram.clone())).expect("registered once");
    histogram
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        // 0.5 ms to ~16 s, doubling.
        let latency = || prometheus::exponential_buckets(0.0005, 2.0, 16).expect("valid buckets");
        let permit_latency = histogram(
            &registry,
            "s2_append_permit_latency_seconds",
            "Time an append waited for room in the in-flight append budget.",
            latency(),
        );
        let ack_latency = histogram(
            &registry,
            "s2_append_ack_latency_seconds",
            "Time from handing an append to its stream to its durable acknowledgement.",
            latency(),
        );
        let batch_records = histogram(
            &registry,
            "s2_append_batch_records",
            "Records per acknowledged append batch.",
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0],
        );
        // 64 B to 1 MiB, by fours.
        let batch_bytes = histogram(
            &registry,
            "s2_append_batch_bytes",
            "Metered bytes per acknowledged append batch.",
            prometheus::exponential_buckets(64.0, 4.0, 8).expect("valid buckets"),
        );
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("registered once");
        Self { registry, permit_latency, ack_latency, batch_records, batch_bytes }
    }
}

impl AppendObserver for Metrics {
    fn admitted(&self, waited: Duration) {
        self.permit_latency.observe(waited.as_secs_f64());
    }

    fn acknowledged(&self, latency: Duration, records: u64, metered_bytes: u64) {
        self.ack_latency.observe(latency.as_secs_f64());
        self.batch_records.observe(records as f64);
        self.batch_bytes.observe(metered_bytes as f64);
    }
}

/// Everything a scrape reads.
#[derive(Clone)]
pub struct MetricsState {
    pub metrics: Arc<Metrics>,
    pub errors: Arc<ErrorCounts>,
    pub service: Service,
    pub engine: Option<Arc<SlateStorage>>,
    pub connections: Arc<AtomicUsize>,
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<MetricsState>) -> Response {
    let mut families = state.metrics.registry.gather();
    families.extend(service_families(&state));
    if let Some(engine) = &state.engine {
        families.extend(engine_families(engine.engine_metrics()));
    }
    // The encoder refuses a family without samples (a basin counter before
    // any traffic), and stops there.
    families.retain(|family| !family.get_metric().is_empty());
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(e) = encoder.encode(&families, &mut body) {
        tracing::warn!(error = %e, "cannot encode the metrics");
    }
    let content_type = HeaderValue::from_str(encoder.format_type()).expect("a valid content type");
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn labelled(labels: &[(&str, &str)]) -> proto::Metric {
    let mut metric = proto::Metric::default();
    let pairs = labels
        .iter()
        .map(|(name, value)| {
            let mut pair = proto::LabelPair::default();
            pair.set_name((*name).to_owned());
            pair.set_value((*value).to_owned());
            pair
        })
        .collect();
    metric.set_label(pairs);
    metric
}

fn counter(labels: &[(&str, &str)], value: f64) -> proto::Metric {
    let mut metric = labelled(labels);
    let mut counter = proto::Counter::default();
    counter.set_value(value);
    metric.set_counter(counter);
    metric
}

fn gauge(labels: &[(&str, &str)], value: f64) -> proto::Metric {
    let mut metric = labelled(labels);
    let mut gauge = proto::Gauge::default();
    gauge.set_value(value);
    metric.set_gauge(gauge);
    metric
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

fn service_families(state: &MetricsState) -> Vec<MetricFamily> {
    let usage = state.service.usage();
    let totals = usage.basin_totals();
    let per_basin = |name: &str, help: &str, value: &dyn Fn(&lite_domain::service::usage::BasinTotals) -> u64| {
        let metrics = totals.iter().map(|(basin, t)| counter(&[("basin", basin.as_str())], value(t) as f64)).collect();
        family(name, help, MetricType::COUNTER, metrics)
    };
    let budget = state.service.append_budget();
    let in_flight = (budget.capacity() as usize).saturating_sub(budget.available());
    let sessions = [("read", SessionKind::Read), ("append", SessionKind::Append)]
        .iter()
        .map(|(kind, session)| gauge(&[("kind", kind)], usage.open_sessions(*session) as f64))
        .collect();
    let errors = state.errors.snapshot().into_iter().map(|(kind, n)| counter(&[("kind", kind)], n as f64)).collect();
    vec![
        family("s2_errors_total", "Error answers, by kind.", MetricType::COUNTER, errors),
        per_basin("s2_appends_total", "Acknowledged append batches.", &|t| t.appends),
        per_basin("s2_appended_records_total", "Records in acknowledged appends.", &|t| t.appended_records),
        per_basin("s2_appended_bytes_total", "Metered bytes in acknowledged appends.", &|t| t.appended_bytes),
        per_basin("s2_reads_total", "Reads started (unary, long-poll and sessions).", &|t| t.reads),
        per_basin("s2_read_records_total", "Records delivered to readers.", &|t| t.read_records),
        per_basin("s2_read_bytes_total", "Metered bytes delivered to readers.", &|t| t.read_bytes),
        family(
            "s2_active_streams",
            "Streams with a running sequencer.",
            MetricType::GAUGE,
            vec![gauge(&[], state.service.active_streams() as f64)],
        ),
        family("s2_open_sessions", "Reads following a tail, and append sessions.", MetricType::GAUGE, sessions),
        family(
            "s2_append_inflight_bytes",
            "Metered bytes of appends admitted and not yet acknowledged.",
            MetricType::GAUGE,
            vec![gauge(&[], in_flight as f64)],
        ),
        family(
            "s2_append_inflight_bytes_limit",
            "The in-flight append budget (--append-inflight-bytes).",
            MetricType::GAUGE,
            vec![gauge(&[], budget.capacity() as f64)],
        ),
        family(
            "s2_open_connections",
            "Client connections being served.",
            MetricType::GAUGE,
            vec![gauge(&[], state.connections.load(Ordering::Relaxed) as f64)],
        ),
    ]
}

/// SlateDB's dotted names as Prometheus names: `slatedb.db.write_ops`
/// becomes `slatedb_db_write_ops`.
fn prometheus_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

fn engine_families(metrics: Vec<EngineMetric>) -> Vec<MetricFamily> {
    let mut by_name: BTreeMap<String, (String, MetricType, Vec<proto::Metric>)> = BTreeMap::new();
    for metric in metrics {
        let labels: Vec<(&str, &str)> = metric.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (kind, sample) = match &metric.value {
            EngineValue::Counter(v) => (MetricType::COUNTER, counter(&labels, *v as f64)),
            EngineValue::Gauge(v) => (MetricType::GAUGE, gauge(&labels, *v as f64)),
            EngineValue::Histogram { bounds, counts, count, sum } => {
                let mut histogram = proto::Histogram::default();
                histogram.set_sample_count(*count);
                histogram.set_sample_sum(*sum);
                let mut cumulative = 0;
                let buckets = bounds
                    .iter()
                    .zip(counts)
                    .map(|(bound, n)| {
                        cumulative += n;
                        let mut bucket = proto::Bucket::default();
                        bucket.set_upper_bound(*bound);
                        bucket.set_cumulative_count(cumulative);
                        bucket
                    })
                    .collect();
                histogram.set_bucket(buckets);
                let mut sample = labelled(&labels);
                sample.set_histogram(histogram);
                (MetricType::HISTOGRAM, sample)
            }
        };
        let entry =
            by_name.entry(prometheus_name(&metric.name)).or_insert_with(|| (metric.help.clone(), kind, Vec::new()));
        // One family has one type; a name SlateDB registered with two kinds
        // keeps the first.
        if entry.1 == kind {
            entry.2.push(sample);
        }
    }
    by_name.into_iter().map(|(name, (help, kind, metrics))| family(&name, &help, kind, metrics)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slatedb_names_become_prometheus_names() {
        assert_eq!(prometheus_name("slatedb.db.write_ops"), "slatedb_db_write_ops");
        assert_eq!(prometheus_name("slatedb.object_store-requests"), "slatedb_object_store_requests");
    }

    #[test]
    fn engine_histograms_are_cumulative() {
        let metric = EngineMetric {
            name: "slatedb.x.latency".into(),
            help: "h".into(),
            labels: vec![("op".into(), "get".into())],
            value: EngineValue::Histogram { bounds: vec![1.0, 2.0], counts: vec![3, 4, 5], count: 12, sum: 20.0 },
        };
        let families = engine_families(vec![metric]);
        let mut text = Vec::new();
        TextEncoder::new().encode(&families, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        for line in [
            r#"slatedb_x_latency_bucket{op="get",le="1"} 3"#,
            r#"slatedb_x_latency_bucket{op="get",le="2"} 7"#,
            r#"slatedb_x_latency_bucket{op="get",le="+Inf"} 12"#,
            r#"slatedb_x_latency_count{op="get"} 12"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
    }
}
