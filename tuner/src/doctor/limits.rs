//! Resource limits of the process, read from `/proc/self/limits` so a recorded snapshot and the live host
//! go through the same parser.

use std::path::Path;

use serde::Serialize;

use crate::Error;

/// A soft/hard pair; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// The limits the doctor judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// RLIMIT_NOFILE: one descriptor per connection.
    pub nofile: Option<Limit>,
    /// RLIMIT_MEMLOCK, in bytes: io_uring registered buffers count against it.
    pub memlock: Option<Limit>,
}

/// Parses `/proc/PID/limits`: a header, then `Name  Soft  Hard  [Units]` with columns separated by runs of
/// two or more spaces (names contain single spaces).
pub fn parse_limits(text: &str, path: &Path) -> Result<Limits, Error> {
    let mut limits = Limits {
        nofile: None,
        memlock: None,
    };
    for (no, line) in text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |why: String| Error::Parse {
            path: path.to_path_buf(),
            line: no + 1,
            why,
        };
        let columns: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if columns.len() < 3 {
            return Err(bad("expected `Name  Soft  Hard  Units`".into()));
        }
        let value = |c: &str| -> Result<Option<u64>, Error> {
            match c {
                "unlimited" => Ok(None),
                n => n
                    .parse()
                    .map(Some)
                    .map_err(|_| bad(format!("{}: {n:?} is not a number", columns[0]))),
            }
        };
        let limit = Limit {
            soft: value(columns[1])?,
            hard: value(columns[2])?,
        };
        match columns[0] {
            "Max open files" => limits.nofile = Some(limit),
            "Max locked memory" => limits.memlock = Some(limit),
            _ => {}
        }
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_unlimited() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            20000                20000                files     \n\
                    Max locked memory         8388608              unlimited            bytes     \n";
        let l = parse_limits(text, Path::new("limits")).unwrap();
        assert_eq!(
            l.nofile,
            Some(Limit {
                soft: Some(20000),
                hard: Some(20000)
            })
        );
        assert_eq!(
            l.memlock,
            Some(Limit {
                soft: Some(8388608),
                hard: None
            })
        );
    }

    #[test]
    fn garbage_is_an_error_with_the_line() {
        let err = parse_limits(
            "h\nMax open files            lots                 20000\n",
            Path::new("/l"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("line 2") && err.to_string().contains("Max open files"),
            "{err}"
        );
    }
}
