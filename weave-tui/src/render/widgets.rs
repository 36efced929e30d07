//! Small drawing helpers shared by the views: number formats, text sparklines, styles, popups.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub const OK: Style = Style::new().fg(Color::Green);
pub const WARN: Style = Style::new().fg(Color::Yellow);
pub const BAD: Style = Style::new().fg(Color::Red);
pub const DIM: Style = Style::new().fg(Color::DarkGray);
pub const HEADER: Style = Style::new().add_modifier(Modifier::BOLD);
pub const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
pub const LABEL: Style = Style::new().fg(Color::Cyan);

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` values as a one-line sparkline, a full bar being `scale` (or the largest
/// value, if larger).
pub fn spark(values: impl ExactSizeIterator<Item = f64>, width: usize, scale: f64) -> String {
    let n = values.len();
    let tail: Vec<f64> = values.skip(n.saturating_sub(width)).collect();
    let max = tail.iter().copied().fold(scale, f64::max);
    tail.iter()
        .map(|v| if max <= 0.0 { BARS[0] } else { BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize] })
        .collect()
}

/// Bytes per second, short: `512B/s`, `1.5K/s`, `12M/s`.
pub fn rate(bps: f64) -> String {
    format!("{}/s", bytes(bps))
}

/// A byte count, short: `512B`, `1.5K`, `12M`, `3.0G`.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n.max(0.0);
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v >= 10.0 {
        format!("{:.0}{}", v, UNITS[u])
    } else {
        format!("{:.1}{}", v, UNITS[u])
    }
}

/// A text bar of `width` cells filled to `share` (0..=1).
pub fn bar(share: f64, width: usize) -> String {
    let full = (share.clamp(0.0, 1.0) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

/// A centred rectangle of at most `w` x `h` inside `area`.
pub fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))]).flex(Flex::Center).areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))]).flex(Flex::Center).areas(v);
    r
}

/// A bordered box holding a short message, for views with nothing to list.
pub fn notice(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line>) {
    let p =
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(Block::bordered().title(format!(" {title} ")));
    f.render_widget(p, area);
}

/// Clears `area` and draws a bordered popup with `lines` in it.
pub fn popup_text(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line>) {
    f.render_widget(Clear, area);
    let block = Block::bordered().title(format!(" {title} ")).title_bottom(" Esc close ");
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), area);
}

/// `label  value` with the label styled and padded to `w`.
pub fn field<'a>(label: &'a str, w: usize, value: impl Into<ratatui::text::Span<'a>>) -> Line<'a> {
    Line::from(vec![ratatui::text::Span::styled(format!("{label:<w$}"), LABEL), value.into()])
}

pub use crate::layout::clip;

/// `label value` with the value word-wrapped under itself into `width` columns: lines wrapped
/// here are counted, so the popup is as tall as its text.
pub fn wrapped<'a>(label: &'a str, indent: usize, value: &str, style: Style, width: usize) -> Vec<Line<'a>> {
    let room = width.saturating_sub(indent).max(8);
    let mut rows: Vec<String> = vec![];
    let mut cur = String::new();
    for word in value.split(' ') {
        let n = word.chars().count();
        if !cur.is_empty() && cur.chars().count() + 1 + n > room {
            rows.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
        // A word longer than a row is cut into rows.
        while cur.chars().count() > room {
            let head: String = cur.chars().take(room).collect();
            cur = cur.chars().skip(room).collect();
            rows.push(head);
        }
    }
    rows.push(cur);
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let l = if i == 0 { label } else { "" };
            Line::from(vec![Span::styled(format!("{l:<indent$}"), LABEL), Span::styled(r, style)])
        })
        .collect()
}

/// A bordered list view: `name (count)`, and the filter when one is set, as its title; a bold
/// header row; the app's selection highlighted.
pub fn list<'a>(
    f: &mut Frame,
    area: Rect,
    app: &crate::app::App,
    name: &str,
    rows: Vec<ratatui::widgets::Row<'a>>,
    header: Vec<&'a str>,
    widths: impl IntoIterator<Item = Constraint>,
) {
    let n = rows.len();
    let title = match app.ui.filter() {
        "" => format!(" {name} ({n}) "),
        f => format!(" {name} ({n}) · filter: {f} "),
    };
    list_in(f, area, app, Block::bordered().title(title), rows, header, widths);
}

/// As [`list`], in a block of the caller's.
pub fn list_in<'a>(
    f: &mut Frame,
    area: Rect,
    app: &crate::app::App,
    block: Block<'a>,
    rows: Vec<ratatui::widgets::Row<'a>>,
    header: Vec<&'a str>,
    widths: impl IntoIterator<Item = Constraint>,
) {
    use ratatui::widgets::{Row, Table, TableState};
    let n = rows.len();
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(HEADER))
        .row_highlight_style(SELECTED)
        .block(block);
    let mut state = TableState::default().with_selected((n > 0).then(|| app.ui.selected().min(n - 1)));
    f.render_stateful_widget(table, area, &mut state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_their_maximum_and_keep_the_tail() {
        assert_eq!(spark([0.0, 7.0, 3.5].into_iter(), 10, 0.0), "▁█▅");
        assert_eq!(spark([9.0, 0.0, 1.0].into_iter(), 2, 0.0), "▁█");
        assert_eq!(spark([0.0, 0.0].into_iter(), 5, 0.0), "▁▁");
        assert_eq!(spark([0.0, 4.0].into_iter(), 5, 14.0), "▁▃", "scaled to 14, not to 4");
    }

    #[test]
    fn byte_counts_are_short() {
        assert_eq!(bytes(512.0), "512B");
        assert_eq!(bytes(1536.0), "1.5K");
        assert_eq!(bytes(12.0 * 1024.0 * 1024.0), "12M");
        assert_eq!(rate(0.0), "0B/s");
    }

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn wrapped_values_hang_under_themselves_and_long_words_are_cut() {
        let l = wrapped("Info", 6, "one two three four", Style::new(), 16);
        assert_eq!(text(&l), ["Info  one two", "      three four"]);
        let l = wrapped("X", 2, "abcdefghijkl", Style::new(), 10);
        assert_eq!(text(&l), ["X abcdefgh", "  ijkl"]);
        assert!(l.iter().all(|l| l.width() <= 10));
    }

    #[test]
    fn bars_fill_their_share() {
        assert_eq!(bar(0.5, 4), "██░░");
        assert_eq!(bar(2.0, 2), "██");
    }
}
