//! Figures, their aggregation over rounds, the printed table and the JSON.

use serde_json::{json, Value};

use crate::stats::median;

/// What generated the load behind a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The official Rust SDK (s2-sdk).
    Sdk,
    /// A raw HTTP generator (reqwest, hand-written requests).
    Http,
    /// Read from /proc of the server process.
    Proc,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Sdk => "sdk",
            Via::Http => "http",
            Via::Proc => "proc",
        }
    }
}

/// Which direction is good; `Zero` figures must be 0 and aggregate with max.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    Zero,
}

impl Better {
    fn as_str(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
            Better::Zero => "zero",
        }
    }
}

/// One measured number of one scenario run.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Stable identifier, e.g. `append.1k.saturation_mib_s`.
    pub key: String,
    pub scenario: String,
    pub name: String,
    pub unit: &'static str,
    pub via: Via,
    pub better: Better,
    pub value: f64,
}

/// Builds the figures of one scenario with a common key prefix and label.
pub struct Figures {
    prefix: String,
    scenario: String,
    pub list: Vec<Figure>,
}

impl Figures {
    pub fn new(prefix: impl Into<String>, scenario: impl Into<String>) -> Self {
        Self { prefix: prefix.into(), scenario: scenario.into(), list: Vec::new() }
    }

    pub fn add(
        &mut self,
        key: &str,
        name: impl Into<String>,
        unit: &'static str,
        via: Via,
        better: Better,
        value: f64,
    ) {
        self.list.push(Figure {
            key: format!("{}.{key}", self.prefix),
            scenario: self.scenario.clone(),
            name: name.into(),
            unit,
            via,
            better,
            value,
        });
    }

    /// Adds a figure only when there is a value (e.g. a percentile of an empty histogram has none).
    pub fn add_opt(
        &mut self,
        key: &str,
        name: impl Into<String>,
        unit: &'static str,
        via: Via,
        better: Better,
        value: Option<f64>,
    ) {
        if let Some(v) = value {
            self.add(key, name, unit, via, better, v);
        }
    }
}

/// All rounds of one figure, per server, and the aggregate per server.
pub struct Summary {
    pub key: String,
    pub scenario: String,
    pub name: String,
    pub unit: &'static str,
    pub via: Via,
    pub better: Better,
    /// `values[server]` = one value per round in which the figure was measured.
    pub values: Vec<Vec<f64>>,
}

impl Summary {
    /// Median over rounds; the worst (max) for must-be-zero figures.
    pub fn aggregate(&self, server: usize) -> Option<f64> {
        let v = self.values.get(server)?;
        match self.better {
            Better::Zero => v.iter().copied().reduce(f64::max),
            _ => median(v),
        }
    }

    /// How many times better the first server is than `server` (> 1: the first is better).
    pub fn advantage_of_first_over(&self, server: usize) -> Option<f64> {
        let a = self.aggregate(0)?;
        let b = self.aggregate(server)?;
        let r = match self.better {
            Better::Higher => a / b,
            Better::Lower => b / a,
            Better::Zero => return None,
        };
        r.is_finite().then_some(r)
    }
}

/// Groups figures by key in first-seen order. `runs` holds (server index, figures of one round).
pub fn summarize(servers: usize, runs: &[(usize, Vec<Figure>)]) -> Vec<Summary> {
    let mut out: Vec<Summary> = Vec::new();
    for (server, figures) in runs {
        for f in figures {
            let idx = match out.iter().position(|s| s.key == f.key) {
                Some(i) => i,
                None => {
                    out.push(Summary {
                        key: f.key.clone(),
                        scenario: f.scenario.clone(),
                        name: f.name.clone(),
                        unit: f.unit,
                        via: f.via,
                        better: f.better,
                        values: vec![Vec::new(); servers],
                    });
                    out.len() - 1
                }
            };
            if let Some(v) = out[idx].values.get_mut(*server) {
                v.push(f.value);
            }
        }
    }
    // Scenario labels start with their number; the cost rows ("5 cost") go last.
    out.sort_by(|a, b| a.scenario.cmp(&b.scenario));
    out
}

pub fn fmt_value(v: Option<f64>, unit: &str) -> String {
    let Some(v) = v else { return "-".into() };
    if unit == "count" || unit == "fds" || unit == "records/s" || unit == "appends/s" {
        return format!("{v:.0}");
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Renders one setup's table as text.
pub fn table(labels: &[String], summaries: &[Summary]) -> String {
    let mut header = vec!["scenario".to_string(), "figure".into(), "via".into(), "unit".into()];
    header.extend(labels.iter().cloned());
    for l in labels.iter().skip(1) {
        header.push(format!("{} vs {l}", labels[0]));
    }
    let mut rows = vec![header];
    for s in summaries {
        let mut row = vec![s.scenario.clone(), s.name.clone(), s.via.as_str().into(), s.unit.into()];
        for i in 0..labels.len() {
            row.push(fmt_value(s.aggregate(i), s.unit));
        }
        for i in 1..labels.len() {
            row.push(match s.advantage_of_first_over(i) {
                Some(r) => format!("{r:.2}x"),
                None => "-".into(),
            });
        }
        rows.push(row);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().map(|r| r.get(c).map_or(0, |x| x.chars().count())).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (ri, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c].saturating_sub(cell.chars().count());
            if c < 4 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if ri == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * cols.saturating_sub(1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

/// The JSON of one setup's figures.
pub fn summaries_json(labels: &[String], summaries: &[Summary]) -> Value {
    let figures: Vec<Value> = summaries
        .iter()
        .map(|s| {
            let per_server: Vec<Value> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    json!({
                        "server": l,
                        "rounds": s.values.get(i).cloned().unwrap_or_default(),
                        "aggregate": s.aggregate(i),
                    })
                })
                .collect();
            let advantage: Vec<Value> = (1..labels.len())
                .map(|i| json!({"versus": labels[i], "first_better_by": s.advantage_of_first_over(i)}))
                .collect();
            json!({
                "key": s.key,
                "scenario": s.scenario,
                "name": s.name,
                "unit": s.unit,
                "via": s.via.as_str(),
                "better": s.better.as_str(),
                "aggregate": if s.better == Better::Zero { "max" } else { "median" },
                "servers": per_server,
                "advantage": advantage,
            })
        })
        .collect();
    Value::Array(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(key: &str, better: Better, value: f64) -> Figure {
        Figure { key: key.into(), scenario: "s".into(), name: key.into(), unit: "ms", via: Via::Sdk, better, value }
    }

    #[test]
    fn summaries_aggregate_per_server_and_compare() {
        let runs = vec![
            (
                0,
                vec![fig("tput", Better::Higher, 10.0), fig("lat", Better::Lower, 2.0), fig("lost", Better::Zero, 0.0)],
            ),
            (1, vec![fig("tput", Better::Higher, 5.0), fig("lat", Better::Lower, 4.0), fig("lost", Better::Zero, 3.0)]),
            (
                0,
                vec![fig("tput", Better::Higher, 12.0), fig("lat", Better::Lower, 2.0), fig("lost", Better::Zero, 1.0)],
            ),
            (1, vec![fig("tput", Better::Higher, 5.0), fig("lat", Better::Lower, 4.0), fig("lost", Better::Zero, 0.0)]),
        ];
        let s = summarize(2, &runs);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].aggregate(0), Some(11.0));
        assert_eq!(s[0].advantage_of_first_over(1), Some(2.2));
        assert_eq!(s[1].advantage_of_first_over(1), Some(2.0));
        assert_eq!(s[2].aggregate(0), Some(1.0));
        assert_eq!(s[2].aggregate(1), Some(3.0));
        assert_eq!(s[2].advantage_of_first_over(1), None);
        let t = table(&["a".into(), "b".into()], &s);
        assert!(t.contains("a vs b"), "{t}");
        assert!(t.contains("2.20x"), "{t}");
    }
}
