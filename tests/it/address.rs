//! A port written into `--host` (`127.0.0.1:3000`), end to end: `join`
//! connects there when `--port` is not given, `serve` takes it alongside
//! the same `--port`, and a contradicting `--port` is refused in one line.
//! (That a port not given is not taken for given is `cli`'s unit test.)

use crate::support::{finish_blocking, sockchat, Finished, Nc, Serve};

/// Runs `sockchat ARGS…` with `stdin` piped in, to the end.
fn run_to_end(args: &[&str], stdin: &str) -> Finished {
    finish_blocking(sockchat(args), stdin)
}

#[test]
fn serve_and_join_take_the_port_written_into_the_host() {
    // `serve` gets the port twice (the helper adds `--port 0`): the same
    // port twice is no contradiction. `join` below gets it only in --host.
    let server = Serve::new().at("127.0.0.1:0", 0).start();
    let addr = server.addr;
    assert_ne!(addr.port(), 0, "port 0 asks for a free port");
    let mut watcher = Nc::login(addr, "Watcher");

    let host = format!("127.0.0.1:{}", addr.port());
    let joined = run_to_end(&["join", "--host", &host, "--name", "Max"], "hello\n");
    assert_eq!(joined.status.code(), Some(0), "{}", joined.stderr);
    assert!(
        joined.stdout.contains(&format!("Connected to: {host}")),
        "{}",
        joined.stdout
    );
    watcher.expect_line("Server: Max joined the party!");
    watcher.expect_line("Max: hello");
}

#[test]
fn a_port_in_the_host_and_a_different_port_flag_are_refused() {
    let refused = run_to_end(&["join", "--host", "[::1]:4000", "--port", "4001"], "");
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert_eq!(
        refused.stderr,
        "sockchat: --host [::1]:4000 names port 4000 but --port (or SOCKCHAT_PORT) says 4001: \
         give the port once, as --host [::1] --port 4000\n"
    );
}
