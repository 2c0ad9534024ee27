//! SlateDB's own statistics (WAL flushes, object-store requests by method,
//! memtable bytes, L0 SSTs, ...), read as a snapshot for the server's
//! metrics exporter. SlateDB records them into the recorder given at open.

use slatedb_common::metrics::{DefaultMetricsRecorder, MetricValue};

/// One statistic, under SlateDB's dotted name (e.g. `slatedb.db.write_ops`).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineMetric {
    pub name: String,
    pub help: String,
    pub labels: Vec<(String, String)>,
    pub value: EngineValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineValue {
    Counter(u64),
    Gauge(i64),
    /// Observations per bucket (`counts` has one more entry than `bounds`:
    /// the last is above every bound), their count and sum.
    Histogram {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        count: u64,
        sum: f64,
    },
}

pub(super) fn snapshot(recorder: &DefaultMetricsRecorder) -> Vec<EngineMetric> {
    recorder
        .snapshot()
        .all()
        .iter()
        .map(|metric| EngineMetric {
            name: metric.name.clone(),
            help: metric.description.clone(),
            labels: metric.labels.clone(),
            value: match &metric.value {
                MetricValue::Counter(v) => EngineValue::Counter(*v),
                MetricValue::Gauge(v) | MetricValue::UpDownCounter(v) => EngineValue::Gauge(*v),
                MetricValue::Histogram { count, sum, boundaries, bucket_counts, .. } => EngineValue::Histogram {
                    bounds: boundaries.clone(),
                    counts: bucket_counts.clone(),
                    count: *count,
                    sum: *sum,
                },
            },
        })
        .collect()
}
