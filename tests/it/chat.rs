//! Chat and commands: what one person says reaches the others whole, once,
//! in order and defused, and every command answers the sender as it should.
//!
//! - chat, `/msg`, `/me`, `/who`, `/help`, `/limits`, `/quit`, and leaving
//!   by hanging up or a reset;
//! - framing (LF, CRLF, byte by byte, many lines in one write) and chat
//!   text: control characters, escapes, bidi controls, invalid UTF-8,
//!   invisible runs, telnet's commands;
//! - replies come in the order of the lines that caused them (`order`);
//! - property tests of the framer, the sanitizer, the command parser and
//!   the line classifier.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_std::task;
use futures::channel::oneshot;
use futures::FutureExt;
use proptest::prelude::*;
use proptest::sample::Index;
use sockchat::protocol::line::{Frame, LineFramer};
use sockchat::protocol::message::reply::{self};
use sockchat::protocol::message::{classify, parse_input, Input, ServerLine};
use sockchat::protocol::name::Name;
use sockchat::protocol::sanitize::{sanitize, sanitize_bytes, MAX_BLANK_RUN};
use sockchat::protocol::unicode::{
    is_bidi_control, is_blank, is_default_ignorable, is_line_separator,
};
use sockchat::server::Config;
use sockchat::stream::{RoomStream, MAIN};
use unicode_normalization::char::is_combining_mark;

use crate::support::in_process::no_rate_limit;
use crate::support::{assert_clean, attack_line, run, Nc, Serve, Tagged, TestServer};

// ---------------------------------------------------------------------------
// Chat, leaving, commands and what a line may contain

// Chat.

#[test]
fn chat_reaches_every_other_logged_in_user() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob, mut eve] = server.logins(["Max", "Bob", "Eve"]).await;
        max.send("hello, party").await;
        bob.expect_line("Max: hello, party").await;
        eve.expect_line("Max: hello, party").await;
        eve.send("hi Max").await;
        max.expect_line("Eve: hi Max").await;
        bob.expect_line("Eve: hi Max").await;
    });
}

#[test]
fn chat_is_not_echoed_to_its_sender() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("hello").await;
        bob.expect_line("Max: hello").await;
        bob.send("hi").await;
        max.expect_line("Bob: hi").await;
    });
}

#[test]
fn chat_does_not_reach_connections_not_logged_in() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        let mut pending = server.connect_greeted().await;
        max.send("secret plans").await;
        bob.expect_line("Max: secret plans").await;
        pending.send("Eve").await;
        pending
            .expect_line("Server: You are logged in as: Eve")
            .await;
        // What was said before is shown as history, after the login, never live.
        pending
            .expect_line("Server: The last 1 message before you came (times UTC):")
            .await;
        let old = pending.line().await.unwrap_or_default();
        assert!(old.ends_with("] Max: secret plans"), "{old:?}");
        pending
            .expect_line("Server: End of the last 1 message.")
            .await;
        max.send("welcome").await;
        pending.expect_line("Max: welcome").await;
    });
}

// Leaving. Each way of leaving gives the others exactly one notice, and
// the name can be taken again at once.

#[test]
fn hanging_up_is_announced_once_and_frees_the_name() {
    run(async {
        let server = TestServer::start().await;
        let [max, mut bob] = server.logins(["Max", "Bob"]).await;
        drop(max);
        bob.expect_line("Server: Max left the party.").await;
        server.login("Max").await;
        bob.expect_line("Server: Max joined the party!").await;
    });
}

#[test]
fn an_unterminated_last_line_is_still_said_when_the_client_hangs_up() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send_raw(b"bye all").await;
        drop(max);
        bob.expect_line("Max: bye all").await;
        bob.expect_line("Server: Max left the party.").await;
    });
}

#[test]
fn a_connection_reset_mid_line_is_announced_once_and_frees_the_name() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send_raw(b"half a li").await;
        max.reset();
        // The half line was never finished, so it is never said.
        bob.expect_line("Server: Max left the party.").await;
        server.login("Max").await;
        bob.expect_line("Server: Max joined the party!").await;
    });
}

#[test]
fn quit_says_bye_closes_and_is_announced_once() {
    run(async {
        // Room for two connections: a third is let in only once Max's is
        // wholly gone, after its own disconnect could have said anything.
        let config = Config {
            max_clients: 2,
            ..Config::default()
        };
        let server = TestServer::with(config).await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/quit").await;
        max.expect_line("Server: Bye!").await;
        max.expect_closed().await;
        bob.expect_line("Server: Max left the party.").await;
        drop(max);
        let mut again = server.connect_when_there_is_room().await;
        again.send("Max").await;
        again.expect_line("Server: You are logged in as: Max").await;
        bob.expect_line("Server: Max joined the party!").await;
    });
}

// Commands.

#[test]
fn help_answers_the_sender_alone_with_server_lines_naming_every_command() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/help").await;
        // The answer to /who marks where the help ends.
        max.send("/who").await;
        let mut help = Vec::new();
        loop {
            let line = max.line().await.expect("the server closed the connection");
            if line == "Server: Online (2): Max, Bob" {
                break;
            }
            help.push(line);
        }
        assert!(help.len() > 1, "help too short: {help:?}");
        for line in &help {
            assert!(line.starts_with("Server: "), "not a server line: {line:?}");
            assert!(!line.starts_with("Server: Error: "), "an error: {line:?}");
        }
        for command in ["/who", "/nick", "/msg", "/me", "/quit", "//"] {
            assert!(
                help.iter().any(|line| line.contains(command)),
                "help does not mention {command}: {help:?}"
            );
        }
        max.send("after the help").await;
        bob.expect_line("Max: after the help").await;
    });
}

#[test]
fn who_lists_everyone_logged_in_in_login_order() {
    run(async {
        let server = TestServer::start().await;
        let [_max, _mahtab, mut bob] = server.logins(["Max", "Mahtab", "Bob"]).await;
        let _pending = server.connect_greeted().await;
        bob.send("/who").await;
        bob.expect_line("Server: Online (3): Max, Mahtab, Bob")
            .await;
    });
}

#[test]
fn msg_reaches_only_its_target_and_echoes_to_the_sender() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob, mut eve] = server.logins(["Max", "Bob", "Eve"]).await;
        max.send("/msg Bob psst, over here").await;
        bob.expect_line("Max (private): psst, over here").await;
        max.expect_line("To Bob (private): psst, over here").await;
        max.send("in public").await;
        eve.expect_line("Max: in public").await;
        bob.expect_line("Max: in public").await;
    });
}

#[test]
fn msg_finds_its_target_in_any_case() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/msg bOB psst").await;
        bob.expect_line("Max (private): psst").await;
        max.expect_line("To Bob (private): psst").await;
    });
}

#[test]
fn msg_to_someone_not_online_is_an_error() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/msg Nobody hi").await;
        max.expect_line("Server: Error: no user named Nobody is online")
            .await;
        max.send("marker").await;
        bob.expect_line("Max: marker").await;
    });
}

#[test]
fn msg_without_text_gets_its_usage() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        for line in ["/msg", "/msg Bob", "/msg Bob   "] {
            max.send(line).await;
            max.expect_line("Server: Error: usage: /msg NAME TEXT")
                .await;
        }
        max.send("marker").await;
        bob.expect_line("Max: marker").await;
    });
}

#[test]
fn me_is_an_action_shown_to_the_others() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/me waves").await;
        bob.expect_line("* Max waves").await;
        bob.send("marker").await;
        max.expect_line("Bob: marker").await;
    });
}

#[test]
fn a_double_slash_sends_a_chat_line_starting_with_a_slash() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("//shrug").await;
        bob.expect_line("Max: /shrug").await;
    });
}

#[test]
fn an_unknown_command_is_an_error_to_the_sender_only() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/dance now").await;
        max.expect_line("Server: Error: unknown command /dance; type /help for the list")
            .await;
        max.send("marker").await;
        bob.expect_line("Max: marker").await;
    });
}

#[test]
fn commands_are_case_insensitive() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/WHO").await;
        max.expect_line("Server: Online (2): Max, Bob").await;
        max.send("/Msg Bob psst").await;
        bob.expect_line("Max (private): psst").await;
        max.expect_line("To Bob (private): psst").await;
        max.send("/ME waves").await;
        bob.expect_line("* Max waves").await;
        max.send("/NiCk Maxi").await;
        max.expect_line("Server: You are now known as: Maxi").await;
        bob.expect_line("Server: Max is now known as Maxi.").await;
        max.send("/QUIT").await;
        max.expect_line("Server: Bye!").await;
        max.expect_closed().await;
        bob.expect_line("Server: Maxi left the party.").await;
    });
}

// What a line may contain. No control character reaches another client's
// terminal; other text arrives exactly as sent.

#[test]
fn csi_escape_sequences_in_chat_lose_their_escape() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("\x1b[31mred\x1b[0m").await;
        bob.expect_line("Max: [31mred[0m").await;
        max.send("\x1b[2J\x1b[Hgone").await;
        bob.expect_line("Max: [2J[Hgone").await;
    });
}

#[test]
fn an_osc_52_clipboard_write_in_chat_is_defused() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07").await;
        bob.expect_line("Max: ]52;c;Y3VybCBldmlsLnNoIHwgc2g=").await;
    });
}

#[test]
fn a_bare_cr_in_chat_cannot_forge_a_server_line() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("hi\rServer: admin joined the party!").await;
        bob.expect_line("Max: hiServer: admin joined the party!")
            .await;
    });
}

#[test]
fn a_c1_csi_in_chat_is_removed_and_a_raw_0x9b_byte_is_replaced() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("a\u{9b}31mb").await;
        bob.expect_line("Max: a31mb").await;
        max.send_raw(b"a\x9b31mb\n").await;
        bob.expect_line("Max: a\u{fffd}31mb").await;
    });
}

#[test]
fn del_nul_and_bel_in_chat_are_removed() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("a\x7fb\x00c\x07d").await;
        bob.expect_line("Max: abcd").await;
    });
}

#[test]
fn control_characters_in_msg_never_reach_either_side() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/msg Bob \x1b[1mbold\x07\x7f\rServer: x").await;
        bob.expect_line("Max (private): [1mboldServer: x").await;
        max.expect_line("To Bob (private): [1mboldServer: x").await;
    });
}

#[test]
fn control_characters_in_me_never_reach_the_others() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/me \x1b]0;pwned\x07waves\u{9b}\x00").await;
        bob.expect_line("* Max ]0;pwnedwaves").await;
    });
}

#[test]
fn a_line_of_only_control_characters_is_not_sent() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("\x1b\x07\x00\x7f").await;
        max.send("marker").await;
        bob.expect_line("Max: marker").await;
    });
}

#[test]
fn a_tab_becomes_a_space() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("a\tb").await;
        bob.expect_line("Max: a b").await;
        max.send("/me\twaves\thello").await;
        bob.expect_line("* Max waves hello").await;
    });
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        // FE: never in UTF-8 (FF is too, but on a plain connection it is
        // telnet's IAC, which is dropped: see telnet.rs).
        max.send_raw(b"a\xfeb\n").await;
        bob.expect_line("Max: a\u{fffd}b").await;
        max.send_raw(b"caf\xc3\n").await;
        bob.expect_line("Max: caf\u{fffd}").await;
    });
}

#[test]
fn accents_cjk_and_emoji_pass_through_untouched() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("héllo, 中文, 👋🎉 and 👨‍👩‍👧").await;
        bob.expect_line("Max: héllo, 中文, 👋🎉 and 👨‍👩‍👧").await;
        max.send("/msg Bob ¿qué tal? 你好 🦀").await;
        bob.expect_line("Max (private): ¿qué tal? 你好 🦀").await;
    });
}

#[test]
fn crlf_and_lf_both_end_a_line() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send_raw(b"one\r\ntwo\nthree\r\n").await;
        bob.expect_line("Max: one").await;
        bob.expect_line("Max: two").await;
        bob.expect_line("Max: three").await;
    });
}

#[test]
fn a_line_written_one_byte_at_a_time_arrives_whole() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send_bytewise("héllo, 中文 👋, one byte at a time")
            .await;
        bob.expect_line("Max: héllo, 中文 👋, one byte at a time")
            .await;
    });
}

#[test]
fn many_lines_in_one_write_arrive_as_separate_messages() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        let lines: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        max.send_raw(lines.as_bytes()).await;
        for i in 1..=30 {
            bob.expect_line(&format!("Max: line {i}")).await;
        }
        max.send("marker").await;
        bob.expect_line("Max: marker").await;
    });
}

// Many clients at once.

#[test]
fn every_client_gets_every_message_once_and_in_order_when_25_send_at_once() {
    const CLIENTS: usize = 25;
    const MESSAGES: usize = 40;
    run(async {
        // Unlimited rate: 40 lines at once would pass the default burst.
        let config = Config {
            rate: 0,
            ..Config::default()
        };
        let server = TestServer::with(config).await;
        let names: [String; CLIENTS] = std::array::from_fn(|i| format!("c{i:02}"));
        let clients = server.logins(names.each_ref().map(String::as_str)).await;

        // Every task waits for `go`, so they all start sending together.
        let (go, ready) = oneshot::channel::<()>();
        let ready = ready.shared();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut client| {
                let ready = ready.clone();
                async_std::task::spawn(async move {
                    let _ = ready.await;
                    for n in 0..MESSAGES {
                        client.send(&n.to_string()).await;
                    }
                    // Sender → the numbers it was heard to send, in order.
                    let mut heard: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                    for _ in 0..(CLIENTS - 1) * MESSAGES {
                        let line = client.line().await.expect("the server closed");
                        let (from, n) = line.split_once(": ").expect("a chat line");
                        let n = n.parse().expect("a message number");
                        heard.entry(from.to_string()).or_default().push(n);
                    }
                    (client, heard)
                })
            })
            .collect();
        drop(go);

        let mut clients = Vec::new();
        for (me, task) in names.iter().zip(tasks) {
            let (client, heard) = task.await;
            let expected: BTreeMap<String, Vec<usize>> = names
                .iter()
                .filter(|&name| name != me)
                .map(|name| (name.clone(), (0..MESSAGES).collect()))
                .collect();
            assert_eq!(heard, expected, "what {me} heard");
            clients.push(client);
        }
        // Nothing is left over: a later line is the next one everyone gets.
        clients[0].send("done").await;
        for client in &mut clients[1..] {
            client.expect_line("c00: done").await;
        }
    });
}

// ---------------------------------------------------------------------------
// Chat text that passes for something else

#[test]
fn a_line_separator_in_chat_is_relayed_as_a_space() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut eve] = server.logins(["Max", "Eve"]).await;
        eve.send("hi\u{2028}Server: Max left the party.\u{2029}!")
            .await;
        max.expect_line("Eve: hi Server: Max left the party. !")
            .await;
        // The sender hears nothing back, and the next line is its own.
        eve.send("/who").await;
        eve.expect_line("Server: Online (2): Max, Eve").await;
    });
}

#[test]
fn padding_cannot_push_a_forged_notice_onto_a_row_of_its_own() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut eve] = server.logins(["Max", "Eve"]).await;
        eve.send(&format!("{}Server: Max left the party.", " ".repeat(75)))
            .await;
        max.expect_line("Eve:     Server: Max left the party.")
            .await;
        eve.send(&format!("/me waves{}Server: hi", "\u{3000}".repeat(40)))
            .await;
        max.expect_line("* Eve waves    Server: hi").await;
    });
}

#[test]
fn bidi_controls_are_removed_from_relayed_chat() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut eve] = server.logins(["Max", "Eve"]).await;
        eve.send("\u{202E}olleh\u{2066} x\u{200F}").await;
        max.expect_line("Eve: olleh x").await;
        eve.send("/msg Max \u{202E}terces").await;
        max.expect_line("Eve (private): terces").await;
    });
}

#[test]
fn telnets_ctrl_c_and_option_negotiation_do_not_reach_the_room() {
    run(async {
        let server = TestServer::start().await;
        let [mut max] = server.logins(["Max"]).await;
        let mut telly = server.connect_greeted().await;
        // telnet's window size (IAC WILL NAWS, IAC SB NAWS 80 24 IAC SE)
        // before the name.
        telly
            .send_raw(b"\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0Telly\r\n")
            .await;
        telly
            .expect_line("Server: You are logged in as: Telly")
            .await;
        max.expect_line("Server: Telly joined the party!").await;
        // Ctrl-C at telnet: IAC IP IAC DO TIMING-MARK, then a line.
        telly
            .send_raw(b"\xff\xf4\xff\xfd\x06after ctrl-c\r\n")
            .await;
        max.expect_line("Telly: after ctrl-c").await;
        // Ctrl-C alone, then Enter: a blank line, which says nothing; the
        // marker after it is the next thing Max reads.
        telly.send_raw(b"\xff\xf4\xff\xfd\x06\r\n").await;
        telly.send("marker").await;
        max.expect_line("Telly: marker").await;
    });
}

#[test]
fn eighty_invisible_characters_in_a_row_reach_nobody() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut eve] = server.logins(["Max", "Eve"]).await;
        // Soft hyphen, CGJ, Khmer vowels, invisible operators, word joiner,
        // BOM, zero-width space and tag characters.
        for c in [
            '\u{AD}',
            '\u{34F}',
            '\u{17B4}',
            '\u{17B5}',
            '\u{2060}',
            '\u{2062}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{200B}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
        ] {
            let eighty = c.to_string().repeat(80);
            eve.send(&format!("a{eighty}b")).await;
            max.expect_line("Eve: ab").await;
            // Alone they are nothing, and nothing is sent: the marker after
            // them is the next line Max reads.
            eve.send(&eighty).await;
            eve.send("marker").await;
            max.expect_line("Eve: marker").await;
        }
        // Eighty spaces with an accent on each are eighty blanks.
        eve.send(&format!(
            "{}Server: Max left the party.",
            " \u{301}".repeat(80)
        ))
        .await;
        max.expect_line("Eve:     Server: Max left the party.")
            .await;
        // An emoji sequence and a variation selector stay as sent.
        eve.send("\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} \u{2764}\u{FE0F}")
            .await;
        max.expect_line("Eve: \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} \u{2764}\u{FE0F}")
            .await;
    });
}

// ---------------------------------------------------------------------------
// Framing, encoding and terminal attacks

#[test]
fn lines_sent_byte_by_byte_or_coalesced_with_lf_or_crlf_arrive_whole() {
    run(async {
        let server = TestServer::with(no_rate_limit()).await;
        let mut eve = server.login("Eve").await;
        let mut bob = server.login("Bob").await;
        eve.expect_line("Server: Bob joined the party!").await;
        eve.tcp().set_nodelay(true).expect("TCP_NODELAY");

        // One byte per write, splitting multi-byte characters and the CRLF.
        // The pause lets each byte reach the server as a read of its own.
        // Pacing only: the lines must arrive whole however TCP cuts them,
        // so a slow machine changes the cuts, never the outcome.
        for &byte in "héllo wörld 中文\r\n".as_bytes() {
            eve.send_raw(&[byte]).await;
            task::sleep(Duration::from_millis(1)).await;
        }
        bob.expect_line("Eve: héllo wörld 中文").await;

        // Many lines in one write, mixed endings, empty lines in between.
        eve.send_raw(b"one\ntwo\r\n\n\r\nthree\r\nfour\n").await;
        for word in ["one", "two", "three", "four"] {
            bob.expect_line(&format!("Eve: {word}")).await;
        }

        // A CR at the end of one write and its LF at the start of the next
        // (pacing again, as above).
        eve.send_raw(b"five\r").await;
        task::sleep(Duration::from_millis(5)).await;
        eve.send_raw(b"\nsix").await;
        task::sleep(Duration::from_millis(5)).await;
        eve.send_raw(b"\n").await;
        bob.expect_line("Eve: five").await;
        bob.expect_line("Eve: six").await;
    });
}

#[test]
fn invalid_utf8_reaches_the_others_as_replacement_characters() {
    run(async {
        let server = TestServer::start().await;
        let mut eve = server.login("Eve").await;
        let mut bob = server.login("Bob").await;
        eve.expect_line("Server: Bob joined the party!").await;

        // Stray bytes, an overlong `/`, a UTF-16 surrogate, a raw C1 CSI
        // byte and a truncated sequence at the end of the line. (Not FF:
        // on a plain connection that is telnet's IAC, and dropped.)
        eve.send_raw(b"bad \xfe\xfe, \xc0\xaf, \xed\xa0\x80, \x9b[31m, \xc3\n")
            .await;
        let line = bob.line().await.expect("Bob was disconnected");
        assert_clean(&line);
        let r = '\u{fffd}';
        assert_eq!(
            line,
            format!("Eve: bad {r}{r}, {r}{r}, {r}{r}{r}, {r}[31m, {r}")
        );
    });
}

/// Terminal attacks as raw bytes, each with what the others must see.
const ATTACKS: &[(&[u8], &str)] = &[
    (
        b"\x1b[2J\x1b[Hcleared \x1b[31mred\x1b[0m",
        "[2J[Hcleared [31mred[0m",
    ),
    (
        b"\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07copied",
        "]52;c;Y3VybCBldmlsLnNoIHwgc2g=copied",
    ),
    (b"\x1b]0;pwned\x1b\\title", "]0;pwned\\title"),
    (
        b"\x1bP+q\x1b\\dcs \x1b_apc\x1b\\ \x1bc reset",
        "P+q\\dcs _apc\\ c reset",
    ),
    (
        "c1 \u{9b}31mcsi \u{9d}0;osc\u{9c} \u{85}nel".as_bytes(),
        "c1 31mcsi 0;osc nel",
    ),
    (
        b"hi\rServer: Mallory is now an admin",
        "hiServer: Mallory is now an admin",
    ),
    (
        b"bell\x07 bs\x08 del\x7f nul\x00 end",
        "bell bs del nul end",
    ),
    (b"tab\tvt\x0bff\x0cend", "tab vtffend"),
    (b"two crs\r\r", "two crs"),
    (b"lone escape\x1b", "lone escape"),
];

#[test]
fn control_characters_never_reach_anyone_through_chat_msg_or_me() {
    run(async {
        let server = TestServer::with(no_rate_limit()).await;
        let mut eve = server.login("Eve").await;
        let mut bob = server.login("Bob").await;
        eve.expect_line("Server: Bob joined the party!").await;

        for &(attack, clean) in ATTACKS {
            eve.send_raw(&attack_line("", attack)).await;
            let got = bob.line().await.expect("Bob was disconnected");
            assert_clean(&got);
            assert_eq!(
                got,
                format!("Eve: {clean}"),
                "chat {}",
                attack.escape_ascii()
            );

            eve.send_raw(&attack_line("/me ", attack)).await;
            let got = bob.line().await.expect("Bob was disconnected");
            assert_clean(&got);
            assert_eq!(
                got,
                format!("* Eve {clean}"),
                "/me {}",
                attack.escape_ascii()
            );

            eve.send_raw(&attack_line("/msg Bob ", attack)).await;
            let got = bob.line().await.expect("Bob was disconnected");
            assert_clean(&got);
            assert_eq!(
                got,
                format!("Eve (private): {clean}"),
                "/msg {}",
                attack.escape_ascii()
            );
            let echo = eve.line().await.expect("Eve was disconnected");
            assert_clean(&echo);
            assert_eq!(
                echo,
                format!("To Bob (private): {clean}"),
                "/msg {}",
                attack.escape_ascii()
            );
        }
    });
}

// ---------------------------------------------------------------------------
// Replies in the order of the lines that caused them

#[test]
fn a_reply_to_an_earlier_line_comes_before_the_error_for_a_later_too_long_one() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, _bob] = server.logins(["Max", "Bob"]).await;
        // One write: the reader sees both lines in one read.
        let mut bytes = b"/who\n".to_vec();
        bytes.extend(vec![b'x'; 5000]);
        bytes.extend(b"\n/who\n");
        max.send_raw(&bytes).await;
        max.expect_line("Server: Online (2): Max, Bob").await;
        max.expect_line(&reply::line_too_long(4096)).await;
        max.expect_line("Server: Online (2): Max, Bob").await;
    });
}

#[test]
fn the_login_is_confirmed_before_the_rate_error_for_lines_sent_with_the_name() {
    run(async {
        let server = TestServer::with(Config {
            rate: 1,
            burst: 2,
            ..Config::default()
        })
        .await;
        let mut client = server.connect_greeted().await;
        client.send_raw(b"Max\nfirst\nsecond\nthird\n").await;
        client
            .expect_line("Server: You are logged in as: Max")
            .await;
        client.expect_line(&reply::too_fast(1, 2)).await;
    });
}

#[test]
fn the_count_of_dropped_lines_comes_after_replies_to_the_lines_before_them() {
    run(async {
        let server = TestServer::with(Config {
            rate: 1,
            burst: 3,
            ..Config::default()
        })
        .await;
        // The name is free (issue 9): all three tokens are left.
        let mut max = server.login("Max").await;
        max.send_raw(b"/who\n/who\n/who\nlost\nlost\n").await;
        for _ in 0..3 {
            max.expect_line("Server: Online (1): Max").await;
        }
        max.expect_line(&reply::too_fast(1, 3)).await;
        // The next token comes within a second; the line it lets through
        // is preceded by the count of those dropped.
        async_std::task::sleep(Duration::from_millis(1100)).await;
        max.send("/who").await;
        max.expect_line(&reply::dropped(2)).await;
        max.expect_line("Server: Online (1): Max").await;
    });
}

/// A name that reaches the server around the deadline is either taken
/// (and the connection stays) or too late (and the connection is closed),
/// never both: the broker alone decides. Names are sent at spread-out
/// moments around the one-second deadline, so some land on each side.
#[test]
fn a_name_sent_around_the_login_deadline_is_taken_or_refused_never_both() {
    run(async {
        let server = TestServer::with(Config {
            login_timeout: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
        let timeout_line = reply::login_timeout(1);
        let clients = (0..24).map(|i| {
            let server = &server;
            let timeout_line = timeout_line.clone();
            async move {
                let mut client = server.connect_greeted().await;
                let connected = Instant::now();
                // From 940 ms to 1055 ms after connecting, 5 ms apart.
                let at = connected + Duration::from_millis(940 + 5 * i);
                async_std::task::sleep(at.saturating_duration_since(Instant::now())).await;
                let name = format!("late{i}");
                client.send(&name).await;
                let mut lines = Vec::new();
                while let Some(line) = client.line().await {
                    let taken = line == format!("Server: You are logged in as: {name}");
                    lines.push(line);
                    if taken {
                        // Proven still open: it answers a later line (past
                        // the notices of the others coming and going).
                        client.send("/who").await;
                        loop {
                            let next = client.line().await;
                            let Some(next) = next else {
                                panic!("logged in, then closed (all: {lines:?})");
                            };
                            if next.starts_with("Server: Online") {
                                return true;
                            }
                            assert!(
                                next.ends_with(" joined the party!")
                                    || next.ends_with(" left the party."),
                                "logged in, then {next:?} (all: {lines:?})"
                            );
                        }
                    }
                }
                assert_eq!(
                    lines,
                    vec![timeout_line],
                    "a connection closed for its deadline got something else too"
                );
                false
            }
        });
        let taken = futures::future::join_all(clients).await;
        // Not asserted: how many landed on each side depends on the
        // machine's timing. What the test asserts is above.
        let on_time = taken.iter().filter(|&&t| t).count();
        eprintln!("{on_time} of {} names were on time", taken.len());
    });
}

/// A server whose room is kept in a store in a fresh temp dir: every
/// kept line waits for fdatasync before anyone sees it.
async fn stored() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = Config::default();
    let (stream, _) =
        RoomStream::open(dir.path(), MAIN, 1 << 20, config.history).expect("a new store opens");
    (TestServer::with_stream(config, stream).await, dir)
}

#[test]
fn with_a_store_a_tagged_clients_answers_keep_the_order_of_its_lines() {
    run(async {
        let (server, _dir) = stored().await;
        let [mut bob] = server.logins(["Bob"]).await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        bob.expect_line("Server: Max joined the party!").await;
        // One write: the broker gets all four before the first is synced.
        max.client
            .send_raw(b"~a one\n~b /who\n~c two\n~d /msg Bob three\n~e /who\n")
            .await;
        let mut answered = Vec::new();
        while answered.len() < 5 {
            let line = max.line().await;
            answered.push((line.answers().unwrap_or("").to_string(), line.text));
        }
        let labels: Vec<&str> = answered.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["a", "b", "c", "d", "e"], "{answered:?}");
        assert_eq!(answered[0].1, "Max: one");
        assert_eq!(answered[3].1, "To Bob (private): three");
        for said in ["Max: one", "Max: two", "Max (private): three"] {
            bob.expect_line(said).await;
        }
    });
}

#[test]
fn with_a_store_a_plain_clients_private_copy_comes_before_its_next_reply() {
    run(async {
        let (server, _dir) = stored().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send_raw(b"/msg Bob psst\n/who\n").await;
        max.expect_line("To Bob (private): psst").await;
        max.expect_line("Server: Online (2): Max, Bob").await;
        // Max's join may have been syncing when Bob logged in: then Bob
        // sees it live, just after his own login.
        let before = bob.lines_until("Max (private): psst").await;
        assert!(
            before.iter().all(|l| l == "Server: Max joined the party!"),
            "{before:?}"
        );
    });
}

#[test]
fn with_a_store_many_tagged_clients_pipelining_each_get_every_answer_in_order() {
    run(async {
        let (server, _dir) = stored().await;
        let mut clients = Vec::new();
        for i in 0..6 {
            let (client, _) = Tagged::login(server.addr, &format!("T{i}")).await;
            clients.push(client);
        }
        // Each writes 30 lines at once (under the burst); all are being synced together.
        for client in &mut clients {
            let lines: String = (0..30).map(|n| format!("~{n} line {n}\n")).collect();
            client.client.send_raw(lines.as_bytes()).await;
        }
        for client in &mut clients {
            let mut next = 0;
            while next < 30 {
                let line = client.line().await;
                if let Some(label) = line.answers() {
                    assert_eq!(label, next.to_string(), "{line:?}");
                    next += 1;
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------
// The `/limits` command

#[test]
fn limits_are_told_to_whoever_asks() {
    let server = Serve::new()
        .args(&["--rate", "7", "--burst", "9", "--max-line-bytes", "300"])
        .start();
    let mut max = Nc::login(server.addr, "Max");
    max.send("/limits");
    max.expect_line("Server: Limits: 7 messages a second, bursts of 9, lines up to 300 bytes");
    max.send("/help");
    let mut help = Vec::new();
    for _ in reply::HELP {
        help.push(max.line());
    }
    assert!(help.iter().any(|l| l.contains("/help: ")), "{help:?}");
    assert!(help.iter().any(|l| l.contains("/limits: ")), "{help:?}");
}

// ---------------------------------------------------------------------------
// Properties of the framer, the sanitizer, the parser and the classifier

/// An owned [`Frame`], so frames can be collected and compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Line(Vec<u8>),
    TooLong,
}

impl From<Frame<'_>> for Owned {
    fn from(frame: Frame<'_>) -> Self {
        match frame {
            Frame::Line(line) => Owned::Line(line.to_vec()),
            Frame::TooLong => Owned::TooLong,
        }
    }
}

/// What the framer should do, written the obvious way: split on `\n`, drop
/// one trailing `\r`, lines over `max` bytes become `TooLong`, and a
/// non-empty unterminated tail is the last line.
fn reference(max: usize, data: &[u8]) -> Vec<Owned> {
    let mut pieces: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let tail = pieces.pop().expect("split yields at least one piece");
    if !tail.is_empty() {
        pieces.push(tail);
    }
    pieces
        .into_iter()
        .map(|piece| {
            let line = piece.strip_suffix(b"\r").unwrap_or(piece);
            if line.len() <= max {
                Owned::Line(line.to_vec())
            } else {
                Owned::TooLong
            }
        })
        .collect()
}

/// Feeds `chunks` one by one (then ends the stream), checking after every
/// feed that no more than `max + 1` bytes are held.
fn framed<'a>(max: usize, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Owned> {
    let mut framer = LineFramer::new(max);
    let mut out = Vec::new();
    for chunk in chunks {
        framer.feed(chunk, |frame| out.push(frame.into()));
        assert!(
            framer.buffered() <= max + 1,
            "buffered {} bytes with max {max}",
            framer.buffered()
        );
    }
    out.extend(framer.finish().map(Owned::from));
    out
}

/// Cuts `data` at the given points (in any order, repeats give empty chunks).
fn split_at<'a>(data: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for point in points {
        chunks.push(&data[start..point]);
        start = point;
    }
    chunks.push(&data[start..]);
    chunks
}

/// Byte streams rich in line ends and `\r`, so that lines are short and
/// `\r\n` split across reads is common.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"ab\xc3\xff".to_vec()),
        2 => Just(b'\n'),
        2 => Just(b'\r'),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..200)
}

/// Streams whose lines are long compared with `max`: runs of `x` between
/// occasional line ends.
fn long_lines() -> impl Strategy<Value = Vec<u8>> {
    let run = (
        0usize..60,
        prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\r", b""]),
    );
    prop::collection::vec(run, 0..12).prop_map(|runs| {
        let mut data = Vec::new();
        for (len, end) in runs {
            data.extend(std::iter::repeat_n(b'x', len));
            data.extend_from_slice(end);
        }
        data
    })
}

/// Text with many control characters (C0, DEL, C1, TAB, CR, ESC) among
/// ordinary and non-ASCII characters.
fn hostile_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => any::<char>(),
        3 => prop::char::range('\0', '\u{a0}'),
        2 => prop::sample::select(vec!['\x1b', '\t', '\r', '\n', '\x07', '\u{9b}', '\u{85}', '\x7f']),
        2 => prop::sample::select(vec!['a', ' ', ':', '/', '[', ']', 'é', '中', '🦀', '\u{fffd}']),
    ];
    prop::collection::vec(c, 0..40).prop_map(|chars| chars.into_iter().collect())
}

/// Valid usernames, built from characters that stress the line shapes.
fn name() -> impl Strategy<Value = Name> {
    let c = prop::sample::select(vec![
        'a', 'Z', '9', '_', '*', '(', ')', '/', '.', 'é', '中', '🦀',
    ]);
    prop::collection::vec(c, 1..10).prop_filter_map("not a valid name", |chars| {
        Name::parse(&chars.into_iter().collect::<String>()).ok()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn framer_matches_the_reference_for_any_split(
        max in 0usize..24,
        data in prop_oneof![stream(), long_lines()],
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let whole = framed(max, [&data[..]]);
        prop_assert_eq!(&whole, &reference(max, &data));
        let chunks = split_at(&data, &cuts);
        prop_assert_eq!(&framed(max, chunks.iter().copied()), &whole, "chunks {:?}", chunks);
    }

    #[test]
    fn framer_fed_byte_by_byte_matches_the_reference(
        max in 0usize..24,
        data in prop_oneof![stream(), long_lines()],
    ) {
        let bytes = framed(max, data.chunks(1));
        prop_assert_eq!(bytes, reference(max, &data));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sanitized_text_has_no_control_character(text in hostile_text()) {
        let clean = sanitize(&text);
        prop_assert!(!clean.chars().any(char::is_control), "{:?} -> {:?}", text, clean);
    }

    #[test]
    fn sanitizing_is_idempotent(text in hostile_text()) {
        let once = sanitize(&text);
        let twice = sanitize(&once);
        prop_assert!(matches!(twice, Cow::Borrowed(_)), "second pass allocated: {:?}", text);
        prop_assert_eq!(&*twice, &*once);
    }

    #[test]
    fn clean_text_is_returned_unchanged_and_borrowed(text in hostile_text()) {
        // Without what is removed (default-ignorable characters are kept
        // only between certain neighbours: leave them out).
        let text: String = text
            .chars()
            .filter(|&c| !c.is_control() && !is_bidi_control(c) && !is_line_separator(c))
            .filter(|&c| is_blank(c) || !is_default_ignorable(c))
            .collect();
        // Runs of more than MAX_BLANK_RUN blanks (with the marks on them)
        // are cut (rare in this text).
        let mut blanks = 0;
        for c in text.chars() {
            if is_blank(c) {
                blanks += 1;
            } else if !(blanks > 0 && is_combining_mark(c)) {
                blanks = 0;
            }
            prop_assume!(blanks <= MAX_BLANK_RUN);
        }
        prop_assert!(matches!(sanitize(&text), Cow::Borrowed(t) if t == text));
        prop_assert!(matches!(sanitize_bytes(text.as_bytes()), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn sanitize_bytes_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let clean = sanitize_bytes(&bytes);
        prop_assert!(!clean.chars().any(char::is_control));
        // The same as decoding lossily, then sanitizing the text.
        let lossy = String::from_utf8_lossy(&bytes);
        prop_assert_eq!(&*clean, &*sanitize(&lossy));
    }

    #[test]
    fn parse_input_takes_any_line(line in prop_oneof![
        hostile_text(),
        hostile_text().prop_map(|t| format!("/{t}")),
        (prop::sample::select(vec!["nick", "ME", "msg", "who", "quit", "help", "history", "history after", "/"]), hostile_text())
            .prop_map(|(cmd, t)| format!("/{cmd} {t}")),
    ]) {
        let input = parse_input(&line);
        match input {
            Input::Empty => prop_assert!(line.trim().is_empty()),
            Input::Chat(text) => prop_assert!(line.ends_with(text) && !text.trim().is_empty()),
            Input::Nick(arg) | Input::Me(arg) => {
                prop_assert!(!arg.is_empty() && arg.trim() == arg, "{:?}", input);
            }
            Input::Msg { to, text } => {
                prop_assert!(!to.is_empty() && !to.contains(' '), "{:?}", input);
                prop_assert!(!text.trim().is_empty(), "{:?}", input);
            }
            Input::Unknown(word) => prop_assert!(line.starts_with('/') && !word.contains(' ')),
            Input::History(_) => prop_assert!(line.to_ascii_lowercase().starts_with("/history")),
            Input::Help | Input::Who | Input::Limits | Input::Quit | Input::Usage(_) => {
                prop_assert!(line.starts_with('/'));
            }
        }
    }

    #[test]
    fn classify_takes_any_line(line in hostile_text()) {
        let _ = classify(&line);
        let _ = classify(&format!("Server: {line}"));
        let _ = classify(&format!("* {line}"));
    }

    #[test]
    fn every_reply_to_a_valid_name_classifies_as_its_own_kind(
        who in name(),
        other in name(),
        text in hostile_text(),
    ) {
        let (who, other) = (who.as_str(), other.as_str());
        let text = sanitize(&text);
        let text = &*text;
        let logged_in = reply::logged_in(who);
        prop_assert_eq!(classify(&logged_in), ServerLine::LoggedIn(who));
        let chat = reply::chat(who, text);
        prop_assert_eq!(classify(&chat), ServerLine::Chat { from: who, text });
        let private_from = reply::private_from(who, text);
        prop_assert_eq!(classify(&private_from), ServerLine::PrivateFrom { from: who, text });
        let private_to = reply::private_to(who, text);
        prop_assert_eq!(classify(&private_to), ServerLine::PrivateTo { to: who, text });
        let action = reply::action(who, text);
        prop_assert_eq!(classify(&action), ServerLine::Action { name: who, text });
        let error = reply::error(text);
        prop_assert_eq!(classify(&error), ServerLine::Error(text));
        prop_assert!(matches!(classify(&reply::joined(who)), ServerLine::Notice(_)));
        prop_assert!(matches!(classify(&reply::renamed(who, other)), ServerLine::Notice(_)));
    }
}

/// Found by `every_reply_to_a_valid_name_classifies_as_its_own_kind`: `*` is
/// a valid name, and `* (private): psst` starts like an action but is not
/// one; it must still be read as a private message.
#[test]
fn a_private_message_from_a_user_named_star_is_private() {
    assert!(Name::parse("*").is_ok());
    assert_eq!(
        classify(&reply::private_from("*", "psst")),
        ServerLine::PrivateFrom {
            from: "*",
            text: "psst"
        }
    );
}
