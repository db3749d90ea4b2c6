//! Opening a requested file beneath the root directory with `openat2(2)`, so that nothing outside the
//! root, and no symlink, is ever opened whatever the path says.
//!
//! The root is a directory descriptor (`O_PATH`) opened at start and on each reload. Every lookup is
//! `openat2(root, path, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`; the shard first
//! tries it with `RESOLVE_CACHED`, which succeeds only when every path component is in the kernel's
//! dentry cache and so never waits for a disk (a few microseconds, see README). A lookup that would have to
//! read the disk fails with `EAGAIN` and is done again on the blocking pool.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::representation::Meta;

/// The served directory, held open.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

impl AsRawFd for Root {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Root {
    /// Opens `path` as the root (it must be a directory).
    pub fn open(path: &Path) -> io::Result<Root> {
        let name = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `name` is a valid NUL-terminated string; the result is checked.
        let fd = unsafe {
            libc::open(
                name.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Root {
            // SAFETY: `fd` was just opened and is owned by nothing else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }
}

/// A file opened for a request.
pub struct Opened {
    pub file: File,
    pub meta: Meta,
    /// The directory's index file was opened (its name, not the path's, gives the type).
    pub is_index: bool,
}

/// Why nothing was opened.
#[derive(Debug)]
pub enum Missed {
    /// Not there, not a regular file, or a directory without the index file: 404.
    NotFound,
    /// A symlink on the way (`ELOOP`): 403.
    Symlink,
    /// The lookup would leave the root (`EXDEV`) or permissions forbid it: 403.
    Forbidden,
    /// The dentry cache did not hold every component: try again off the shard.
    NotCached,
    /// Anything else (`EMFILE`, `EIO`): 500.
    Failed(io::Error),
}

/// Opens `path` (relative, as `target::resolve` makes it; empty for the root itself) beneath `root`; a
/// directory gives its `index` file instead (`None`: directories are not served). With `cached`, the
/// lookups must be answered from the dentry cache.
pub fn open(root: &Root, path: &[u8], index: Option<&str>, cached: bool) -> Result<Opened, Missed> {
    let path = if path.is_empty() { b"." } else { path };
    let file = open_beneath(root.fd.as_raw_fd(), path, cached)?;
    let metadata = file.metadata().map_err(Missed::Failed)?;
    let is_index = metadata.is_dir();
    let (file, metadata) = if is_index {
        let index = index.ok_or(Missed::NotFound)?;
        let file = open_beneath(file.as_raw_fd(), index.as_bytes(), cached)?;
        let metadata = file.metadata().map_err(Missed::Failed)?;
        (file, metadata)
    } else {
        (file, metadata)
    };
    if !metadata.is_file() {
        return Err(Missed::NotFound);
    }
    let meta = Meta {
        size: metadata.len(),
        dev: metadata.dev(),
        ino: metadata.ino(),
        mtime: metadata.mtime(),
        mtime_nsec: metadata.mtime_nsec(),
        ctime: metadata.ctime(),
        ctime_nsec: metadata.ctime_nsec(),
        mode: metadata.mode(),
    };
    Ok(Opened {
        file,
        meta,
        is_index,
    })
}

fn open_beneath(dir: RawFd, path: &[u8], cached: bool) -> Result<File, Missed> {
    let name = CString::new(path).map_err(|_| Missed::NotFound)?;
    // SAFETY: `open_how` is plain data; all-zero is its documented "no flags" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    // O_NONBLOCK: opening a FIFO someone left in the root must not wait for a writer (it is then refused
    // as not a regular file); it has no effect on regular files.
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    if cached {
        how.resolve |= libc::RESOLVE_CACHED;
    }
    // SAFETY: the pointers are valid for the call; the size is that of the struct passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => Missed::NotFound,
            Some(libc::ELOOP) => Missed::Symlink,
            Some(libc::EXDEV | libc::EACCES | libc::EPERM) => Missed::Forbidden,
            // EINVAL: a kernel before 5.12 knows no RESOLVE_CACHED; every lookup then goes off the shard.
            Some(libc::EAGAIN | libc::EINVAL) if cached => Missed::NotCached,
            _ => Missed::Failed(error),
        });
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { File::from_raw_fd(fd as RawFd) })
}
