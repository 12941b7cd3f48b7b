//! `sockchat join` on a real pseudo-terminal, as a person uses it: the
//! name prompt, colour, a half-typed line surviving incoming messages, and
//! the terminal handed back as it was found on every way out. And
//! `sockchat serve` on one: coloured log lines under a live status line.

use std::process::Command;

use crate::support::terminal::{screen_rows, size, Pty, EDITOR_PROMPT};
use crate::support::{Nc, Serve, Server};

const PROMPT: &str = "Please enter your username";
const CTRL_C: &str = "\x03";
const CTRL_D: &str = "\x04";
const ENTER: &str = "\r";
const LEFT: &str = "\x1b[D";

/// `sockchat join` with stdin and stderr on the pty but stdout piped,
/// as in `sockchat join | tee chat.log`.
fn join_piped_out(server: &Server) -> Pty {
    join_in_shell(server, &[], "\"$0\" \"$@\" | cat")
}

/// `sockchat join` with `extra` arguments run by `sh -c script` on the
/// pty, the script naming it `"$0" "$@"`.
fn join_in_shell(server: &Server, extra: &[&str], script: &str) -> Pty {
    let command = server.join(extra);
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(script).arg(command.get_program());
    shell.args(args);
    // The shell passes on the binary's scrubbed environment.
    for (var, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(var, value),
            None => shell.env_remove(var),
        };
    }
    Pty::spawn(shell)
}

/// SGR ("colour") escapes in `text`, such as `\x1b[32m`.
fn sgr_escapes(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("\x1b[") {
        let rest = &text[at + 2..];
        let params = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(rest.len());
        if rest[params..].starts_with('m') {
            found.push(format!("\\x1b[{}m", &rest[..params]));
        }
    }
    found
}

#[test]
fn the_name_prompt_repeats_until_the_name_is_valid() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &[], &[]);
    pty.screen.expect(PROMPT);
    pty.type_keys(ENTER);
    pty.screen.expect(PROMPT);
    pty.type_keys("   ");
    pty.type_keys(ENTER);
    pty.screen.expect("a name cannot be empty");
    pty.screen.expect(PROMPT);
    // The server's rules are checked before sending: the reason at once.
    pty.type_keys("Max Power");
    pty.type_keys(ENTER);
    pty.screen.expect("a name cannot contain spaces");
    pty.screen.expect(PROMPT);
    // dialoguer edits the line: Left moves back over the `x`.
    pty.type_keys("Mx");
    pty.type_keys(LEFT);
    pty.type_keys("a");
    pty.type_keys(ENTER);
    // On a terminal, server lines are green.
    pty.screen
        .expect("\x1b[32mServer: You are logged in as: Max");
    pty.screen.expect(EDITOR_PROMPT);
    let _bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("\x1b[32mServer: Bob joined the party!");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

#[test]
fn a_taken_name_on_a_terminal_asks_for_another() {
    let server = Server::start();
    let _max = Nc::login(server.addr, "Max");
    let mut pty = Pty::join(server.addr, &["--name", "max"], &[]);
    pty.screen.expect("the name max is taken");
    pty.screen.expect(PROMPT);
    pty.type_keys("Maxi");
    pty.type_keys(ENTER);
    pty.expect_logged_in("Maxi");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn no_color_keeps_the_chat_plain_on_a_terminal() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[("NO_COLOR", "1")]);
    pty.expect_logged_in("Max");
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("hi");
    pty.screen.expect("Bob: hi");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
    let screen = pty.screen.text();
    assert_eq!(sgr_escapes(&screen), Vec::<String>::new(), "{screen:?}");
}

#[test]
fn an_incoming_message_keeps_the_half_typed_line() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
    pty.expect_logged_in("Max");
    let mut bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("Bob joined the party!");
    pty.type_keys("hel");
    // Echoed: the editor holds the keys before Bob speaks.
    pty.screen.expect("hel");
    bob.send("incoming");
    pty.screen.expect(": incoming");
    // Printed above the prompt, which is drawn again with the keys typed.
    pty.screen.expect(&format!("{EDITOR_PROMPT}hel"));
    pty.type_keys("lo");
    pty.type_keys(ENTER);
    bob.expect_line("Max: hello");
    // A key typed before the editor asks again would go to the terminal.
    pty.screen.expect(EDITOR_PROMPT);
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

#[test]
fn the_server_leaving_hands_the_terminal_back() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &["--name", "Max", "--no-reconnect"], &[]);
    pty.expect_logged_in("Max");
    pty.type_keys("half a thought");
    pty.screen.expect("half a thought");
    assert!(server.stop().success());
    // The server's last words are shown, in order, before the client's.
    pty.screen.expect("Server: shutting down");
    pty.screen.expect("Server left.");
    assert_eq!(pty.exit_code(), 1);
    pty.assert_terminal_restored();
}

#[test]
fn quit_hands_the_terminal_back() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
    pty.expect_logged_in("Max");
    pty.type_keys("/quit");
    pty.type_keys(ENTER);
    pty.screen.expect("Server: Bye!");
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

#[test]
fn a_terminal_with_piped_output_still_prompts_for_the_name() {
    let server = Server::start();
    let mut pty = join_piped_out(&server);
    pty.screen.expect(PROMPT);
    pty.type_keys("Max");
    pty.type_keys(ENTER);
    pty.screen.expect("Server: You are logged in as: Max");
    let mut bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("Server: Bob joined the party!");
    // No line editor: the terminal reads the line, with the usual Enter.
    pty.type_keys("hello\n");
    bob.expect_line("Max: hello");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn ctrl_c_at_the_prompt_leaves_cleanly() {
    let mut server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
    pty.type_keys(CTRL_C);
    // A goodbye, not a dropped connection: the server logs no failure.
    bob.expect_line("Server: Max left the party.");
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
    assert!(!pty.screen.text().contains("Server left."));
    let log = server.process.stderr.expect("Server: Max left the party.");
    assert!(!log.contains("failed"), "{log}");
}

#[test]
fn keys_typed_ahead_of_the_name_prompt_and_after_enter_are_kept() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = Pty::join(server.addr, &[], &[]);
    // All typed at once, before the prompt shows: the name, then a line
    // for the chat, which waits for the editor.
    pty.type_keys("Max\rhello\r");
    bob.expect_line("Server: Max joined the party!");
    bob.expect_line("Max: hello");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

/// dialoguer ignores Ctrl-D; Ctrl-C leaves with 130, as programs stopped
/// by it do, and the terminal as it was.
#[test]
fn ctrl_c_leaves_the_name_prompt_and_ctrl_d_does_not() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &[], &[]);
    pty.screen.expect(PROMPT);
    // dialoguer reads keys in raw mode (echo off), so Ctrl-D is a key.
    pty.wait_for_echo_off();
    pty.type_keys(CTRL_D);
    pty.type_keys("Max");
    pty.screen.expect("Max");
    pty.type_keys(CTRL_C);
    assert_eq!(pty.exit_code(), 130);
    pty.assert_terminal_restored();
    assert!(!pty.screen.text().contains("logged in"));
}

#[test]
fn piped_stdin_on_a_terminal_is_never_prompted_for() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join_in_shell(&server, &[], "printf 'Max\\nhello\\n' | \"$0\" \"$@\"");
    bob.expect_line("Server: Max joined the party!");
    bob.expect_line("Max: hello");
    assert_eq!(pty.exit_code(), 0);
    let screen = pty.screen.text();
    assert!(!screen.contains(PROMPT), "{screen:?}");
}

/// How many times the abandon test gives up on a prompt being typed at:
/// a few by default, to keep the suite quick; more to measure, with
/// `SOCKCHAT_ABANDON_RUNS=100`.
fn abandon_runs() -> usize {
    std::env::var("SOCKCHAT_ABANDON_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(3)
}

/// The server goes away while the person is typing their name: `join`
/// gives up on the prompt (its thread, mid-key, cannot be stopped) and
/// the terminal is left exactly as `stty -a` saw it before.
#[test]
fn abandoning_the_name_prompt_leaves_the_terminal_exactly_as_it_was() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let before = dir.path().join("before");
    let after = dir.path().join("after");
    let script = format!(
        "stty -a > '{}'; \"$0\" \"$@\"; echo \"exit $?\"; stty -a > '{}'; echo stty done",
        before.display(),
        after.display()
    );
    for run in 0..abandon_runs() {
        let server = Server::start();
        let mut pty = join_in_shell(&server, &[], &script);
        pty.screen.expect(PROMPT);
        let stop = std::thread::spawn(move || server.stop());
        let deadline = std::time::Instant::now() + crate::support::WAIT;
        // Typing (a key, and rubbing it out) until the client gives up.
        let mut keys = ["a", "\x7f"].iter().cycle();
        while !pty.screen.shows_now("while waiting for your username") {
            assert!(std::time::Instant::now() < deadline, "never gave up");
            pty.type_keys(keys.next().unwrap_or(&"a"));
            // A fast typist's pace, so the pty's input queue never fills.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(stop.join().expect("the server's stop").success());
        pty.screen.expect("exit 1");
        pty.screen.expect("stty done");
        let read = |path: &std::path::Path| std::fs::read_to_string(path).expect("stty's output");
        assert_eq!(read(&after), read(&before), "run {run}");
    }
}

/// Ctrl-C and Ctrl-D leave as `/quit` does: the name is free at once,
/// for the next `join` (only a lost connection keeps the session).
#[test]
fn leaving_with_ctrl_c_or_ctrl_d_frees_the_name_at_once() {
    let server = Server::start();
    for key in [CTRL_C, CTRL_D, CTRL_D] {
        let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
        pty.expect_logged_in("Max");
        pty.type_keys(key);
        assert_eq!(pty.exit_code(), 0);
        pty.assert_terminal_restored();
    }
}

#[test]
fn serve_on_a_terminal_logs_in_colour_under_a_live_status_line() {
    let (mut pty, addr) = Pty::serve(&[]);
    let mut max = Nc::login(addr, "Max");
    pty.screen
        .expect("\x1b[32mServer: Connection from 127.0.0.1:");
    pty.screen.expect("\x1b[32mServer: Max joined the party!");
    pty.screen
        .expect("1 online · 0 messages relayed · Ctrl-C stops");
    let mut bob = Nc::login(addr, "Bob");
    max.expect_line("Server: Bob joined the party!");
    pty.screen.expect("\x1b[32mServer: Bob joined the party!");
    pty.screen.expect("2 online · 0 messages relayed");
    // One message, to one other person: one relayed.
    max.send("hi");
    bob.expect_line("Max: hi");
    pty.screen.expect("2 online · 1 message relayed");
    drop(bob);
    pty.screen.expect("\x1b[33mServer: Bob left the party.");
    pty.screen.expect("1 online · 1 message relayed");
    drop(max);
    pty.screen.expect("\x1b[33mServer: Max left the party.");
    pty.screen.expect("0 online · 1 message relayed");
    pty.type_keys(CTRL_C);
    pty.screen.expect("Server: shutting down");
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn serve_on_a_terminal_with_no_color_logs_plainly() {
    let (mut pty, addr) = Pty::serve(&[("NO_COLOR", "1")]);
    let max = Nc::login(addr, "Max");
    pty.screen.expect("Server: Max joined the party!");
    // The status line is still there: NO_COLOR is about colour only.
    pty.screen.expect("1 online");
    drop(max);
    pty.screen.expect("Server: Max left the party.");
    pty.screen.expect("0 online");
    pty.type_keys(CTRL_C);
    assert_eq!(pty.exit_code(), 0);
    let screen = pty.screen.text();
    assert_eq!(sgr_escapes(&screen), Vec::<String>::new(), "{screen:?}");
}

/// The password prompt turns echo off; Ctrl-C there must put it back (and
/// end with 130, as a program stopped by Ctrl-C does).
#[test]
fn ctrl_c_at_the_password_prompt_gives_the_terminal_back() {
    let server = Serve::new().args(&["--password", "s3cret-words"]).start();
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
    pty.screen.expect("This room has a password");
    // Interrupt only once the prompt reads (echo off), as a person would.
    pty.wait_for_echo_off();
    pty.type_keys("\x03");
    assert_eq!(pty.exit_code(), 130);
    pty.assert_terminal_restored();
}

/// Eight people talk; on Max's screen each name has a colour of its own
/// (read from the parsed screen's cells). Alice, Bob and Max once shared
/// one, as did others: a hash alone spreads names, it does not part them.
/// On a 16-colour terminal only the styles differ (some share a hue, one
/// underlined), so `hues` says whether the colours alone must.
fn eight_people_get_eight_colours(env: &[(&str, &str)], hues: bool) {
    const NAMES: [&str; 7] = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace"];
    let server = Server::start();
    let mut command = server.join(&["--name", "Max", "--no-timestamps"]);
    command.envs(env.iter().copied());
    let mut pty = Pty::spawn_sized(command, 80, 40);
    pty.expect_logged_in("Max");
    let mut others: Vec<Nc> = NAMES.iter().map(|n| Nc::login(server.addr, n)).collect();
    for (name, nc) in NAMES.iter().zip(&mut others) {
        nc.send(&format!("hi, {name} here"));
        pty.screen.expect(&format!("{name} here"));
    }
    pty.type_keys("and Max here\r");
    pty.screen.expect("and Max here");
    let mut parser = vt100::Parser::new(size(40), size(80), 0);
    parser.process(pty.screen.bytes());
    let screen = parser.screen();
    let mut colours = std::collections::HashMap::new();
    for (row, text) in screen.rows(0, 80).enumerate() {
        let Some((name, _)) = text.split_once(": ") else {
            continue;
        };
        if name == "Max" || NAMES.contains(&name) {
            let row = u16::try_from(row).expect("a row of 40");
            let cell = screen.cell(row, 0).expect("a cell");
            let colour = format!("{:?}", cell.fgcolor());
            let style = format!(
                "{colour} on {:?}, bold {}, underlined {}",
                cell.bgcolor(),
                cell.bold(),
                cell.underline()
            );
            colours.insert(name.to_string(), if hues { colour } else { style });
        }
    }
    assert_eq!(colours.len(), 8, "every name on the screen: {colours:?}");
    let distinct: std::collections::HashSet<&String> = colours.values().collect();
    assert_eq!(distinct.len(), 8, "{env:?}: {colours:#?}");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn eight_people_get_eight_colours_on_a_24_bit_terminal() {
    let env = [("TERM", "xterm-256color"), ("COLORTERM", "truecolor")];
    eight_people_get_eight_colours(&env, true);
}

#[test]
fn eight_people_get_eight_colours_on_a_256_colour_terminal() {
    eight_people_get_eight_colours(&[("TERM", "xterm-256color")], true);
}

#[test]
fn eight_people_get_eight_styles_on_a_16_colour_terminal() {
    eight_people_get_eight_colours(&[("TERM", "xterm")], false);
}

/// `/nick` is told to the renamer once, not as an answer and again as the
/// room's notice.
#[test]
fn a_rename_is_told_to_the_renamer_once() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[("NO_COLOR", "1")]);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
    pty.type_keys("/nick Maxi\r");
    bob.expect_line("Server: Max is now known as Maxi.");
    // A marker after it: everything about the rename is on the screen by then.
    bob.send("marker");
    pty.screen.expect("Bob: marker");
    let rows = screen_rows(pty.screen.bytes(), 24, 80);
    let told: Vec<&String> = rows.iter().filter(|row| row.contains("Maxi")).collect();
    assert_eq!(told.len(), 1, "{rows:#?}");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}

/// `/limits` and the refusal of a longer line say the same longest line,
/// the one a person can type; the refused line is shown shortened on one
/// row, not printed back whole.
#[test]
fn the_line_limit_is_told_alike_and_a_long_line_is_refused_on_one_row() {
    let server = Serve::new().args(&["--max-line-bytes", "200"]).start();
    let mut pty = Pty::join(
        server.addr,
        &["--name", "Max", "--no-timestamps"],
        &[("NO_COLOR", "1")],
    );
    pty.expect_logged_in("Max");
    pty.type_keys("/limits\r");
    pty.screen.expect("lines up to ");
    let told = pty.screen.expect(" bytes");
    let max: usize = told.trim_end_matches(" bytes").parse().expect("a number");
    let long = "x".repeat(1000);
    pty.type_keys(&format!("{long}\r"));
    pty.screen
        .expect(&format!("(not sent: longer than the room's {max} bytes)"));
    // Exactly `max` bytes pass.
    let mut bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("Bob joined the party!");
    let longest = "y".repeat(max);
    pty.type_keys(&format!("{longest}\r"));
    bob.expect_line(&format!("Max: {longest}"));
    let rows = screen_rows(pty.screen.bytes(), 24, 80);
    let refused: Vec<&String> = rows.iter().filter(|row| row.contains("xxxxx")).collect();
    assert_eq!(refused.len(), 1, "{rows:#?}");
    assert!(refused[0].contains("x… (not sent: "), "{rows:#?}");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}
