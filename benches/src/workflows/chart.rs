//! SVG charts of latency percentiles (plotters' SVG backend: text is left to the viewer's fonts, so no font
//! files are needed to draw).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{BenchError, Result};
use crate::load::latency::Percentiles;

/// One line on the chart: a label and its percentiles.
pub struct Series {
    pub label: String,
    pub latency: Percentiles,
}

const LABELS: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

/// Draws p50 → max for every series on a logarithmic latency axis and writes it to `path`.
pub fn percentiles_svg(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| BenchError::Chart {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let values = series
        .iter()
        .flat_map(|s| s.latency.points().map(|(_, v)| v))
        .filter(|v| *v > 0.0);
    let (lo, hi) = values.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if hi > 0.0 {
        (lo / 2.0, hi * 2.0)
    } else {
        (1.0, 10.0)
    };

    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.2f64..4.2f64, (lo..hi).log_scale())
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && (0.0..5.0).contains(&i) {
                LABELS[i as usize].to_string()
            } else {
                String::new()
            }
        })
        .y_desc("latency (µs, log scale)")
        .x_desc("percentile")
        .draw()
        .map_err(|e| fail(&e))?;
    for (i, s) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = s
            .latency
            .points()
            .iter()
            .enumerate()
            .map(|(x, (_, v))| (x as f64, v.max(lo)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )
            .map_err(|e| fail(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_every_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        let p = |base: f64| Percentiles {
            p50_us: base,
            p90_us: base * 2.0,
            p99_us: base * 5.0,
            p999_us: base * 10.0,
            max_us: base * 50.0,
            mean_us: base,
        };
        let series = [
            Series {
                label: "before".into(),
                latency: p(100.0),
            },
            Series {
                label: "after".into(),
                latency: p(20.0),
            },
        ];
        percentiles_svg(&path, "test chart", &series).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("before") && svg.contains("after") && svg.contains("p99.9"));
    }
}
