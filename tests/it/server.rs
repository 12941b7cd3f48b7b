//! The server over real TCP: literal lines in, literal lines out.
//!
//! Each test runs its own server on 127.0.0.1:0, so tests run in parallel.
//! To show that something did *not* happen, a test sends a later line and
//! asserts that it is the next one received: the broker handles events one
//! at a time and each client's lines leave in order, so anything wrongly
//! sent would have arrived first.

use std::collections::BTreeMap;

use futures::channel::oneshot;
use futures::FutureExt;
use sockchat::server::Config;

use crate::support::{run, TestServer};

// Logging in.

#[test]
fn the_greeting_is_the_first_line_on_connect() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect().await;
        client
            .expect_line("Server: Welcome to sockchat! Type a username and press Enter.")
            .await;
    });
}

#[test]
fn login_confirms_the_name_to_the_client() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect_greeted().await;
        client.send("Max").await;
        client
            .expect_line("Server: You are logged in as: Max")
            .await;
    });
}

#[test]
fn login_is_announced_to_everyone_else_but_not_to_the_new_client() {
    run(async {
        let server = TestServer::start().await;
        let [mut bob, mut eve] = server.logins(["Bob", "Eve"]).await;
        let mut max = server.connect_greeted().await;
        max.send("Max").await;
        max.expect_line("Server: You are logged in as: Max").await;
        bob.expect_line("Server: Max joined the party!").await;
        eve.expect_line("Server: Max joined the party!").await;
        bob.send("hi Max").await;
        max.expect_line("Bob: hi Max").await;
    });
}

#[test]
fn empty_and_whitespace_only_lines_before_login_are_ignored() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect_greeted().await;
        client.send("").await;
        client.send("   ").await;
        client.send("\t").await;
        client.send_raw(b"\r\n").await;
        client.send("Max").await;
        client
            .expect_line("Server: You are logged in as: Max")
            .await;
    });
}

#[test]
fn help_before_login_asks_for_a_name_first() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect_greeted().await;
        client.send("/help").await;
        client
            .expect_line("Server: Error: log in first: type a username (/quit leaves)")
            .await;
        client.send("Max").await;
        client
            .expect_line("Server: You are logged in as: Max")
            .await;
    });
}

// Names that are refused. Each refusal leaves the connection open, so the
// client can try another name on it.

#[test]
fn a_name_with_a_space_is_refused_and_another_may_be_tried() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect_greeted().await;
        client.send("Max Power").await;
        client
            .expect_line("Server: Error: a name cannot contain spaces; type another username")
            .await;
        client.send("Max\u{3000}Power").await;
        client
            .expect_line("Server: Error: a name cannot contain spaces; type another username")
            .await;
        client.send("MaxPower").await;
        client
            .expect_line("Server: You are logged in as: MaxPower")
            .await;
    });
}

#[test]
fn a_name_with_a_colon_is_refused_and_another_may_be_tried() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect_greeted().await;
        client.send("Server:Max").await;
        client
            .expect_line("Server: Error: a name cannot contain ':'; type another username")
            .await;
        client.send("Max").await;
        client
            .expect_line("Server: You are logged in as: Max")
            .await;
    });
}

#[test]
fn a_name_with_control_characters_is_refused_and_another_may_be_tried() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect_greeted().await;
        for name in ["Ma\x07x", "Max\x1b[31m", "Ma\u{9b}x", "Max\x7f", "Ma\x00x"] {
            client.send(name).await;
            client
                .expect_line(
                    "Server: Error: a name cannot contain control characters; \
                     type another username",
                )
                .await;
        }
        client.send("Max").await;
        client
            .expect_line("Server: You are logged in as: Max")
            .await;
    });
}

#[test]
fn a_name_of_33_characters_is_refused_and_32_are_accepted() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect_greeted().await;
        client.send(&"x".repeat(33)).await;
        client
            .expect_line("Server: Error: a name is at most 32 characters; type another username")
            .await;
        let longest = "é".repeat(32);
        client.send(&longest).await;
        client
            .expect_line(&format!("Server: You are logged in as: {longest}"))
            .await;
    });
}

#[test]
fn the_name_server_is_refused_in_any_case() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect_greeted().await;
        for name in ["Server", "server", "SERVER", "sErVeR"] {
            client.send(name).await;
            client
                .expect_line("Server: Error: that name is reserved; type another username")
                .await;
        }
        client.send("Servers").await;
        client
            .expect_line("Server: You are logged in as: Servers")
            .await;
    });
}

#[test]
fn a_name_starting_with_a_slash_is_refused_and_another_may_be_tried() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect_greeted().await;
        for name in ["/max", "//max", " /max"] {
            client.send(name).await;
            client
                .expect_line("Server: Error: a name cannot start with '/'; type another username")
                .await;
        }
        client.send("Max").await;
        client
            .expect_line("Server: You are logged in as: Max")
            .await;
    });
}

#[test]
fn a_taken_name_is_refused_in_any_case_and_another_may_be_tried() {
    run(async {
        let server = TestServer::start().await;
        let mut max = server.login("Max").await;
        let mut late = server.connect_greeted().await;
        late.send("mAX").await;
        late.expect_line("Server: Error: the name mAX is taken; type another username")
            .await;
        late.send("Max").await;
        late.expect_line("Server: Error: the name Max is taken; type another username")
            .await;
        late.send("Maxi").await;
        late.expect_line("Server: You are logged in as: Maxi").await;
        // The refused attempts told Max nothing.
        max.expect_line("Server: Maxi joined the party!").await;
    });
}

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

#[test]
fn a_connection_that_never_logged_in_leaves_without_a_notice() {
    run(async {
        let config = Config {
            max_clients: 2,
            ..Config::default()
        };
        let server = TestServer::with(config).await;
        let mut max = server.login("Max").await;
        let pending = server.connect_greeted().await;
        drop(pending);
        let mut bob = server.connect_when_there_is_room().await;
        bob.send("Bob").await;
        bob.expect_line("Server: You are logged in as: Bob").await;
        max.expect_line("Server: Bob joined the party!").await;
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
fn nick_renames_and_tells_everyone() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/nick Maxi").await;
        max.expect_line("Server: You are now known as: Maxi").await;
        bob.expect_line("Server: Max is now known as Maxi.").await;
        max.send("hi").await;
        bob.expect_line("Maxi: hi").await;
        bob.send("/who").await;
        bob.expect_line("Server: Online (2): Maxi, Bob").await;
    });
}

#[test]
fn nick_to_a_taken_name_is_refused() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        bob.send("/nick mAX").await;
        bob.expect_line("Server: Error: the name mAX is taken")
            .await;
        bob.send("still Bob").await;
        max.expect_line("Bob: still Bob").await;
    });
}

#[test]
fn nick_to_an_invalid_name_is_refused() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/nick bad:name").await;
        max.expect_line("Server: Error: a name cannot contain ':'")
            .await;
        max.send("/nick Max Power").await;
        max.expect_line("Server: Error: a name cannot contain spaces")
            .await;
        max.send("/nick server").await;
        max.expect_line("Server: Error: that name is reserved")
            .await;
        max.send("/nick /max").await;
        max.expect_line("Server: Error: a name cannot start with '/'")
            .await;
        max.send(&format!("/nick {}", "x".repeat(33))).await;
        max.expect_line("Server: Error: a name is at most 32 characters")
            .await;
        max.send("/nick").await;
        max.expect_line("Server: Error: usage: /nick NEW_NAME")
            .await;
        max.send("still Max").await;
        bob.expect_line("Max: still Max").await;
    });
}

#[test]
fn nick_to_a_name_with_control_characters_is_refused() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send("/nick Ma\x07xi").await;
        max.expect_line("Server: Error: a name cannot contain control characters")
            .await;
        max.send("still Max").await;
        bob.expect_line("Max: still Max").await;
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
