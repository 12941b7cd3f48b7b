//! What names a connection inside the server: a leaf, so that the parts
//! that track connections (the accept loop's table, deadlines, meters,
//! sessions) need not reach into the lobby or a room for it.

/// Identifies one connection for its whole life (never reused).
pub type ClientId = u64;
