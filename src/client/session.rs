//! The chat itself, once logged in: print what the server sends, send what
//! is typed, and leave cleanly when either side ends. In tagged mode it
//! also stamps each line with its time, confirms our own lines by their
//! echo, shows replayed history as a dimmed block under a marker, calls
//! the person's attention to mentions, and, when the connection drops,
//! comes back (resuming the session) without losing a line either way.

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::future::pending;
use futures::{AsyncWriteExt, FutureExt};

use super::catchup::{self, Catchup};
use super::clock::Clock;
use super::confirm::{self, Answer, Confirm};
use super::connect::Writer;
use super::input::{Screen, Typed};
use super::lines::{send_line, Incoming, ServerLines};
use super::login::Tagged;
use super::mention;
use super::own::{Heard, Own};
use super::pace::{Paced, FALLBACK};
use super::palette::Palette;
use super::reconnect::{self, Backoff};
use super::render::{self, Colors, Emphasis};
use super::resume::{self, Fail, Who};
use super::tags::{self, Block, Labels, Tags};
use super::Options;
use crate::protocol::limits::Limits;
use crate::protocol::message::{classify, parse_input, reply, Input, ServerLine};
use crate::protocol::name::Name;
use crate::protocol::password::Secret;
use crate::protocol::sanitize::sanitize_bytes;
use crate::runtime;

/// After we stop sending, how long the server has to close its side.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's answer to our `/nick` (the new name follows).
const RENAMED_SELF: &str = "Server: You are now known as: ";

/// What the person sees when the server hangs up on them.
pub const SERVER_LEFT: &str = "Server left.";

/// Lines typed while away that are kept to send after; past it, the
/// input waits (the editor keeps the rest).
const MOST_TYPED_AWAY: usize = 256;

/// How often the reconnect status is redrawn (its spinner and time away).
const STATUS_TICK: Duration = Duration::from_millis(250);

/// The spinner's frames.
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// The longest label with its `~` and space: what a label adds to a line.
const LABEL_COST: usize = tags::MAX_LABEL_COST;

/// What happened next in the session.
enum Next {
    /// A line from the server; None or an error: it is gone.
    Server(std::io::Result<Option<Incoming>>),
    /// Something typed; None: the input side is gone.
    Typed(Option<Typed>),
    /// We are leaving and the server has not closed its side in time.
    CloseTimedOut,
    /// The end of a catch-up block did not come in time.
    CatchupTimedOut,
}

/// One connection to the server.
pub struct Connection {
    /// The server's lines.
    pub server: ServerLines,
    /// Our side of it.
    pub writer: Writer,
}

/// Who is talking, for the transcript, the pacing and coming back.
pub struct Me {
    /// The name the server took.
    pub name: Name,
    /// The room's password, kept (in memory only) to come back with.
    pub password: Option<Secret>,
    /// Our own lines are shown (typed on a terminal; a piped bot's are not).
    pub echo: bool,
    /// Input is piped: refused lines make the exit code a failure.
    pub piped: bool,
}

/// How lines look, decided by the caller from the flags and the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    /// The colours lines are printed in.
    pub colors: Colors,
    /// Each line shows its time.
    pub timestamps: bool,
    /// A mention or a private message rings the bell.
    pub bell: bool,
}

/// When a catch-up block being held ends.
#[derive(Debug, PartialEq, Eq)]
enum Until {
    /// At the block's footer (the login's or a resume's block).
    End,
    /// At the footer (or the refusal) answering our `/history after`.
    Answer(String),
}

/// A catch-up block being held.
struct Holding {
    /// The lines so far.
    block: Catchup<Incoming>,
    /// What ends it.
    until: Until,
    /// When to stop waiting for its end and show what came.
    deadline: Instant,
    /// Lines the latest block's header promised (`history=N`).
    promised: u64,
    /// History lines that came since that header (those held before
    /// included).
    came: u64,
    /// How many times a short block was asked for again.
    asked_again: u32,
}

impl Holding {
    fn new(block: Catchup<Incoming>, until: Until, patience: Duration) -> Holding {
        Holding {
            block,
            until,
            deadline: Instant::now() + patience,
            promised: 0,
            came: 0,
            asked_again: 0,
        }
    }
}

/// How many times a block that came short is asked for again before what
/// came is shown as it is (with the shortfall said). Our server never
/// sends one (a block it cannot send whole ends the connection, and the
/// resume asks again); an older or a broken one might, every time.
const MOST_ASKED_AGAIN: u32 = 2;

/// While the connection is down: what the status says and what waits.
struct Away {
    /// Where we are reconnecting to, as shown.
    address: String,
    /// Our lines unanswered at the drop, to send again once back.
    unanswered: Vec<String>,
    /// Lines typed while away, to send once back.
    typed: Vec<String>,
    /// The waits between attempts, and how long we have been away.
    backoff: Backoff,
    /// Why the last attempt failed, in a few words.
    last_error: Option<String>,
    /// The spinner's frame.
    tick: usize,
}

/// Everything the session keeps between lines.
struct Chat<'a> {
    /// Where lines are shown.
    screen: Screen,
    /// How they look.
    look: Look,
    /// Times for the stamps and the marker (local time).
    clock: Clock,
    /// Our name now (it changes with `/nick`).
    name: String,
    /// Who we are (as logged in), and how our lines are shown.
    me: Me,
    /// Untagged: our lines as the transcript shows them.
    own: Own,
    /// Tagged: our labeled lines awaiting their answer.
    confirm: Confirm,
    /// The labels our lines get.
    labels: Labels,
    /// Tagged mode is on (an older server does not know it).
    tagged: bool,
    /// The token to resume the session with, once the server gave one.
    token: Option<String>,
    /// The newest id seen (what a resume asks to replay after).
    last_id: u64,
    /// The time of the newest line seen (the marker's "since").
    last_time: Option<u64>,
    /// A catch-up block being collected.
    holding: Option<Holding>,
    /// The block held came short: ask `/history after` this id.
    ask_again: Option<u64>,
    /// Inside a block the person asked for with `/history`: shown dimmed.
    asked_block: bool,
    /// Coming back: the next block's "since" is when we left.
    away_since: Option<u64>,
    /// Lines to send once the catch-up after a reconnect is shown: the
    /// unanswered ones at the drop, then those typed while away.
    after_catchup: Option<(Vec<String>, Vec<String>)>,
    /// Where and how to connect again.
    options: &'a Options,
    /// Come back when the connection drops.
    reconnect: bool,
    /// The input ended while lines waited for a catch-up: leave once sent.
    end_after_catchup: bool,
    /// The next block is the replay of the first login (the room's last
    /// messages), not what was missed while away.
    first_block: bool,
    /// Typed lines waiting for the room's pace, as last shown.
    sending: Option<usize>,
    /// The colours of the names seen.
    palette: Palette,
    /// The room's notice of our own rename, still to come: the server
    /// told us first (`You are now known as: …`), so it is not shown.
    own_rename: Option<String>,
}

/// Shows the room and sends what is typed, until one side ends.
#[allow(clippy::too_many_arguments)]
pub async fn session(
    mut conn: Connection,
    screen: Screen,
    typed: mpsc::Receiver<Typed>,
    look: Look,
    me: Me,
    tagged: Option<Box<Tagged>>,
    options: &Options,
    reconnect: bool,
) -> ExitCode {
    let now = now_millis();
    let mut chat = Chat {
        screen,
        look,
        clock: Clock::system(now),
        name: me.name.as_str().to_string(),
        own: Own::new(me.name.as_str()),
        me,
        confirm: Confirm::default(),
        labels: Labels::default(),
        tagged: tagged.is_some(),
        token: None,
        last_id: 0,
        last_time: None,
        holding: None,
        ask_again: None,
        asked_block: false,
        away_since: None,
        after_catchup: None,
        options,
        reconnect,
        end_after_catchup: false,
        first_block: true,
        sending: None,
        palette: Palette::new(look.colors),
        own_rename: None,
    };
    // Untagged: the room's limits, to pace what we send; the answer is not
    // shown. Tagged: the limits came with tagged mode.
    let asked = match &tagged {
        Some(_) => false,
        None => send_line(&mut conn.writer, "/limits").await.is_ok(),
    };
    let mut typed = Paced::new(typed, Instant::now());
    if let Some(tagged) = &tagged {
        typed.learn(tagged_limits(&tagged.mode), Instant::now());
        chat.logged_in(&tagged.login);
    }
    let mut limits_answered = !asked;
    // Once we stop sending (Ctrl-D, Ctrl-C, /quit, end of piped input) the
    // server closes its side after the last lines; until then we keep reading.
    let mut leaving: Option<Instant> = None;
    let mut typing = true;
    loop {
        let waiting = typing.then(|| typed.waiting(Instant::now())).flatten();
        chat.show_sending(waiting);
        let input = typing.then_some(&mut typed);
        let catching_up = chat.holding.as_ref().map(|h| h.deadline);
        match next(&mut conn.server, input, leaving, catching_up).await {
            Next::Server(Ok(Some(incoming))) => {
                // Our own `/limits` is answered first (replies come in
                // order); that answer is hidden even when it comes after
                // the pacer stopped waiting for it.
                if !limits_answered {
                    if let Some(limits) = learned(&sanitize_bytes(&incoming.line)) {
                        limits_answered = true;
                        if !typed.knows() {
                            typed.learn(limits, Instant::now());
                        }
                        continue;
                    }
                }
                let waited = chat.heard(incoming);
                chat.ask_again(&mut conn.writer).await;
                typing |= chat.send_waited(&mut typed, waited);
            }
            Next::Server(Ok(None) | Err(_)) if leaving.is_some() => {
                return chat.finish(None, ExitCode::SUCCESS);
            }
            Next::Server(Ok(None) | Err(_)) => match chat.come_back(&mut typed).await {
                Ok(back) => conn = back,
                Err(code) => return code,
            },
            Next::Typed(Some(Typed::Line(line))) => {
                if is_quit(&line) {
                    leaving.get_or_insert_with(Instant::now);
                }
                if chat.after_catchup.is_some() {
                    // Still catching up after a reconnect: in order, after it.
                    if let Some((_, away)) = &mut chat.after_catchup {
                        away.push(line);
                    }
                    continue;
                }
                // A line that could not leave is sent again once back.
                if !chat.send(&mut conn.writer, &typed, &line).await && !chat.may_come_back() {
                    return chat.left();
                }
            }
            Next::Typed(Some(Typed::TooLong)) => {
                chat.refused_here();
                let max = super::input::MAX_INPUT_LINE;
                eprintln!("sockchat: a line was not sent: it is longer than {max} bytes");
            }
            Next::Typed(Some(Typed::Eof) | None) if chat.after_catchup.is_some() => {
                // The end of input while lines wait for the catch-up: they
                // are sent first, then we leave.
                typing = false;
                chat.end_after_catchup = true;
            }
            Next::Typed(Some(Typed::Eof | Typed::Interrupted) | None) => {
                typing = false;
                leaving.get_or_insert_with(Instant::now);
                chat.abandon_waiting();
                goodbye(&mut conn.writer).await;
            }
            Next::CloseTimedOut => {
                return chat.finish(None, ExitCode::SUCCESS);
            }
            Next::CatchupTimedOut => {
                let secs = chat.options.login_timeout.as_secs();
                let why = format!("the server did not answer within {secs} s");
                let waited = chat.caught_up(Some(why));
                typing |= chat.send_waited(&mut typed, waited);
            }
        }
    }
}

impl Chat<'_> {
    /// The tags of `You are logged in as:`: the session to come back to.
    /// (Its `last` is not taken as seen: the late joiner's block, with
    /// older ids, comes after it.)
    fn logged_in(&mut self, login: &Tags) {
        if let Some(token) = &login.session {
            self.token = Some(token.clone());
        }
        if let Some(time) = login.time {
            self.last_time = Some(self.last_time.map_or(time, |t| t.max(time)));
        }
    }

    /// A line from the server; returns lines of ours to send now (those
    /// waiting for the catch-up after a reconnect).
    fn heard(&mut self, incoming: Incoming) -> Vec<String> {
        if let Some(new) = sanitize_bytes(&incoming.line).strip_prefix(RENAMED_SELF) {
            self.own_rename = Some(reply::renamed(&self.name, new));
            self.name = new.to_string();
        }
        if !self.tagged {
            self.heard_untagged(&incoming);
            return Vec::new();
        }
        let tags = &incoming.tags;
        match tags.block {
            Some(Block::Start { count, missed }) => {
                if let Some(holding) = &mut self.holding {
                    match holding.asked_again {
                        0 => holding.block.missed(missed),
                        // The same point asked again: the same loss.
                        _ => holding.block.missed_at_least(missed),
                    }
                    (holding.promised, holding.came) = (count, 0);
                    return Vec::new();
                }
                if tags.re.as_deref().is_some_and(|re| self.confirm.knows(re)) {
                    // The person's own `/history`: shown as the server says it,
                    // and answered (not taken for dropped by a later answer).
                    let text = sanitize_bytes(&incoming.line).into_owned();
                    self.confirm.heard(tags.re.as_deref(), &classify(&text));
                    self.asked_block = true;
                    let header = Incoming {
                        tags: incoming.tags.clone(),
                        line: without_utc(&incoming.line),
                    };
                    self.show(&header, true);
                    return Vec::new();
                }
                let mut block = match std::mem::take(&mut self.first_block) {
                    true => Catchup::first_login(),
                    false => Catchup::new(self.last_id, self.away_since.take()),
                };
                block.missed(missed);
                let mut holding = Holding::new(block, Until::End, self.options.login_timeout);
                holding.promised = count;
                self.holding = Some(holding);
                return Vec::new();
            }
            Some(Block::End) => {
                if self.asked_block {
                    self.asked_block = false;
                    self.show(&incoming, true);
                    return Vec::new();
                }
                let ours = match &self.holding {
                    Some(h) => h.until == Until::End || h.until == answering(tags),
                    None => false,
                };
                if !ours {
                    return Vec::new();
                }
                if let Some(after) = self.came_short() {
                    // Held on: the answer to asking again ends it.
                    self.ask_again = Some(after);
                    return Vec::new();
                }
                return self.caught_up(None);
            }
            None => {}
        }
        if let Some(holding) = &mut self.holding {
            if matches!(holding.until, Until::Answer(_)) && holding.until == answering(tags) {
                // Our `/history after` refused (a room that keeps no history).
                let why = sanitize_bytes(&incoming.line).into_owned();
                return self.caught_up(Some(why));
            }
            let text = sanitize_bytes(&incoming.line);
            // Our own arrival on logging in again: not shown (as live) nor
            // counted as news.
            if tags.id.is_some() && text == reply::joined(&self.name) {
                return Vec::new();
            }
            let calls = mention::calls(&classify(&text), &self.name);
            let (id, time, size) = (tags.id, tags.time, incoming.line.len());
            holding.came += u64::from(tags.history);
            holding.block.add(id, time, calls, size, incoming);
            if holding.block.full() {
                return self.caught_up(None);
            }
            return Vec::new();
        }
        // A live line already shown in a catch-up (or twice): once only.
        if let Some(id) = tags.id.filter(|_| !tags.history && !self.asked_block) {
            if id <= self.last_id {
                return Vec::new();
            }
            self.last_id = id;
        }
        if let Some(time) = tags.time {
            self.last_time = Some(time);
        }
        let text = sanitize_bytes(&incoming.line).into_owned();
        let line = classify(&text);
        let ours = tags.re.as_deref().is_some_and(|re| self.confirm.knows(re));
        match self.confirm.heard(tags.re.as_deref(), &line) {
            Answer::Show => {}
            Answer::Refused(refused) => {
                let error = matches!(line, ServerLine::Error(_));
                for (mine, why) in refused {
                    self.not_sent(&mine, &why);
                }
                if error {
                    return Vec::new();
                }
            }
        }
        // A piped bot's own messages are not printed back, as without
        // tagged mode; a private one's `To Bob (private): …` always was.
        let private = matches!(line, ServerLine::PrivateTo { .. });
        if ours && tags.id.is_some() && !self.me.echo && !private {
            return Vec::new();
        }
        // Our own join's echo: without tagged mode nobody is told of their
        // own arrival, and the screen stays as it was.
        if tags.id.is_some() && !tags.history && text == reply::joined(&self.name) {
            return Vec::new();
        }
        let history = tags.history || self.asked_block;
        if !history && self.told_own_rename(&text) {
            return Vec::new();
        }
        if let Some(limits) = Limits::parse(&text).filter(|_| ours) {
            // The person's `/limits`: the longest line they can type, as a
            // refusal of a longer one says it (our label takes the rest).
            let typed = Limits {
                max_line_bytes: limits.max_line_bytes.saturating_sub(LABEL_COST),
                ..limits
            };
            let line = reply::limits(&typed).into_bytes();
            let told = Incoming { line, ..incoming };
            self.show(&told, history);
            return Vec::new();
        }
        self.show(&incoming, history);
        Vec::new()
    }

    /// An untagged server: today's transcript rules.
    fn heard_untagged(&mut self, incoming: &Incoming) {
        let text = sanitize_bytes(&incoming.line);
        if self.told_own_rename(&text) {
            return;
        }
        match self.own.heard(&text) {
            Heard::Show => self.show(incoming, false),
            Heard::NotSent { mine, why } => self.not_sent(&mine, &why),
        }
    }

    /// Whether `text` is the room's notice of the rename the server
    /// already told us of: then the editor learns of it (for Tab), and it
    /// is not shown twice.
    fn told_own_rename(&mut self, text: &str) -> bool {
        if self.own_rename.as_deref() != Some(text) {
            return false;
        }
        self.own_rename = None;
        self.screen.heard(text);
        true
    }

    /// The footer of the block held came: if fewer lines came than its
    /// header promised, the id to ask again after (while we may), else
    /// None, the shortfall noted for the marker if there was one.
    fn came_short(&mut self) -> Option<u64> {
        let holding = self.holding.as_mut()?;
        let short = holding.promised.saturating_sub(holding.came);
        if short == 0 {
            return None;
        }
        let after = holding.block.ask_again_after();
        if holding.asked_again >= MOST_ASKED_AGAIN || after.is_none() {
            holding.block.short(short);
            return None;
        }
        holding.asked_again += 1;
        after
    }

    /// Asks `/history after` the id [`Chat::came_short`] gave, if it gave
    /// one: the block held is then ended by its answer. Labeled apart from
    /// the person's lines, so that its answer is held, not shown as theirs.
    /// A connection gone meanwhile is noticed by the next read.
    async fn ask_again(&mut self, writer: &mut Writer) {
        let Some(after) = self.ask_again.take() else {
            return;
        };
        let Some(holding) = &mut self.holding else {
            return;
        };
        let label = self.labels.next();
        holding.until = Until::Answer(label.clone());
        holding.deadline = Instant::now() + self.options.login_timeout;
        let line = tags::labeled(&label, &tags::history_after(after));
        let _ = send_line(writer, &line).await;
    }

    /// The block held is complete (or `refused`: the server could not give
    /// it): the marker, then the block; then what waited for it.
    fn caught_up(&mut self, refused: Option<String>) -> Vec<String> {
        let Some(holding) = self.holding.take() else {
            return Vec::new();
        };
        if let Some(newest) = holding.block.newest() {
            self.last_id = self.last_id.max(newest);
        }
        let (summary, lines) = holding.block.finish();
        let since = summary.since.and_then(|since| self.clock.short(since));
        if let Some(marker) = catchup::marker(&summary, since.as_deref()) {
            self.print_faint(&marker);
        }
        if let Some(why) = refused {
            let why = why.strip_prefix("Server: Error: ").unwrap_or(&why);
            self.print_faint(&format!(
                "── what was said while you were away could not be recovered: {why} ──"
            ));
        }
        let mut resend = self.after_catchup.take();
        for line in &lines {
            if let Some(time) = line.tags.time {
                self.last_time = Some(self.last_time.map_or(time, |t| t.max(time)));
            }
            if let Some((unanswered, _)) = &mut resend {
                // A line of ours the server got before the drop: shown here, not sent again.
                let text = sanitize_bytes(&line.line);
                // Our rename the room took (its answer lost with the link):
                // our lines after it are under the new name.
                let renamed = text
                    .strip_prefix(&format!("Server: {} is now known as ", self.name))
                    .and_then(|rest| rest.strip_suffix('.'));
                if let Some(new) = renamed {
                    self.name = new.to_string();
                    let nick = |mine: &String| parse_input(mine) == Input::Nick(new);
                    if let Some(at) = unanswered.iter().position(nick) {
                        unanswered.remove(at);
                    }
                }
                let name = &self.name;
                if let Some(at) = unanswered
                    .iter()
                    .position(|mine| confirm::as_shown(name, mine).as_deref() == Some(&*text))
                {
                    unanswered.remove(at);
                }
            }
            self.show(line, true);
        }
        match resend {
            Some((mut unanswered, away)) => {
                unanswered.extend(away);
                unanswered
            }
            None => Vec::new(),
        }
    }

    /// Shows one line: its time, the line (dimmed if `history`), and the
    /// bell if it calls for the person.
    fn show(&mut self, incoming: &Incoming, history: bool) {
        let text = sanitize_bytes(&incoming.line);
        if !history {
            // Who is online, for Tab: from live lines only, not the past.
            self.screen.heard(&text);
        }
        let calls = mention::calls(&classify(&text), &self.name);
        let mut out = String::new();
        if self.look.timestamps {
            if let Some(stamp) = incoming.tags.time.and_then(|t| self.clock.stamp(t)) {
                if let Some(day) = stamp.day {
                    let day = render::faint(&day, self.look.colors);
                    self.screen.print(&day);
                }
                out.push_str(&render::faint(&stamp.time, self.look.colors));
                out.push(' ');
            }
        }
        let emphasis = Emphasis {
            history,
            mention: calls,
        };
        out.push_str(&render::styled(&incoming.line, &mut self.palette, emphasis));
        if calls && !history && self.look.bell {
            out.push('\x07');
        }
        self.screen.print(&out);
    }

    /// Shows how many typed lines wait for the room's pace, when it changed.
    fn show_sending(&mut self, waiting: Option<usize>) {
        if waiting != self.sending {
            self.sending = waiting;
            self.screen.sending(waiting);
        }
    }

    fn print_faint(&mut self, text: &str) {
        let text = render::faint(text, self.look.colors);
        self.screen.print(&text);
    }

    /// One of our lines was not sent, for `why`: marked in the transcript.
    fn not_sent(&mut self, mine: &str, why: &str) {
        let marked = render::not_sent(mine, why, self.look.colors);
        self.screen.print(&marked);
    }

    fn refused_here(&mut self) {
        match self.tagged {
            true => self.confirm.refused_here(),
            false => self.own.refused_here(),
        }
    }

    /// Sends one typed line (labeled in tagged mode); false if the
    /// connection is gone.
    async fn send(&mut self, writer: &mut Writer, typed: &Paced, line: &str) -> bool {
        let cost = if self.tagged { LABEL_COST } else { 0 };
        if let Some(max) = typed.too_long(line, cost) {
            self.refused_here();
            let why = format!("longer than the room's {max} bytes");
            match self.me.echo {
                true => {
                    let marked = render::not_sent(line, &why, self.look.colors);
                    self.screen.print(&marked);
                }
                false => eprintln!("sockchat: a line was not sent: it is {why}"),
            }
            return true;
        }
        if !self.tagged {
            if send_line(writer, line).await.is_err() {
                return false;
            }
            if let Some(shown) = self.own.sent(line).filter(|_| self.me.echo) {
                let shown =
                    render::styled(shown.as_bytes(), &mut self.palette, Emphasis::default());
                self.screen.print(&shown);
            }
            return true;
        }
        // The server ignores blank lines and would answer nothing.
        if line.trim().is_empty() {
            return true;
        }
        let label = self.labels.next();
        // Sent or not, it is awaited: a drop hands it back for sending again.
        self.confirm.sent(&label, line);
        send_line(writer, &tags::labeled(&label, line))
            .await
            .is_ok()
    }

    /// The connection dropped: come back if we may, keeping what is typed
    /// meanwhile; else say so and end.
    async fn come_back(&mut self, typed: &mut Paced) -> Result<Connection, ExitCode> {
        let Some(token) = self.token.clone().filter(|_| self.may_come_back()) else {
            return Err(self.left());
        };
        let mut unanswered = self.confirm.unanswered();
        // Lines still waiting from an earlier drop come first.
        let mut typed_away = Vec::new();
        if let Some((earlier, waiting)) = self.after_catchup.take() {
            unanswered = earlier.into_iter().chain(unanswered).collect();
            typed_away = waiting;
        }
        // A block half-received is asked for again by the resume.
        self.holding = None;
        self.ask_again = None;
        self.first_block = false;
        self.asked_block = false;
        let mut away = Away {
            address: self.options.address.to_string(),
            unanswered,
            typed: typed_away,
            backoff: Backoff::new(Instant::now()),
            last_error: None,
            tick: 0,
        };
        if !self.screen.is_editor() {
            eprintln!(
                "sockchat: lost the connection; reconnecting to {}…",
                away.address
            );
        }
        let name = match Name::parse(&self.name) {
            Ok(name) => name,
            Err(_) => self.me.name.clone(),
        };
        // Kept apart from `self` while an attempt runs, as the status and
        // the keys are looked after meanwhile.
        let password = self.me.password.clone();
        let options = self.options;
        let back = loop {
            let wait = runtime::sleep(away.backoff.wait());
            self.away_until(&mut away, typed, wait).await?;
            let who = Who {
                name: &name,
                password: password.as_ref(),
                token: &token,
                last: self.last_id,
            };
            let mut labels = std::mem::take(&mut self.labels);
            let attempt = resume::come_back(options, &who, &mut labels);
            let tried = self.away_until(&mut away, typed, attempt).await;
            self.labels = labels;
            match tried? {
                Ok(back) => break back,
                Err(Fail::Again(why)) => away.last_error = Some(why),
                Err(Fail::Fatal(why)) => {
                    self.screen.status(None);
                    // The terminal handed back first; the error on stderr.
                    self.screen_finish(None);
                    eprintln!("sockchat: {why:#}");
                    return Err(self.exit(ExitCode::FAILURE));
                }
            }
        };
        let Away {
            unanswered,
            typed: away,
            backoff,
            ..
        } = away;
        self.screen.status(None);
        let gone = reconnect::span(backoff.away(Instant::now()));
        typed.learn(tagged_limits(&back.mode), Instant::now());
        let how = match (back.resumed, back.after < self.last_id) {
            (true, _) => format!("Reconnected after {gone}; the session was resumed."),
            (false, false) => format!(
                "Reconnected after {gone}; the server no longer knew this session, so you \
                 logged in again as {name}: private messages sent to you meanwhile are lost."
            ),
            (false, true) => format!(
                "Reconnected after {gone}; the server restarted without keeping its history, \
                 so you logged in again as {name}: what was said before the restart is lost."
            ),
        };
        // A room whose ids started again: every id it has is new to us.
        self.last_id = self.last_id.min(back.after);
        match self.screen.is_editor() {
            true => self.print_faint(&format!("── {how} ──")),
            false => eprintln!("sockchat: {how}"),
        }
        self.logged_in_again(&back.login);
        self.away_since = self.last_time;
        if let Some(label) = &back.history {
            // Everything until the answer to our `/history after` is held,
            // de-duplicated and shown in id order.
            let block = Catchup::new(self.last_id, self.away_since.take());
            let until = Until::Answer(label.clone());
            self.holding = Some(Holding::new(block, until, self.options.login_timeout));
        }
        self.after_catchup = Some((unanswered, away));
        Ok(Connection {
            server: back.server,
            writer: back.writer,
        })
    }

    /// Shows the reconnect status and keeps what is typed until `done`
    /// finishes (the wait before an attempt, or the attempt itself, which
    /// may wait long for a server that does not answer). Err: the person
    /// left meanwhile.
    async fn away_until<T>(
        &mut self,
        away: &mut Away,
        typed: &mut Paced,
        done: impl Future<Output = T>,
    ) -> Result<T, ExitCode> {
        let done = done.fuse();
        futures::pin_mut!(done);
        loop {
            let waiting = away.unanswered.len() + away.typed.len();
            let status = reconnect::status(
                &away.address,
                away.backoff.away(Instant::now()),
                waiting,
                away.last_error.as_deref(),
            );
            away.tick += 1;
            let frame = SPINNER[away.tick % SPINNER.len()];
            self.screen.status(Some(format!("{frame} {status}")));
            let nap = runtime::sleep(STATUS_TICK).fuse();
            let reading = away.typed.len() < MOST_TYPED_AWAY && !self.end_after_catchup;
            let input = async {
                match reading {
                    true => typed.next().await,
                    false => pending().await,
                }
            }
            .fuse();
            futures::pin_mut!(nap, input);
            futures::select! {
                got = done => return Ok(got),
                () = nap => {}
                got = input => match got {
                    Some(Typed::Line(line)) => away.typed.push(line),
                    Some(Typed::TooLong) => {
                        self.refused_here();
                        eprintln!("sockchat: a line was not sent: it is longer than {} bytes", super::input::MAX_INPUT_LINE);
                    }
                    // A script's input ended: its last lines go once back.
                    Some(Typed::Eof) | None if self.me.piped => self.end_after_catchup = true,
                    Some(Typed::Eof | Typed::Interrupted) | None => {
                        self.screen.status(None);
                        let lost = away.unanswered.len() + away.typed.len();
                        let last = (lost > 0).then(|| match lost {
                            1 => "sockchat: left while away: 1 line you typed was not sent".to_string(),
                            n => format!("sockchat: left while away: {n} lines you typed were not sent"),
                        });
                        return Err(self.finish(last.as_deref(), ExitCode::SUCCESS));
                    }
                },
            }
        }
    }

    /// The login tags of a new connection: the token may be new; the
    /// room's `last` is not what we saw (the gap is asked for), so only
    /// the token is taken.
    fn logged_in_again(&mut self, login: &Tags) {
        if let Some(token) = &login.session {
            self.token = Some(token.clone());
        }
    }

    /// The lines that waited for a catch-up go next, before anything
    /// typed since, at the room's pace as any typed line (all at once,
    /// those past the room's burst were dropped); if the input ended
    /// meanwhile, its end comes after them. True when the input is to be
    /// read again for that.
    fn send_waited(&mut self, typed: &mut Paced, waited: Vec<String>) -> bool {
        let ended = self.done_after_catchup();
        let mut first: Vec<Typed> = waited.into_iter().map(Typed::Line).collect();
        if ended {
            first.push(Typed::Eof);
        }
        typed.first(first);
        ended
    }

    /// Whether the input ended while lines waited for a catch-up that is
    /// now over (they are sent): then it is time to leave.
    fn done_after_catchup(&mut self) -> bool {
        let done = self.end_after_catchup && self.after_catchup.is_none();
        if done {
            self.end_after_catchup = false;
        }
        done
    }

    /// Whether a dropped connection will be come back from.
    fn may_come_back(&self) -> bool {
        self.reconnect && self.tagged && self.token.is_some()
    }

    /// Leaving while lines wait for the catch-up after a reconnect: they
    /// will not be sent, and the person is told.
    fn abandon_waiting(&mut self) {
        let Some((unanswered, away)) = self.after_catchup.take() else {
            return;
        };
        let lost = unanswered.len() + away.len();
        if lost > 0 {
            let s = if lost == 1 { "" } else { "s" };
            let text = format!("── left before catching up: {lost} line{s} you typed not sent ──");
            self.print_faint(&text);
        }
    }

    /// The server went away and we do not come back.
    fn left(&mut self) -> ExitCode {
        self.screen_finish(Some(SERVER_LEFT));
        ExitCode::FAILURE
    }

    fn finish(&mut self, last: Option<&str>, code: ExitCode) -> ExitCode {
        self.screen_finish(last);
        self.exit(code)
    }

    fn screen_finish(&mut self, last: Option<&str>) {
        let screen = std::mem::replace(&mut self.screen, Screen::Plain);
        screen.finish(last);
    }

    /// The exit code: a failure when piped lines were refused.
    fn exit(&self, code: ExitCode) -> ExitCode {
        let refused = self.own.refused() + self.confirm.refused();
        match (self.me.piped, refused) {
            (true, n @ 1..) => {
                let s = if n == 1 { "" } else { "s" };
                eprintln!("sockchat: the server refused {n} line{s} of the input");
                ExitCode::FAILURE
            }
            _ => code,
        }
    }
}

/// Leaves on purpose (Ctrl-D, Ctrl-C, the end of piped input) as `/quit`
/// does: the server ends the session and the name is free at once (a
/// connection that merely closes keeps both for `--resume-window`). Then
/// ends our side (TLS: close_notify, then FIN); the server's last lines
/// are still read. Bounded, as a stalled server must not keep us here.
async fn goodbye(writer: &mut Writer) {
    // A connection already gone (or not read) is closed all the same.
    let _ = runtime::timeout(CLOSE_TIMEOUT, send_line(writer, "/quit")).await;
    let _ = runtime::timeout(CLOSE_TIMEOUT, writer.close()).await;
}

/// The label of our line that `tags` answers, as an [`Until`].
fn answering(tags: &Tags) -> Until {
    match &tags.re {
        Some(re) => Until::Answer(re.clone()),
        None => Until::End,
    }
}

/// The room's limits as tagged mode states them (the label's bytes
/// included in `max`); what is missing is taken from `serve`'s defaults.
fn tagged_limits(mode: &Tags) -> Limits {
    Limits {
        rate: mode.rate.unwrap_or(FALLBACK.rate),
        burst: mode.burst.unwrap_or(FALLBACK.burst),
        max_line_bytes: mode.max.unwrap_or(FALLBACK.max_line_bytes),
    }
}

/// Now, in milliseconds since the epoch.
fn now_millis() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Waits for the next line from the server, the next thing typed (while
/// `typed` is given), once `leaving`, the end of [`CLOSE_TIMEOUT`], or
/// the `catching_up` deadline. Cancel-safe on every branch, so nothing is
/// lost to the others.
async fn next(
    server: &mut ServerLines,
    typed: Option<&mut Paced>,
    leaving: Option<Instant>,
    catching_up: Option<Instant>,
) -> Next {
    let line = server.incoming().fuse();
    let input = async {
        match typed {
            Some(typed) => typed.next().await,
            None => pending().await,
        }
    }
    .fuse();
    let closing = async {
        match leaving {
            Some(since) => runtime::sleep(CLOSE_TIMEOUT.saturating_sub(since.elapsed())).await,
            None => pending::<()>().await,
        }
    }
    .fuse();
    let late = async {
        match catching_up {
            Some(at) => runtime::sleep(at.saturating_duration_since(Instant::now())).await,
            None => pending::<()>().await,
        }
    }
    .fuse();
    futures::pin_mut!(line, input, closing, late);
    futures::select! {
        line = line => Next::Server(line),
        typed = input => Next::Typed(typed),
        () = closing => Next::CloseTimedOut,
        () = late => Next::CatchupTimedOut,
    }
}

/// The limits in the server's answer to our `/limits`; a server too old
/// to know the command refuses it, and its defaults are assumed.
fn learned(line: &str) -> Option<Limits> {
    match classify(line) {
        ServerLine::Error(why) if why.starts_with("unknown command /limits") => Some(FALLBACK),
        _ => Limits::parse(line),
    }
}

/// Whether the server will take `line` as `/quit` (`/QUIT`, `/quit bye`…).
fn is_quit(line: &str) -> bool {
    parse_input(line) == Input::Quit
}

/// A history header as the person reads it: the server tells a plain
/// client its lines' times are UTC, but here each line shows the local
/// time from its tag (or none), so the header does not say UTC.
fn without_utc(line: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(line)
        .replace(" (times UTC):", ":")
        .replace("; times UTC):", "):")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::without_utc;

    #[test]
    fn a_history_header_does_not_say_utc_to_someone_shown_local_times() {
        let said = |line: &str| String::from_utf8(without_utc(line.as_bytes())).ok();
        assert_eq!(
            said("Server: The last 3 messages (times UTC):").as_deref(),
            Some("Server: The last 3 messages:")
        );
        assert_eq!(
            said("Server: 2 messages after id 7 (5 older are no longer kept; times UTC):")
                .as_deref(),
            Some("Server: 2 messages after id 7 (5 older are no longer kept):")
        );
        assert_eq!(said("Ann: times UTC").as_deref(), Some("Ann: times UTC"));
    }
}
