//! Network namespaces: open handles, and running code inside one.
//!
//! `setns(2)` switches only the calling thread, so [`Netns::run`] does it on a fresh, short-lived
//! thread and never touches the caller's. Anything opened on that thread (netlink or packet
//! sockets, /dev/net/tun, /proc/sys files) stays bound to the namespace and can be used from
//! any thread afterwards.

use crate::netlink::NetdevError;
use std::any::Any;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// `statfs.f_type` of nsfs, the filesystem of namespace files.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The filesystem type of an open file (an O_PATH descriptor will do).
fn fs_magic(file: &File) -> io::Result<i64> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `st` is a writable statfs of the right size; fstatfs fills it or fails, and
    // `file` is an open descriptor for the duration of the call.
    if unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatfs succeeded, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    // `f_type` is narrower on some targets.
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64)
}

/// Where `ip netns add NAME` mounts its namespaces.
const NAMED_DIR: &str = "/var/run/netns";

/// An open network namespace: an `nsfs` file descriptor that keeps the namespace alive.
pub struct Netns {
    fd: OwnedFd,
    label: String,
    inode: u64,
}

impl Netns {
    /// The namespace of the calling thread.
    pub fn current() -> Result<Netns, NetdevError> {
        Netns::open(Path::new("/proc/thread-self/ns/net"), "current".into())
    }

    /// A namespace created with `ip netns add NAME` (/var/run/netns/NAME).
    pub fn named(name: &str) -> Result<Netns, NetdevError> {
        let label = format!("netns:{name}");
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "invalid namespace name");
            return Err(NetdevError::new(format!("network namespace {label}"), e));
        }
        Netns::open(&Path::new(NAMED_DIR).join(name), label)
    }

    /// A namespace file anywhere (a bind mount, or /proc/PID/ns/net).
    pub fn path(path: impl AsRef<Path>) -> Result<Netns, NetdevError> {
        let path = path.as_ref();
        Netns::open(path, path.display().to_string())
    }

    /// The namespace of process `pid` (/proc/PID/ns/net).
    pub fn pid(pid: u32) -> Result<Netns, NetdevError> {
        Netns::open(Path::new(&format!("/proc/{pid}/ns/net")), format!("pid:{pid}"))
    }

    /// Opens `path` without following it into anything that could block or act on open: with
    /// O_PATH (a FIFO would otherwise wait for a writer, a device would be opened), checks that
    /// it is a file of the namespace filesystem, and only then opens it for `setns`, refusing
    /// namespaces of other kinds. A file that is not a network namespace fails with
    /// [`io::ErrorKind::InvalidInput`] (see [`NetdevError::is_not_a_namespace`]).
    fn open(path: &Path, label: String) -> Result<Netns, NetdevError> {
        let op = || format!("network namespace {label}");
        let not_ns = |what: String| NetdevError::new(op(), io::Error::new(io::ErrorKind::InvalidInput, what));
        let handle = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| NetdevError::new(op(), e))?;
        let meta = handle.metadata().map_err(|e| NetdevError::new(op(), e))?;
        let ft = meta.file_type();
        let kind = if ft.is_fifo() {
            Some("a FIFO")
        } else if ft.is_char_device() {
            Some("a character device")
        } else if ft.is_block_device() {
            Some("a block device")
        } else if ft.is_socket() {
            Some("a socket")
        } else if ft.is_dir() {
            Some("a directory")
        } else {
            None
        };
        if let Some(kind) = kind {
            return Err(not_ns(format!("it is {kind}, not a network namespace")));
        }
        if fs_magic(&handle).map_err(|e| NetdevError::new(op(), e))? != NSFS_MAGIC {
            return Err(not_ns("it is an ordinary file, not a network namespace".into()));
        }
        // A file of nsfs: opening it for reading has no side effects.
        let reopen = format!("/proc/self/fd/{}", handle.as_raw_fd());
        let file = File::open(&reopen).map_err(|e| NetdevError::new(op(), e))?;
        // SAFETY: NS_GET_NSTYPE takes no argument and only reads the namespace type of the
        // open descriptor `file`, which lives until the end of this function.
        let ns_type = unsafe { libc::ioctl(file.as_raw_fd(), libc::NS_GET_NSTYPE) };
        if ns_type != libc::CLONE_NEWNET {
            return Err(not_ns("it is a namespace of another kind, not a network namespace".into()));
        }
        Ok(Netns { fd: file.into(), label, inode: meta.ino() })
    }

    /// The namespace's inode number: two handles refer to the same namespace when equal.
    pub fn inode(&self) -> u64 {
        self.inode
    }

    /// How errors name this namespace ("netns:foo", "pid:42", a path, or "current").
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs `f` on a new thread that has joined this namespace and returns its result.
    /// A panic in `f` comes back as an error instead of unwinding into the caller.
    pub fn run<F, R>(&self, f: F) -> Result<R, NetdevError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let op = || format!("run in network namespace {}", self.label);
        let fd = self.fd.as_raw_fd();
        std::thread::scope(|s| {
            let thread = std::thread::Builder::new()
                .name("netns".into())
                .spawn_scoped(s, move || {
                    // SAFETY: `fd` is the namespace descriptor owned by `self`, which outlives
                    // this scoped thread; setns changes only this (new) thread's namespace.
                    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(f())
                })
                .map_err(|e| NetdevError::new(op(), e))?;
            match thread.join() {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(e)) => Err(NetdevError::new(op(), e)),
                Err(panic) => Err(NetdevError::new(op(), io::Error::other(panic_message(panic)))),
            }
        })
    }
}

fn panic_message(panic: Box<dyn Any + Send>) -> String {
    let msg = match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "non-string payload".into(),
    };
    format!("panicked: {msg}")
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Netns({}, inode {})", self.label, self.inode)
    }
}
