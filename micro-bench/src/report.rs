//! The results: one [`Cell`] per system × workload × concurrency, printed
//! as a Markdown table (with ratios to tonic and to raw), idle memory per
//! system, the JSON dump, and the closing summary line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::systems::System;
use crate::workload::Workload;

/// One measured cell.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// The system.
    pub system: System,
    /// The workload.
    pub workload: Workload,
    /// Calls in flight at once (1 for streams).
    pub concurrency: usize,
    /// Connections the client used.
    pub connections: usize,
    /// Successful calls (streamed messages for streams).
    pub ok: u64,
    /// Failed calls.
    pub failed: u64,
    /// Failures by error text.
    pub errors: BTreeMap<String, u64>,
    /// Measured seconds.
    pub elapsed_s: f64,
    /// Calls (or messages) per second.
    pub rate: f64,
    /// Median latency (gap between messages for streams), µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Slowest, µs.
    pub max_us: f64,
    /// The server's peak RSS during this cell, KiB (since its start when
    /// the kernel refused to reset the peak).
    pub server_peak_rss_kib: Option<u64>,
}

/// What happened to one system as a whole.
#[derive(Clone, Debug, Serialize)]
pub struct SystemRun {
    /// The system.
    pub system: System,
    /// Server RSS after start and one call, KiB.
    pub idle_rss_kib: Option<u64>,
    /// The private (anonymous) part of it, KiB.
    pub idle_anon_kib: Option<u64>,
    /// Why it has no (or only some) cells.
    pub error: Option<String>,
    /// Why it was skipped, when a backend it needs is absent (not a failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// How the run was configured.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// Measured seconds per cell.
    pub duration_s: f64,
    /// Warm-up seconds per cell.
    pub warmup_s: f64,
    /// Messages per stream call.
    pub stream_chunk: u32,
    /// Whether the server's peak RSS is reset before each cell.
    pub peak_reset_per_cell: bool,
}

/// A whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The settings.
    pub settings: Settings,
    /// Per system.
    pub systems: Vec<SystemRun>,
    /// Per cell.
    pub cells: Vec<Cell>,
}

impl Report {
    /// The cell of `system` for `workload` at `concurrency`.
    pub fn cell(&self, system: System, workload: Workload, concurrency: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.system == system && c.workload == workload && c.concurrency == concurrency)
    }

    /// `system`'s rate over `base`'s in the same workload and concurrency.
    pub fn rate_ratio(&self, cell: &Cell, base: System) -> Option<f64> {
        let base = self.cell(base, cell.workload, cell.concurrency)?;
        (base.rate > 0.0).then(|| cell.rate / base.rate)
    }

    /// The table, as Markdown.
    pub fn table(&self, systems: &[System]) -> String {
        let header = [
            "workload",
            "c",
            "system",
            "conns",
            "req/s",
            "p50",
            "p99",
            "p99.9",
            "vs tonic",
            "vs raw",
            "failed",
            "srv peak RSS",
        ];
        let mut rows = vec![header.map(String::from).to_vec()];
        let mut keys: Vec<(Workload, usize)> = Vec::new();
        for cell in &self.cells {
            if !keys.contains(&(cell.workload, cell.concurrency)) {
                keys.push((cell.workload, cell.concurrency));
            }
        }
        for (workload, concurrency) in keys {
            for &system in systems {
                let mut row = vec![
                    workload.label().to_owned(),
                    concurrency.to_string(),
                    system.name().to_owned(),
                ];
                match self.cell(system, workload, concurrency) {
                    Some(cell) => row.extend([
                        cell.connections.to_string(),
                        format_rate(cell.rate, workload.is_stream()),
                        format_us(cell.p50_us),
                        format_us(cell.p99_us),
                        format_us(cell.p999_us),
                        format_ratio(self.rate_ratio(cell, System::Tonic)),
                        format_ratio(self.rate_ratio(cell, System::Raw)),
                        cell.failed.to_string(),
                        format_kib(cell.server_peak_rss_kib),
                    ]),
                    None => row.extend(std::iter::repeat_n("n/a".to_owned(), header.len() - 3)),
                }
                rows.push(row);
            }
        }
        markdown(&rows)
    }

    /// Idle memory per system, one line each.
    pub fn idle_memory(&self) -> String {
        let mut out = String::from(
            "server idle RSS (after start and one call; each system runs its own server binary; anon = \
             private memory, the rest is pages of that binary and its libraries):\n",
        );
        for run in &self.systems {
            let _ = writeln!(
                out,
                "  {:<11} {}  (anon {})",
                run.system.name(),
                format_kib(run.idle_rss_kib),
                format_kib(run.idle_anon_kib)
            );
        }
        out
    }

    /// Systems skipped, one line each (empty when none was).
    pub fn skipped(&self) -> String {
        let mut out = String::new();
        for run in &self.systems {
            if let Some(why) = &run.skipped {
                let _ = writeln!(out, "{}: skipped: {why}", run.system);
            }
        }
        out
    }

    /// Errors seen, per failing cell and per system.
    pub fn failures(&self) -> String {
        let mut out = String::new();
        for run in &self.systems {
            if let Some(error) = &run.error {
                let _ = writeln!(out, "{}: {error}", run.system);
            }
        }
        for cell in self.cells.iter().filter(|c| c.failed > 0) {
            let _ = writeln!(
                out,
                "{} {} c={}: {} failed",
                cell.system,
                cell.workload.label(),
                cell.concurrency,
                cell.failed
            );
            for (error, n) in &cell.errors {
                let _ = writeln!(out, "    {n} × {error}");
            }
        }
        out
    }

    /// The last line: micro against tonic and raw, small unary at c=64.
    pub fn summary(&self) -> String {
        let micro = self.cell(System::Micro, Workload::Small, 64);
        let tonic = self.cell(System::Tonic, Workload::Small, 64);
        let raw = self.cell(System::Raw, Workload::Small, 64);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "n/a".to_owned(),
        };
        let rate = |c: Option<&Cell>| c.map(|c| c.rate);
        let p99 = |c: Option<&Cell>| c.map(|c| c.p99_us);
        let nats = self.cell(System::MicroNats, Workload::Small, 64);
        let metrics = self.cell(System::MicroMetrics, Workload::Small, 64);
        format!(
            "summary: micro/tonic rps c=64 = {}; micro/raw rps c=64 = {}; micro/tonic p99 c=64 = {}; \
             micro-nats/micro rps c=64 = {}; micro-metrics/micro rps c=64 = {}",
            ratio(rate(micro), rate(tonic)),
            ratio(rate(micro), rate(raw)),
            ratio(p99(micro), p99(tonic)),
            ratio(rate(nats), rate(micro)),
            ratio(rate(metrics), rate(micro)),
        )
    }
}

/// Rows as a Markdown table with padded columns (first row is the header).
pub fn markdown(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| {
        let cells: Vec<String> = (0..columns)
            .map(|i| {
                let text = row.get(i).map(String::as_str).unwrap_or("");
                format!("{text:<width$}", width = widths[i])
            })
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = String::new();
    if let Some((header, body)) = rows.split_first() {
        out.push_str(&line(header));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&rule));
        for row in body {
            out.push_str(&line(row));
        }
    }
    out
}

/// A rate with thousands separators, `msg/s` for streams.
pub fn format_rate(rate: f64, stream: bool) -> String {
    let digits = format!("{:.0}", rate.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if stream {
        out.push_str(" msg/s");
    }
    out
}

/// A latency: µs below 1 ms (one decimal below 10 µs), else ms.
pub fn format_us(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.1}µs")
    } else if us < 1000.0 {
        format!("{us:.0}µs")
    } else {
        format!("{:.2}ms", us / 1000.0)
    }
}

/// A ratio as `0.85x`.
pub fn format_ratio(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}x"))
}

/// KiB as MiB with one decimal.
pub fn format_kib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(system: System, rate: f64, p99_us: f64) -> Cell {
        Cell {
            system,
            workload: Workload::Small,
            concurrency: 64,
            connections: 1,
            ok: 10,
            failed: 0,
            errors: BTreeMap::new(),
            elapsed_s: 1.0,
            rate,
            p50_us: 50.0,
            p99_us,
            p999_us: 2.0 * p99_us,
            max_us: 3.0 * p99_us,
            server_peak_rss_kib: Some(10240),
        }
    }

    fn report(cells: Vec<Cell>) -> Report {
        Report {
            settings: Settings {
                duration_s: 1.0,
                warmup_s: 0.1,
                stream_chunk: 10,
                peak_reset_per_cell: true,
            },
            systems: Vec::new(),
            cells,
        }
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(format_rate(1234567.4, false), "1,234,567");
        assert_eq!(format_rate(999.0, true), "999 msg/s");
        assert_eq!(format_us(4.25), "4.2µs");
        assert_eq!(format_us(123.4), "123µs");
        assert_eq!(format_us(2500.0), "2.50ms");
        assert_eq!(format_ratio(Some(0.849)), "0.85x");
        assert_eq!(format_ratio(None), "n/a");
        assert_eq!(format_kib(Some(2048)), "2.0 MiB");
    }

    #[test]
    fn summary_compares_micro_at_c64() {
        let r = report(vec![
            cell(System::Raw, 200.0, 50.0),
            cell(System::Micro, 100.0, 300.0),
            cell(System::Tonic, 80.0, 200.0),
        ]);
        assert_eq!(
            r.summary(),
            "summary: micro/tonic rps c=64 = 1.25; micro/raw rps c=64 = 0.50; micro/tonic p99 c=64 = 1.50; \
             micro-nats/micro rps c=64 = n/a; micro-metrics/micro rps c=64 = n/a"
        );
        let missing = report(vec![cell(System::Micro, 100.0, 300.0)]);
        assert!(
            missing
                .summary()
                .ends_with("micro/tonic p99 c=64 = n/a; micro-nats/micro rps c=64 = n/a; micro-metrics/micro rps c=64 = n/a")
        );
    }

    #[test]
    fn table_has_ratios_and_missing_rows() {
        let r = report(vec![
            cell(System::Raw, 200.0, 50.0),
            cell(System::Micro, 100.0, 300.0),
        ]);
        let table = r.table(&[System::Raw, System::Micro, System::Tarpc]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("| workload"));
        assert!(lines[3].contains("| micro ") && lines[3].contains("| 0.50x "));
        assert!(lines[4].contains("| tarpc ") && lines[4].contains("n/a"));
        assert!(
            lines
                .iter()
                .all(|l| l.chars().count() == lines[0].chars().count())
        );
    }
}
