//! The client reads what a line means from its tags, never from the
//! server's sentences: through a proxy that rewords every notice and
//! error (`Server: (reworded) … (reworded)`), the real client on a pty,
//! against the real server, still completes names, shows its own lines
//! as sent, follows its own rename, and resumes without a gap.

use crate::support::proxy::{Proxy, REWORDED};
use crate::support::terminal::Pty;
use crate::support::{Nc, Server};

/// `join` through `proxy` on a pty, without colours (so that a line is
/// found in the output as it reads).
fn join_via(proxy: &Proxy, name: &str) -> Pty {
    let mut pty = Pty::join(proxy.addr, &["--name", name], &[("NO_COLOR", "1")]);
    pty.screen
        .expect(&format!("You are logged in as: {name} {REWORDED}"));
    pty.screen.expect(crate::support::terminal::EDITOR_PROMPT);
    pty
}

/// A server, a rewording proxy to it, `bob` logged in directly, then
/// Max through the proxy on a pty.
fn bob_then_max(bob: &str) -> (Server, Proxy, Nc, Pty) {
    let server = Server::start();
    let proxy = Proxy::rewording(server.addr);
    let mut bob = Nc::login(server.addr, bob);
    let pty = join_via(&proxy, "Max");
    bob.expect_line("Server: Max joined the party!");
    (server, proxy, bob, pty)
}

/// How many times `needle` is in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn reworded_replies_still_complete_names_and_confirm_our_own_lines() {
    let (server, _proxy, mut bob, mut pty) = bob_then_max("Bobby");
    // A name from a join notice…
    let mut dana = Nc::login(server.addr, "Dana");
    pty.screen
        .expect(&format!("Dana joined the party! {REWORDED}"));
    pty.type_keys("da\thi\r");
    dana.expect_line("Max: Dana: hi");
    pty.screen.expect("Max: Dana: hi");
    // …from `/who` (after a leave, which took Dana off)…
    drop(dana);
    pty.screen
        .expect(&format!("Dana left the party. {REWORDED}"));
    pty.type_keys("/who\r");
    pty.screen
        .expect(&format!("Online (2): Bobby, Max {REWORDED}"));
    pty.type_keys("bo\tyo\r");
    bob.lines_until("Max: Bobby: yo");
    pty.type_keys("da\tx\r");
    bob.lines_until("Max: dax");
    // …and our own rename: told once, and our lines go on under it.
    pty.type_keys("/nick Maxi\r");
    bob.lines_until("Server: Max is now known as Maxi.");
    pty.type_keys("/msg bo\tpsst\r");
    bob.lines_until("Maxi (private): psst");
    pty.screen.expect("To Bobby (private): psst");
    // A refusal, whatever its words, marks the line not sent.
    pty.type_keys("/msg nobody x\r");
    pty.screen.expect("not sent");
    // `/limits` says the longest line we can type (our label takes the rest).
    pty.type_keys("/limits\r");
    pty.screen.expect("lines up to 4078 bytes");
    pty.type_keys("last\r");
    bob.lines_until("Maxi: last");
    pty.screen.expect("Maxi: last");
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
    let out = pty.screen.text();
    for line in ["Max: Dana: hi", "Max: Bobby: yo", "Max: dax", "Maxi: last"] {
        assert_eq!(count(&out, line), 1, "{line:?} once:\n{out}");
    }
    assert_eq!(count(&out, "is now known as"), 0, "told once:\n{out}");
    assert_eq!(count(&out, "You are now known as: Maxi"), 1, "{out}");
    assert_eq!(count(&out, "not sent"), 1, "{out}");
}

#[test]
fn reworded_replies_still_resume_without_a_gap() {
    let (_server, proxy, mut bob, mut pty) = bob_then_max("Bob");
    bob.send("before the cut");
    pty.screen.expect("Bob: before the cut");

    proxy.refuse(true);
    proxy.cut();
    pty.screen.expect("Reconnecting to");
    for n in 1..=3 {
        bob.send(&format!("while away {n}"));
    }
    pty.type_keys("typed while away\r");
    proxy.refuse(false);
    pty.screen.expect("the session was resumed");
    // The line typed while away is sent once back, under the same name.
    bob.lines_until("Max: typed while away");
    bob.send("live again");
    pty.screen.expect("Bob: live again");
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
    let out = pty.screen.text();
    let said = [
        "Bob: before the cut",
        "Bob: while away 1",
        "Bob: while away 2",
        "Bob: while away 3",
        "Max: typed while away",
        "Bob: live again",
    ];
    let mut after = 0;
    for line in said {
        assert_eq!(count(&out, line), 1, "{line:?} once:\n{out}");
        let at = out.find(line).unwrap_or_default();
        assert!(at >= after, "{line:?} in order:\n{out}");
        after = at;
    }
    assert!(!out.contains("did not arrive"), "{out}");
    assert!(!out.contains("could not be recovered"), "{out}");
}
