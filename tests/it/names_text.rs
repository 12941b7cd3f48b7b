//! Names that cannot pass for another and chat text that cannot forge a
//! line, over real TCP: each test is an attack from issue 10, tried at `nc`.

use crate::support::{run, TestServer};

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
