//! The server over real TCP: literal lines in, literal lines out.

use crate::util::{run, TestServer};

#[test]
fn login_then_chat_reaches_the_others() {
    run(async {
        let server = TestServer::start().await;
        let mut max = server.login("Max").await;
        let mut mahtab = server.login("Mahtab").await;
        max.expect_line("Server: Mahtab joined the party!").await;
        mahtab.send("hello").await;
        max.expect_line("Mahtab: hello").await;
        server.stop().await;
    });
}
