//! Reading and writing sysctls under a root directory.
//!
//! Production uses `/`, tests a fixture tree; both go through the same code. The `sysctl` crate is not used
//! because it hard-codes `/proc/sys` and maps every open error to NotFound, losing the errno that tells an
//! operator whether to run as root (EACCES) or pick another value (EINVAL).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A sysctl name in dotted form, such as `net.ipv4.tcp_rmem`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    /// Accepts dotted (`net.core.somaxconn`) or slashed (`net/core/somaxconn`) names.
    pub fn parse(name: &str) -> Result<Key, SysctlError> {
        let name = name.trim();
        let valid = !name.is_empty()
            && !name.starts_with(['.', '/'])
            && !name.ends_with(['.', '/'])
            && !name.contains("..")
            && name.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@')
            });
        if !valid {
            return Err(SysctlError::BadKey(name.to_string()));
        }
        let key = if name.contains('/') && !name.contains('.') {
            Key(name.replace('/', "."))
        } else {
            Key(name.to_string())
        };
        // Every component must name an entry below /proc/sys: `a.//.b` would be `a/../b`. Names come from
        // state files too, so this is what keeps a write inside /proc/sys.
        let escapes = key
            .components()
            .any(|c| c.is_empty() || c == "." || c == "..");
        if escapes {
            return Err(SysctlError::BadKey(name.to_string()));
        }
        Ok(key)
    }

    /// The path components under `/proc/sys`.
    fn components(&self) -> impl Iterator<Item = String> + '_ {
        self.0.split('.').map(|part| part.replace('/', "."))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file under `/proc/sys`. A `/` in the dotted form stands for a `.` inside a component
    /// (an interface name such as `eth0.100`), as in sysctl(8).
    pub fn relative_path(&self) -> PathBuf {
        self.components().collect()
    }
}

impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Deserialising validates the name, so a bad key in a profile or state file is an error at its location.
impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Key::parse(&name).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collapses runs of whitespace (the kernel prints multi-field values tab-separated) to single spaces.
pub fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why a sysctl could not be read or written, keeping the errno's meaning.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("`{0}` is not a valid sysctl name (expected dotted form such as net.core.somaxconn)")]
    BadKey(String),
    #[error("{key}: permission denied writing {path}: run as root (if you are root, the key is read-only here)")]
    PermissionDenied { key: Key, path: PathBuf },
    #[error("{key}: the kernel rejected the value {value:?} (EINVAL): check the range in the kernel's sysctl documentation")]
    Rejected { key: Key, value: String },
    #[error("{key}: {op} {path} failed: {source}")]
    Io {
        key: Key,
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// The sysctls under one root: `/` on a live host, a fixture tree in tests.
#[derive(Debug, Clone)]
pub struct SysctlTree {
    proc_sys: PathBuf,
}

impl SysctlTree {
    /// Sysctls under `root/proc/sys`.
    pub fn new(root: impl AsRef<Path>) -> SysctlTree {
        SysctlTree {
            proc_sys: root.as_ref().join("proc/sys"),
        }
    }

    pub fn path(&self, key: &Key) -> PathBuf {
        self.proc_sys.join(key.relative_path())
    }

    /// The current value, whitespace-normalised; `Ok(None)` when this kernel (or namespace) has no such key.
    pub fn read(&self, key: &Key) -> Result<Option<String>, SysctlError> {
        Ok(self.read_file(key)?.map(|s| normalise(&s)))
    }

    /// The value exactly as the file holds it, without the trailing newline: what a restore writes back.
    pub fn read_raw(&self, key: &Key) -> Result<Option<String>, SysctlError> {
        Ok(self
            .read_file(key)?
            .map(|s| s.strip_suffix('\n').unwrap_or(&s).to_string()))
    }

    /// The key's file, through [`read_value`].
    fn read_file(&self, key: &Key) -> Result<Option<String>, SysctlError> {
        let path = self.path(key);
        read_value(&path, "a sysctl file (a regular file under ROOT/proc/sys)").map_err(|e| {
            SysctlError::Io {
                key: key.clone(),
                op: "reading",
                path,
                source: match e.problem {
                    crate::input::Problem::Io(io) => io,
                    _ => io::Error::other(e.to_string()),
                },
            }
        })
    }

    /// The permission bits of the key's file (`None` when it cannot be stat'ed): inside a non-initial network
    /// namespace the kernel shows some keys (`net.core.rmem_max`, ...) as 0444, and refuses writes even by root.
    pub fn mode(&self, key: &Key) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(self.path(key))
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }

    /// Whether this kernel (or namespace) has the key at all.
    pub fn exists(&self, key: &Key) -> bool {
        self.path(key).exists()
    }

    /// Whether `root/proc/sys` is there at all: a `--root` without it is not a host tree, and every key
    /// would otherwise read as missing.
    pub fn is_present(&self) -> bool {
        self.proc_sys.is_dir()
    }

    /// The existing key that `key`, which this kernel lacks, most likely meant: each component that does not
    /// exist is replaced by its closest sibling (`net.core.somaxcon` → `net.core.somaxconn`,
    /// `net.ipv4.tpc_rmem` → `net.ipv4.tcp_rmem`). `None` when no close enough name exists.
    pub fn suggest(&self, key: &Key) -> Option<Key> {
        let mut dir = self.proc_sys.clone();
        let mut parts: Vec<String> = Vec::new();
        let mut replaced = false;
        for part in key.components() {
            let mut next = dir.join(&part);
            let mut name = part.clone();
            if !next.exists() {
                // A directory listing of /proc/sys is small (hundreds of entries at most); read it once.
                let siblings: Vec<String> = std::fs::read_dir(&dir)
                    .ok()?
                    .take(4096)
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect();
                name = pincore_cli::suggest::closest(&part, siblings.iter().map(String::as_str))?
                    .to_string();
                next = dir.join(&name);
                replaced = true;
            }
            parts.push(name.replace('.', "/"));
            dir = next;
        }
        (replaced && dir.is_file()).then(|| Key(parts.join(".")))
    }

    /// Writes `value` as the kernel expects it (one write of the whole value).
    pub fn write(&self, key: &Key, value: &str) -> Result<(), SysctlError> {
        let path = self.path(key);
        write_value(&path, value).map_err(|e| match e.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => SysctlError::PermissionDenied {
                key: key.clone(),
                path,
            },
            Some(libc::EINVAL) => SysctlError::Rejected {
                key: key.clone(),
                value: value.to_string(),
            },
            _ => SysctlError::Io {
                key: key.clone(),
                op: "writing",
                path,
                source: e,
            },
        })
    }
}

/// Reads a kernel value file — a sysctl, an IRQ's `smp_affinity_list`, a queue's `rps_cpus` — as the file
/// holds it; `Ok(None)` when it does not exist. The one way the tuner reads a setting: through
/// [`crate::input`], so under `--root` a fixture tree's FIFO, device or symlink to /dev/zero is refused
/// instead of hanging the tuner, and the read stops at 1 MiB (no kernel value comes near it). `what` names
/// the kind of file in errors.
pub fn read_value(
    path: &Path,
    what: &'static str,
) -> Result<Option<String>, crate::input::InputError> {
    let expected = crate::input::Expected {
        what,
        limit: 1 << 20,
    };
    match crate::input::read_text(path, expected) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `value` and a newline to a kernel value file in one write, as the kernel expects. The file is
/// opened without `O_CREAT`: a setting the kernel does not have must not appear in a fixture tree either.
/// The error keeps its errno, which tells the caller's user what to do (EACCES: root; EINVAL: the value).
pub fn write_value(path: &Path, value: &str) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| io::Write::write_all(&mut f, format!("{value}\n").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_and_slashed_names_map_to_the_same_file() {
        let a = Key::parse("net.ipv4.tcp_rmem").unwrap();
        let b = Key::parse("net/ipv4/tcp_rmem").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.relative_path(), PathBuf::from("net/ipv4/tcp_rmem"));
    }

    #[test]
    fn a_slash_in_dotted_form_is_a_dot_in_the_path() {
        let k = Key::parse("net.ipv4.conf.eth0/100.rp_filter").unwrap();
        assert_eq!(
            k.relative_path(),
            PathBuf::from("net/ipv4/conf/eth0.100/rp_filter")
        );
    }

    #[test]
    fn bad_names_are_rejected() {
        for bad in [
            "",
            ".net.core",
            "net..core",
            "net.core.",
            "net core",
            "../etc/passwd",
            "net//core",
            "kernel.//.//.//etc/shadow",
            "net./.core",
            "a.//",
        ] {
            assert!(Key::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn read_normalises_tabs_and_missing_keys_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let tree = SysctlTree::new(dir.path());
        let key = Key::parse("net.ipv4.tcp_rmem").unwrap();
        std::fs::create_dir_all(tree.path(&key).parent().unwrap()).unwrap();
        std::fs::write(tree.path(&key), "4096\t131072\t6291456\n").unwrap();
        assert_eq!(
            tree.read(&key).unwrap().as_deref(),
            Some("4096 131072 6291456")
        );
        assert_eq!(
            tree.read(&Key::parse("net.core.nope").unwrap()).unwrap(),
            None
        );
    }

    #[test]
    fn value_files_are_read_checked_and_written_without_creating() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rps_cpus");
        assert_eq!(read_value(&file, "a queue file").unwrap(), None);
        assert!(write_value(&file, "f").is_err());
        assert!(!file.exists());
        std::fs::write(&file, "0\n").unwrap();
        write_value(&file, "f").unwrap();
        assert_eq!(
            read_value(&file, "a queue file").unwrap().as_deref(),
            Some("f\n")
        );
        let e = read_value(dir.path(), "a queue file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn write_does_not_create_keys_the_kernel_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let tree = SysctlTree::new(dir.path());
        let key = Key::parse("net.core.somaxconn").unwrap();
        assert!(tree.write(&key, "1024").is_err());
        assert!(!tree.path(&key).exists());
    }
}
