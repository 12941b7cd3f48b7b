//! What a line means. A client's line becomes an [`Input`]; every line the
//! server sends is written by one function in [`reply`], and [`classify`]
//! reads such a line back on the client, which colours it. Because a name has
//! no space and no `:`, and `Server` is reserved, each kind of line has a
//! shape nothing else can take:
//!
//! | line                             | kind                      |
//! |----------------------------------|---------------------------|
//! | `Server: text`                   | notice                    |
//! | `Server: Error: text`            | error (to one client)     |
//! | [`reply::PASSWORD_GREETING`]     | the room wants a password |
//! | [`reply::PASSWORD_ACCEPTED`]     | the password was right    |
//! | `Server: Error: wrong password…` | the password was wrong    |
//! | `Max: text`                      | chat                      |
//! | `Max (private): text`            | private message received  |
//! | `To Bob (private): text`         | private message sent      |
//! | `* Max text`                     | action (`/me`)            |

/// A line typed by a logged-in client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Nothing but whitespace: ignored.
    Empty,
    /// Chat to everyone else (`//x` arrives here as `/x`).
    Chat(&'a str),
    Help,
    Who,
    /// The room's limits on what one client sends (for clients that pace).
    Limits,
    Nick(&'a str),
    Msg {
        to: &'a str,
        text: &'a str,
    },
    Me(&'a str),
    Quit,
    /// A known command used wrongly; the text says how to use it.
    Usage(&'static str),
    /// `/something` that is not a command; holds the command word.
    Unknown(&'a str),
    /// `/history [N]` or `/history after ID`.
    History(HistoryAsk),
}

/// What `/history` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryAsk {
    /// The last N room messages (None: the room's default).
    Last(Option<usize>),
    /// Everything kept after this id.
    After(crate::stream::Id),
}

/// Every command a logged-in client can type (what Tab completes).
pub const COMMANDS: &[&str] = &[
    "/help", "/history", "/join", "/leave", "/limits", "/me", "/msg", "/nick", "/quit", "/rooms",
    "/switch", "/topic", "/who",
];

/// Parses one (sanitized) line from a logged-in client.
pub fn parse_input(line: &str) -> Input<'_> {
    if line.trim().is_empty() {
        return Input::Empty;
    }
    let Some(command) = line.strip_prefix('/') else {
        return Input::Chat(line);
    };
    if command.starts_with('/') {
        return Input::Chat(command);
    }
    let (word, rest) = match command.split_once(' ') {
        Some((word, rest)) => (word, rest.trim()),
        None => (command, ""),
    };
    match word.to_ascii_lowercase().as_str() {
        "help" => Input::Help,
        "who" => Input::Who,
        "limits" => Input::Limits,
        "quit" => Input::Quit,
        "nick" if rest.is_empty() => Input::Usage(reply::NICK_USAGE),
        "nick" => Input::Nick(rest),
        "history" => match rest.split_once(' ') {
            None if rest.is_empty() => Input::History(HistoryAsk::Last(None)),
            None => match rest.parse() {
                Ok(n) => Input::History(HistoryAsk::Last(Some(n))),
                Err(_) => Input::Usage(reply::HISTORY_USAGE),
            },
            Some((after, id)) if after.eq_ignore_ascii_case("after") => match id.trim().parse() {
                Ok(id) => Input::History(HistoryAsk::After(id)),
                Err(_) => Input::Usage(reply::HISTORY_USAGE),
            },
            Some(_) => Input::Usage(reply::HISTORY_USAGE),
        },
        "me" if rest.is_empty() => Input::Usage(reply::ME_USAGE),
        "me" => Input::Me(rest),
        "msg" => match rest.split_once(' ') {
            Some((to, text)) if !text.trim().is_empty() => Input::Msg {
                to,
                text: text.trim_start(),
            },
            _ => Input::Usage(reply::MSG_USAGE),
        },
        _ => Input::Unknown(word),
    }
}

/// Every line the server sends, in one place (each without its `\n`).
pub mod reply {
    use crate::protocol::tagged::Reply;

    pub const SERVER_PREFIX: &str = "Server: ";
    pub const ERROR_PREFIX: &str = "Server: Error: ";
    pub const LOGGED_IN_PREFIX: &str = "Server: You are logged in as: ";

    pub const GREETING: &str = "Server: Welcome to sockchat! Type a username and press Enter.";
    /// The greeting of a room with a password: the first line is the password.
    pub const PASSWORD_GREETING: &str =
        "Server: Welcome to sockchat! This room has a password: type it and press Enter.";
    pub const PASSWORD_ACCEPTED: &str =
        "Server: Password accepted. Type a username and press Enter.";
    pub const WRONG_PASSWORD_PREFIX: &str = "Server: Error: wrong password";
    /// The last wrong password: the connection closes after it.
    pub const WRONG_PASSWORD_CLOSING: &str = "Server: Error: wrong password; closing";
    pub const PASSWORD_FIRST: &str = "Server: Error: type the room's password first (/quit leaves)";
    /// Sent in plain text to a client that does not start TLS on a TLS port.
    pub const TLS_REQUIRED: &str =
        "Server: Error: this room speaks TLS: use `sockchat join --tls` (or a TLS client)";
    pub const NICK_USAGE: &str = "usage: /nick NEW_NAME";
    pub const ME_USAGE: &str = "usage: /me TEXT";
    pub const MSG_USAGE: &str = "usage: /msg NAME TEXT";
    pub const HISTORY_USAGE: &str = "usage: /history [N], or /history after ID";
    /// The answer to `/tagged` (its tags carry the limits).
    pub const TAGGED_ON: &str = "Server: Tagged mode on.";
    pub const TAGGED_LATE: &str =
        "Server: Error: /tagged must be the first line, before the password and the name";
    pub const NO_HISTORY: &str = "Server: Error: this room keeps no history";
    /// `/history` while as many blocks as may wait are still unsent.
    pub const HISTORY_BUSY: &str = "Server: Error: too many history blocks are still on their way to you; ask again once they arrive";
    /// The same words whatever the reason, so a guess learns nothing.
    pub const RESUME_REFUSED: &str =
        "Server: Error: that session cannot be resumed (unknown or expired); type a username";
    pub const RESUME_END: &str = "Server: End of what you missed.";
    /// A line refused because too many of its sender's earlier ones are
    /// still waiting for the disk.
    pub const TOO_MANY_WAITING: &str =
        "not saved: too many of your lines are still waiting for the disk";
    pub const BYE: &str = "Server: Bye!";
    pub const SHUTTING_DOWN: &str = "Server: shutting down";
    /// How a refused name ends: the hint for someone at a prompt.
    pub const TYPE_ANOTHER: &str = "; type another username";
    pub const LOGIN_FIRST: &str = "Server: Error: log in first: type a username (/quit leaves)";
    /// The last line of a client cut off for not reading.
    pub const TOO_SLOW: &str =
        "Server: Error: you are disconnected: you fell too far behind reading messages";
    /// The last line of a connection whose session someone resumed on
    /// another connection (the owner's new one, or whoever has its token).
    pub const RESUMED_ELSEWHERE: &str =
        "Server: Error: you are disconnected: your session was resumed from another connection";

    /// One command a line, `command: what it does`: no padding to align
    /// the columns, which a client's chat-text rules would collapse (runs
    /// of more than four blanks are cut).
    pub const HELP: &[&str] = &[
        "Server: Commands:",
        "Server:   /help: this list",
        "Server:   /who [ROOM]: who is in your current room (or in ROOM)",
        "Server:   /join ROOM: enter a room (made on first join); what you type goes there",
        "Server:   /leave [ROOM]: leave a room (your current one if not named)",
        "Server:   /switch ROOM: talk in another of your rooms",
        "Server:   /rooms: every room, how many are in it and its topic",
        "Server:   /topic [TEXT]: show or set your current room's topic",
        "Server:   /nick NEW_NAME: change your name",
        "Server:   /msg NAME TEXT: send TEXT to NAME only",
        "Server:   /me TEXT: an action, shown as: * YourName TEXT",
        "Server:   /history [ROOM] [N]: a room's last N messages (/history after ID: all since that id)",
        "Server:   /limits: how fast you may send, and how long a line may be",
        "Server:   /quit: leave the server (every room)",
        "Server:   //TEXT: send a line that starts with /",
    ];

    /// `3 messages`, `1 message`.
    fn messages(n: usize) -> String {
        match n {
            1 => "1 message".to_string(),
            n => format!("{n} messages"),
        }
    }
    /// The block a late joiner gets right after logging in.
    pub fn joiner_header(n: usize) -> String {
        format!(
            "Server: The last {} before you came (times UTC):",
            messages(n)
        )
    }
    pub fn last_header(n: usize) -> String {
        format!("Server: The last {} (times UTC):", messages(n))
    }
    pub fn last_footer(n: usize) -> String {
        format!("Server: End of the last {}.", messages(n))
    }
    pub fn after_header(n: usize, id: crate::stream::Id, missed: u64) -> String {
        match missed {
            0 => format!("Server: {} after id {id} (times UTC):", messages(n)),
            m => format!(
                "Server: {} after id {id} ({m} older are no longer kept; times UTC):",
                messages(n)
            ),
        }
    }
    pub fn after_footer(n: usize, id: crate::stream::Id) -> String {
        format!("Server: End of the {} after id {id}.", messages(n))
    }
    pub fn resume_header(n: usize, missed: u64) -> String {
        match missed {
            0 => format!("Server: {} since you left:", messages(n)),
            m => format!(
                "Server: {} since you left ({m} more are no longer kept):",
                messages(n)
            ),
        }
    }
    pub fn logged_in(name: &str) -> String {
        format!("{LOGGED_IN_PREFIX}{name}")
    }
    pub fn joined(name: &str) -> String {
        format!("Server: {name} joined the party!")
    }
    pub fn left(name: &str) -> String {
        format!("Server: {name} left the party.")
    }
    pub fn renamed(old: &str, new: &str) -> String {
        format!("Server: {old} is now known as {new}.")
    }
    pub fn renamed_self(new: &str) -> String {
        format!("Server: You are now known as: {new}")
    }
    /// Names per `/who` line: a big room's list comes as many short lines,
    /// never one line too long for a client to take.
    pub const WHO_PER_LINE: usize = 50;

    /// `Server: Online (N): a, b, …`, then `Server: Online, continued: …`
    /// lines of at most [`WHO_PER_LINE`] names each.
    pub fn who(names: &[&str]) -> Vec<String> {
        let count = names.len();
        if names.is_empty() {
            // An empty room (`/who ROOM`): no list, so no colon and no
            // trailing space.
            return vec!["Server: Online (0).".to_string()];
        }
        names
            .chunks(WHO_PER_LINE)
            .enumerate()
            .map(|(i, chunk)| match i {
                0 => format!("Server: Online ({count}): {}", chunk.join(", ")),
                _ => format!("Server: Online, continued: {}", chunk.join(", ")),
            })
            .collect()
    }
    /// What each line of [`who`] means for a tagged client: the count and
    /// the names it lists.
    pub fn who_tags<'a>(names: &'a [&'a str]) -> impl Iterator<Item = Reply<'a>> {
        let count = names.len();
        names
            .chunks(WHO_PER_LINE)
            .enumerate()
            .map(move |(i, names)| Reply::Who {
                count: (i == 0).then_some(count),
                names,
            })
            .chain((count == 0).then_some(Reply::Who {
                count: Some(0),
                names: &[],
            }))
    }
    pub fn chat(from: &str, text: &str) -> String {
        format!("{from}: {text}")
    }
    pub fn private_from(from: &str, text: &str) -> String {
        format!("{from} (private): {text}")
    }
    pub fn private_to(to: &str, text: &str) -> String {
        format!("To {to} (private): {text}")
    }
    pub fn action(name: &str, text: &str) -> String {
        format!("* {name} {text}")
    }
    pub fn error(why: impl std::fmt::Display) -> String {
        format!("{ERROR_PREFIX}{why}")
    }
    pub fn line_too_long(max: usize) -> String {
        error(format!("line too long (over {max} bytes); it was not sent"))
    }
    pub fn too_fast(rate: u32, burst: u32) -> String {
        error(format!(
            "{TOO_FAST_TEXT} ({rate} messages a second, bursts of {burst}); messages are being dropped"
        ))
    }
    pub fn dropped(count: u64) -> String {
        let s = if count == 1 { "" } else { "s" };
        error(format!("{count} message{s} dropped for sending too fast"))
    }
    /// A wrong password, with `left` (at least 1) more tries.
    pub fn wrong_password(left: u32) -> String {
        let s = if left == 1 { "y" } else { "ies" };
        format!("{WRONG_PASSWORD_PREFIX} ({left} tr{s} left)")
    }
    /// How [`login_timeout`] begins: the server is about to close.
    pub const LOGIN_TIMEOUT_PREFIX: &str = "Server: Error: no username given within ";
    pub fn login_timeout(secs: u64) -> String {
        format!("{LOGIN_TIMEOUT_PREFIX}{secs} s; closing")
    }

    pub use crate::protocol::limits::LIMITS_PREFIX;
    /// The answer to `/limits` (read back by `Limits::parse`).
    pub fn limits(limits: &crate::protocol::limits::Limits) -> String {
        limits.to_string()
    }

    /// What a [`too_fast`] error's text (after `Error: `) begins with.
    pub const TOO_FAST_TEXT: &str = "you are sending too fast";

    /// The count in a [`dropped`] error's text (after `Error: `).
    pub fn dropped_count(text: &str) -> Option<u64> {
        let (count, rest) = text.split_once(' ')?;
        let rest = rest.strip_prefix("message")?.trim_start_matches('s');
        (rest == " dropped for sending too fast").then_some(())?;
        count.parse().ok()
    }
    /// Refusals of a connection by its address (see `serve --max-per-addr`).
    pub fn too_many_from_address(max: usize) -> String {
        error(format!(
            "too many connections from your address ({max}); close one and try again"
        ))
    }
    pub fn too_many_logging_in(max: usize) -> String {
        error(format!(
            "too many connections from your address are still logging in ({max}); try again later"
        ))
    }
    pub const CONNECTING_TOO_FAST: &str =
        "Server: Error: your address is connecting too fast; try again in a few seconds";
    pub const TOO_MANY_HANDSHAKES: &str =
        "Server: Error: too many TLS handshakes are unfinished; try again in a few seconds";
    /// A name kept for the person whose connection dropped.
    pub fn name_held(name: &str) -> String {
        format!(
            "the name {name} is kept for its owner for a moment after a dropped connection; type another username or try again soon"
        )
    }
    /// A private message not delivered: its recipient is far behind.
    /// A private message kept for someone whose connection dropped.
    pub fn recipient_away(name: &str, minutes: u64) -> String {
        format!(
            "Server: {name} is away: your message is kept for them if they come back within {minutes} min"
        )
    }
    pub fn recipient_busy(name: &str) -> String {
        error(format!(
            "{name} is not keeping up with their messages; yours was not delivered"
        ))
    }
    /// `/who`, `/rooms`, `/history` or `/resume` asked before the output
    /// pulled lately (from the same address) was paid for.
    pub fn output_limited(secs: u64) -> String {
        error(format!(
            "too much output pulled lately (/who, /rooms, /history, catching up); try again in {secs} s"
        ))
    }
    /// Too many wrong passwords from one address: the next is checked later.
    pub fn password_wait(secs: u64) -> String {
        error(format!(
            "too many wrong passwords from your address; your next one is checked in {secs} s"
        ))
    }
    pub fn room_full(max: usize) -> String {
        error(format!(
            "the room is full ({max} connections); try again later"
        ))
    }
}

/// A line received from the server, as the client shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLine<'a> {
    /// `Server: You are logged in as: NAME`
    LoggedIn(&'a str),
    /// `Server: Error: TEXT`
    Error(&'a str),
    /// The greeting of a room with a password (the whole line).
    PasswordWanted(&'a str),
    /// The password was right (the whole line).
    PasswordAccepted(&'a str),
    /// `Server: Error: wrong password…`: the TEXT after `Error: `.
    PasswordRefused(&'a str),
    /// `Server: TEXT`
    Notice(&'a str),
    Chat {
        from: &'a str,
        text: &'a str,
    },
    PrivateFrom {
        from: &'a str,
        text: &'a str,
    },
    PrivateTo {
        to: &'a str,
        text: &'a str,
    },
    Action {
        name: &'a str,
        text: &'a str,
    },
    /// Anything else (another server, a newer version): shown plain.
    Other(&'a str),
}

/// Tells what kind of line the server sent, by its shape alone.
pub fn classify(line: &str) -> ServerLine<'_> {
    if let Some(name) = line.strip_prefix(reply::LOGGED_IN_PREFIX) {
        return ServerLine::LoggedIn(name);
    }
    if line == reply::PASSWORD_GREETING {
        return ServerLine::PasswordWanted(line);
    }
    if line == reply::PASSWORD_ACCEPTED {
        return ServerLine::PasswordAccepted(line);
    }
    if line.starts_with(reply::WRONG_PASSWORD_PREFIX) {
        return ServerLine::PasswordRefused(&line[reply::ERROR_PREFIX.len()..]);
    }
    if let Some(text) = line.strip_prefix(reply::ERROR_PREFIX) {
        return ServerLine::Error(text);
    }
    if let Some(text) = line.strip_prefix(reply::SERVER_PREFIX) {
        return ServerLine::Notice(text);
    }
    if let Some(rest) = line.strip_prefix("* ") {
        if let Some((name, text)) = rest.split_once(' ') {
            if is_name_shaped(name) {
                return ServerLine::Action { name, text };
            }
        }
        // Not an action: perhaps `* (private): …` from a user named `*`.
    }
    let Some((head, text)) = line.split_once(": ") else {
        return ServerLine::Other(line);
    };
    let words: Vec<&str> = head.split(' ').collect();
    match words.as_slice() {
        [from] if is_name_shaped(from) => ServerLine::Chat { from, text },
        [from, "(private)"] if is_name_shaped(from) => ServerLine::PrivateFrom { from, text },
        ["To", to, "(private)"] if is_name_shaped(to) => ServerLine::PrivateTo { to, text },
        _ => ServerLine::Other(line),
    }
}

fn is_name_shaped(word: &str) -> bool {
    !word.is_empty() && !word.contains(':') && !word.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_chat() {
        assert_eq!(parse_input("hello there"), Input::Chat("hello there"));
        assert_eq!(parse_input("  "), Input::Empty);
        assert_eq!(parse_input(""), Input::Empty);
    }

    #[test]
    fn double_slash_escapes_a_leading_slash() {
        assert_eq!(parse_input("//shrug"), Input::Chat("/shrug"));
        assert_eq!(parse_input("///x"), Input::Chat("//x"));
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(parse_input("/help"), Input::Help);
        assert_eq!(parse_input("/WHO"), Input::Who);
        assert_eq!(parse_input("/limits"), Input::Limits);
        assert_eq!(parse_input("/quit"), Input::Quit);
        assert_eq!(parse_input("/nick  Maxi "), Input::Nick("Maxi"));
        assert_eq!(parse_input("/me waves hello"), Input::Me("waves hello"));
        assert_eq!(
            parse_input("/msg Bob  psst, over here"),
            Input::Msg {
                to: "Bob",
                text: "psst, over here"
            }
        );
    }

    #[test]
    fn commands_missing_arguments_get_their_usage() {
        assert_eq!(parse_input("/nick"), Input::Usage(reply::NICK_USAGE));
        assert_eq!(parse_input("/me   "), Input::Usage(reply::ME_USAGE));
        assert_eq!(parse_input("/msg Bob"), Input::Usage(reply::MSG_USAGE));
        assert_eq!(parse_input("/msg Bob   "), Input::Usage(reply::MSG_USAGE));
        assert_eq!(parse_input("/msg"), Input::Usage(reply::MSG_USAGE));
    }

    #[test]
    fn every_command_in_help_is_listed_for_completion() {
        for line in reply::HELP.iter().skip(1) {
            // The first word after `Server:` is the command.
            let word = line
                .trim_start_matches("Server:")
                .split([' ', ':'])
                .find(|w| !w.is_empty());
            if let Some(word) = word.filter(|w| !w.starts_with("//")) {
                assert!(COMMANDS.contains(&word), "{word} is not in COMMANDS");
            }
        }
    }

    #[test]
    fn unknown_commands_are_named() {
        assert_eq!(parse_input("/dance now"), Input::Unknown("dance"));
        assert_eq!(parse_input("/"), Input::Unknown(""));
    }

    #[test]
    fn every_reply_classifies_as_its_own_kind() {
        use ServerLine::*;
        assert_eq!(classify(&reply::logged_in("Max")), LoggedIn("Max"));
        assert_eq!(
            classify(&reply::joined("Max")),
            Notice("Max joined the party!")
        );
        assert_eq!(classify(&reply::left("Max")), Notice("Max left the party."));
        assert_eq!(classify(reply::GREETING), Notice(&reply::GREETING[8..]));
        assert_eq!(
            classify(&reply::error("no such user")),
            Error("no such user")
        );
        assert_eq!(
            classify(&reply::chat("Max", "hi: there")),
            Chat {
                from: "Max",
                text: "hi: there"
            }
        );
        assert_eq!(
            classify(&reply::private_from("Max", "psst")),
            PrivateFrom {
                from: "Max",
                text: "psst"
            }
        );
        assert_eq!(
            classify(&reply::private_to("Bob", "psst")),
            PrivateTo {
                to: "Bob",
                text: "psst"
            }
        );
        assert_eq!(
            classify(&reply::action("Max", "waves")),
            Action {
                name: "Max",
                text: "waves"
            }
        );
        assert_eq!(
            classify(&reply::who(&["a", "b"])[0]),
            Notice("Online (2): a, b")
        );
    }

    #[test]
    fn every_password_line_classifies_as_its_own_kind() {
        use ServerLine::*;
        assert_eq!(
            classify(reply::PASSWORD_GREETING),
            PasswordWanted(reply::PASSWORD_GREETING)
        );
        assert_eq!(
            classify(reply::PASSWORD_ACCEPTED),
            PasswordAccepted(reply::PASSWORD_ACCEPTED)
        );
        assert_eq!(
            classify(&reply::wrong_password(2)),
            PasswordRefused("wrong password (2 tries left)")
        );
        assert_eq!(
            classify(&reply::wrong_password(1)),
            PasswordRefused("wrong password (1 try left)")
        );
        assert_eq!(
            classify(reply::WRONG_PASSWORD_CLOSING),
            PasswordRefused("wrong password; closing")
        );
        assert_eq!(
            classify(reply::PASSWORD_FIRST),
            Error("type the room's password first (/quit leaves)")
        );
        assert_eq!(
            classify(reply::TLS_REQUIRED),
            Error(&reply::TLS_REQUIRED[15..])
        );
    }

    #[test]
    fn errors_about_dropped_lines_give_their_count_back() {
        let text = |line: &str| line[reply::ERROR_PREFIX.len()..].to_string();
        assert_eq!(reply::dropped_count(&text(&reply::dropped(1))), Some(1));
        assert_eq!(reply::dropped_count(&text(&reply::dropped(17))), Some(17));
        assert_eq!(reply::dropped_count("no user named x is online"), None);
        assert!(text(&reply::too_fast(20, 40)).starts_with(reply::TOO_FAST_TEXT));
        assert!(reply::login_timeout(5).starts_with(reply::LOGIN_TIMEOUT_PREFIX));
    }

    #[test]
    fn help_lists_every_command_including_itself() {
        let help = reply::HELP.join("\n");
        for command in [
            "/help", "/who", "/join", "/leave", "/switch", "/rooms", "/topic", "/limits", "/nick",
            "/msg", "/me", "/quit", "//",
        ] {
            assert!(help.contains(&format!("   {command}")), "{command} missing");
        }
    }

    #[test]
    fn a_big_who_comes_as_short_lines() {
        let names: Vec<String> = (0..120).map(|i| format!("u{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let lines = reply::who(&names);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("Server: Online (120): u0, u1,"));
        assert_eq!(reply::who(&[]), ["Server: Online (0)."]);
        assert!(lines[0].ends_with(", u49"));
        assert!(lines[1].starts_with("Server: Online, continued: u50,"));
        assert!(lines[2].ends_with("u118, u119"));
    }

    #[test]
    fn names_that_look_like_markers_still_classify_as_chat() {
        use ServerLine::*;
        assert_eq!(
            classify(&reply::chat("To", "x")),
            Chat {
                from: "To",
                text: "x"
            }
        );
        assert_eq!(
            classify(&reply::chat("*", "x")),
            Chat {
                from: "*",
                text: "x"
            }
        );
        assert_eq!(
            classify(&reply::chat("(private)", "x")),
            Chat {
                from: "(private)",
                text: "x"
            }
        );
    }

    #[test]
    fn lines_of_no_known_shape_are_other() {
        assert_eq!(classify("hello world"), ServerLine::Other("hello world"));
        assert_eq!(classify("two words: x"), ServerLine::Other("two words: x"));
        assert_eq!(classify("* "), ServerLine::Other("* "));
        assert_eq!(
            classify("* (private): psst"),
            ServerLine::PrivateFrom {
                from: "*",
                text: "psst"
            }
        );
    }
}
