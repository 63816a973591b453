//! Terminals of container processes: the OCI runtime makes the pty inside the container and
//! hands us its master over a unix socket (`--console-socket`, one `SCM_RIGHTS` message).
//!
//! The slave end only ever exists in the container; the master is the caller's to read the
//! process's output from, write its input to, and resize.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use crate::error::{Error, Result};

/// A listening console socket at a path the runtime connects to. Removed on drop.
#[derive(Debug)]
pub(crate) struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Listens at `path` (at most ~100 bytes: a unix socket path limit).
    pub(crate) fn bind(path: PathBuf) -> Result<Self> {
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(Error::io("bind console socket", &path))?;
        Ok(Self { path, listener })
    }

    /// Where the runtime is to connect (`--console-socket`).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `command` (the runtime call given [`Self::path`]) and receives the pty master it
    /// sends meanwhile. The runtime sends the master before it returns; once it has, a
    /// connection of our own wakes the receiver, so that a runtime that failed (or sent
    /// nothing) never leaves it waiting: it then finds our empty message first.
    pub(crate) fn receive_during<T>(self, command: impl FnOnce() -> Result<T>) -> Result<(T, OwnedFd)> {
        let listener = self.listener.try_clone().map_err(Error::io("clone console socket", &self.path))?;
        let receiver = std::thread::spawn(move || receive_master(&listener));
        let out = command();
        // The wake-up connection: queued behind the runtime's, if it connected.
        let wake = UnixStream::connect(&self.path);
        let master = receiver.join().unwrap_or_else(|_| Err(std::io::Error::other("console receiver panicked")));
        drop(wake);
        let out = out?;
        let master = master.map_err(Error::io("receive the pty master from", &self.path))?;
        Ok((out, master))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Accepts one connection and takes the descriptor it carries.
fn receive_master(listener: &UnixListener) -> std::io::Result<OwnedFd> {
    let (stream, _) = listener.accept()?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    // runc and crun send a short name ("console", the pty path) beside the descriptor.
    let mut name = [0u8; 4096];
    recvmsg(stream.as_fd(), &mut [IoSliceMut::new(&mut name)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
    let received = control.drain().find_map(|message| match message {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    });
    received.ok_or_else(|| std::io::Error::other("the OCI runtime sent no pty master"))
}

/// Sets the window size of the terminal whose master is `master` (the process gets SIGWINCH).
pub fn resize_terminal(master: impl AsFd, rows: u16, columns: u16) -> Result<()> {
    let size = rustix::termios::Winsize { ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(master, size)
        .map_err(|e| Error::Syscall { op: "TIOCSWINSZ", source: nix::errno::Errno::from_raw(e.raw_os_error()) })
}
