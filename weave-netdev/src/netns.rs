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
use std::os::unix::fs::MetadataExt;
use std::path::Path;

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

    fn open(path: &Path, label: String) -> Result<Netns, NetdevError> {
        let op = || format!("network namespace {label}");
        let file = File::open(path).map_err(|e| NetdevError::new(op(), e))?;
        // Refuse ordinary files early: setns would only fail later, far from the cause.
        // SAFETY: NS_GET_NSTYPE takes no argument and only returns a value; `file` is open.
        let kind = unsafe { libc::ioctl(file.as_raw_fd(), libc::NS_GET_NSTYPE) };
        if kind != libc::CLONE_NEWNET {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "not a network namespace");
            return Err(NetdevError::new(op(), e));
        }
        let inode = file.metadata().map_err(|e| NetdevError::new(op(), e))?.ino();
        Ok(Netns { fd: file.into(), label, inode })
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
                    // SAFETY: setns(2) takes no pointers; `fd` stays open (the scope borrows
                    // `self`), and only this new thread, which ends here, changes namespace.
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
