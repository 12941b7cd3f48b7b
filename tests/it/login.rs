//! Logging in and names: the greeting, the name a connection asks for and
//! what the room is told about it, over real TCP to the real server.
//!
//! - the greeting comes first; login is confirmed and announced once;
//! - names refused (too long, `/`, `:`, spaces, control characters, taken
//!   in any case, `Server`) and another may be tried; `/nick` likewise;
//! - names that pass for another refused: look-alikes, NFD forms, marks,
//!   enclosed letters, invisible characters; names in one script welcome;
//! - a connection that never logged in leaves without a notice.

use sockchat::protocol::message::reply::GREETING;
use sockchat::server::Config;

use crate::support::in_process::no_rate_limit;
use crate::support::{assert_clean, attack_line, run, TestServer};

// ---------------------------------------------------------------------------
// The greeting, logging in and names refused

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

// ---------------------------------------------------------------------------
// Names that pass for another

const TRY_AGAIN: &str = "; type another username";

/// The error a refused login gets.
fn refusal(why: &str) -> String {
    format!("Server: Error: {why}{TRY_AGAIN}")
}

#[test]
fn invisible_characters_after_a_name_are_refused_at_login() {
    run(async {
        let server = TestServer::start().await;
        let mut eve = server.connect_greeted().await;
        for name in [
            "Server\u{FE0F}",
            "Max\u{FE0F}",
            "Max\u{E0100}",
            "Server\u{1D173}",
            "Server\u{1BCA0}",
            "Server\u{FFF9}",
            "Max\u{E0041}",
        ] {
            eve.send(name).await;
            eve.expect_line(&refusal("a name cannot contain invisible characters"))
                .await;
        }
        eve.send("Eve").await;
        eve.expect_line("Server: You are logged in as: Eve").await;
    });
}

#[test]
fn look_alikes_of_server_are_refused_at_login() {
    run(async {
        let server = TestServer::start().await;
        let mut eve = server.connect_greeted().await;
        // Cyrillic Ѕ, full width, mathematical bold S, Cyrillic е inside.
        for name in [
            "\u{405}erver",
            "Ｓｅｒｖｅｒ",
            "\u{1D412}erver",
            "S\u{435}rver",
        ] {
            eve.send(name).await;
            eve.expect_line(&refusal("that name looks like Server, which is reserved"))
                .await;
        }
    });
}

#[test]
fn cyrillic_em_max_is_refused_while_max_is_online() {
    run(async {
        let server = TestServer::start().await;
        let [_max] = server.logins(["Max"]).await;
        let mut eve = server.connect_greeted().await;
        eve.send("\u{41C}ax").await;
        eve.expect_line(&refusal(
            "a name cannot mix letters of different scripts (such as Latin and Cyrillic)",
        ))
        .await;
        // All in Cyrillic it is one script, but it still reads as MAX.
        eve.send("\u{41C}\u{410}\u{425}").await;
        eve.expect_line(&refusal("the name \u{41C}\u{410}\u{425} is taken"))
            .await;
        // And in full width.
        eve.send("Ｍａｘ").await;
        eve.expect_line(&refusal("the name Ｍａｘ is taken")).await;
    });
}

#[test]
fn nfd_jose_is_taken_while_nfc_jose_is_online_and_is_shown_in_nfc() {
    run(async {
        let server = TestServer::start().await;
        let mut jose = server.connect_greeted().await;
        jose.send("Jose\u{301}").await;
        jose.expect_line("Server: You are logged in as: Jos\u{E9}")
            .await;
        let mut eve = server.connect_greeted().await;
        eve.send("Jos\u{E9}").await;
        eve.expect_line(&refusal("the name Jos\u{E9} is taken"))
            .await;
    });
}

#[test]
fn names_in_one_script_are_still_welcome() {
    run(async {
        let server = TestServer::start().await;
        let names = ["Mahtab", "مهتاب", "Łukasz", "李雷", "Ольга"];
        let _clients = server.logins(names).await;
    });
}

#[test]
fn marks_enclosed_letters_and_punctuation_cannot_pass_for_bob_or_server() {
    run(async {
        let server = TestServer::start().await;
        let [_bob] = server.logins(["Bob"]).await;
        let mut eve = server.connect_greeted().await;
        let loose = refusal(
            "a name cannot put an accent or mark on a letter that has no such accented form",
        );
        let server_like = refusal("that name looks like Server, which is reserved");
        let cases = [
            ("Bob\u{301}", loose.clone()),
            ("Bob\u{332}", loose.clone()),
            ("Bo\u{338}b", loose.clone()),
            ("B\u{335}ob", loose.clone()),
            ("\u{24B7}ob", refusal("the name \u{24B7}ob is taken")),
            ("\u{1F171}ob", refusal("the name \u{1F171}ob is taken")),
            ("S\u{336}erver", loose.clone()),
            ("S\u{E9}rver", server_like.clone()),
            ("Server.", server_like.clone()),
            ("Server_", server_like.clone()),
            ("Server-", server_like.clone()),
        ];
        for (name, why) in cases {
            eve.send(name).await;
            eve.expect_line(&why).await;
        }
        // Bytes that are not UTF-8 (FE never is; C3 starts a character
        // that never comes) arrive as U+FFFD.
        eve.send_raw(b"\xfe\xfe\xc3\r\n").await;
        eve.expect_line(&refusal(
            "a name must be valid UTF-8 and cannot contain U+FFFD",
        ))
        .await;
        // Accents that are letters, and other scripts, are still welcome.
        eve.send("Jose\u{301}").await;
        eve.expect_line("Server: You are logged in as: Jos\u{E9}")
            .await;
    });
}

// ---------------------------------------------------------------------------
// Names with control characters

/// Names carrying terminal attacks.
const NAME_ATTACKS: &[&[u8]] = &[
    b"Ev\x1b[31mil",
    b"Ev\x1b]52;c;eA==\x07il",
    "Ev\u{9b}31mil".as_bytes(),
    b"Ev\x07\x08\x7f\x00il",
    b"Ev\x0b\x0cil",
    b"Ev\til",
    b"\rServer",
    b"Serv\x00er",
    b"Evil\x1b",
];

#[test]
fn names_with_control_characters_never_reach_the_others() {
    run(async {
        let server = TestServer::with(no_rate_limit()).await;
        let mut bob = server.login("Bob").await;
        let mut eve = server.login("Eve").await;
        bob.expect_line("Server: Eve joined the party!").await;

        let mut newcomers = Vec::new();
        for (i, &attack) in NAME_ATTACKS.iter().enumerate() {
            // As a new name...
            eve.send_raw(&attack_line("/nick ", attack)).await;
            let answer = eve.line().await.expect("Eve was disconnected");
            assert_clean(&answer);
            // ...and as a login name.
            let mut newcomer = server.connect().await;
            newcomer.expect_line(GREETING).await;
            newcomer.send_raw(&attack_line("", attack)).await;
            let answer = newcomer.line().await.expect("newcomer was disconnected");
            assert_clean(&answer);
            newcomers.push(newcomer);
            // Whatever was announced reached Bob before this marker.
            eve.send(&format!("sync {i}")).await;
            loop {
                let line = bob.line().await.expect("Bob was disconnected");
                assert_clean(&line);
                if line.ends_with(&format!(": sync {i}")) {
                    break;
                }
            }
        }
    });
}

#[test]
fn a_name_with_a_control_character_is_refused() {
    run(async {
        let server = TestServer::with(no_rate_limit()).await;
        let mut bob = server.login("Bob").await;
        let mut eve = server.login("Eve").await;
        bob.expect_line("Server: Eve joined the party!").await;

        for &attack in NAME_ATTACKS {
            eve.send_raw(&attack_line("/nick ", attack)).await;
            let answer = eve.line().await.expect("Eve was disconnected");
            assert!(
                answer.starts_with("Server: Error: "),
                "/nick {} was not refused: {answer:?}",
                attack.escape_ascii()
            );

            let mut newcomer = server.connect().await;
            newcomer.expect_line(GREETING).await;
            newcomer.send_raw(&attack_line("", attack)).await;
            let answer = newcomer.line().await.expect("newcomer was disconnected");
            assert!(
                answer.starts_with("Server: Error: "),
                "login {} was not refused: {answer:?}",
                attack.escape_ascii()
            );
        }
        // Nobody was renamed or let in: Bob hears only the marker.
        eve.send("done").await;
        bob.expect_line("Eve: done").await;
    });
}
