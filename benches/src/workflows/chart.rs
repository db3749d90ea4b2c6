//! SVG charts of latency percentiles (plotters' SVG backend: text is left to the viewer's fonts, so no font
//! files are needed to draw).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{BenchError, Result};
use crate::load::latency::{self, Percentiles};

/// One line on the chart: a label and its percentiles.
pub struct Series {
    pub label: String,
    pub latency: Percentiles,
}

const LABELS: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

/// Draws p50 → max for every series on a logarithmic latency axis and writes it to `path`.
pub fn percentiles_svg(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    let lines: Vec<Line> = series
        .iter()
        .enumerate()
        .map(|(i, s)| Line {
            label: s.label.clone(),
            latency: s.latency,
            colour: Palette99::pick(i).to_rgba(),
            dashed: false,
        })
        .collect();
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| chart_error(path, &e))?;
    draw_panel(path, &root, title, 20, &lines)?;
    root.present().map_err(|e| chart_error(path, &e))
}

/// One scenario of a before/after chart.
pub struct Panel {
    pub title: String,
    pub before: Percentiles,
    /// `None` when only the baseline was measured.
    pub after: Option<Percentiles>,
}

/// One panel per scenario, side by side, each with its own logarithmic latency axis (µs, ms, s): "before" is
/// always the grey dashed line, "after" the blue solid one, so the pairs read the same in every panel.
pub fn before_after_svg(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| chart_error(path, e);
    let root = SVGBackend::new(path, (420 * panels.len().max(1) as u32, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| fail(&e))?;
    for (area, panel) in root
        .split_evenly((1, panels.len().max(1)))
        .iter()
        .zip(panels)
    {
        let mut lines = vec![Line {
            label: "before (defaults)".into(),
            latency: panel.before,
            colour: RGBColor(120, 120, 120).to_rgba(),
            dashed: true,
        }];
        if let Some(after) = panel.after {
            lines.push(Line {
                label: "after (profile)".into(),
                latency: after,
                colour: RGBColor(31, 119, 180).to_rgba(),
                dashed: false,
            });
        }
        draw_panel(path, area, &panel.title, 16, &lines)?;
    }
    root.present().map_err(|e| fail(&e))
}

/// One line of a panel.
struct Line {
    label: String,
    latency: Percentiles,
    colour: RGBAColor,
    dashed: bool,
}

fn chart_error(path: &Path, e: &dyn std::fmt::Display) -> BenchError {
    BenchError::Chart {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Percentiles on x, latency on a log y axis labelled in µs/ms/s, one line (with markers) per entry, a legend.
fn draw_panel(
    path: &Path,
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    caption_size: u32,
    lines: &[Line],
) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| chart_error(path, e);
    let values = lines
        .iter()
        .flat_map(|l| l.latency.points().map(|(_, v)| v))
        .filter(|v| *v > 0.0);
    let (lo, hi) = values.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if hi > 0.0 {
        (lo / 2.0, hi * 2.0)
    } else {
        (1.0, 10.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", caption_size))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
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
        .y_label_formatter(&|v| latency::human(*v))
        .y_desc("latency (log scale)")
        .x_desc("percentile")
        .draw()
        .map_err(|e| fail(&e))?;
    for line in lines {
        let colour = line.colour;
        let points: Vec<(f64, f64)> = line
            .latency
            .points()
            .iter()
            .enumerate()
            .map(|(x, (_, v))| (x as f64, v.max(lo)))
            .collect();
        let style = colour.stroke_width(2);
        let drawn = if line.dashed {
            chart.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
        } else {
            chart.draw_series(LineSeries::new(points.clone(), style))
        };
        drawn
            .map_err(|e| fail(&e))?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Percentiles spreading from `base` µs at p50 to 50× at max.
    fn p(base: f64) -> Percentiles {
        Percentiles {
            p50_us: base,
            p90_us: base * 2.0,
            p99_us: base * 5.0,
            p999_us: base * 10.0,
            max_us: base * 50.0,
            mean_us: base,
        }
    }

    #[test]
    fn writes_an_svg_with_every_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
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

    #[test]
    fn a_before_after_chart_has_a_panel_per_scenario_and_readable_times() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tuned.svg");
        let panels = [
            Panel {
                title: "storm: connect".into(),
                before: p(40_000.0),
                after: Some(p(30.0)),
            },
            Panel {
                title: "churn".into(),
                before: p(300.0),
                after: Some(p(320.0)),
            },
        ];
        before_after_svg(&path, "before/after", &panels).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("storm: connect") && svg.contains("churn"));
        assert_eq!(
            svg.matches("before (defaults)").count(),
            2,
            "one legend entry per panel"
        );
        // Axis labels in units, not raw microseconds with decimals.
        assert!(
            svg.contains("ms") && !svg.contains("1000000.0"),
            "axis labels"
        );

        let baseline = [Panel {
            title: "storm: connect".into(),
            before: p(40.0),
            after: None,
        }];
        before_after_svg(&path, "baseline", &baseline).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(!svg.contains("after (profile)"));
    }
}
