//! Files named by the user (profiles, the state file, tuned.conf imports; and, through this library, the
//! server's configuration and deploy manifests and releases): each is checked to be a regular file of a sane
//! size before it is read, and the read itself stops one byte past the limit, so `/dev/zero`, a FIFO, a
//! sparse 100 GB file or a file that grows while it is read cannot hang the tool or eat its memory.
//!
//! This is the one place that opens such files: pincore-server and pincore-deploy call it too.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The size limit for configuration-like files: profiles, server configs, manifests, state files.
pub const TEXT_LIMIT: u64 = 16 * 1024 * 1024;

/// What a caller expects at a path, for the "what to do" part of a message: `give the path of {self}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// E.g. "a YAML profile", "a pincore-server binary".
    pub what: &'static str,
    /// Files larger than this are refused.
    pub limit: u64,
}

impl Expected {
    /// A text file of at most [`TEXT_LIMIT`] bytes.
    pub const fn text(what: &'static str) -> Expected {
        Expected {
            what,
            limit: TEXT_LIMIT,
        }
    }
}

/// Why a file was refused or could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}; {}", path.display(), advice(problem, expected))]
pub struct InputError {
    pub path: PathBuf,
    pub problem: Problem,
    pub expected: Expected,
}

/// What is wrong with the file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("not a regular file ({0})")]
    NotRegular(&'static str),
    #[error("{size} bytes is over the limit of {limit} bytes ({})", human(*limit))]
    TooLarge { size: u64, limit: u64 },
    #[error("not UTF-8 text")]
    NotText,
    #[error("{0}")]
    Io(std::io::Error),
}

impl InputError {
    /// True when the path does not exist (callers that treat a missing file as "nothing yet" check this).
    pub fn is_not_found(&self) -> bool {
        matches!(&self.problem, Problem::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

fn advice(problem: &Problem, expected: &Expected) -> String {
    match problem {
        Problem::TooLarge { .. } => format!(
            "give the path of {} of at most {}",
            expected.what,
            human(expected.limit)
        ),
        Problem::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            format!(
                "check its permissions (or run as root); it should be {}",
                expected.what
            )
        }
        Problem::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("check the path; give the path of {}", expected.what)
        }
        _ => format!("give the path of {}", expected.what),
    }
}

fn human(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

fn kind(m: &Metadata) -> Option<&'static str> {
    let t = m.file_type();
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    })
}

/// Opens `path` for reading once it is known to be a regular file no larger than `expected.limit`.
///
/// The type is checked on the path before opening (opening a FIFO would block) and again on the open file
/// (the path may have been swapped in between). Returns the file and its size at open time; read it through
/// [`Read::take`] with the limit + 1 (as [`read`] does) or hash it as a stream, never to its end unbounded.
pub fn open(path: &Path, expected: Expected) -> Result<(File, u64), InputError> {
    let fail = |problem| InputError {
        path: path.to_path_buf(),
        problem,
        expected,
    };
    let check = |m: &Metadata| {
        if let Some(k) = kind(m) {
            return Err(fail(Problem::NotRegular(k)));
        }
        if m.len() > expected.limit {
            return Err(fail(Problem::TooLarge {
                size: m.len(),
                limit: expected.limit,
            }));
        }
        Ok(m.len())
    };
    check(&std::fs::metadata(path).map_err(|e| fail(Problem::Io(e)))?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| fail(Problem::Io(e)))?;
    let size = check(&file.metadata().map_err(|e| fail(Problem::Io(e)))?)?;
    Ok((file, size))
}

/// The bytes of the regular file at `path`, at most `expected.limit` of them (a file that grows past the
/// limit while it is read is refused, not read on).
pub fn read(path: &Path, expected: Expected) -> Result<Vec<u8>, InputError> {
    let (file, size) = open(path, expected)?;
    read_opened(&file, size, path, expected)
}

/// The bytes of `file` (opened from `path` by the caller, `size` bytes at open time), at most
/// `expected.limit` of them: for callers that must open a file their own way (the state file is opened
/// without following symlinks and judged by its owner before it is read).
pub fn read_opened(
    file: &File,
    size: u64,
    path: &Path,
    expected: Expected,
) -> Result<Vec<u8>, InputError> {
    if size > expected.limit {
        return Err(InputError {
            path: path.to_path_buf(),
            problem: Problem::TooLarge {
                size,
                limit: expected.limit,
            },
            expected,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(expected.limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| InputError {
            path: path.to_path_buf(),
            problem: Problem::Io(e),
            expected,
        })?;
    if bytes.len() as u64 > expected.limit {
        return Err(InputError {
            path: path.to_path_buf(),
            problem: Problem::TooLarge {
                size: bytes.len() as u64,
                limit: expected.limit,
            },
            expected,
        });
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path, expected: Expected) -> Result<String, InputError> {
    String::from_utf8(read(path, expected)?).map_err(|_| InputError {
        path: path.to_path_buf(),
        problem: Problem::NotText,
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: Expected = Expected::text("a YAML file");

    #[test]
    fn refuses_devices_directories_and_fifos_by_kind() {
        let e = read(Path::new("/dev/zero"), YAML).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: not a regular file (a character device); give the path of a YAML file"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), YAML).unwrap_err();
        assert!(e.to_string().contains("(a directory)"), "{e}");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Would block forever if it were opened before the check.
        let e = read(&fifo, YAML).unwrap_err();
        assert!(e.to_string().contains("(a FIFO)"), "{e}");
    }

    #[test]
    fn refuses_oversized_files_without_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        File::create(&big).unwrap().set_len(1 << 40).unwrap();
        let e = read(&big, YAML).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: 1099511627776 bytes is over the limit of 16777216 bytes (16 MiB); give the path of a YAML file of at most 16 MiB",
                big.display()
            )
        );
    }

    #[test]
    fn reads_at_most_the_limit_from_files_that_report_no_size() {
        // /proc files say 0 bytes and then give more: the read itself is bounded.
        let small = Expected {
            what: "a small file",
            limit: 16,
        };
        let e = read(Path::new("/proc/self/maps"), small).unwrap_err();
        assert!(
            matches!(e.problem, Problem::TooLarge { size: 17, .. }),
            "{e}"
        );
        assert!(read(Path::new("/proc/self/maps"), YAML).is_ok());
    }

    #[test]
    fn missing_files_say_so() {
        let e = read(Path::new("/nonexistent/p.yaml"), YAML).unwrap_err();
        assert!(e.is_not_found());
        assert!(e.to_string().contains("check the path"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin.yaml");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_text(&p, YAML)
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
        std::fs::write(&p, "a: 1\n").unwrap();
        assert_eq!(read_text(&p, YAML).unwrap(), "a: 1\n");
    }
}
