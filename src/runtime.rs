//! Every name this crate takes from async-std lives here. async-std is
//! discontinued upstream (RUSTSEC-2025-0052, unmaintained, no known
//! vulnerability) but it is the product owner's choice; keeping the
//! runtime behind this one module means a move to `smol` (or tokio) edits
//! this file, not the server and the client.

pub use async_std::future::timeout;
pub use async_std::io::{ReadExt, WriteExt};
pub use async_std::net::{TcpListener, TcpStream};
pub use async_std::task::{block_on, sleep, spawn, spawn_blocking};

/// Starts async-std's executor with `threads` threads. Only before the
/// first task: once the executor runs, this changes nothing.
pub fn start_with_threads(threads: usize) {
    let config = async_global_executor::GlobalExecutorConfig::default()
        .with_min_threads(threads)
        .with_max_threads(threads)
        .with_thread_name_fn(|| "async-std/runtime".to_string());
    async_global_executor::init_with_config(config);
}

/// A timer that can be moved to a new deadline. async-std has none of its
/// own; this is the one from async-io, the reactor async-std runs on.
pub use async_io::Timer;

/// Sets TCP keepalive on a stream. async-std's `TcpStream` has no `AsFd`,
/// so socket2 is handed the raw descriptor for the length of this call.
pub fn set_keepalive(stream: &TcpStream, keepalive: &socket2::TcpKeepalive) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the descriptor belongs to `stream`, which is borrowed for the
    // whole of this call, so it stays open while `fd` is used.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    socket2::SockRef::from(&fd).set_tcp_keepalive(keepalive)
}

/// Caps the kernel's send buffer of `stream` (SO_SNDBUF) at `bytes` (the
/// kernel doubles it for its own bookkeeping).
pub fn set_send_buffer(stream: &TcpStream, bytes: usize) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: as in `set_keepalive`: `stream` is borrowed for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    socket2::SockRef::from(&fd).set_send_buffer_size(bytes)
}

/// Bytes the kernel holds for `stream` that the peer has not acknowledged
/// (SIOCOUTQ); 0 where that cannot be asked.
pub fn unsent_in_kernel(stream: &TcpStream) -> usize {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut unsent: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ for a socket) writes one c_int to the
        // pointer given, which points to a live local; the descriptor is
        // `stream`'s, borrowed for the call. A failure leaves 0.
        let ok = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut unsent) } == 0;
        if ok {
            return usize::try_from(unsent).unwrap_or(0);
        }
    }
    // Elsewhere the stream is not asked: it is used only on Linux.
    let _ = stream;
    0
}

/// A TCP stream whose `close` also ends our direction of the connection
/// (sends FIN). async-std's own `close` only flushes, so a peer waiting for
/// our end would wait for a timeout instead. Under TLS it goes beneath the
/// session, so closing that sends close_notify and then FIN.
#[derive(Debug, Clone)]
pub struct FinOnClose(pub TcpStream);

impl futures::AsyncRead for FinOnClose {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl futures::AsyncWrite for FinOnClose {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        futures::ready!(std::pin::Pin::new(&mut self.0).poll_flush(cx))?;
        std::task::Poll::Ready(self.0.shutdown(std::net::Shutdown::Write))
    }
}
