//! Charts drawn on the server as SVG (no script, no style: attributes only, so the strict CSP
//! holds). Each is decoration beside a table of its numbers, which is what assistive
//! technology reads: the SVG is `aria-hidden`.

use std::fmt::Write;

use ovation::domain::texts::escape_html as escape;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One point of a trend: its label and NPS (none without responses).
pub struct Point {
    pub label: String,
    pub nps: Option<i64>,
}

/// A line of NPS (−100 to 100) over the periods, with grid lines at −100, −50, 0, 50 and 100
/// and the first and last labels on the axis. Periods without responses break the line.
pub fn nps_trend(points: &[Point]) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| {
        let steps = points.len().saturating_sub(1).max(1) as f64;
        LEFT + plot_w * (i as f64) / steps
    };
    let y = |nps: i64| TOP + plot_h * (100.0 - nps as f64) / 200.0;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-hidden=\"true\" focusable=\"false\">"
    );
    for grid in [-100, -50, 0, 50, 100] {
        let gy = y(grid);
        let stroke = if grid == 0 { "#8c959f" } else { "#d0d7de" };
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{gy:.1}\" y2=\"{gy:.1}\" stroke=\"{stroke}\" stroke-width=\"1\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"end\" fill=\"#57606a\">{grid}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            gy + 4.0
        );
    }
    let mut path = String::new();
    let mut pen_down = false;
    for (i, point) in points.iter().enumerate() {
        match point.nps {
            Some(nps) => {
                let _ = write!(path, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x(i), y(nps));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = write!(
            svg,
            "<path d=\"{}\" fill=\"none\" stroke=\"#1d4ed8\" stroke-width=\"2.5\" stroke-linejoin=\"round\"/>",
            path.trim_end()
        );
    }
    for (i, point) in points.iter().enumerate() {
        if let Some(nps) = point.nps {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1d4ed8\"/>",
                x(i),
                y(nps)
            );
        }
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let base = HEIGHT - 8.0;
        let _ = write!(
            svg,
            "<text x=\"{LEFT}\" y=\"{base}\" font-size=\"13\" fill=\"#57606a\">{}</text>\
             <text x=\"{}\" y=\"{base}\" font-size=\"13\" text-anchor=\"end\" fill=\"#57606a\">{}</text>",
            escape(&first.label),
            WIDTH - RIGHT,
            escape(&last.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal bar per value, from the zero line left (negative NPS) or right (positive),
/// labelled with the value and its NPS.
pub fn nps_bars(rows: &[(String, Option<i64>)]) -> String {
    const ROW: f64 = 28.0;
    const LABEL: f64 = 170.0;
    let height = ROW * rows.len().max(1) as f64 + 8.0;
    let plot = WIDTH - LABEL - 48.0;
    let zero = LABEL + plot / 2.0;
    let mut svg = format!(
        "<svg class=\"bars\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-hidden=\"true\" focusable=\"false\">\
         <line x1=\"{zero}\" x2=\"{zero}\" y1=\"0\" y2=\"{height}\" stroke=\"#8c959f\" stroke-width=\"1\"/>"
    );
    for (i, (label, nps)) in rows.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let short: String = label.chars().take(24).collect();
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"14\" text-anchor=\"end\" fill=\"#1f2328\">{}</text>",
            LABEL - 8.0,
            y + 17.0,
            escape(&short)
        );
        if let Some(nps) = nps {
            let length = plot / 2.0 * (*nps as f64).abs() / 100.0;
            let (x, fill) = if *nps >= 0 {
                (zero, "#1a7f37")
            } else {
                (zero - length, "#cf222e")
            };
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{length:.1}\" height=\"{:.1}\" fill=\"{fill}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" fill=\"#57606a\">{nps}</text>",
                y + 4.0,
                ROW - 10.0,
                if *nps >= 0 { zero + length + 4.0 } else { zero + 4.0 },
                y + 17.0,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A bar split into promoters, passives and detractors by their shares (percent).
pub fn split_bar(promoters: f64, passives: f64, detractors: f64) -> String {
    let mut svg = String::from(
        "<svg class=\"split\" viewBox=\"0 0 100 8\" role=\"img\" aria-hidden=\"true\" focusable=\"false\" \
         preserveAspectRatio=\"none\">",
    );
    let mut at = 0.0;
    for (share, fill) in [(promoters, "#1a7f37"), (passives, "#9a6700"), (detractors, "#cf222e")] {
        if share > 0.0 {
            let _ = write!(
                svg,
                "<rect x=\"{at:.2}\" y=\"0\" width=\"{share:.2}\" height=\"8\" fill=\"{fill}\"/>"
            );
            at += share;
        }
    }
    if at == 0.0 {
        svg.push_str("<rect x=\"0\" y=\"0\" width=\"100\" height=\"8\" fill=\"#d0d7de\"/>");
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trend_breaks_where_a_period_has_no_answers() {
        let points = [
            Point {
                label: "a".into(),
                nps: Some(100),
            },
            Point {
                label: "b".into(),
                nps: None,
            },
            Point {
                label: "<c>".into(),
                nps: Some(-100),
            },
        ];
        let svg = nps_trend(&points);
        // Two separate moves, no line across the gap; labels escaped.
        assert_eq!(svg.matches("M").count(), 2, "{svg}");
        assert!(!svg.contains(" L"), "{svg}");
        assert!(svg.contains("&lt;c&gt;") && !svg.contains("<c>"));
        assert_eq!(svg.matches("<circle").count(), 2);
    }

    #[test]
    fn bars_go_left_below_zero_and_right_above() {
        let svg = nps_bars(&[
            ("pro".into(), Some(50)),
            ("<free>".into(), Some(-50)),
            ("x".into(), None),
        ]);
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert!(svg.contains("#1a7f37") && svg.contains("#cf222e") && svg.contains("&lt;free&gt;"));
    }

    #[test]
    fn the_split_fills_its_shares() {
        let svg = split_bar(50.0, 25.0, 25.0);
        assert!(svg.contains("width=\"50.00\"") && svg.contains("x=\"75.00\""), "{svg}");
        assert!(split_bar(0.0, 0.0, 0.0).contains("#d0d7de"));
    }
}
