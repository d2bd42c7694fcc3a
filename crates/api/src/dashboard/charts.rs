//! Hand-written SVG: the activity chart (opens and clicks over time) and bar rows. Every chart
//! is drawn twice, counting all events and human events only; the page's mode shows one.

use std::fmt::Write;

use crate::dashboard::format::{count, escape};
use crate::stats::SeriesPoint;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
/// Most x-axis labels, so they never overlap.
const MAX_X_LABELS: usize = 8;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Which counts a chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    All,
    Human,
}

impl Mode {
    pub fn class(self) -> &'static str {
        match self {
            Mode::All => "only-all",
            Mode::Human => "only-human",
        }
    }
}

/// The smallest "nice" step (1, 2, 2.5 or 5 × 10ⁿ) with `ticks` steps covering `max`.
fn nice_step(max: u64, ticks: u64) -> u64 {
    let raw = max.div_ceil(ticks).max(1);
    let mut magnitude = 1u64;
    while magnitude * 10 <= raw {
        magnitude *= 10;
    }
    for factor in [1, 2, 5, 10] {
        if magnitude * factor >= raw {
            return magnitude * factor;
        }
    }
    magnitude * 10
}

/// A short axis label for a bucket: `Jan 2` (daily) or `Jan 2 14:00` (hourly).
fn short_label(bucket: &str) -> String {
    let month = bucket
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("");
    let day = bucket
        .get(8..10)
        .and_then(|d| d.parse::<u32>().ok())
        .unwrap_or(0);
    match bucket.get(11..16) {
        Some(time) => format!("{month} {day} {time}"),
        None => format!("{month} {day}"),
    }
}

/// The opens/clicks chart over `points`, counting `mode`'s events.
pub fn activity(points: &[SeriesPoint], mode: Mode) -> String {
    let mut svg = String::with_capacity(4096 + points.len() * 300);
    let _ = write!(
        svg,
        "<svg class=\"chart {}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"Opens and clicks over time\">",
        mode.class()
    );
    if points.is_empty() {
        let _ = write!(
            svg,
            "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">No activity yet</text></svg>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return svg;
    }
    let value = |p: &SeriesPoint| match mode {
        Mode::All => (p.opens_total, p.clicks_total),
        Mode::Human => (p.opens_human, p.clicks_human),
    };
    let max = points
        .iter()
        .map(|p| {
            let (opens, clicks) = value(p);
            opens.max(clicks)
        })
        .max()
        .unwrap_or(0);
    let step = nice_step(max, 4);
    let top = step * 4;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let band = plot_w / points.len() as f64;
    let x = |i: usize| LEFT + band * (i as f64 + 0.5);
    let y = |v: u64| TOP + plot_h - plot_h * (v as f64 / top as f64);

    // Grid and y-axis labels.
    for tick in 0..=4u64 {
        let v = step * tick;
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 8.0,
            y(v) + 4.0,
            count(v),
            y = y(v),
        );
    }
    // X-axis labels, evenly spaced.
    let every = points.len().div_ceil(MAX_X_LABELS).max(1);
    for (i, point) in points.iter().enumerate().step_by(every) {
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(i),
            HEIGHT - 14.0,
            escape(&short_label(&point.bucket))
        );
    }
    // Opens: area and line; clicks: line.
    let line = |pick: &dyn Fn(&SeriesPoint) -> u64| {
        let mut d = String::new();
        for (i, point) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                x(i),
                y(pick(point))
            );
        }
        d
    };
    let opens_line = line(&|p| value(p).0);
    let clicks_line = line(&|p| value(p).1);
    let baseline = y(0);
    let _ = write!(
        svg,
        "<path class=\"area opens\" d=\"{opens_line}L{:.1},{baseline:.1}L{:.1},{baseline:.1}Z\"/>\
         <path class=\"line opens\" d=\"{opens_line}\"/>\
         <path class=\"line clicks\" d=\"{clicks_line}\"/>",
        x(points.len() - 1),
        x(0),
    );
    if points.len() <= 62 {
        for (i, point) in points.iter().enumerate() {
            let (opens, clicks) = value(point);
            let _ = write!(
                svg,
                "<circle class=\"dot opens\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"/>\
                 <circle class=\"dot clicks\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"/>",
                x(i),
                y(opens),
                x(i),
                y(clicks)
            );
        }
    }
    // One hover band per bucket with the exact numbers.
    for (i, point) in points.iter().enumerate() {
        let (opens, clicks) = value(point);
        let _ = write!(
            svg,
            "<rect class=\"hover\" x=\"{:.1}\" y=\"{TOP}\" width=\"{band:.1}\" height=\"{plot_h}\">\
             <title>{}: {} opens, {} clicks</title></rect>",
            x(i) - band / 2.0,
            escape(&point.bucket),
            count(opens),
            count(clicks)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One row of a bar list.
#[derive(Debug, Clone)]
pub struct BarRow {
    /// `dimension:value`, identifying the row's numbers in the page.
    pub key: String,
    pub label: String,
    /// A muted second line (a link's URL).
    pub detail: Option<String>,
    /// The bar's measure, all events and human only.
    pub all: u64,
    pub human: u64,
    /// Name of the measure (`opens`, `clicks`).
    pub metric: &'static str,
    /// A secondary measure shown beside it, all and human.
    pub secondary: Option<(&'static str, u64, u64)>,
}

/// A number that follows the page's mode.
pub fn number(key: &str, metric: &str, all: u64, human: u64) -> String {
    format!(
        "<span class=\"num\" data-key=\"{}\" data-metric=\"{metric}\" data-all=\"{all}\" \
         data-human=\"{human}\">{}</span>",
        escape(key),
        count(all)
    )
}

/// Horizontal bars, widest = the largest value of each mode.
pub fn bar_list(rows: &[BarRow], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", escape(empty));
    }
    let max_all = rows.iter().map(|r| r.all).max().unwrap_or(0).max(1);
    let max_human = rows.iter().map(|r| r.human).max().unwrap_or(0).max(1);
    let mut html = String::from("<ul class=\"bars\">");
    for row in rows {
        let width = |v: u64, max: u64| 100.0 * v as f64 / max as f64;
        let _ = write!(
            html,
            "<li class=\"bar-row\"><div class=\"bar-head\"><span class=\"bar-label\" title=\"{label}\">{label}</span>\
             <span class=\"bar-value\">{value}",
            label = escape(&row.label),
            value = number(&row.key, row.metric, row.all, row.human),
        );
        if let Some((metric, all, human)) = row.secondary {
            let _ = write!(
                html,
                " <span class=\"muted\">· {} {metric}</span>",
                number(&row.key, metric, all, human)
            );
        }
        html.push_str("</span></div>");
        if let Some(detail) = &row.detail {
            let _ = write!(
                html,
                "<div class=\"bar-detail\" title=\"{detail}\">{detail}</div>",
                detail = escape(detail)
            );
        }
        let _ = write!(
            html,
            "<svg class=\"bar only-all\" viewBox=\"0 0 100 6\" preserveAspectRatio=\"none\">\
             <rect class=\"track\" width=\"100\" height=\"6\" rx=\"3\"/>\
             <rect class=\"fill\" width=\"{:.2}\" height=\"6\" rx=\"3\"/></svg>\
             <svg class=\"bar only-human\" viewBox=\"0 0 100 6\" preserveAspectRatio=\"none\">\
             <rect class=\"track\" width=\"100\" height=\"6\" rx=\"3\"/>\
             <rect class=\"fill\" width=\"{:.2}\" height=\"6\" rx=\"3\"/></svg></li>",
            width(row.all, max_all),
            width(row.human, max_human),
        );
    }
    html.push_str("</ul>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_and_cover_the_maximum() {
        assert_eq!(nice_step(0, 4), 1);
        assert_eq!(nice_step(7, 4), 2);
        assert_eq!(nice_step(100, 4), 50);
        assert_eq!(nice_step(1_234, 4), 500);
        for max in [1, 9, 99, 101, 4_001, 123_456_789] {
            assert!(nice_step(max, 4) * 4 >= max, "{max}");
        }
    }

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(short_label("2026-01-02"), "Jan 2");
        assert_eq!(short_label("2026-12-31T14:00:00Z"), "Dec 31 14:00");
    }

    #[test]
    fn the_chart_has_one_hover_band_per_bucket_with_its_numbers() {
        let points: Vec<SeriesPoint> = (0..3)
            .map(|i| SeriesPoint {
                bucket: format!("2026-01-0{}", i + 1),
                opens_total: 10 * i,
                opens_human: 5 * i,
                clicks_total: 3 * i,
                clicks_human: i,
                ..SeriesPoint::default()
            })
            .collect();
        let svg = activity(&points, Mode::Human);
        assert_eq!(svg.matches("class=\"hover\"").count(), 3);
        assert!(svg.contains("2026-01-03: 10 opens, 2 clicks"), "{svg}");
        assert!(svg.starts_with("<svg class=\"chart only-human\""));
    }

    #[test]
    fn bar_labels_are_escaped() {
        let rows = [BarRow {
            key: "link:<x>".into(),
            label: "<script>".into(),
            detail: Some("https://e.com/?a=1&b=2".into()),
            all: 3,
            human: 2,
            metric: "clicks",
            secondary: None,
        }];
        let html = bar_list(&rows, "none");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;") && html.contains("a=1&amp;b=2"));
        assert!(html.contains("data-key=\"link:&lt;x&gt;\""));
    }
}
