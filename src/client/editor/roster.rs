//! Who is online, as far as the client can tell from what the server
//! says: join, leave and rename notices, `/who` replies, and anyone who
//! speaks. Pure; it feeds Tab completion of names.

use crate::protocol::message::{classify, ServerLine};

/// Names online, sorted, each once whatever its case.
#[derive(Debug, Default)]
pub struct Roster {
    /// Sorted by lower case; no two equal in lower case.
    names: Vec<String>,
    /// A `/who` reply is being read: the next `continued` line adds to it.
    listing: bool,
}

/// Most names kept: a huge room completes only the first ones.
const MAX_NAMES: usize = 10_000;

impl Roster {
    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Learns from one (sanitized) line from the server.
    pub fn heard(&mut self, line: &str) {
        let listing = std::mem::take(&mut self.listing);
        match classify(line) {
            ServerLine::Notice(text) => self.notice(text, listing),
            ServerLine::Chat { from, .. }
            | ServerLine::PrivateFrom { from, .. }
            | ServerLine::Action { name: from, .. } => self.joined(from),
            _ => {}
        }
    }

    fn notice(&mut self, text: &str, listing: bool) {
        if let Some(name) = text.strip_suffix(" joined the party!") {
            self.joined(name);
        } else if let Some(name) = text.strip_suffix(" left the party.") {
            self.left(name);
        } else if let Some((old, new)) = text
            .strip_suffix('.')
            .and_then(|t| t.split_once(" is now known as "))
        {
            self.left(old);
            self.joined(new);
        } else if let Some(names) = text
            .strip_prefix("Online (")
            .and_then(|t| t.split_once("): "))
            .map(|(_, names)| names)
        {
            self.names.clear();
            self.listed(names);
        } else if let Some(names) = text.strip_prefix("Online, continued: ") {
            if listing {
                self.listed(names);
            }
        }
    }

    fn listed(&mut self, names: &str) {
        names
            .split(", ")
            .filter(|name| !name.is_empty())
            .for_each(|name| self.joined(name));
        self.listing = true;
    }

    pub fn joined(&mut self, name: &str) {
        if name.is_empty() || name.contains(' ') {
            return;
        }
        match self.find(name) {
            Ok(at) => name.clone_into(&mut self.names[at]),
            Err(_) if self.names.len() >= MAX_NAMES => {}
            Err(at) => self.names.insert(at, name.to_string()),
        }
    }

    fn left(&mut self, name: &str) {
        if let Ok(at) = self.find(name) {
            self.names.remove(at);
        }
    }

    /// Compared in lower case, without allocating: it runs for every
    /// line someone says. (Code point order is UTF-8's byte order, so this
    /// sorts as comparing `to_lowercase()` strings would.)
    fn find(&self, name: &str) -> Result<usize, usize> {
        let key: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
        self.names.binary_search_by(|probe| {
            probe
                .chars()
                .flat_map(char::to_lowercase)
                .cmp(key.iter().copied())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::reply;

    fn names(roster: &Roster) -> Vec<&str> {
        roster.names().collect()
    }

    #[test]
    fn joins_leaves_and_renames_keep_the_list_current() {
        let mut roster = Roster::default();
        roster.heard(&reply::joined("Max"));
        roster.heard(&reply::joined("bob"));
        roster.heard(&reply::joined("Dana"));
        assert_eq!(names(&roster), ["bob", "Dana", "Max"]);
        roster.heard(&reply::left("max"));
        roster.heard(&reply::renamed("bob", "Bobby"));
        assert_eq!(names(&roster), ["Bobby", "Dana"]);
        roster.heard(&reply::chat("Zed", "hi"));
        roster.heard(&reply::action("Ann", "waves"));
        assert_eq!(names(&roster), ["Ann", "Bobby", "Dana", "Zed"]);
    }

    #[test]
    fn a_who_reply_replaces_the_list_even_over_several_lines() {
        let mut roster = Roster::default();
        roster.heard(&reply::joined("Gone"));
        let all: Vec<String> = (0..120).map(|i| format!("u{i:03}")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        for line in reply::who(&all) {
            roster.heard(&line);
        }
        assert_eq!(names(&roster), all);
        // A `continued` line out of the blue is not a list.
        roster.heard(&reply::joined("x"));
        roster.heard("Server: Online, continued: y");
        assert!(!names(&roster).contains(&"y"));
    }

    #[test]
    fn errors_and_our_own_sent_lines_are_not_people() {
        let mut roster = Roster::default();
        roster.heard(&reply::error("no such user: Bob"));
        roster.heard(&reply::private_to("Bob", "psst"));
        roster.heard("Server: Bob joined the party? no");
        assert!(names(&roster).is_empty());
    }
}
