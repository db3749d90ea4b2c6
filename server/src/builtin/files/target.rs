//! A request target → the path it names beneath the root, or why it is refused. Pure.
//!
//! Only origin-form targets (`/a/b?q`) are served. The path is split on `/` before percent-decoding, so an
//! encoded slash cannot make a separator (and is refused outright), and every segment is checked after
//! decoding, so `%2e%2e` is `..`. What is left is a relative path with no `.`, `..` or empty segments and no
//! NUL byte, for `openat2(2)` beneath the root directory (which also refuses symlinks and escapes on its
//! own: this check is the first of two).

/// Why a target is refused, and the status it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not origin-form (`*`, `http://host/...`, `host:port`), or a bad `%` escape: 400.
    NotAPath,
    /// A NUL byte, raw or `%00`: 400.
    Nul,
    /// `%2F` (an encoded `/`): 400.
    EncodedSlash,
    /// A `..` segment, raw or encoded: 403.
    Traversal,
}

impl Refusal {
    /// The `reason` label this refusal is counted under.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotAPath => "not_a_path",
            Refusal::Nul => "nul_byte",
            Refusal::EncodedSlash => "encoded_slash",
            Refusal::Traversal => "traversal",
        }
    }
}

/// The path a target names beneath the root: segments joined by `/`, empty for the root itself.
#[derive(Debug, PartialEq, Eq)]
pub struct Beneath {
    pub path: Vec<u8>,
}

/// Resolves the request target `target` (as sent, query included) to a path beneath the root.
pub fn resolve(target: &str) -> Result<Beneath, Refusal> {
    let raw = target.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(Refusal::NotAPath);
    }
    let end = raw
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(raw.len());
    let mut path = Vec::with_capacity(end);
    for segment in raw[..end].split(|&b| b == b'/') {
        let decoded = decode(segment)?;
        match decoded.as_slice() {
            b"" | b"." => continue,
            b".." => return Err(Refusal::Traversal),
            _ => {}
        }
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&decoded);
    }
    Ok(Beneath { path })
}

/// Percent-decodes one segment, refusing NUL, an encoded `/` and malformed escapes.
fn decode(segment: &[u8]) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity(segment.len());
    let mut i = 0;
    while i < segment.len() {
        let byte = match segment[i] {
            b'%' => {
                let hex = segment.get(i + 1..i + 3).ok_or(Refusal::NotAPath)?;
                let value = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(Refusal::NotAPath)?;
                i += 3;
                if value == b'/' {
                    return Err(Refusal::EncodedSlash);
                }
                value
            }
            b => {
                i += 1;
                b
            }
        };
        if byte == 0 {
            return Err(Refusal::Nul);
        }
        out.push(byte);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(target: &str) -> String {
        String::from_utf8(resolve(target).unwrap().path).unwrap()
    }

    #[test]
    fn origin_form_paths_resolve_beneath_the_root() {
        assert_eq!(ok("/"), "");
        assert_eq!(ok("/a/b.txt?x=1"), "a/b.txt");
        assert_eq!(ok("//a/./b/"), "a/b");
        assert_eq!(ok("/sp%20ace"), "sp ace");
        assert_eq!(ok("/a..b/..c"), "a..b/..c");
    }

    #[test]
    fn escapes_and_odd_targets_are_refused() {
        assert_eq!(resolve("/../etc/passwd"), Err(Refusal::Traversal));
        assert_eq!(resolve("/a/%2e%2e/b"), Err(Refusal::Traversal));
        assert_eq!(resolve("/%2E%2e/"), Err(Refusal::Traversal));
        assert_eq!(resolve("/a%2fb"), Err(Refusal::EncodedSlash));
        assert_eq!(resolve("/a%00b"), Err(Refusal::Nul));
        assert_eq!(resolve("/a%zz"), Err(Refusal::NotAPath));
        assert_eq!(resolve("/a%2"), Err(Refusal::NotAPath));
        assert_eq!(resolve("http://h/x"), Err(Refusal::NotAPath));
        assert_eq!(resolve("*"), Err(Refusal::NotAPath));
    }
}
