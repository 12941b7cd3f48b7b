//! A TCP proxy the test controls, between a client and a server: it can
//! cut every connection through it (as a network blink or a NAT timeout
//! would), refuse new ones for a while (the network still down), lose
//! what goes one way (what a dying link loses before the cut), and reword
//! everything the server says (as a server with other sentences would).

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

/// How a rewording proxy changes each line the server sends.
type Reword = fn(&[u8]) -> Vec<u8>;

impl Proxy {
    pub fn to(target: SocketAddr) -> Proxy {
        Proxy::start(target, None)
    }

    /// A proxy that rewords every notice and error the server sends (see
    /// [`reword`]); tags, and every other line, pass as they are.
    pub fn rewording(target: SocketAddr) -> Proxy {
        Proxy::start(target, Some(reword))
    }

    fn start(target: SocketAddr, rewording: Option<Reword>) -> Proxy {
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
                match rewording {
                    Some(reword) => pump_lines(server, c2, reword),
                    None => pump(server, c2, down.clone()),
                }
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

/// The words a rewording proxy puts around every notice and error.
pub const REWORDED: &str = "(reworded)";

/// `Server: TEXT` becomes `Server: (reworded) TEXT (reworded)`, after
/// the tags if the line has some: no sentence (nor `Error:`) is where a
/// client that reads words would look for it.
pub fn reword(line: &[u8]) -> Vec<u8> {
    let at = match line.first() {
        Some(b'~') => line
            .iter()
            .position(|&b| b == b' ')
            .map_or(line.len(), |i| i + 1),
        _ => 0,
    };
    let (tags, text) = line.split_at(at);
    let Some(said) = text.strip_prefix(b"Server: ") else {
        return line.to_vec();
    };
    let said = said.strip_suffix(b"\r").unwrap_or(said);
    let mut out = tags.to_vec();
    out.extend_from_slice(format!("Server: {REWORDED} ").as_bytes());
    out.extend_from_slice(said);
    out.extend_from_slice(format!(" {REWORDED}").as_bytes());
    out
}

/// Like [`pump`], line by line, each line passed through `reword`.
fn pump_lines(from: TcpStream, mut to: TcpStream, reword: Reword) {
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(&from);
        let mut line = Vec::new();
        while let Ok(1..) = std::io::BufRead::read_until(&mut lines, b'\n', &mut line) {
            let ended = line.last() == Some(&b'\n');
            if ended {
                line.pop();
            }
            let mut out = reword(&line);
            if ended {
                out.push(b'\n');
            }
            if to.write_all(&out).is_err() {
                break;
            }
            line.clear();
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
