//! The soak as a PNG (plotters): memory, latency and open fds over time,
//! with the node restarts marked (orange).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use plotters::prelude::*;

use super::sample::Sample;

/// The font the labels use (Debian's fonts-dejavu-core).
const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT: &str = "sans-serif";

/// One line of a panel: its name, colour and value at a sample.
type Line = (&'static str, RGBColor, fn(&Sample) -> f64);

/// One panel: its title, unit and lines.
struct Panel {
    title: &'static str,
    unit: &'static str,
    lines: Vec<Line>,
}

/// Draws `samples` into `path`.
///
/// # Errors
///
/// No font, no samples, or the file cannot be written.
pub(super) fn draw(path: &Path, samples: &[Sample], restarts: &[Duration]) -> anyhow::Result<()> {
    if samples.is_empty() {
        anyhow::bail!("no samples");
    }
    register_font()?;
    let panels = [
        Panel {
            title: "resident memory",
            unit: "MiB",
            lines: vec![
                ("steady server", BLUE, |s| s.server_rss_kib as f64 / 1024.0),
                ("client", RED, |s| s.client_rss_kib as f64 / 1024.0),
            ],
        },
        Panel {
            title: "latency",
            unit: "ms",
            lines: vec![("p99", RED, |s| s.p99_ms), ("p50", BLUE, |s| s.p50_ms)],
        },
        Panel {
            title: "open file descriptors",
            unit: "fds",
            lines: vec![
                ("steady server", BLUE, |s| s.server_fds as f64),
                ("client", RED, |s| s.client_fds as f64),
            ],
        },
    ];
    let root = BitMapBackend::new(path, (1200, 1050)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let end = samples.last().map_or(1.0, |s| s.at.as_secs_f64()).max(1.0);
    for (area, panel) in root.split_evenly((panels.len(), 1)).iter().zip(&panels) {
        draw_panel(area, panel, samples, restarts, end)?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
    samples: &[Sample],
    restarts: &[Duration],
    end: f64,
) -> anyhow::Result<()> {
    let top = panel
        .lines
        .iter()
        .flat_map(|(_, _, value)| samples.iter().map(value))
        .fold(0.0_f64, f64::max)
        * 1.15
        + f64::EPSILON;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} ({})", panel.title, panel.unit), (FONT, 22))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..end, 0.0..top)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for restart in restarts {
        let x = restart.as_secs_f64();
        chart
            .draw_series(LineSeries::new(
                [(x, 0.0), (x, top)],
                RGBColor(255, 160, 0).stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e}"))?;
    }
    for &(name, colour, value) in &panel.lines {
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.at.as_secs_f64(), value(s))),
                colour.stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e}"))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))
}

/// Loads the label font once (plotters' ab_glyph text needs one registered).
fn register_font() -> anyhow::Result<()> {
    static FONT_BYTES: std::sync::OnceLock<Result<&'static [u8], String>> =
        std::sync::OnceLock::new();
    let bytes = FONT_BYTES
        .get_or_init(|| {
            std::fs::read(FONT_PATH)
                .map(|b| &*Box::leak(b.into_boxed_slice()))
                .map_err(|e| format!("{FONT_PATH}: {e} (install fonts-dejavu-core)"))
        })
        .clone()
        .map_err(|e| anyhow!(e))?;
    plotters::style::register_font(FONT, FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{FONT_PATH} is not a font plotters can read"))
}
