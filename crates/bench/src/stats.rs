//! Latency histograms (microseconds) and small statistics helpers.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest latency a histogram tracks: 2 minutes, in microseconds. Larger
/// samples are clamped to it (every loop is bounded well below that).
const MAX_US: u64 = 120_000_000;

/// A latency histogram in microseconds with three significant figures.
pub fn latency_hist() -> Histogram<u64> {
    // Bounds are constants that satisfy the crate's preconditions
    // (low >= 1, high >= 2 * low, sigfig <= 5), so this cannot fail.
    match Histogram::new_with_bounds(1, MAX_US, 3) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds rejected: {e:?}"),
    }
}

/// Microseconds in `d`, at least 1 (the histogram's lowest value).
pub fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_US)
}

/// Record `n` samples of `d`.
pub fn record(h: &mut Histogram<u64>, d: Duration, n: u64) {
    h.saturating_record_n(us(d), n);
}

/// Fold compact per-task samples (microseconds) into one histogram.
pub fn record_samples(h: &mut Histogram<u64>, samples: &[u32]) {
    for &s in samples {
        h.saturating_record(u64::from(s).max(1));
    }
}

/// Microseconds as a compact sample for per-task buffers.
pub fn sample_us(d: Duration) -> u32 {
    u32::try_from(us(d)).unwrap_or(u32::MAX)
}

/// The value at quantile `q` in milliseconds; `None` when nothing was recorded.
pub fn quantile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    if h.is_empty() {
        None
    } else {
        Some(h.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// The median of `values` (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

pub const MIB: f64 = 1024.0 * 1024.0;
pub const GIB: f64 = 1024.0 * MIB;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn quantiles_are_in_milliseconds() {
        let mut h = latency_hist();
        record(&mut h, Duration::from_millis(2), 99);
        record(&mut h, Duration::from_millis(50), 1);
        let p50 = quantile_ms(&h, 0.5).unwrap_or_default();
        assert!((p50 - 2.0).abs() < 0.01, "{p50}");
        let p999 = quantile_ms(&h, 0.999).unwrap_or_default();
        assert!((p999 - 50.0).abs() < 0.1, "{p999}");
        assert_eq!(us(Duration::ZERO), 1);
    }
}
