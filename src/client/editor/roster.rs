//! Who is online, as far as the client can tell from the tags of what the
//! server says (never its words): join, leave and rename records, `/who`
//! answers, and anyone who speaks. Pure; it feeds Tab completion of names.

use crate::client::tags::{Kept, Reply, Tags};

/// Names online, sorted, each once whatever its case.
#[derive(Debug, Default)]
pub struct Roster {
    /// Sorted by lower case; no two equal in lower case.
    names: Vec<String>,
    /// A `/who` answer is being read: the next `who-more` line adds to it.
    listing: bool,
}

/// Most names kept: a huge room completes only the first ones.
const MAX_NAMES: usize = 10_000;

impl Roster {
    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Learns from the tags of one live line from the server.
    pub fn heard(&mut self, tags: &Tags) {
        let listing = std::mem::take(&mut self.listing);
        match &tags.reply {
            Some(Reply::Who { names, .. }) => {
                self.names.clear();
                self.listed(names);
            }
            Some(Reply::WhoMore { names }) if listing => self.listed(names),
            _ => {}
        }
        match &tags.kept {
            Some(Kept::Leave { from }) => self.left(from),
            Some(Kept::Rename { from, new }) => {
                self.left(from);
                self.joined(new);
            }
            // Whoever joins or speaks is online (a private message's
            // receiver may not be: it can be kept for someone away).
            Some(kept) => self.joined(kept.from()),
            None => {}
        }
    }

    fn listed(&mut self, names: &[String]) {
        names.iter().for_each(|name| self.joined(name));
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
    use crate::client::tags::split;
    use crate::protocol::message::reply;
    use crate::protocol::tagged::{self, Kept as Is, Reply as Means};

    fn names(roster: &Roster) -> Vec<&str> {
        roster.names().collect()
    }

    /// Hears a line tagged as the server tags it, with words that say
    /// nothing, so that only the tags can teach the roster.
    fn hear(roster: &mut Roster, tags: tagged::Tags) {
        let line = tags.line("Server: (words the client must not read)");
        let (tags, _) = split(line.as_bytes()).unwrap().unwrap();
        roster.heard(&tags);
    }

    fn kept(is: Is<'_>) -> tagged::Tags {
        tagged::Tags::kept(1, 1).kept_as(is)
    }

    #[test]
    fn joins_leaves_and_renames_keep_the_list_current() {
        let mut roster = Roster::default();
        for from in ["Max", "bob", "Dana"] {
            hear(&mut roster, kept(Is::Join { from }));
        }
        assert_eq!(names(&roster), ["bob", "Dana", "Max"]);
        hear(&mut roster, kept(Is::Leave { from: "max" }));
        let renamed = Is::Rename {
            from: "bob",
            new: "Bobby",
        };
        hear(&mut roster, kept(renamed));
        assert_eq!(names(&roster), ["Bobby", "Dana"]);
        hear(&mut roster, kept(Is::Chat { from: "Zed" }));
        hear(&mut roster, kept(Is::Action { from: "Ann" }));
        assert_eq!(names(&roster), ["Ann", "Bobby", "Dana", "Zed"]);
    }

    #[test]
    fn a_who_reply_replaces_the_list_even_over_several_lines() {
        let mut roster = Roster::default();
        hear(&mut roster, kept(Is::Join { from: "Gone" }));
        let all: Vec<String> = (0..120).map(|i| format!("u{i:03}")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        for meaning in reply::who_tags(&all) {
            hear(&mut roster, tagged::Tags::at(1).reply(meaning));
        }
        assert_eq!(names(&roster), all);
        // A `who-more` line out of the blue is not a list.
        hear(&mut roster, kept(Is::Join { from: "x" }));
        let more = Means::Who {
            count: None,
            names: &["y"],
        };
        hear(&mut roster, tagged::Tags::at(1).reply(more));
        assert!(!names(&roster).contains(&"y"));
    }

    #[test]
    fn errors_and_a_private_messages_receiver_are_not_people() {
        let mut roster = Roster::default();
        hear(&mut roster, tagged::Tags::at(1).reply(Means::Error));
        let private = Is::Private {
            from: "Max",
            to: "Bob",
        };
        hear(&mut roster, kept(private));
        hear(&mut roster, tagged::Tags::at(1));
        assert_eq!(names(&roster), ["Max"]);
    }
}
