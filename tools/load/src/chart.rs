//! The report's chart (plotters, SVG): above, what the system did against
//! what was offered (requests/s and placed checkouts/s); below, latency
//! percentiles against the same offered load.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::report::Report;

/// The legend box, upper left, on either panel (their chart types differ).
macro_rules! legend {
    ($chart:expr) => {
        $chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| anyhow!("{e}"))?
    };
}

pub fn draw(report: &Report, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(360);
    let x: Vec<f64> = report.steps.iter().map(|s| s.offered).collect();
    let x_max = x.iter().copied().fold(1.0, f64::max) * 1.05;
    let x_min = x.iter().copied().fold(f64::INFINITY, f64::min).min(x_max) * 0.95;

    // Requests and placed checkouts differ by an order of magnitude: each
    // gets its own axis (requests left, checkouts right).
    let rps: Vec<(f64, f64)> = report
        .steps
        .iter()
        .map(|s| (s.offered, s.requests_per_s))
        .collect();
    let placed: Vec<(f64, f64)> = report
        .steps
        .iter()
        .map(|s| (s.offered, s.placed_per_s))
        .collect();
    let top_of = |points: &[(f64, f64)]| points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption("Throughput against offered load", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(x_min..x_max, 0.0..top_of(&rps))
        .map_err(|e| anyhow!("{e}"))?
        .set_secondary_coord(x_min..x_max, 0.0..top_of(&placed));
    chart
        .configure_mesh()
        .x_desc(report.offered_unit.as_str())
        .y_desc("requests per second")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_secondary_axes()
        .y_desc("placed checkouts per second")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(rps, BLUE.stroke_width(2)).point_size(3))
        .map_err(|e| anyhow!("{e}"))?
        .label("requests/s (left)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    chart
        .draw_secondary_series(LineSeries::new(placed, GREEN.stroke_width(2)).point_size(3))
        .map_err(|e| anyhow!("{e}"))?
        .label("placed checkouts/s (right)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], GREEN));
    legend!(chart);

    let series = [
        (
            "p50",
            report
                .steps
                .iter()
                .map(|s| (s.offered, s.latency.p50_ms))
                .collect::<Vec<_>>(),
            GREEN,
        ),
        (
            "p95",
            report
                .steps
                .iter()
                .map(|s| (s.offered, s.latency.p95_ms))
                .collect(),
            BLUE,
        ),
        (
            "p99",
            report
                .steps
                .iter()
                .map(|s| (s.offered, s.latency.p99_ms))
                .collect(),
            RED,
        ),
        (
            "placed checkout p99",
            report
                .steps
                .iter()
                .map(|s| (s.offered, s.placed_latency.p99_ms))
                .collect(),
            MAGENTA,
        ),
    ];
    let ms_max = series
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|q| q.1))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("Latency against offered load", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min..x_max, 0.0..ms_max)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc(report.offered_unit.as_str())
        .y_desc("ms")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (name, points, color) in series {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(3))
            .map_err(|e| anyhow!("{e}"))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    legend!(chart);
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::{CheckoutEnd, Outcome, Recorder};
    use crate::report::Meta;

    #[test]
    fn draws_both_panels_with_every_series() {
        let recorder = Recorder::new(3);
        for step in 0..3 {
            for ms in 1..=20 {
                let latency = Duration::from_millis(ms * (step as u64 + 1));
                recorder.request(step, "checkout", latency, Outcome::Ok, None);
                recorder.checkout(step, CheckoutEnd::Placed(latency));
            }
        }
        let report = recorder.snapshot(|s| {
            Report::new(
                Meta {
                    target: "https://127.0.0.1:8443",
                    mix: "checkout=1",
                    offered_unit: "sessions/s offered",
                    offered: vec![10.0, 20.0, 40.0],
                    seconds: vec![1.0, 1.0, 1.0],
                },
                s,
                None,
                Vec::new(),
            )
        });
        let path =
            std::env::temp_dir().join(format!("meridian-load-chart-{}.svg", std::process::id()));
        draw(&report, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        for text in [
            "Throughput against offered load",
            "Latency against offered load",
            "requests/s (left)",
            "placed checkouts/s (right)",
            "placed checkout p99",
            "sessions/s offered",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
    }
}
