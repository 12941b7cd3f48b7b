//! A TCP proxy the test controls, between a client and a server: it can
//! cut every connection through it (as a network blink or a NAT timeout
//! would), refuse new ones for a while (the network still down), and lose
//! what goes one way (what a dying link loses before the cut).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A proxy on 127.0.0.1, any free port, to `target`; stopped when dropped.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Both ends of every connection made through it, to cut them.
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// New connections are closed at once while set.
    refusing: Arc<AtomicBool>,
    /// What the client sends is thrown away while set.
    losing_up: Arc<AtomicBool>,
    /// What the server sends is thrown away while set.
    losing_down: Arc<AtomicBool>,
    /// The accept loop ends once set (and woken).
    stopped: Arc<AtomicBool>,
}

impl Proxy {
    pub fn to(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let open = Arc::new(Mutex::new(Vec::new()));
        let refusing = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let losing_up = Arc::new(AtomicBool::new(false));
        let losing_down = Arc::new(AtomicBool::new(false));
        let (held, refuse, stop) = (open.clone(), refusing.clone(), stopped.clone());
        let (up, down) = (losing_up.clone(), losing_down.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if refuse.load(Ordering::SeqCst) {
                    // Closed at once: the client sees its connection end.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let (Ok(c3), Ok(s3)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                held.lock().expect("the proxy's list").extend([c3, s3]);
                pump(client, s2, up.clone());
                pump(server, c2, down.clone());
            }
        });
        Proxy {
            addr,
            open,
            refusing,
            losing_up,
            losing_down,
            stopped,
        }
    }

    /// While `lose`, what clients send is read and thrown away.
    pub fn lose_up(&self, lose: bool) {
        self.losing_up.store(lose, Ordering::SeqCst);
    }

    /// While `lose`, what the server sends is read and thrown away.
    pub fn lose_down(&self, lose: bool) {
        self.losing_down.store(lose, Ordering::SeqCst);
    }

    /// Cuts every connection through the proxy: both sides see it end.
    pub fn cut(&self) {
        for stream in self.open.lock().expect("the proxy's list").drain(..) {
            // Already closed by its peer: nothing more to cut.
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// While `refuse`, new connections are closed as soon as made.
    pub fn refuse(&self, refuse: bool) {
        self.refusing.store(refuse, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.cut();
        // Wakes the accept loop so that it sees `stopped`; it may be gone.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies `from` into `to` on a thread until either ends, then ends both;
/// while `losing`, what is read is thrown away.
fn pump(mut from: TcpStream, mut to: TcpStream, losing: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if losing.load(Ordering::SeqCst) {
                continue;
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // Either side gone: the other goes too, as through a real network.
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
