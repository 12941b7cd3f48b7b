//! The line being typed, and what each key does to it. Pure: keys in;
//! out, what the session must do ([`Action`]) and, through [`Editor::view`],
//! what the input rows should show. History (Up/Down, Ctrl-R) and Tab
//! completion of commands and of the names of people online live here.

use super::keys::Key;
use super::roster::Roster;
use crate::protocol::message::COMMANDS;

/// What a key asks of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond a redraw of the input.
    None,
    /// Enter: this line is to be sent.
    Submit(String),
    /// Ctrl-D on an empty line.
    Eof,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-Z.
    Suspend,
}

/// Lines kept for Up/Down and Ctrl-R.
const HISTORY: usize = 1000;

/// The longest line the editor holds; keys past it are ignored, as the
/// server would refuse the line anyway.
const MAX_LINE: usize = 16 * 1024;

/// The prompt while typing.
pub const PROMPT: &str = "> ";

/// The input line, its history and its completions.
#[derive(Debug, Default)]
pub struct Editor {
    /// The text being typed.
    text: String,
    /// Where the cursor is in `text`, in bytes (always on a char boundary).
    cursor: usize,
    /// Lines sent, oldest first.
    history: Vec<String>,
    /// While Up/Down browse: the history index shown, and the line typed
    /// before browsing began.
    browsing: Option<(usize, String)>,
    /// While Ctrl-R searches.
    search: Option<Search>,
    /// While Tab cycles through candidates.
    completing: Option<Completion>,
    /// Who is online, for completing names.
    pub roster: Roster,
    /// The current room, shown in the prompt (`#ops> `); None: `> `.
    pub room: Option<String>,
    /// The rooms known, for completing after the room commands.
    pub rooms: Vec<String>,
}

#[derive(Debug)]
struct Search {
    /// What is searched for.
    query: String,
    /// The history index of the line found, if any.
    found: Option<usize>,
    /// The line and cursor before the search began (Ctrl-G puts them back).
    before: (String, usize),
}

#[derive(Debug)]
struct Completion {
    /// Where the completed word starts in `text`.
    start: usize,
    /// The candidates, each with what follows it (`: ` or ` `).
    candidates: Vec<String>,
    /// The candidate shown now.
    shown: usize,
}

/// What the input rows show: a prompt, text and where the cursor is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// `> `, or the search's prompt.
    pub prompt: String,
    /// The line, or the line found by Ctrl-R.
    pub text: String,
    /// In bytes into `text`.
    pub cursor: usize,
}

impl Editor {
    pub fn new() -> Editor {
        Editor::default()
    }

    /// What to draw now.
    pub fn view(&self) -> View {
        match &self.search {
            Some(search) => {
                let found = search.found.map(|i| self.history[i].clone());
                let text = found.unwrap_or_default();
                View {
                    prompt: format!("(reverse-i-search)'{}': ", search.query),
                    cursor: text.len(),
                    text,
                }
            }
            None => View {
                prompt: match &self.room {
                    Some(room) => format!("{}{PROMPT}", crate::protocol::sanitize::visible(room)),
                    None => PROMPT.to_string(),
                },
                text: self.text.clone(),
                cursor: self.cursor,
            },
        }
    }

    /// Applies one key.
    pub fn key(&mut self, key: Key) -> Action {
        if key != Key::Tab {
            self.completing = None;
        }
        if self.search.is_some() {
            if let Some(action) = self.search_key(key) {
                return action;
            }
        }
        match key {
            Key::Char(c) => self.insert(c),
            Key::Enter => return self.submit(),
            Key::Backspace | Key::Ctrl('h') => {
                if let Some(prev) = self.prev_boundary(self.cursor) {
                    self.text.replace_range(prev..self.cursor, "");
                    self.cursor = prev;
                }
            }
            Key::Delete => self.delete_forward(),
            Key::Ctrl('d') if self.text.is_empty() => return Action::Eof,
            Key::Ctrl('d') => self.delete_forward(),
            Key::Left | Key::Ctrl('b') => {
                self.cursor = self.prev_boundary(self.cursor).unwrap_or(0);
            }
            Key::Right | Key::Ctrl('f') => {
                self.cursor = self.next_boundary(self.cursor).unwrap_or(self.text.len());
            }
            Key::WordLeft => self.cursor = self.word_back(self.cursor),
            Key::WordRight => self.cursor = self.word_forward(self.cursor),
            Key::DeleteWordRight => {
                let end = self.word_forward(self.cursor);
                self.text.replace_range(self.cursor..end, "");
            }
            Key::DeleteWordLeft => {
                let start = self.word_back(self.cursor);
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            Key::Home | Key::Ctrl('a') => self.cursor = 0,
            Key::End | Key::Ctrl('e') => self.cursor = self.text.len(),
            Key::Ctrl('k') => self.text.truncate(self.cursor),
            Key::Ctrl('u') => {
                self.text.replace_range(..self.cursor, "");
                self.cursor = 0;
            }
            Key::Ctrl('w') => {
                let start = self.word_start(self.cursor);
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            Key::Up | Key::Ctrl('p') => self.older(),
            Key::Down | Key::Ctrl('n') => self.newer(),
            Key::Ctrl('r') => {
                self.search = Some(Search {
                    query: String::new(),
                    found: None,
                    before: (self.text.clone(), self.cursor),
                });
            }
            Key::Tab => self.complete(),
            Key::Ctrl('c') => return Action::Interrupt,
            Key::Ctrl('z') => return Action::Suspend,
            Key::Ctrl(_) => {}
        }
        Action::None
    }

    /// A key during Ctrl-R; None when the search ends and the key is to
    /// be applied to the line found.
    fn search_key(&mut self, key: Key) -> Option<Action> {
        let search = self.search.as_mut()?;
        match key {
            Key::Char(c) => {
                search.query.push(c);
                let from = search.found.map_or(self.history.len(), |i| i + 1);
                search.found = find_back(&self.history, &search.query, from);
            }
            Key::Backspace => {
                search.query.pop();
                search.found = find_back(&self.history, &search.query, self.history.len());
            }
            Key::Ctrl('r') => {
                let from = search.found.unwrap_or(self.history.len());
                if let Some(i) = find_back(&self.history, &search.query, from) {
                    search.found = Some(i);
                }
            }
            Key::Ctrl('g') => {
                let (text, cursor) = std::mem::take(&mut search.before);
                self.search = None;
                self.text = text;
                self.cursor = cursor;
            }
            Key::Ctrl('c') | Key::Ctrl('z') => return Some(self.key_outside_search(key)),
            _ => {
                let search = self.search.take()?;
                if let Some(i) = search.found {
                    self.text = self.history[i].clone();
                    self.cursor = self.text.len();
                } else {
                    (self.text, self.cursor) = search.before;
                }
                return None;
            }
        }
        Some(Action::None)
    }

    fn key_outside_search(&mut self, key: Key) -> Action {
        let search = self.search.take();
        let action = self.key(key);
        self.search = search;
        action
    }

    fn insert(&mut self, c: char) {
        if self.text.len() + c.len_utf8() > MAX_LINE || c.is_control() {
            return;
        }
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
        self.browsing = None;
    }

    fn delete_forward(&mut self) {
        if let Some(next) = self.next_boundary(self.cursor) {
            self.text.replace_range(self.cursor..next, "");
        }
    }

    fn submit(&mut self) -> Action {
        let line = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            if self.history.len() == HISTORY {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        Action::Submit(line)
    }

    fn older(&mut self) {
        let at = match &self.browsing {
            Some((0, _)) => return,
            Some((i, _)) => i - 1,
            None if self.history.is_empty() => return,
            None => {
                let draft = std::mem::take(&mut self.text);
                self.browsing = Some((self.history.len(), draft));
                self.history.len() - 1
            }
        };
        if let Some((i, _)) = &mut self.browsing {
            *i = at;
        }
        self.text = self.history[at].clone();
        self.cursor = self.text.len();
    }

    fn newer(&mut self) {
        let Some((i, _)) = &mut self.browsing else {
            return;
        };
        *i += 1;
        if *i < self.history.len() {
            self.text = self.history[*i].clone();
        } else if let Some((_, draft)) = self.browsing.take() {
            self.text = draft;
        }
        self.cursor = self.text.len();
    }

    /// Tab: the first candidate for the word before the cursor, then the
    /// next one on each further Tab.
    fn complete(&mut self) {
        if let Some(completion) = &mut self.completing {
            completion.shown = (completion.shown + 1) % completion.candidates.len();
            let candidate = &completion.candidates[completion.shown];
            self.text
                .replace_range(completion.start..self.cursor, candidate);
            self.cursor = completion.start + candidate.len();
            return;
        }
        let start = self.text[..self.cursor]
            .rfind(' ')
            .map_or(0, |space| space + 1);
        let word = &self.text[start..self.cursor];
        let command = self.text[..start].split_whitespace().collect::<Vec<_>>();
        let candidates = match command.as_slice() {
            [command] if takes_a_room(command) => rooms(word, &self.rooms),
            _ => candidates(word, start == 0, &self.roster),
        };
        let Some(first) = candidates.first() else {
            return;
        };
        self.text.replace_range(start..self.cursor, first);
        self.cursor = start + first.len();
        if candidates.len() > 1 {
            self.completing = Some(Completion {
                start,
                candidates,
                shown: 0,
            });
        }
    }

    fn prev_boundary(&self, at: usize) -> Option<usize> {
        self.text[..at].char_indices().next_back().map(|(i, _)| i)
    }

    fn next_boundary(&self, at: usize) -> Option<usize> {
        self.text[at..].chars().next().map(|c| at + c.len_utf8())
    }

    /// The start of the space-separated word before `at` (spaces before
    /// it skipped): what Ctrl-W deletes, as readline's unix-word-rubout.
    fn word_start(&self, at: usize) -> usize {
        let before = self.text[..at].trim_end_matches(' ');
        before.rfind(' ').map_or(0, |space| space + 1)
    }

    /// Readline's backward-word: back over what is not a letter or digit,
    /// then over letters and digits (so `/msg` and `bob,` are words).
    fn word_back(&self, at: usize) -> usize {
        let before = self.text[..at].trim_end_matches(|c: char| !c.is_alphanumeric());
        before.rfind(|c: char| !c.is_alphanumeric()).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        })
    }

    /// Readline's forward-word: on over what is not a letter or digit,
    /// then over letters and digits.
    fn word_forward(&self, at: usize) -> usize {
        let after = &self.text[at..];
        let rest = after.trim_start_matches(|c: char| !c.is_alphanumeric());
        let skipped = after.len() - rest.len();
        at + skipped
            + rest
                .find(|c: char| !c.is_alphanumeric())
                .unwrap_or(rest.len())
    }
}

/// The newest history index before `before` whose line contains `query`.
fn find_back(history: &[String], query: &str, before: usize) -> Option<usize> {
    history[..before.min(history.len())]
        .iter()
        .rposition(|line| line.contains(query))
}

/// The room commands (the server parses them apart from `COMMANDS`).
const ROOMS: [&str; 5] = ["/join", "/leave", "/rooms", "/switch", "/topic"];

/// The commands whose first word is a room name.
const ROOM_COMMANDS: [&str; 5] = ["/join", "/leave", "/switch", "/who", "/history"];

fn takes_a_room(command: &str) -> bool {
    ROOM_COMMANDS.contains(&command.to_lowercase().as_str())
}

/// The rooms `word` may complete to (typed with or without its `#`),
/// each with a space after it. Case is ignored.
fn rooms(word: &str, rooms: &[String]) -> Vec<String> {
    let typed = word.strip_prefix('#').unwrap_or(word).to_lowercase();
    rooms
        .iter()
        .filter(|room| {
            let name = room.strip_prefix('#').unwrap_or(room);
            name.to_lowercase().starts_with(&typed)
        })
        .map(|room| format!("{room} "))
        .collect()
}

/// What `word` may complete to: a command at the start of the line, else
/// a name online, as IRC clients do it: `Name: ` to start a line
/// addressed to someone, `Name ` anywhere else. Case is ignored.
fn candidates(word: &str, at_start: bool, roster: &Roster) -> Vec<String> {
    let lower = word.to_lowercase();
    if at_start && word.starts_with('/') {
        let mut commands: Vec<String> = COMMANDS
            .iter()
            .chain(&ROOMS)
            .filter(|command| command.starts_with(&lower))
            .map(|command| format!("{command} "))
            .collect();
        commands.sort();
        commands.dedup();
        return commands;
    }
    if word.is_empty() {
        return Vec::new();
    }
    let end = if at_start { ": " } else { " " };
    roster
        .names()
        .filter(|name| name.to_lowercase().starts_with(&lower))
        .map(|name| format!("{name}{end}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(editor: &mut Editor, s: &str) {
        for c in s.chars() {
            assert_eq!(editor.key(Key::Char(c)), Action::None);
        }
    }

    fn shown(editor: &Editor) -> (String, usize) {
        let view = editor.view();
        (view.text, view.cursor)
    }

    #[test]
    fn the_prompt_shows_the_current_room_once_there_is_one() {
        let mut editor = Editor::new();
        assert_eq!(editor.view().prompt, "> ");
        editor.room = Some("#ops".into());
        assert_eq!(editor.view().prompt, "#ops> ");
    }

    #[test]
    fn tab_completes_the_room_commands() {
        let mut editor = Editor::new();
        typed(&mut editor, "/sw");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/switch ");
        let mut editor = Editor::new();
        typed(&mut editor, "/h");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/help ");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/history ");
    }

    #[test]
    fn tab_completes_rooms_after_the_room_commands() {
        let mut editor = Editor::new();
        editor.rooms = vec!["#main".into(), "#Ops".into(), "#opera".into()];
        editor.roster.joined("Oscar");
        typed(&mut editor, "/join o");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/join #Ops ");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/join #opera ");
        for (command, word, want) in [
            ("/leave", "#m", "#main "),
            ("/SWITCH", "OP", "#Ops "),
            ("/who", "#main", "#main "),
            ("/history", "ma", "#main "),
        ] {
            let mut editor = Editor::new();
            editor.rooms = vec!["#main".into(), "#Ops".into()];
            typed(&mut editor, &format!("{command} {word}"));
            editor.key(Key::Tab);
            assert_eq!(shown(&editor).0, format!("{command} {want}"));
        }
        // Elsewhere a name still completes a person's.
        let mut editor = Editor::new();
        editor.rooms = vec!["#Ops".into()];
        editor.roster.joined("Oscar");
        typed(&mut editor, "/msg o");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/msg Oscar ");
    }

    #[test]
    fn enter_submits_the_line_and_starts_an_empty_one() {
        let mut editor = Editor::new();
        typed(&mut editor, "hello");
        assert_eq!(editor.key(Key::Enter), Action::Submit("hello".into()));
        assert_eq!(shown(&editor), (String::new(), 0));
        assert_eq!(editor.key(Key::Enter), Action::Submit(String::new()));
    }

    #[test]
    fn editing_keys_move_and_cut_by_character_not_byte() {
        let mut editor = Editor::new();
        typed(&mut editor, "héllo wörld");
        editor.key(Key::Left);
        editor.key(Key::Backspace);
        assert_eq!(shown(&editor).0, "héllo wörd");
        editor.key(Key::Home);
        editor.key(Key::Delete);
        editor.key(Key::Right);
        editor.key(Key::Backspace);
        assert_eq!(shown(&editor), ("llo wörd".into(), 0));
        editor.key(Key::End);
        editor.key(Key::Ctrl('w'));
        assert_eq!(shown(&editor), ("llo ".into(), 4));
        typed(&mut editor, "漢字");
        editor.key(Key::Ctrl('a'));
        editor.key(Key::Right);
        editor.key(Key::Ctrl('k'));
        assert_eq!(shown(&editor), ("l".into(), 1));
        editor.key(Key::Ctrl('e'));
        typed(&mut editor, "ate");
        editor.key(Key::Left);
        editor.key(Key::Ctrl('u'));
        assert_eq!(shown(&editor), ("e".into(), 0));
    }

    #[test]
    fn alt_keys_move_and_delete_by_word_as_in_readline() {
        let mut editor = Editor::new();
        typed(&mut editor, "/msg bob, héllo wörld");
        editor.key(Key::WordLeft);
        assert_eq!(shown(&editor).1, "/msg bob, héllo ".len());
        editor.key(Key::WordLeft);
        editor.key(Key::WordLeft);
        assert_eq!(shown(&editor).1, "/msg ".len());
        editor.key(Key::WordLeft);
        assert_eq!(shown(&editor).1, 1, "after the slash");
        editor.key(Key::WordRight);
        assert_eq!(shown(&editor).1, "/msg".len());
        // Alt-d: from the cursor to the end of the next word.
        editor.key(Key::DeleteWordRight);
        assert_eq!(shown(&editor), ("/msg, héllo wörld".into(), 4));
        editor.key(Key::End);
        // Alt-Backspace: back to the start of the word.
        editor.key(Key::DeleteWordLeft);
        let left = "/msg, héllo ";
        assert_eq!(shown(&editor), (left.into(), left.len()));
        editor.key(Key::DeleteWordLeft);
        assert_eq!(shown(&editor), ("/msg, ".into(), 6));
        editor.key(Key::Home);
        editor.key(Key::DeleteWordLeft);
        editor.key(Key::WordLeft);
        assert_eq!(shown(&editor), ("/msg, ".into(), 0), "nothing before");
    }

    #[test]
    fn ctrl_d_leaves_only_on_an_empty_line() {
        let mut editor = Editor::new();
        typed(&mut editor, "ab");
        editor.key(Key::Home);
        assert_eq!(editor.key(Key::Ctrl('d')), Action::None);
        assert_eq!(shown(&editor).0, "b");
        editor.key(Key::Ctrl('d'));
        assert_eq!(editor.key(Key::Ctrl('d')), Action::Eof);
        assert_eq!(editor.key(Key::Ctrl('c')), Action::Interrupt);
        assert_eq!(editor.key(Key::Ctrl('z')), Action::Suspend);
    }

    #[test]
    fn up_and_down_walk_the_history_and_keep_the_draft() {
        let mut editor = Editor::new();
        for line in ["one", "two", "two", "  "] {
            typed(&mut editor, line);
            editor.key(Key::Enter);
        }
        typed(&mut editor, "dra");
        editor.key(Key::Up);
        assert_eq!(shown(&editor), ("two".into(), 3));
        editor.key(Key::Up);
        assert_eq!(shown(&editor).0, "one", "repeats and blanks are not kept");
        editor.key(Key::Up);
        assert_eq!(shown(&editor).0, "one");
        editor.key(Key::Down);
        editor.key(Key::Down);
        assert_eq!(shown(&editor).0, "dra");
        editor.key(Key::Down);
        assert_eq!(shown(&editor).0, "dra");
    }

    #[test]
    fn ctrl_r_finds_older_lines_and_enter_sends_the_one_found() {
        let mut editor = Editor::new();
        for line in ["deploy staging", "hello", "deploy prod"] {
            typed(&mut editor, line);
            editor.key(Key::Enter);
        }
        typed(&mut editor, "draft");
        editor.key(Key::Ctrl('r'));
        typed(&mut editor, "depl");
        assert_eq!(editor.view().text, "deploy prod");
        assert!(editor.view().prompt.contains("'depl'"));
        editor.key(Key::Ctrl('r'));
        assert_eq!(editor.view().text, "deploy staging");
        editor.key(Key::Ctrl('r'));
        assert_eq!(editor.view().text, "deploy staging", "no older match");
        assert_eq!(
            editor.key(Key::Enter),
            Action::Submit("deploy staging".into())
        );
        // Ctrl-G gives the line back as it was.
        typed(&mut editor, "mine");
        editor.key(Key::Ctrl('r'));
        typed(&mut editor, "hel");
        editor.key(Key::Ctrl('g'));
        assert_eq!(editor.view().prompt, PROMPT);
        assert_eq!(shown(&editor), ("mine".into(), 4));
        // Another key takes the line found and goes on editing it.
        editor.key(Key::Ctrl('r'));
        typed(&mut editor, "hel");
        editor.key(Key::End);
        typed(&mut editor, "!");
        assert_eq!(shown(&editor).0, "hello!");
    }

    #[test]
    fn tab_completes_commands_at_the_start_of_the_line() {
        let mut editor = Editor::new();
        typed(&mut editor, "/wh");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor), ("/who ".into(), 5));
        let mut editor = Editor::new();
        typed(&mut editor, "/m");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/me ");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/msg ");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/me ", "Tab cycles");
        let mut editor = Editor::new();
        typed(&mut editor, "say /wh");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "say /wh", "only at the start");
    }

    #[test]
    fn tab_completes_names_online_as_irc_clients_do() {
        let mut editor = Editor::new();
        editor.roster.joined("Mahtab");
        editor.roster.joined("Max");
        editor.roster.joined("Bob");
        typed(&mut editor, "bo");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "Bob: ");
        typed(&mut editor, "hi ma");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "Bob: hi Mahtab ");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "Bob: hi Max ");
        let mut editor = Editor::new();
        editor.roster.joined("Bob");
        typed(&mut editor, "/msg b");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/msg Bob ");
        typed(&mut editor, "zz");
        editor.key(Key::Tab);
        assert_eq!(shown(&editor).0, "/msg Bob zz", "nothing to complete");
    }

    #[test]
    fn a_line_cannot_grow_past_the_limit() {
        let mut editor = Editor::new();
        for _ in 0..MAX_LINE + 10 {
            editor.key(Key::Char('x'));
        }
        assert_eq!(editor.view().text.len(), MAX_LINE);
    }
}
