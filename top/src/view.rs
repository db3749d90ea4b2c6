//! The terminal view: what is on screen for an [`Interval`] and the keys that change it (sort, pick a
//! shard, pause, quit). Drawing is a function of the state; the loop that reads keys and intervals is in
//! `main.rs`'s terms, [`run`].

use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use crate::interval::Interval;
use crate::shards::ShardRow;

/// What the shard table is ordered by (`s` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Shard,
    Requests,
    Cpu,
    P99,
    Connections,
    Rejected,
}

impl SortKey {
    fn next(self) -> SortKey {
        use SortKey::*;
        match self {
            Shard => Requests,
            Requests => Cpu,
            Cpu => P99,
            P99 => Connections,
            Connections => Rejected,
            Rejected => Shard,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SortKey::Shard => "shard",
            SortKey::Requests => "req/s",
            SortKey::Cpu => "cpu",
            SortKey::P99 => "p99",
            SortKey::Connections => "conns",
            SortKey::Rejected => "rejected",
        }
    }
}

/// The view's state.
pub struct App {
    pub sort: SortKey,
    /// Index into the sorted shard rows.
    pub selected: usize,
    pub paused: bool,
    pub shown: Option<Interval>,
    pub quit: bool,
}

impl App {
    pub fn new() -> App {
        App {
            sort: SortKey::Shard,
            selected: 0,
            paused: false,
            shown: None,
            quit: false,
        }
    }

    /// A new interval arrived: shown unless paused.
    pub fn update(&mut self, interval: Interval) {
        if !self.paused {
            self.shown = Some(interval);
        }
    }

    /// Applies one key.
    pub fn key(&mut self, code: KeyCode, modifiers: KeyModifiers) {
        let rows = self.rows().len();
        match code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => self.quit = true,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('p') | KeyCode::Char(' ') => self.paused = !self.paused,
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(rows.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            _ => {}
        }
    }

    /// Every server's shards, labelled by server when there are several, in the chosen order.
    pub fn rows(&self) -> Vec<(String, ShardRow)> {
        let Some(shown) = &self.shown else {
            return Vec::new();
        };
        let several = shown.servers.len() > 1;
        let mut rows: Vec<(String, ShardRow)> = shown
            .servers
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.shards.iter().map(move |r| {
                    let label = if several {
                        format!("{i}:{}", r.shard)
                    } else {
                        r.shard.to_string()
                    };
                    (label, r.clone())
                })
            })
            .collect();
        sort_rows(&mut rows, self.sort);
        rows
    }
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

/// Orders shard rows by `key`: the shard's own order, or the largest value first.
pub fn sort_rows(rows: &mut [(String, ShardRow)], key: SortKey) {
    let value = |r: &ShardRow| match key {
        SortKey::Shard => 0.0,
        SortKey::Requests => r.requests_per_sec,
        SortKey::Cpu => r.cpu_busy,
        SortKey::P99 => r.p99_ms.unwrap_or(0.0),
        SortKey::Connections => r.connections_open as f64,
        SortKey::Rejected => r.rejected_total(),
    };
    rows.sort_by(|a, b| value(&b.1).total_cmp(&value(&a.1)));
}

/// A rate in a few characters: 950, 12.3k, 4.5M.
pub fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 1.0 => format!("{:.0}µs", v * 1e3),
        Some(v) => format!("{v:.1}ms"),
    }
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let rows = app.rows();
    let cpus = app
        .shown
        .as_ref()
        .and_then(|s| s.host.as_ref())
        .map_or(0, |h| h.cpus.len());
    let shard_height = (rows.len() as u16 + 1).clamp(2, area.height / 3 + 1);
    let cpu_height = if cpus == 0 {
        0
    } else {
        (cpus as u16 + 1).min(area.height / 4 + 1)
    };
    let [head, shards, detail, host, notes, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(shard_height),
        Constraint::Length(2),
        Constraint::Length(cpu_height),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(header(app)), head);
    draw_shards(frame, app, &rows, shards);
    frame.render_widget(
        Paragraph::new(detail_lines(app, &rows)).wrap(Wrap { trim: true }),
        detail,
    );
    draw_cpus(frame, app, host);
    frame.render_widget(
        Paragraph::new(note_lines(app)).wrap(Wrap { trim: false }),
        notes,
    );
    frame.render_widget(
        Paragraph::new("s sort  ↑↓/jk pick shard  p pause  q quit")
            .style(Style::default().add_modifier(Modifier::DIM)),
        keys,
    );
}

fn header(app: &App) -> Line<'static> {
    let mut spans = vec![Span::styled(
        "pincore-top ",
        Style::default().add_modifier(Modifier::BOLD),
    )];
    match &app.shown {
        None => spans.push(Span::raw("waiting for the first interval...")),
        Some(shown) => {
            spans.push(Span::raw(format!("{:.1}s ", shown.interval_secs)));
            for s in &shown.servers {
                let state = if s.up { "up" } else { "DOWN, retrying" };
                spans.push(Span::raw(format!("{} {state}  ", s.address)));
            }
        }
    }
    spans.push(Span::raw(format!("sort {}", app.sort.name())));
    if app.paused {
        spans.push(Span::styled(
            " PAUSED",
            Style::default().add_modifier(Modifier::REVERSED),
        ));
    }
    Line::from(spans)
}

fn draw_shards(frame: &mut Frame, app: &App, rows: &[(String, ShardRow)], area: Rect) {
    let head = Row::new([
        "SH", "CPU", "BUSY", "REQ/s", "P50", "P99", "CONN", "ACC/s", "REJ/s", "IN/s", "OUT/s",
        "MESH", "STALL",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let body = rows.iter().map(|(label, r)| {
        Row::new([
            label.clone(),
            r.cpu.map_or("-".into(), |c| c.to_string()),
            pct(r.cpu_busy),
            short(r.requests_per_sec),
            ms(r.p50_ms),
            ms(r.p99_ms),
            r.connections_open.to_string(),
            short(r.accepted_per_sec),
            short(r.rejected_total()),
            short(r.bytes_in_per_sec),
            short(r.bytes_out_per_sec),
            short(r.mesh_messages_per_sec),
            r.stalls.to_string(),
        ])
    });
    let widths = [
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Length(5),
    ];
    let table = Table::new(body, widths)
        .header(head)
        .column_spacing(1)
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state =
        TableState::default().with_selected(Some(app.selected.min(rows.len().saturating_sub(1))));
    frame.render_stateful_widget(table, area, &mut state);
}

fn detail_lines(app: &App, rows: &[(String, ShardRow)]) -> Vec<Line<'static>> {
    let Some((label, r)) = rows.get(app.selected.min(rows.len().saturating_sub(1))) else {
        let down: Vec<String> = app
            .shown
            .iter()
            .flat_map(|s| &s.servers)
            .filter_map(|s| s.error.clone())
            .collect();
        return vec![Line::raw(if down.is_empty() {
            "no shards yet".to_string()
        } else {
            down.join("; ")
        })];
    };
    let mut families: Vec<(&String, &f64)> = r
        .requests_per_sec_by_family
        .iter()
        .filter(|(_, v)| **v > 0.0)
        .collect();
    families.sort_by(|a, b| b.1.total_cmp(a.1));
    let families: Vec<String> = families
        .iter()
        .map(|(f, v)| format!("{f} {}", short(**v)))
        .collect();
    let rejected: Vec<String> = r
        .rejected_per_sec
        .iter()
        .filter(|(_, v)| **v > 0.0)
        .map(|(k, v)| format!("{k} {}", short(*v)))
        .collect();
    vec![
        Line::raw(format!(
            "shard {label}: {}",
            if families.is_empty() {
                "no commands".into()
            } else {
                families.join(", ")
            }
        )),
        Line::raw(format!(
            "  rejected/s: {}",
            if rejected.is_empty() {
                "none".into()
            } else {
                rejected.join(", ")
            }
        )),
    ]
}

fn draw_cpus(frame: &mut Frame, app: &App, area: Rect) {
    let Some(host) = app.shown.as_ref().and_then(|s| s.host.as_ref()) else {
        return;
    };
    let head = Row::new([
        "CPU", "BUSY", "SIRQ", "IRQ", "QINT/s", "DROPS", "SQUEEZE", "SHARD",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let body = host.cpus.iter().map(|c| {
        Row::new([
            c.cpu.to_string(),
            pct(c.busy),
            pct(c.softirq),
            pct(c.irq),
            short(c.queue_interrupts_per_sec),
            c.softnet_dropped.to_string(),
            c.softnet_squeezed.to_string(),
            if c.has_shard {
                "yes".into()
            } else {
                "-".to_string()
            },
        ])
    });
    let widths = [Constraint::Length(6); 8];
    frame.render_widget(Table::new(body, widths).header(head), area);
}

fn note_lines(app: &App) -> Vec<Line<'static>> {
    let Some(shown) = &app.shown else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    if let Some(e) = &shown.host_error {
        lines.push(Line::raw(format!("host: {e}")));
    }
    let Some(host) = &shown.host else {
        return lines;
    };
    let mut tcp: Vec<String> = host
        .tcp_grew
        .iter()
        .map(|c| format!("{} +{}", c.counter, c.delta))
        .collect();
    if let Some(tw) = host.time_wait {
        tcp.push(format!("TIME_WAIT {tw}"));
    }
    if host.tcp_memory_pressure {
        tcp.push("TCP MEMORY PRESSURE".into());
    }
    lines.push(Line::raw(format!("tcp: {}", tcp.join("  "))));
    for f in &host.findings {
        let profile = f
            .profile
            .as_ref()
            .map(|p| format!(" (profile {p})"))
            .unwrap_or_default();
        lines.push(Line::styled(
            format!("! {:?}: set {} = {}{profile}", f.symptom, f.knob, f.value),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        lines.push(Line::raw(format!("  {}", f.summary)));
    }
    for w in &host.placement_warnings {
        lines.push(Line::raw(format!("placement: {w}")));
    }
    lines
}

/// Runs the view until `q`: draws the latest interval from `intervals` and applies keys, redrawing at
/// least every `tick`.
pub fn run(intervals: Receiver<Interval>, tick: Duration) -> io::Result<()> {
    let mut terminal = ratatui::init();
    let mut app = App::new();
    let result = (|| -> io::Result<()> {
        while !app.quit {
            terminal.draw(|f| draw(f, &app))?;
            if event::poll(Duration::from_millis(50))? {
                if let Event::Key(k) = event::read()? {
                    if k.kind == KeyEventKind::Press {
                        app.key(k.code, k.modifiers);
                    }
                }
                continue;
            }
            match intervals.recv_timeout(tick.min(Duration::from_millis(100))) {
                Ok(interval) => app.update(interval),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sort_largest_first_and_keys_move_the_choice() {
        let row = |shard, rps| ShardRow {
            shard,
            requests_per_sec: rps,
            ..ShardRow::default()
        };
        let mut app = App::new();
        app.update(Interval {
            servers: vec![crate::interval::ServerView {
                address: "a".into(),
                up: true,
                error: None,
                shards: vec![row(0, 5.0), row(1, 50.0)],
            }],
            ..Interval::default()
        });
        assert_eq!(app.rows()[0].0, "0");
        app.key(KeyCode::Char('s'), KeyModifiers::NONE);
        assert_eq!(app.sort, SortKey::Requests);
        assert_eq!(app.rows()[0].0, "1");
        app.key(KeyCode::Down, KeyModifiers::NONE);
        app.key(KeyCode::Down, KeyModifiers::NONE);
        assert_eq!(app.selected, 1);
        app.key(KeyCode::Char('p'), KeyModifiers::NONE);
        app.update(Interval::default());
        assert_eq!(app.rows().len(), 2, "paused: the new interval is not shown");
        app.key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert!(app.quit);
    }

    #[test]
    fn the_screen_fits_80_by_24() {
        let backend = ratatui::backend::TestBackend::new(80, 24);
        let mut terminal = ratatui::Terminal::new(backend).unwrap();
        let mut app = App::new();
        app.update(Interval {
            interval_secs: 1.0,
            servers: vec![crate::interval::ServerView {
                address: "127.0.0.1:9180".into(),
                up: true,
                error: None,
                shards: (0..4)
                    .map(|i| ShardRow {
                        shard: i,
                        cpu: Some(i),
                        requests_per_sec: 123456.0,
                        p50_ms: Some(0.02),
                        p99_ms: Some(1.5),
                        ..ShardRow::default()
                    })
                    .collect(),
            }],
            ..Interval::default()
        });
        terminal.draw(|f| draw(f, &app)).unwrap();
        let text: String = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(text.contains("STALL"), "every column header fits");
        assert!(text.contains("123k"));
        assert!(text.contains("1.5ms"));
        assert!(text.contains("q quit"));
    }
}
