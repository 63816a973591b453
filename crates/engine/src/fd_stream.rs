//! Asynchronous reads and writes on a pipe end or pty master, in the event loop (no thread
//! per stream).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A non-blocking descriptor registered with the event loop.
#[derive(Debug)]
pub(crate) struct FdStream(AsyncFd<OwnedFd>);

impl FdStream {
    /// Takes `fd` (a pipe end or pty master, whose file description is ours alone) and makes it
    /// non-blocking.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
        rustix::io::ioctl_fionbio(&fd, true)?;
        // An `OwnedFd` keeps its descriptor for as long as the `AsyncFd` holds it: the
        // contract tokio's deprecated safe constructor leaves to the caller (see state.rs).
        #[allow(deprecated)]
        let registered = AsyncFd::with_interest(fd, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Self(registered))
    }

    /// Reads what is there, waiting for something; `Ok(0)` at the end. A pty master whose
    /// slave side is closed (the process is gone) reports `EIO`: that is the end too.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.0.readable().await?;
            match ready.try_io(|fd| rustix::io::read(fd, &mut *buf).map_err(io::Error::from)) {
                Ok(Err(e)) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => return Ok(0),
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes all of `buf`.
    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let mut ready = self.0.writable().await?;
            match ready.try_io(|fd| rustix::io::write(fd, buf).map_err(io::Error::from)) {
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(n)) => buf = &buf[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}

impl AsFd for FdStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}
