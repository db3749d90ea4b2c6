//! One value, two renderings: the human view and pretty JSON with stable field names (`--json`).

use serde::Serialize;

/// Something a command returns, printable for a person; `colour` is true only on a terminal.
pub trait Human {
    fn human(&self, colour: bool) -> String;
}

/// Pretty JSON with a trailing newline. Reports hold strings, numbers, maps and paths: should one ever fail
/// to serialise, the JSON says so instead of printing nothing.
pub fn json(value: &impl Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("the report does not serialise: {e}") }).to_string()
    });
    s.push('\n');
    s
}

/// The output of a command: JSON for machines, or the human view.
pub fn render<T: Human + Serialize>(value: &T, json: bool, colour: bool) -> String {
    if json {
        self::json(value)
    } else {
        value.human(colour)
    }
}

/// Whether stdout gets colour: a terminal, and `NO_COLOR` unset.
pub fn colour_on_stdout() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Report {
        hosts: u32,
    }

    impl Human for Report {
        fn human(&self, _colour: bool) -> String {
            format!("{} hosts\n", self.hosts)
        }
    }

    #[test]
    fn the_same_value_both_ways() {
        let r = Report { hosts: 3 };
        assert_eq!(render(&r, false, false), "3 hosts\n");
        assert_eq!(render(&r, true, false), "{\n  \"hosts\": 3\n}\n");
    }
}
