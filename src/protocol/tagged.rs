//! Tagged mode, the opt-in our own client asks for with `/tagged`: every
//! line the server sends it is `~TAGS LINE`, where LINE is exactly what a
//! plain (`nc`) client gets and TAGS are `key[=value]` items joined by
//! `,` (a message's id, the server's time, the label of the line it
//! answers…). Its lines to the server may carry a label, `~LABEL TEXT`,
//! which answers name again. Plain clients never see any of this.
//!
//! Both directions are here, apart from I/O: the server writes tags with
//! [`Tags`] (what a line means with [`Tags::kept_as`] and
//! [`Tags::reply`]) and reads labels with [`split_label`]; the client
//! reads lines with [`parse`] and values with [`unescape`]. What a line
//! means is in its tags, never in its wording, which is the server's to
//! change.

use std::borrow::Cow;
use std::fmt::Write as _;

/// What a client sends first to switch its connection to tagged mode.
pub const SWITCH: &str = "/tagged";

/// The first byte of a tagged line (and of a labeled client line).
pub const MARK: char = '~';

/// The longest label a client may give.
pub const MAX_LABEL: usize = 16;

/// Whether `label` is one the server takes: 1 to [`MAX_LABEL`] of
/// `A-Z a-z 0-9 _ -`, so it never needs quoting in a tag.
pub fn is_label(label: &str) -> bool {
    (1..=MAX_LABEL).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Splits a tagged client's line into its label and the rest. A line that
/// does not start with `~LABEL ` has no label and is taken whole.
pub fn split_label(line: &str) -> (Option<&str>, &str) {
    let labeled = line
        .strip_prefix(MARK)
        .and_then(|rest| rest.split_once(' '))
        .filter(|(label, _)| is_label(label));
    match labeled {
        Some((label, rest)) => (Some(label), rest),
        None => (None, line),
    }
}

/// The tags of one line, as the server writes them: start with the time,
/// add the rest, then [`Tags::line`].
#[derive(Debug, Clone)]
pub struct Tags {
    text: String,
}

impl Tags {
    /// `~t=MILLIS`: the server's time, which every tagged line carries.
    pub fn at(millis: u64) -> Tags {
        let mut text = String::with_capacity(48);
        // Writing to a String cannot fail.
        let _ = write!(text, "{MARK}t={millis}");
        Tags { text }
    }

    /// `~id=ID,t=MILLIS`: a kept message.
    pub fn kept(id: impl std::fmt::Display, millis: u64) -> Tags {
        let mut text = String::with_capacity(48);
        // Writing to a String cannot fail.
        let _ = write!(text, "{MARK}id={id},t={millis}");
        Tags { text }
    }

    /// Adds `key=VALUE` with `value` percent-encoded (a name, a room).
    pub fn text(self, key: &str, value: &str) -> Tags {
        self.with(key, escape(value))
    }

    /// The meaning of a kept record: `kind=…,from=…` and, for a rename,
    /// `new=`, for a private message, `to=`.
    pub fn kept_as(self, kept: Kept<'_>) -> Tags {
        match kept {
            Kept::Chat { from } => self.with("kind", "chat").text("from", from),
            Kept::Action { from } => self.with("kind", "action").text("from", from),
            Kept::Join { from } => self.with("kind", "join").text("from", from),
            Kept::Leave { from } => self.with("kind", "leave").text("from", from),
            Kept::Topic { from } => self.with("kind", "topic").text("from", from),
            Kept::Rename { from, new } => self
                .with("kind", "rename")
                .text("from", from)
                .text("new", new),
            Kept::Private { from, to } => self
                .with("kind", "private")
                .text("from", from)
                .text("to", to),
        }
    }

    /// The meaning of a reply the client acts on (see [`Reply`]).
    pub fn reply(self, reply: Reply<'_>) -> Tags {
        match reply {
            Reply::Plain => self,
            Reply::Error => self.flag("error"),
            Reply::NameRefused => self.with("error", "name"),
            Reply::TooFast => self.with("error", "too-fast"),
            Reply::Dropped(count) => self.with("error", "dropped").with("count", count),
            Reply::NotResumed => self.with("error", "resume"),
            Reply::LoginTimeout => self.with("error", "timeout"),
            Reply::PasswordFirst => self.with("error", "password-first"),
            Reply::WrongPassword { left } => self.with("error", "password").with("left", left),
            Reply::PasswordAccepted => self.with("reply", "password"),
            Reply::Bye => self.with("reply", "bye"),
            Reply::ShuttingDown => self.with("reply", "shutdown"),
            Reply::Limits { rate, burst, max } => self
                .with("reply", "limits")
                .with("rate", rate)
                .with("burst", burst)
                .with("max", max),
            Reply::Renamed { name } => self.with("reply", "nick").text("name", name),
            Reply::LoggedIn { name } => self.with("reply", "login").text("name", name),
            Reply::Switch => self.with("reply", "switch"),
            Reply::Who { count, names } => {
                let tags = match count {
                    Some(count) => self.with("reply", "who").with("count", count),
                    None => self.with("reply", "who-more"),
                };
                match names.is_empty() {
                    // An empty room: no `names=` (an empty value is malformed).
                    true => tags,
                    false => tags.with("names", name_list(names)),
                }
            }
            Reply::Joined { last } => self.with("reply", "join").with("last", last),
            Reply::Leave => self.with("reply", "leave"),
            Reply::Rooms { count } => self.with("reply", "rooms").with("count", count),
            Reply::RoomEntry { name, people } => self
                .with("reply", "room")
                .text("name", name)
                .with("count", people),
        }
    }

    /// Adds `key=value`.
    pub fn with(mut self, key: &str, value: impl std::fmt::Display) -> Tags {
        // Writing to a String cannot fail.
        let _ = write!(self.text, ",{key}={value}");
        self
    }

    /// Adds a key with no value (a flag such as `h`).
    pub fn flag(mut self, key: &str) -> Tags {
        self.text.push(',');
        self.text.push_str(key);
        self
    }

    /// Adds `re=LABEL` if there is a label.
    pub fn answering(self, label: Option<&str>) -> Tags {
        match label {
            Some(label) => self.with("re", label),
            None => self,
        }
    }

    /// The whole line: the tags, a space, `line`.
    pub fn line(mut self, line: &str) -> String {
        self.text.reserve(line.len() + 1);
        self.text.push(' ');
        self.text.push_str(line);
        self.text
    }
}

/// What a kept record is, for the tags that say it (`kind=`, `from=`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept<'a> {
    Chat { from: &'a str },
    Action { from: &'a str },
    Join { from: &'a str },
    Leave { from: &'a str },
    Rename { from: &'a str, new: &'a str },
    Topic { from: &'a str },
    Private { from: &'a str, to: &'a str },
}

/// What a reply means, for the replies a client acts on; the rest are
/// [`Reply::Plain`] (or [`Reply::Error`], an error it only shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Nothing to act on: shown as it is.
    Plain,
    /// `error`: the line answered is refused (shown, marked not sent).
    Error,
    /// `error=name`: the name given is refused; another may be tried.
    NameRefused,
    /// `error=too-fast`: lines are being dropped from now on.
    TooFast,
    /// `error=dropped,count=N`: N lines were dropped.
    Dropped(u64),
    /// `error=resume`: the session cannot be resumed; log in with a name.
    NotResumed,
    /// `error=timeout`: no name in time; the server closes.
    LoginTimeout,
    /// `error=password-first`: a command before the room's password.
    PasswordFirst,
    /// `error=password,left=N`: a wrong password; N more tries (0: closing).
    WrongPassword { left: u32 },
    /// `reply=password`: the password is accepted; a name is wanted.
    PasswordAccepted,
    /// `reply=bye`: the answer to `/quit`.
    Bye,
    /// `reply=shutdown`: the server is shutting down.
    ShuttingDown,
    /// `reply=limits,rate=,burst=,max=`: the answer to `/limits`.
    Limits { rate: u32, burst: u32, max: usize },
    /// `reply=nick,name=NEW`: our own rename is done.
    Renamed { name: &'a str },
    /// `reply=login,name=NAME`: logged in (a resume too).
    LoggedIn { name: &'a str },
    /// `reply=switch` (with the room's `room=`): the client talks in that
    /// room from now on, after a `/switch` or on leaving its current room.
    Switch,
    /// `reply=who,count=N,names=…` (the first line of a `/who` answer),
    /// `reply=who-more,names=…` (each further one): `count` None for those.
    Who {
        count: Option<usize>,
        names: &'a [&'a str],
    },
    /// `reply=join,last=N` (with the room's `room=`): we are in that
    /// room, our current one; N is the newest id kept when we came.
    Joined { last: &'a str },
    /// `reply=leave` (with the room's `room=`): we left that room.
    Leave,
    /// `reply=rooms,count=N`: the first line of a `/rooms` answer.
    Rooms { count: usize },
    /// `reply=room,name=#ops,count=N`: one room of a `/rooms` answer,
    /// with N people in it.
    RoomEntry { name: &'a str, people: usize },
}

/// Names in one tag value: each percent-encoded, joined by `+` (which an
/// encoded value never holds).
fn name_list(names: &[&str]) -> String {
    let mut list = String::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            list.push('+');
        }
        list.push_str(&escape(name));
    }
    list
}

/// The names of a `names=` tag (see [`Reply::Who`]); None if one is
/// malformed.
pub fn names(value: &str) -> Option<Vec<String>> {
    value
        .split('+')
        .filter(|name| !name.is_empty())
        .map(|name| unescape(name).map(Cow::into_owned))
        .collect()
}

/// Whether `byte` is written `%XX` in a tag value: what would end the
/// value or the tags (`,`, `=`, space), `%` itself, `+` (the separator of
/// a list), and control bytes.
fn must_escape(byte: u8) -> bool {
    matches!(byte, b'%' | b',' | b'=' | b'+' | b' ') || byte < 0x20 || byte == 0x7f
}

/// A tag value percent-encoded: borrowed when nothing needed it.
pub fn escape(value: &str) -> Cow<'_, str> {
    if !value.bytes().any(must_escape) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for ch in value.chars() {
        match u8::try_from(ch).ok().filter(|&b| must_escape(b)) {
            // Writing to a String cannot fail.
            Some(byte) => {
                let _ = write!(out, "%{byte:02X}");
            }
            None => out.push(ch),
        }
    }
    Cow::Owned(out)
}

/// A tag value decoded: None if a `%` is not followed by two hex digits
/// or the bytes are not UTF-8.
pub fn unescape(value: &str) -> Option<Cow<'_, str>> {
    if !value.contains('%') {
        return Some(Cow::Borrowed(value));
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = value.get(at + 1..at + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// A tagged line from the server, read by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged<'a> {
    /// Every tag, in order: key and value (`None` for a flag).
    pub tags: Vec<(&'a str, Option<&'a str>)>,
    /// The line as a plain client would have it.
    pub line: &'a str,
}

impl<'a> Tagged<'a> {
    /// The value of `key`, if the line has it.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.tags
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|&(_, v)| v)
    }

    /// Whether the line has `key` (with or without a value).
    pub fn has(&self, key: &str) -> bool {
        self.tags.iter().any(|(k, _)| *k == key)
    }

    /// A numeric tag (`id`, `t`, `last`…).
    pub fn number(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }
}

/// Reads a tagged line; None when it is not one (no `~`, no space, or a
/// tag that is not `key[=value]` with a lowercase key).
pub fn parse(line: &str) -> Option<Tagged<'_>> {
    let (tags, rest) = line.strip_prefix(MARK)?.split_once(' ')?;
    let mut parsed = Vec::new();
    for tag in tags.split(',') {
        let (key, value) = match tag.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (tag, None),
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase()) {
            return None;
        }
        parsed.push((key, value));
    }
    Some(Tagged {
        tags: parsed,
        line: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_writes_tags_a_client_reads_back() {
        let line = Tags::kept(42, 1_764_583_200_123)
            .flag("h")
            .answering(Some("7"))
            .line("Max: hi, all");
        assert_eq!(line, "~id=42,t=1764583200123,h,re=7 Max: hi, all");
        let tagged = parse(&line).expect("a tagged line");
        assert_eq!(tagged.number("id"), Some(42));
        assert_eq!(tagged.number("t"), Some(1_764_583_200_123));
        assert!(tagged.has("h"));
        assert_eq!(tagged.get("h"), None);
        assert_eq!(tagged.get("re"), Some("7"));
        assert_eq!(tagged.line, "Max: hi, all");
    }

    #[test]
    fn a_plain_line_or_a_malformed_tag_is_not_a_tagged_line() {
        assert_eq!(parse("Max: hi"), None);
        assert_eq!(parse("~t=1"), None, "no space, no line");
        assert_eq!(parse("~T=1 x"), None, "keys are lowercase");
        assert_eq!(parse("~t=1,,id=2 x"), None, "an empty tag");
    }

    #[test]
    fn values_are_percent_encoded_only_where_the_grammar_needs_it() {
        assert!(matches!(escape("Max"), Cow::Borrowed("Max")));
        assert_eq!(escape("#ops"), "#ops");
        assert_eq!(escape("é,ü=1 2+3%"), "é%2Cü%3D1%202%2B3%25");
        assert_eq!(escape("a\tb\x7f"), "a%09b%7F");
        for value in ["Max", "é,ü=1 2+3%", "a\tb\x7f", "%%", ""] {
            assert_eq!(
                unescape(&escape(value)).as_deref(),
                Some(value),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_malformed_escape_is_refused_not_guessed() {
        assert_eq!(unescape("%"), None);
        assert_eq!(unescape("a%2"), None);
        assert_eq!(unescape("%zz"), None);
        assert_eq!(unescape("%+1"), None);
        assert_eq!(unescape("%FF"), None, "not UTF-8");
        assert_eq!(unescape("%C3%A9").as_deref(), Some("é"));
    }

    #[test]
    fn a_kept_record_says_what_it_is_and_who_it_is_from() {
        let line = Tags::kept(7, 1)
            .kept_as(Kept::Rename {
                from: "a,b",
                new: "Zed",
            })
            .line("Server: a,b is now known as Zed.");
        let tagged = parse(&line).expect("a tagged line");
        assert_eq!(tagged.get("kind"), Some("rename"));
        assert_eq!(
            tagged.get("from").and_then(unescape).as_deref(),
            Some("a,b")
        );
        assert_eq!(tagged.get("new"), Some("Zed"));
        let private = Tags::kept(8, 1).kept_as(Kept::Private {
            from: "Ann",
            to: "Bob",
        });
        let line = private.line("To Bob (private): hi");
        assert_eq!(
            line,
            "~id=8,t=1,kind=private,from=Ann,to=Bob To Bob (private): hi"
        );
    }

    #[test]
    fn a_who_answer_lists_its_names_in_a_tag() {
        let names = ["Ann", "b+c", "d,e"];
        let line = Tags::at(1)
            .reply(Reply::Who {
                count: Some(3),
                names: &names,
            })
            .line("Server: Online (3): Ann, b+c, d,e");
        let tagged = parse(&line).expect("a tagged line");
        assert_eq!(tagged.get("reply"), Some("who"));
        assert_eq!(tagged.number("count"), Some(3));
        let listed = tagged.get("names").and_then(self::names);
        assert_eq!(listed, Some(vec!["Ann".into(), "b+c".into(), "d,e".into()]));
        let more = Tags::at(1).reply(Reply::Who {
            count: None,
            names: &["Zed"],
        });
        assert_eq!(more.line("x"), "~t=1,reply=who-more,names=Zed x");
    }

    #[test]
    fn replies_a_client_acts_on_carry_their_meaning() {
        let said = |reply| Tags::at(1).reply(reply).line("Server: x");
        assert_eq!(said(Reply::Plain), "~t=1 Server: x");
        assert_eq!(said(Reply::Error), "~t=1,error Server: x");
        assert_eq!(said(Reply::NameRefused), "~t=1,error=name Server: x");
        assert_eq!(
            said(Reply::Dropped(4)),
            "~t=1,error=dropped,count=4 Server: x"
        );
        assert_eq!(
            said(Reply::WrongPassword { left: 0 }),
            "~t=1,error=password,left=0 Server: x"
        );
        assert_eq!(
            said(Reply::Renamed { name: "Max Two" }),
            "~t=1,reply=nick,name=Max%20Two Server: x"
        );
        assert_eq!(
            said(Reply::Joined { last: "41" }),
            "~t=1,reply=join,last=41 Server: x"
        );
        assert_eq!(said(Reply::Leave), "~t=1,reply=leave Server: x");
        let nobody = Reply::Who {
            count: Some(0),
            names: &[],
        };
        assert_eq!(said(nobody), "~t=1,reply=who,count=0 Server: x");
        assert_eq!(
            said(Reply::Rooms { count: 2 }),
            "~t=1,reply=rooms,count=2 Server: x"
        );
        let entry = Reply::RoomEntry {
            name: "#ops",
            people: 3,
        };
        assert_eq!(said(entry), "~t=1,reply=room,name=#ops,count=3 Server: x");
        let limits = Reply::Limits {
            rate: 20,
            burst: 40,
            max: 4096,
        };
        assert_eq!(
            said(limits),
            "~t=1,reply=limits,rate=20,burst=40,max=4096 Server: x"
        );
        assert_eq!(
            said(Reply::LoggedIn { name: "Max" }),
            "~t=1,reply=login,name=Max Server: x"
        );
    }

    #[test]
    fn a_label_is_split_off_only_when_it_is_one() {
        assert_eq!(split_label("~12 hello"), (Some("12"), "hello"));
        assert_eq!(split_label("~a-b_C ~tilde"), (Some("a-b_C"), "~tilde"));
        assert_eq!(split_label("~ hello"), (None, "~ hello"));
        assert_eq!(split_label("~a.b hello"), (None, "~a.b hello"));
        assert_eq!(split_label("~12345678901234567 x").0, None, "too long");
        assert_eq!(split_label("hello"), (None, "hello"));
        assert_eq!(split_label("~12"), (None, "~12"), "a label needs its text");
    }
}
