//! The way in: tagged mode, the server's password, a name.

use crate::protocol::message::{reply, Input};
use crate::protocol::name::Name;
use crate::protocol::password::TRIES;
use crate::protocol::tagged::{Reply, Tags};

use super::super::client_id::ClientId;
use super::super::mailbox::Mailbox;
use super::{Happened, Lobby};

impl<M: Mailbox> Lobby<M> {
    /// `/tagged`: from now on this connection's lines carry tags; only
    /// before a name.
    pub(super) fn switch_tagged(&mut self, id: ClientId) -> Happened {
        let Some(client) = self.desk.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        if client.name.is_some() || client.tagged {
            self.desk.tell(id, reply::TAGGED_LATE);
            return Happened::Nothing;
        }
        client.tagged = true;
        // A server with a password says so here too: the greeting's words
        // are not for the client to read.
        let password = !client.admitted;
        self.desk.tagged_count += 1;
        let limits = self.limits();
        let mut tags = Tags::at(self.desk.now())
            .with("rate", limits.rate)
            .with("burst", limits.burst)
            .with("max", limits.max_line_bytes);
        if password {
            tags = tags.flag("password");
        }
        let line = tags.line(reply::TAGGED_ON);
        self.desk.send(id, &line);
        Happened::Nothing
    }

    /// A line from a connection that has not given the password yet. The
    /// line is compared as received: it is never echoed, logged or kept.
    pub(super) fn admit(&mut self, id: ClientId, given: &str, input: Input<'_>) -> Happened {
        if given.trim().is_empty() {
            return Happened::Nothing;
        }
        let right = self
            .config
            .password
            .as_ref()
            .is_none_or(|p| p.matches(given));
        let Some(client) = self.desk.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        if right {
            client.admitted = true;
            self.desk
                .tell_as(id, reply::PASSWORD_ACCEPTED, Reply::PasswordAccepted);
            return Happened::Admitted;
        }
        // Checked after the password, so that even `/quit` may be one. Any
        // other command (`/help`, `/who`…) is a mistake, not a guess: it is
        // answered and costs no try. (Tries count per connection, so making
        // these free gives a guesser nothing a reconnect would not.)
        match input {
            Input::Quit => {
                self.desk.tell_as(id, reply::BYE, Reply::Bye);
                return Happened::Quit;
            }
            Input::Chat(_) | Input::Empty => {}
            _ => {
                self.desk
                    .tell_as(id, reply::PASSWORD_FIRST, Reply::PasswordFirst);
                return Happened::Nothing;
            }
        }
        client.wrong += 1;
        let tries_left = TRIES.saturating_sub(client.wrong);
        if tries_left == 0 {
            self.desk
                .tell_as(id, reply::WRONG_PASSWORD_CLOSING, wrong_password(0));
            return Happened::LockedOut;
        }
        self.desk.tell_as(
            id,
            &reply::wrong_password(tries_left),
            wrong_password(tries_left),
        );
        Happened::WrongPassword { tries_left }
    }

    /// A name (or a command) from a connection not logged in yet.
    pub(super) fn login(&mut self, id: ClientId, given: &str, input: Input<'_>) -> Happened {
        if given.trim().is_empty() {
            return Happened::Nothing;
        }
        match input {
            Input::Quit => {
                self.desk.tell_as(id, reply::BYE, Reply::Bye);
                return Happened::Quit;
            }
            Input::Help => {
                self.desk.tell(id, reply::LOGIN_FIRST);
                return Happened::Nothing;
            }
            _ => {}
        }
        let name = match self.free_name(id, given) {
            Ok(name) => name,
            Err(why) => {
                self.desk
                    .tell_as(id, &reply::error(&why), Reply::NameRefused);
                return Happened::LoginRefused(why);
            }
        };
        self.names.insert(name.shared_key(), id);
        let session = self.next_session;
        self.next_session += 1;
        self.desk.by_session.insert(session, id);
        let Some(client) = self.desk.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        client.name = Some(name.clone());
        client.session = session;
        let logged_in = reply::logged_in(name.as_str());
        if client.tagged {
            client.resumable = true;
            let token = self.sessions.open(session, name.clone(), id);
            self.tell_login(id, &token, false, &logged_in);
        } else {
            self.desk.tell(id, &logged_in);
        }
        self.enter_main(id);
        Happened::LoggedIn(name)
    }

    /// `given` as a name connection `id` may take, or why not.
    fn free_name(&mut self, id: ClientId, given: &str) -> Result<Name, String> {
        let name = Name::parse(given).map_err(|why| format!("{why}{}", reply::TYPE_ANOTHER))?;
        if self.names.contains_key(name.key()) {
            return Err(format!("the name {name} is taken{}", reply::TYPE_ANOTHER));
        }
        if self.held_for_another(id, &name) {
            return Err(reply::name_held(name.as_str()));
        }
        Ok(name)
    }

    /// A new login enters `#main` (no line says so: a client that never
    /// uses rooms sees what it always saw): its history block, then its
    /// notice.
    fn enter_main(&mut self, id: ClientId) {
        let main = std::sync::Arc::clone(&self.main_key);
        self.enter(id, &main);
        self.welcome(id, &main);
    }
}

/// The meaning of a wrong password's answer: `left` more tries (0: closing).
fn wrong_password(left: u32) -> Reply<'static> {
    Reply::WrongPassword { left }
}
