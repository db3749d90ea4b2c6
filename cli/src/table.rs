//! Aligned tables for people: each column padded to its widest cell, two spaces apart, the last column
//! unpadded, numbers right-aligned when asked for, colour only when asked for (the caller knows whether it
//! writes to a terminal).

/// How a cell is painted on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Green,
    Yellow,
    Red,
    Dim,
}

/// Rows of cells; the first row is usually the header.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<(String, Style)>>,
    /// Columns whose cells are right-aligned (numbers), by index.
    right: Vec<usize>,
}

impl Table {
    /// A table whose first row is `headers`, written as given.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| plain(*h)).collect()],
            right: Vec::new(),
        }
    }

    /// Right-aligns the cells of `columns` (header included), so numbers line up by their last digit.
    pub fn align_right(mut self, columns: &[usize]) -> Table {
        self.right.extend_from_slice(columns);
        self
    }

    /// A table without a header row.
    pub fn headless() -> Table {
        Table::default()
    }

    /// Adds a row of painted cells.
    pub fn row(&mut self, cells: Vec<(String, Style)>) {
        self.rows.push(cells);
    }

    /// Adds a row of plain cells.
    pub fn plain_row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(plain).collect());
    }

    /// The table as text, one line per row, no trailing spaces.
    pub fn render(&self, colour: bool) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|(t, _)| t.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, (text, style)) in row.iter().enumerate() {
                let pad = widths[i] - text.chars().count();
                if self.right.contains(&i) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(&paint(text, *style, colour));
                    if i + 1 < row.len() {
                        line.push_str("  ");
                    }
                } else {
                    line.push_str(&paint(text, *style, colour));
                    if i + 1 < row.len() {
                        line.push_str(&" ".repeat(pad + 2));
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A plain cell.
pub fn plain(s: impl Into<String>) -> (String, Style) {
    (s.into(), Style::Plain)
}

/// `text` in `style` when `colour` is on (ANSI SGR), as is otherwise.
pub fn paint(text: &str, style: Style, colour: bool) -> String {
    let code = match style {
        Style::Plain => return text.to_string(),
        _ if !colour => return text.to_string(),
        Style::Green => "32",
        Style::Yellow => "33",
        Style::Red => "31",
        Style::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_the_last_is_not_padded() {
        let mut t = Table::new(&["HOST", "RESULT", "WHY"]);
        t.plain_row(["a", "ok", ""]);
        t.plain_row(["long-host", "failed", "health check"]);
        assert_eq!(
            t.render(false),
            "HOST       RESULT  WHY\na          ok\nlong-host  failed  health check\n"
        );
    }

    #[test]
    fn right_aligned_columns_line_up_by_their_last_character() {
        let mut t = Table::new(&["NAME", "RATE", "NOTE"]).align_right(&[1]);
        t.plain_row(["a", "1,234", "x"]);
        t.plain_row(["bb", "5", ""]);
        assert_eq!(
            t.render(false),
            "NAME   RATE  NOTE\na     1,234  x\nbb        5\n"
        );
    }

    #[test]
    fn colour_only_when_asked_and_widths_ignore_it() {
        let mut t = Table::headless();
        t.row(vec![("ok".into(), Style::Green), plain("x")]);
        t.row(vec![plain("change"), plain("y")]);
        assert_eq!(t.render(false), "ok      x\nchange  y\n");
        assert_eq!(t.render(true), "\x1b[32mok\x1b[0m      x\nchange  y\n");
    }
}
