//! Reading the tags of a tagged server line into the facts the client
//! acts on (time, id, which of our lines it answers, history, the session,
//! what a kept line is and who it is from, what a reply means, the room),
//! and writing our labeled lines. The client reads meaning here only,
//! never from the server's words, which are the server's to change. The grammar itself is
//! [`crate::protocol::tagged`]'s; here each known key gets its type, and a
//! known key with a value of the wrong shape makes the line malformed.
//! Pure: bytes in, typed tags out; the line after the tags is left as
//! bytes, to be sanitized and shown like any other.

use std::fmt;

use crate::protocol::tagged::{self, is_label, unescape, MAX_LABEL};

/// Where a tagged line stands in a history block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// The header: `count` lines with `h` follow, then the footer;
    /// `missed` messages after the asked-for point are no longer kept.
    Start { count: u64, missed: u64 },
    /// The footer.
    End,
}

/// What a kept line is (`kind=`), with who it is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    Chat { from: String },
    Action { from: String },
    Join { from: String },
    Leave { from: String },
    Rename { from: String, new: String },
    Topic { from: String },
    Private { from: String, to: String },
}

impl Kept {
    /// Who the line is from.
    pub fn from(&self) -> &str {
        match self {
            Kept::Chat { from }
            | Kept::Action { from }
            | Kept::Join { from }
            | Kept::Leave { from }
            | Kept::Rename { from, .. }
            | Kept::Topic { from }
            | Kept::Private { from, .. } => from,
        }
    }
}

/// An error the client acts on (`error=WORD`; a bare `error`: [`Error::Other`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The line answered is refused, for the reason the line gives.
    Other,
    /// `name`: the name given is refused; another may be tried.
    Name,
    /// `too-fast`: lines are being dropped from now on.
    TooFast,
    /// `dropped`: `count=` lines were dropped.
    Dropped(u64),
    /// `resume`: the session cannot be resumed.
    Resume,
    /// `timeout`: no name in time; the server closes.
    Timeout,
    /// `password-first`: a command before the room's password.
    PasswordFirst,
    /// `password`: a wrong password; `left=` more tries (0: closing).
    Password { left: u32 },
}

/// A reply the client acts on (`reply=WORD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `login`: logged in as `name=`.
    Login { name: String },
    /// `nick`: our rename is done: now `name=`.
    Nick { name: String },
    /// `who`: the first line of a `/who` answer, `count=` names in all.
    Who { count: u64, names: Vec<String> },
    /// `who-more`: a further line of it.
    WhoMore { names: Vec<String> },
    /// `password`: the room's password is accepted.
    Password,
    /// `bye`: the answer to `/quit`.
    Bye,
    /// `shutdown`: the server is shutting down.
    Shutdown,
    /// `limits`: the answer to `/limits` (the numbers in `rate=`,
    /// `burst=`, `max=`).
    Limits,
    /// `join`: we entered the room in `room=` (its newest id in `last=`).
    Join,
    /// `leave`: we left the room in `room=`.
    Leave,
    /// `switch`: our current room is now the one in `room=`.
    Switch,
    /// `room`: a line of a `/rooms` answer, about the room `name=`.
    Room { name: String },
}

/// The tags of one server line. Unknown keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    /// `t=`: the server's time, milliseconds since the epoch (UTC).
    pub time: Option<u64>,
    /// `id=`: the kept message's id: opaque, compared for equality only
    /// (the server orders each stream).
    pub id: Option<String>,
    /// `re=`: the label of our line this answers.
    pub re: Option<String>,
    /// `h`: replayed history, not live.
    pub history: bool,
    /// `history=N` / `history=end`: a block's header or footer.
    pub block: Option<Block>,
    /// `session=`: the token to resume this session with.
    pub session: Option<String>,
    /// `last=`: the newest id the room had kept at login (or on joining
    /// it); opaque like `id=`.
    pub last: Option<String>,
    /// `resumed`: this login was a resume.
    pub resumed: bool,
    /// `rate=`: lines a second (0: no limit), on `Tagged mode on.`.
    pub rate: Option<u32>,
    /// `burst=`: lines at once above the rate.
    pub burst: Option<u32>,
    /// `max=`: the longest line taken, in bytes, label included.
    pub max: Option<usize>,
    /// `password`, on `Tagged mode on.`: the room wants its password.
    pub password: bool,
    /// `kind=`, `from=`, `new=`, `to=`: what a kept line is.
    pub kept: Option<Kept>,
    /// `error`: the line is an error (and which, when the client acts on it).
    pub error: Option<Error>,
    /// `reply=`: a reply the client acts on.
    pub reply: Option<Reply>,
    /// `room=`: the room the line belongs to (as shown, with its `#`).
    pub room: Option<String>,
    /// `pm`: the line is of the private stream.
    pub pm: bool,
}

/// What a label adds to a line at most: `~`, the label, a space.
pub const MAX_LABEL_COST: usize = MAX_LABEL + 2;

/// A tagged line that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed;

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tagged line from the server is malformed")
    }
}

/// Splits a server line into its tags and the line itself. A line that
/// does not start with `~` has no tags (`Ok(None)`); one that starts with
/// `~` but breaks the grammar is [`Malformed`] (the caller shows it as it
/// came, sanitized).
pub fn split(raw: &[u8]) -> Result<Option<(Tags, &[u8])>, Malformed> {
    if !raw.starts_with(b"~") {
        return Ok(None);
    }
    let space = raw.iter().position(|&b| b == b' ').ok_or(Malformed)?;
    // The tags with their space: the grammar's parser wants a line after them.
    let head = std::str::from_utf8(&raw[..=space]).map_err(|_| Malformed)?;
    let parsed = tagged::parse(head).ok_or(Malformed)?;
    Ok(Some((typed(&parsed.tags)?, &raw[space + 1..])))
}

fn typed(items: &[(&str, Option<&str>)]) -> Result<Tags, Malformed> {
    let mut tags = Tags::default();
    let (mut count, mut missed, mut end) = (None, 0, false);
    let mut said = Said::default();
    for &(key, value) in items {
        if value.is_some_and(|v| v.is_empty() || v.bytes().any(|b| b < 0x21 || b == 0x7f)) {
            return Err(Malformed);
        }
        match (key, value) {
            ("t", Some(v)) => tags.time = Some(number(v)?),
            ("id", Some(v)) => tags.id = Some(opaque(v)?),
            ("re", Some(v)) if is_label(v) => tags.re = Some(v.to_string()),
            ("h", None) => tags.history = true,
            ("history", Some("end")) => end = true,
            ("history", Some(v)) => count = Some(number(v)?),
            ("missed", Some(v)) => missed = number(v)?,
            ("session", Some(v)) if is_token(v) => tags.session = Some(v.to_string()),
            ("last", Some(v)) => tags.last = Some(opaque(v)?),
            ("resumed", None) => tags.resumed = true,
            ("rate", Some(v)) => tags.rate = Some(number(v)?),
            ("burst", Some(v)) => tags.burst = Some(number(v)?),
            ("max", Some(v)) => tags.max = Some(number(v)?),
            ("password", None) => tags.password = true,
            ("pm", None) => tags.pm = true,
            ("room", Some(v)) => tags.room = Some(text(v)?),
            // A known key with a value of the wrong shape.
            ("t" | "id" | "re" | "h" | "history" | "missed" | "session" | "last", _)
            | ("resumed" | "rate" | "burst" | "max" | "password" | "pm" | "room", _) => {
                return Err(Malformed)
            }
            (key, value) => said.take(key, value)?,
        }
    }
    tags.block = match (count, end) {
        (Some(count), false) => Some(Block::Start { count, missed }),
        (None, true) => Some(Block::End),
        (None, false) => None,
        (Some(_), true) => return Err(Malformed),
    };
    (tags.kept, tags.error, tags.reply) = said.meaning()?;
    Ok(tags)
}

/// What a line means: what it keeps, the error it is, the reply it is.
type Meaning = (Option<Kept>, Option<Error>, Option<Reply>);

/// The tags that say what a line means, as they came (in any order).
#[derive(Default)]
struct Said<'a> {
    kind: Option<&'a str>,
    from: Option<String>,
    new: Option<String>,
    to: Option<String>,
    error: Option<Option<&'a str>>,
    reply: Option<&'a str>,
    name: Option<String>,
    names: Option<Vec<String>>,
    count: Option<u64>,
    left: Option<u32>,
}

impl<'a> Said<'a> {
    /// One tag; unknown keys are ignored.
    fn take(&mut self, key: &str, value: Option<&'a str>) -> Result<(), Malformed> {
        match (key, value) {
            ("kind", Some(v)) => self.kind = Some(v),
            ("from", Some(v)) => self.from = Some(text(v)?),
            ("new", Some(v)) => self.new = Some(text(v)?),
            ("to", Some(v)) => self.to = Some(text(v)?),
            ("error", v) => self.error = Some(v),
            ("reply", Some(v)) => self.reply = Some(v),
            ("name", Some(v)) => self.name = Some(text(v)?),
            ("names", Some(v)) => self.names = Some(tagged::names(v).ok_or(Malformed)?),
            ("count", Some(v)) => self.count = Some(number(v)?),
            ("left", Some(v)) => self.left = Some(number(v)?),
            ("kind" | "from" | "new" | "to" | "reply" | "name" | "names" | "count", None)
            | ("left", None) => return Err(Malformed),
            _ => {}
        }
        Ok(())
    }

    /// What they say together. A kind, error or reply this client does
    /// not know is none (it is for newer clients); one that lacks a tag
    /// it needs is malformed.
    fn meaning(self) -> Result<Meaning, Malformed> {
        let kept = match self.kind {
            Some(kind) => kept(kind, self.from.clone(), self.new, self.to)?,
            None => None,
        };
        let error = match self.error {
            Some(word) => Some(error(word, self.count, self.left)?),
            None => None,
        };
        let reply = match self.reply {
            Some(word) => reply(word, self.name, self.names, self.count)?,
            None => None,
        };
        Ok((kept, error, reply))
    }
}

fn kept(
    kind: &str,
    from: Option<String>,
    new: Option<String>,
    to: Option<String>,
) -> Result<Option<Kept>, Malformed> {
    let from = from.ok_or(Malformed)?;
    Ok(Some(match kind {
        "chat" => Kept::Chat { from },
        "action" => Kept::Action { from },
        "join" => Kept::Join { from },
        "leave" => Kept::Leave { from },
        "topic" => Kept::Topic { from },
        "rename" => Kept::Rename {
            from,
            new: new.ok_or(Malformed)?,
        },
        "private" => Kept::Private {
            from,
            to: to.ok_or(Malformed)?,
        },
        _ => return Ok(None),
    }))
}

fn error(word: Option<&str>, count: Option<u64>, left: Option<u32>) -> Result<Error, Malformed> {
    Ok(match word {
        Some("name") => Error::Name,
        Some("too-fast") => Error::TooFast,
        Some("dropped") => Error::Dropped(count.ok_or(Malformed)?),
        Some("resume") => Error::Resume,
        Some("timeout") => Error::Timeout,
        Some("password-first") => Error::PasswordFirst,
        Some("password") => Error::Password {
            left: left.ok_or(Malformed)?,
        },
        // A bare `error`, or one this client does not act on.
        _ => Error::Other,
    })
}

fn reply(
    word: &str,
    name: Option<String>,
    names: Option<Vec<String>>,
    count: Option<u64>,
) -> Result<Option<Reply>, Malformed> {
    Ok(Some(match word {
        "login" => Reply::Login {
            name: name.ok_or(Malformed)?,
        },
        "nick" => Reply::Nick {
            name: name.ok_or(Malformed)?,
        },
        "who" => Reply::Who {
            count: count.ok_or(Malformed)?,
            names: names.unwrap_or_default(),
        },
        "who-more" => Reply::WhoMore {
            names: names.unwrap_or_default(),
        },
        "password" => Reply::Password,
        "bye" => Reply::Bye,
        "shutdown" => Reply::Shutdown,
        "limits" => Reply::Limits,
        "join" => Reply::Join,
        "leave" => Reply::Leave,
        "switch" => Reply::Switch,
        "room" => Reply::Room {
            name: name.ok_or(Malformed)?,
        },
        _ => return Ok(None),
    }))
}

/// A percent-encoded value, decoded.
fn text(value: &str) -> Result<String, Malformed> {
    unescape(value).map(|v| v.into_owned()).ok_or(Malformed)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, Malformed> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed);
    }
    text.parse().map_err(|_| Malformed)
}

/// The longest id kept: a server's ids are short; a longer one is not
/// held (a cursor holds one per room).
pub const MAX_ID: usize = 64;

/// A message id: opaque (no space or comma, as every value), short.
fn opaque(value: &str) -> Result<String, Malformed> {
    match value.len() <= MAX_ID {
        true => Ok(value.to_string()),
        false => Err(Malformed),
    }
}

/// A session token: 32 hex digits.
fn is_token(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Our line `text` with `label`: `~LABEL TEXT`.
pub fn labeled(label: &str, text: &str) -> String {
    debug_assert!(is_label(label), "labels are made by `Labels`");
    format!("{}{label} {text}", tagged::MARK)
}

/// `/resume TOKEN CURSOR`: in place of a name, to take a session back
/// (CURSOR: the newest id seen of each stream, see `super::cursor`).
pub fn resume(token: &str, cursor: &str) -> String {
    format!("/resume {token} {cursor}")
}

/// `/history after ID` (`#main`'s form, today's), or `/history ROOM after
/// ID`: the messages of `room` after `id`.
pub fn history_after(room: &str, id: &str) -> String {
    match crate::protocol::room::RoomName::parse(room) {
        Ok(room) if room.key() == crate::protocol::room::RoomName::main().key() => {
            format!("/history after {id}")
        }
        _ => format!("/history {room} after {id}"),
    }
}

/// The labels a client gives its lines: short, unique for the session
/// (wrapping only after [`MAX_LABEL`] digits' worth).
#[derive(Debug, Default)]
pub struct Labels {
    /// The last one given.
    last: u64,
}

impl Labels {
    /// The next label.
    pub fn next(&mut self) -> String {
        // 10^16 - 1 is the largest 16-digit number.
        const _: () = assert!(MAX_LABEL == 16);
        self.last = self.last % 9_999_999_999_999_999 + 1;
        self.last.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags_of(raw: &str) -> (Tags, String) {
        let (tags, line) = split(raw.as_bytes()).unwrap().unwrap();
        (tags, String::from_utf8(line.to_vec()).unwrap())
    }

    #[test]
    fn an_untagged_line_has_no_tags() {
        assert_eq!(split(b"Max: hi"), Ok(None));
        assert_eq!(split(b""), Ok(None));
    }

    #[test]
    fn an_echo_carries_its_time_id_and_label() {
        let (tags, line) = tags_of("~t=1764583200123,id=42,re=7 Max: hello there");
        assert_eq!(line, "Max: hello there");
        assert_eq!(tags.time, Some(1_764_583_200_123));
        assert_eq!(tags.id.as_deref(), Some("42"));
        assert_eq!(tags.re.as_deref(), Some("7"));
        assert!(!tags.history);
    }

    #[test]
    fn the_login_line_carries_the_session() {
        let raw = "~t=1,session=0123456789abcdef0123456789ABCDEF,last=41,resumed,re=2 \
                   Server: You are logged in as: Max";
        let (tags, line) = tags_of(raw);
        assert_eq!(line, "Server: You are logged in as: Max");
        assert_eq!(
            tags.session.as_deref(),
            Some("0123456789abcdef0123456789ABCDEF")
        );
        assert_eq!(tags.last.as_deref(), Some("41"));
        assert!(tags.resumed);
    }

    #[test]
    fn a_history_block_has_a_header_lines_and_a_footer() {
        let (header, _) = tags_of("~t=1,history=14,missed=3 Server: 14 messages since you left:");
        assert_eq!(
            header.block,
            Some(Block::Start {
                count: 14,
                missed: 3
            })
        );
        let (header, _) = tags_of("~t=1,missed=3,history=14 Server: x");
        assert_eq!(
            header.block,
            Some(Block::Start {
                count: 14,
                missed: 3
            })
        );
        let (line, _) = tags_of("~t=1,id=5,h Ann: hi");
        assert!(line.history);
        let (footer, _) = tags_of("~t=1,history=end Server: End of what you missed.");
        assert_eq!(footer.block, Some(Block::End));
    }

    #[test]
    fn the_rooms_limits_come_with_tagged_mode() {
        let (tags, line) =
            tags_of("~t=1764583200123,rate=20,burst=40,max=4096 Server: Tagged mode on.");
        assert_eq!(line, "Server: Tagged mode on.");
        assert_eq!(
            (tags.rate, tags.burst, tags.max),
            (Some(20), Some(40), Some(4096))
        );
    }

    #[test]
    fn a_kept_line_says_what_it_is_and_who_it_is_from() {
        let (tags, _) = tags_of("~id=3,t=1,kind=rename,from=a%2Cb,new=Zed,room=#ops x");
        let renamed = Kept::Rename {
            from: "a,b".into(),
            new: "Zed".into(),
        };
        assert_eq!(tags.kept, Some(renamed));
        assert_eq!(tags.room.as_deref(), Some("#ops"));
        let (tags, _) = tags_of("~id=4,t=1,kind=private,from=Ann,to=Max,pm x");
        assert_eq!(tags.kept.as_ref().map(Kept::from), Some("Ann"));
        assert!(tags.pm);
        let (tags, _) = tags_of("~id=5,t=1,kind=poll,from=Ann x");
        assert_eq!(tags.kept, None, "a kind for newer clients");
    }

    #[test]
    fn replies_and_errors_say_what_they_mean_whatever_their_words() {
        let (tags, _) = tags_of("~t=1,reply=who,count=3,names=Ann+b%2Bc x");
        let who = Reply::Who {
            count: 3,
            names: vec!["Ann".into(), "b+c".into()],
        };
        assert_eq!(tags.reply, Some(who));
        let (tags, _) = tags_of("~t=1,reply=nick,name=Maxi x");
        assert_eq!(
            tags.reply,
            Some(Reply::Nick {
                name: "Maxi".into()
            })
        );
        let (tags, _) = tags_of("~t=1,error x");
        assert_eq!(tags.error, Some(Error::Other));
        let (tags, _) = tags_of("~t=1,error=dropped,count=4 x");
        assert_eq!(tags.error, Some(Error::Dropped(4)));
        let (tags, _) = tags_of("~t=1,error=password,left=0 x");
        assert_eq!(tags.error, Some(Error::Password { left: 0 }));
        let (tags, _) = tags_of("~t=1,error=lava x");
        assert_eq!(tags.error, Some(Error::Other), "an error all the same");
        let (tags, _) = tags_of("~t=1,reply=limits,rate=2,burst=4,max=99 x");
        assert_eq!(tags.reply, Some(Reply::Limits));
        assert_eq!(
            (tags.rate, tags.burst, tags.max),
            (Some(2), Some(4), Some(99))
        );
        let (tags, _) = tags_of("~t=1,reply=poll x");
        assert_eq!(tags.reply, None, "a reply for newer clients");
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let (tags, line) = tags_of("~t=5,color=red,flag,zz=1 Max: hi");
        assert_eq!(tags.time, Some(5));
        assert_eq!(line, "Max: hi");
    }

    #[test]
    fn a_line_that_only_looks_tagged_is_malformed_not_a_panic() {
        for raw in [
            "~",
            "~t=1",
            "~t=x Max: hi",
            "~t= Max: hi",
            "~T=1 Max: hi",
            "~t=1,,id=2 Max: hi",
            "~t=99999999999999999999999 Max: hi",
            "~re=a.b Max: hi",
            "~session=xyz Max: hi",
            "~h=1 Max: hi",
            "~t=1,kind=chat Max: hi",
            "~t=1,kind=rename,from=a Max: hi",
            "~t=1,from=a%2 Max: hi",
            "~t=1,reply=nick Max: hi",
            "~t=1,error=dropped Max: hi",
            "~t=1,names=a%zz Max: hi",
            "~t=1,pm=1 Max: hi",
            "~t=1\x1b[2J Max: hi",
        ] {
            assert_eq!(split(raw.as_bytes()), Err(Malformed), "{raw:?}");
        }
        assert_eq!(split(b"~t=\xff Max: hi"), Err(Malformed));
        let long_id = format!("~id={} Max: hi", "7".repeat(MAX_ID + 1));
        assert_eq!(
            split(long_id.as_bytes()),
            Err(Malformed),
            "an id past MAX_ID"
        );
    }

    #[test]
    fn ids_are_opaque_text_not_numbers() {
        let (tags, _) = tags_of("~id=r7-0a,last=x%2Cy,t=1 Max: hi");
        assert_eq!(tags.id.as_deref(), Some("r7-0a"));
        assert_eq!(
            tags.last.as_deref(),
            Some("x%2Cy"),
            "kept as sent, to send back"
        );
    }

    #[test]
    fn room_replies_say_which_room_whatever_their_words() {
        let (tags, _) = tags_of("~t=1,reply=join,room=#ops,last=9,re=3 x");
        assert_eq!(tags.reply, Some(Reply::Join));
        assert_eq!(tags.room.as_deref(), Some("#ops"));
        let (tags, _) = tags_of("~t=1,reply=switch,room=#a%2Cb x");
        assert_eq!(tags.reply, Some(Reply::Switch));
        assert_eq!(tags.room.as_deref(), Some("#a,b"));
        let (tags, _) = tags_of("~t=1,reply=leave,room=#ops x");
        assert_eq!(tags.reply, Some(Reply::Leave));
        let (tags, _) = tags_of("~t=1,reply=room,name=#lunch x");
        let room = Reply::Room {
            name: "#lunch".into(),
        };
        assert_eq!(tags.reply, Some(room));
        assert_eq!(split(b"~t=1,reply=room x"), Err(Malformed));
    }

    #[test]
    fn the_line_after_the_tags_is_left_as_bytes_for_sanitizing() {
        let (_, line) = split(b"~t=1 Eve: \x1b]52;c;x\x07").unwrap().unwrap();
        assert_eq!(line, b"Eve: \x1b]52;c;x\x07");
    }

    #[test]
    fn history_after_names_a_room_other_than_main() {
        assert_eq!(history_after("#main", "41"), "/history after 41");
        assert_eq!(history_after("#MAIN", "41"), "/history after 41");
        assert_eq!(history_after("#ops", "a7"), "/history #ops after a7");
        assert_eq!(resume("ab", "#main=4,@=2"), "/resume ab #main=4,@=2");
    }

    #[test]
    fn labels_are_valid_unique_and_short() {
        let mut labels = Labels::default();
        let a = labels.next();
        let b = labels.next();
        assert_ne!(a, b);
        assert!(is_label(&a) && is_label(&b));
        labels.last = 9_999_999_999_999_999;
        let wrapped = labels.next();
        assert!(is_label(&wrapped), "{wrapped}");
        assert_eq!(labeled("3", "~hi"), "~3 ~hi");
        assert!(!is_label("") && !is_label(&"a".repeat(17)) && !is_label("a b"));
    }
}
