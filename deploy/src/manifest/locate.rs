//! Where a key sits in the manifest text, so that checks made after parsing (names, paths, rollout numbers,
//! the profile and the server config) point at the line and column of the key they are about.

use crate::error::Error;

/// Finds where a key path sits in the manifest text, so checks made after parsing can name a line and column.
pub struct Locator {
    file: String,
    root: Option<marked_yaml::Node>,
}

impl Locator {
    /// Reads the positions of `text`; `file` names it in errors.
    pub fn new(text: &str, file: String) -> Locator {
        Locator {
            file,
            root: marked_yaml::parse_yaml(0, text).ok(),
        }
    }

    /// An error about the value at `path` (or the deepest part of it that exists).
    pub fn error(&self, path: &[&str], message: impl Into<String>) -> Error {
        let (line, column) = self.position(path);
        Error::Manifest {
            file: self.file.clone(),
            line,
            column,
            message: format!("{}: {}", path.join("."), message.into()),
        }
    }

    fn position(&self, path: &[&str]) -> (usize, usize) {
        let Some(mut node) = self.root.as_ref() else {
            return (1, 1);
        };
        let mut mark = node.span().start().map(|m| (m.line(), m.column()));
        for key in path {
            let Some(map) = node.as_mapping() else { break };
            // Point at the key itself: that is where a reader looks for it.
            let Some((k, v)) = map.iter().find(|(k, _)| k.as_str() == *key) else {
                break;
            };
            mark = k.span().start().map(|m| (m.line(), m.column())).or(mark);
            node = v;
        }
        mark.unwrap_or((1, 1))
    }
}
