//! Our own client's side of the wire, for tests: a [`Client`] that asked
//! for tagged mode, labels what it sends and reads `~TAGS LINE` lines.

use std::collections::HashMap;
use std::net::SocketAddr;

use sockchat::protocol::message::reply::GREETING;
use sockchat::protocol::tagged;

use super::Client;

/// One tagged line from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Every tag: key and value ("" for a flag).
    pub tags: HashMap<String, String>,
    /// The line as a plain client would have it.
    pub text: String,
}

impl Line {
    pub fn id(&self) -> Option<u64> {
        self.tags.get("id")?.parse().ok()
    }
    pub fn time(&self) -> u64 {
        self.tags
            .get("t")
            .and_then(|t| t.parse().ok())
            .expect("every tagged line has its time")
    }
    pub fn answers(&self) -> Option<&str> {
        self.tags.get("re").map(String::as_str)
    }
    pub fn has(&self, key: &str) -> bool {
        self.tags.contains_key(key)
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

/// A tagged connection: its session once logged in.
pub struct Tagged {
    pub client: Client,
    /// Labels sent so far (the next is one more).
    sent: u64,
    /// The session's token and the `last` id its login gave.
    pub token: String,
    pub last: u64,
}

impl Tagged {
    /// Connects and asks for tagged mode (greeting and answer read).
    pub async fn connect(addr: SocketAddr) -> Tagged {
        Tagged::over(Client::connect(addr).await).await
    }

    /// Asks for tagged mode on a connection just made (greeting and
    /// answer read).
    pub async fn over(mut client: Client) -> Tagged {
        client.expect_line(GREETING).await;
        client.send(tagged::SWITCH).await;
        let mut tagged = Tagged {
            client,
            sent: 0,
            token: String::new(),
            last: 0,
        };
        let on = tagged.line().await;
        assert_eq!(on.text, "Server: Tagged mode on.");
        tagged
    }

    /// Connects, asks for tagged mode and logs in as `name`, reading the
    /// login line, the late joiner's block if any and the echo of its own
    /// join; returns the block's lines (header and footer included).
    pub async fn login(addr: SocketAddr, name: &str) -> (Tagged, Vec<Line>) {
        Tagged::login_over(Client::connect(addr).await, name).await
    }

    /// [`Tagged::login`] on a connection just made.
    pub async fn login_over(client: Client, name: &str) -> (Tagged, Vec<Line>) {
        let mut tagged = Tagged::over(client).await;
        let label = tagged.send(name).await;
        let login = tagged.line().await;
        assert_eq!(login.text, format!("Server: You are logged in as: {name}"));
        assert_eq!(login.answers(), Some(label.as_str()));
        tagged.learn_session(&login);
        let mut next = tagged.line().await;
        let mut block = Vec::new();
        if next.has("history") {
            block = tagged.rest_of_block(next).await;
            next = tagged.line().await;
        }
        // With a store, a line kept just before the login may still be
        // syncing: it comes live, before the echo of the join.
        while next.answers().is_none() && next.id().is_some() {
            next = tagged.line().await;
        }
        assert_eq!(next.text, format!("Server: {name} joined the party!"));
        assert_eq!(next.answers(), Some(label.as_str()));
        tagged.last = next.id().expect("a join has an id");
        (tagged, block)
    }

    /// Takes the session and `last` from a login line.
    pub fn learn_session(&mut self, login: &Line) {
        self.token = login.get("session").expect("a session token").to_string();
        self.last = login
            .get("last")
            .and_then(|l| l.parse().ok())
            .expect("a last id");
    }

    /// Sends `text` with the next label; returns the label.
    pub async fn send(&mut self, text: &str) -> String {
        self.sent += 1;
        let label = self.sent.to_string();
        self.client.send(&format!("~{label} {text}")).await;
        label
    }

    /// The next line, which must be tagged.
    pub async fn line(&mut self) -> Line {
        let raw = self.client.line().await.expect("the server closed");
        parse(&raw)
    }

    /// The block `header` starts, to its footer.
    pub async fn rest_of_block(&mut self, header: Line) -> Vec<Line> {
        let n: usize = header
            .get("history")
            .and_then(|n| n.parse().ok())
            .expect("a block's header gives its count");
        let mut lines = vec![header];
        for _ in 0..n {
            let line = self.line().await;
            assert!(line.has("h") && line.id().is_some(), "{line:?}");
            lines.push(line);
        }
        let footer = self.line().await;
        assert_eq!(footer.get("history"), Some("end"), "{footer:?}");
        lines.push(footer);
        lines
    }
}

/// Parses a tagged line; panics on any other.
pub fn parse(raw: &str) -> Line {
    let parsed = tagged::parse(raw).unwrap_or_else(|| panic!("not a tagged line: {raw:?}"));
    Line {
        tags: parsed
            .tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.unwrap_or("").to_string()))
            .collect(),
        text: parsed.line.to_string(),
    }
}

/// The texts of a block's lines between its header and its footer.
pub fn inside(block: &[Line]) -> Vec<&str> {
    block[1..block.len() - 1]
        .iter()
        .map(|l| l.text.as_str())
        .collect()
}
