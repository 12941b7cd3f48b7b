//! Every name this crate takes from async-std lives here. async-std is
//! discontinued upstream (RUSTSEC-2025-0052, unmaintained, no known
//! vulnerability) but it is the product owner's choice; keeping the
//! runtime behind this one module means a move to `smol` (or tokio) edits
//! this file, not the server and the client.

pub use async_std::future::timeout;
pub use async_std::io::{ReadExt, WriteExt};
pub use async_std::net::{TcpListener, TcpStream};
pub use async_std::task::{block_on, sleep, spawn, spawn_blocking, JoinHandle};

/// The error `timeout` gives when time ran out.
pub use async_std::future::TimeoutError;

/// Sets TCP keepalive on a stream. async-std's `TcpStream` has no `AsFd`,
/// so socket2 is handed the raw descriptor for the length of this call.
pub fn set_keepalive(stream: &TcpStream, keepalive: &socket2::TcpKeepalive) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the descriptor belongs to `stream`, which is borrowed for the
    // whole of this call, so it stays open while `fd` is used.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    socket2::SockRef::from(&fd).set_tcp_keepalive(keepalive)
}
