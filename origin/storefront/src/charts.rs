//! Bar charts drawn on the server as SVG: sales per day, best sellers, the
//! funnel. Pure geometry here; `templates/sell/chart.html` draws it.
//!
//! Hand-written rather than a plotting crate (plotters' SVG backend): the
//! charts must be accessible (a title and description, every bar labelled
//! for screen readers), styled by the site's stylesheet through classes
//! (the CSP allows no inline styles) and tiny; the geometry is ~100 lines
//! of arithmetic, tested below, and a plotting crate would add its own text
//! layout and colours we would then have to undo.

/// One bar: a label, its value and how the value reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub label: String,
    pub value: i64,
    pub text: String,
}

/// A bar ready to draw (SVG user units).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub label: String,
    pub text: String,
    /// Where the label and value go.
    pub label_x: u32,
    pub label_y: u32,
    pub value_x: u32,
    pub value_y: u32,
    /// Show the label under this bar (every bar of a few; some of many).
    pub show_label: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub description: String,
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    /// Horizontal bars (labels on the left) instead of columns.
    pub horizontal: bool,
    /// Baseline of columns / left edge of rows.
    pub axis: (u32, u32, u32, u32),
    /// The largest value as text, written at the top of the scale.
    pub max_text: String,
    pub empty: bool,
}

/// User units across: with the stylesheet's 13-unit text this reads at
/// about 15 px on a desktop (the chart is at most 42rem wide) and 9–10 px
/// on a phone.
const WIDTH: u32 = 520;
/// Longest row label, in characters (longer ones end in "…").
const LABEL_CHARS: usize = 20;
const PAD: u32 = 24;
/// Most column labels shown under a column chart.
const MAX_LABELS: usize = 8;

/// Columns, one per datum, scaled to the largest value (negatives as 0).
pub fn columns(id: &str, title: &str, description: &str, data: &[Datum]) -> Chart {
    let height = 220;
    let baseline = height - 36;
    let top = PAD;
    let max = data
        .iter()
        .map(|d| d.value.max(0))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = data.len().max(1) as u32;
    let slot = (WIDTH - 2 * PAD) / n;
    let width = (slot * 7 / 10).max(2);
    let every = data.len().div_ceil(MAX_LABELS).max(1);
    let last = data.len().saturating_sub(1);
    let bars = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let h = scale(d.value, max, baseline - top);
            let x = PAD + i as u32 * slot + (slot - width) / 2;
            Bar {
                x,
                y: baseline - h,
                width,
                height: h,
                label: d.label.clone(),
                text: d.text.clone(),
                label_x: x + width / 2,
                label_y: baseline + 16,
                value_x: x + width / 2,
                value_y: (baseline - h).saturating_sub(4).max(12),
                // Counted from the end, so the last day is always named and
                // the labels keep an even spacing.
                show_label: (last - i).is_multiple_of(every),
            }
        })
        .collect();
    let axis = (PAD, baseline, WIDTH - PAD, baseline);
    finish((id, title, description), data, height, bars, false, axis)
}

/// The chart of `bars` drawn from `data`, with its words.
fn finish(
    (id, title, description): (&str, &str, &str),
    data: &[Datum],
    height: u32,
    bars: Vec<Bar>,
    horizontal: bool,
    axis: (u32, u32, u32, u32),
) -> Chart {
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        description: description.to_owned(),
        width: WIDTH,
        height,
        bars,
        horizontal,
        axis,
        max_text: largest_text(data),
        empty: data.iter().all(|d| d.value <= 0),
    }
}

fn largest_text(data: &[Datum]) -> String {
    data.iter()
        .filter(|d| d.value > 0)
        .max_by_key(|d| d.value)
        .map(|d| d.text.clone())
        .unwrap_or_default()
}

fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_owned();
    }
    let cut: String = label.chars().take(LABEL_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// Rows, one per datum, for ranked lists (best sellers, the funnel).
pub fn rows(id: &str, title: &str, description: &str, data: &[Datum]) -> Chart {
    let row = 30;
    let left = 180;
    let right = 110;
    let height = PAD + data.len().max(1) as u32 * row + 8;
    let max = data
        .iter()
        .map(|d| d.value.max(0))
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let w = scale(d.value, max, WIDTH - left - right);
            let y = PAD / 2 + i as u32 * row;
            Bar {
                x: left,
                y,
                width: w,
                height: row - 8,
                label: short(&d.label),
                text: d.text.clone(),
                label_x: left - 8,
                label_y: y + row / 2,
                value_x: left + w + 6,
                value_y: y + row / 2,
                show_label: true,
            }
        })
        .collect();
    let axis = (left, PAD / 2, left, height - 8);
    finish((id, title, description), data, height, bars, true, axis)
}

/// `value` of `max` as a length of `span`; a positive value is at least 1.
fn scale(value: i64, max: i64, span: u32) -> u32 {
    if value <= 0 {
        return 0;
    }
    let v = (i128::from(value) * i128::from(span) / i128::from(max)) as u32;
    v.clamp(1, span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(values: &[i64]) -> Vec<Datum> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Datum {
                label: format!("d{i}"),
                value: *v,
                text: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn columns_scale_to_the_largest_and_stand_on_the_baseline() {
        let c = columns("c", "t", "d", &data(&[10, 5, 0, -3]));
        let baseline = c.axis.1;
        let tallest = &c.bars[0];
        assert_eq!(tallest.y + tallest.height, baseline);
        assert_eq!(c.bars[1].height, tallest.height / 2);
        assert_eq!((c.bars[2].height, c.bars[3].height), (0, 0));
        assert!(c.bars.windows(2).all(|w| w[0].x + w[0].width <= w[1].x));
        assert!(c.bars.iter().all(|b| b.x + b.width <= c.width));
        assert!(!c.empty);
        assert!(columns("c", "t", "d", &data(&[0, 0])).empty);
        assert!(columns("c", "t", "d", &[]).empty);
    }

    #[test]
    fn many_columns_label_only_some() {
        let c = columns("c", "t", "d", &data(&[1; 30]));
        let shown = c.bars.iter().filter(|b| b.show_label).count();
        assert!(shown <= MAX_LABELS, "{shown}");
        assert!(c.bars.last().unwrap().show_label);
        let named: Vec<usize> = (0..30).filter(|i| c.bars[*i].show_label).collect();
        assert!(
            named.windows(2).all(|w| w[1] - w[0] == named[1] - named[0]),
            "even: {named:?}"
        );
    }

    #[test]
    fn rows_rank_from_the_left_edge() {
        let r = rows("r", "t", "d", &data(&[200, 100, 1]));
        assert!(r.horizontal);
        assert_eq!(r.bars[0].width, 2 * r.bars[1].width);
        assert_eq!(r.bars[2].width, 1, "a small value stays visible");
        assert_eq!(r.max_text, "200");
        let long = rows(
            "r",
            "t",
            "d",
            &[Datum {
                label: "A very long product title indeed".into(),
                value: 1,
                text: "1".into(),
            }],
        );
        assert_eq!(long.bars[0].label, "A very long product…");
        assert!(r.bars.iter().all(|b| b.x == r.axis.0));
        assert!(r.bars.windows(2).all(|w| w[0].y < w[1].y));
    }
}
