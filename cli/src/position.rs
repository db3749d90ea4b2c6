//! Where in a file an error is, written the way compilers do: `file:line:col: message`. serde_yaml's own
//! messages end in " at line L column C"; [`yaml_error`] moves that to the front so every tool reports YAML
//! errors in one shape, with the position said once.

use std::fmt;

/// A place in a text file. Line and column are 1-based; 0 means unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// A file path, or a name such as `built-in:NAME` or `<embedded default>` for embedded text.
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}", self.file),
            (l, 0) => write!(f, "{}:{l}", self.file),
            (l, c) => write!(f, "{}:{l}:{c}", self.file),
        }
    }
}

/// The position and the message of a serde_yaml error, the message without its trailing location and, for
/// an unknown key, with the known key it was probably meant to be.
pub fn yaml_error(file: &str, e: &serde_yaml::Error) -> (Position, String) {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let mut message = e.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    message.push_str(&unknown_key_hint(&message));
    (
        Position {
            file: file.to_string(),
            line,
            column,
        },
        message,
    )
}

/// " — did you mean `cpus`?" for serde's "unknown field `cpu`, expected one of `cpus`, ..." (or "expected
/// `a` or `b`"); empty when the message is about something else or nothing is close.
fn unknown_key_hint(message: &str) -> String {
    let Some((_, rest)) = message.split_once("unknown field `") else {
        return String::new();
    };
    let Some((typed, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    crate::suggest::did_you_mean(typed, known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_goes_first_and_only_once() {
        let e = serde_yaml::from_str::<std::collections::BTreeMap<String, u32>>("a: 1\nb: x\n")
            .unwrap_err();
        let (at, message) = yaml_error("m.yaml", &e);
        assert_eq!((at.line, at.column), (2, 4));
        let text = format!("{at}: {message}");
        assert!(text.starts_with("m.yaml:2:4: "), "{text}");
        assert!(!text.contains("at line"), "{text}");
    }

    #[test]
    fn an_unknown_key_gets_the_known_key_it_was_probably_meant_to_be() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Shards {
            cpus: Option<String>,
            mesh_capacity: Option<u32>,
        }
        let e = serde_yaml::from_str::<Shards>("cpu: \"0\"\n").unwrap_err();
        let (_, message) = yaml_error("s.yaml", &e);
        assert!(message.ends_with(" — did you mean `cpus`?"), "{message}");
        let e = serde_yaml::from_str::<Shards>("colour: red\n").unwrap_err();
        let (_, message) = yaml_error("s.yaml", &e);
        assert!(!message.contains("did you mean"), "{message}");
    }

    #[test]
    fn unknown_parts_are_left_out() {
        let p = |line, column| {
            Position {
                file: "f".into(),
                line,
                column,
            }
            .to_string()
        };
        assert_eq!(p(0, 0), "f");
        assert_eq!(p(3, 0), "f:3");
        assert_eq!(p(3, 7), "f:3:7");
    }
}
