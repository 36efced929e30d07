//! The `svcecho` helper's two sides, as the services and policy tests use them: a server whose
//! answer names itself and the client address it saw, and a client that asks it once.

use crate::{binary, Background, Netns};

fn svcecho() -> String {
    binary("svcecho").display().to_string()
}

/// `svcecho serve PROTO PORT TAG` in `ns`, once it listens.
pub fn serve(ns: &Netns, proto: &str, port: u16, tag: &str) -> Background {
    let mut bg = Background::spawn(ns, &svcecho(), &["serve", proto, &port.to_string(), tag]);
    bg.wait_line("listening");
    bg
}

/// The answer of the service at `to` (2 s to answer), or why there is none.
pub fn ask(ns: &Netns, proto: &str, to: &str) -> Result<String, String> {
    let out = ns.exec(&svcecho(), &["ask", proto, to, "2"]);
    if out.ok() {
        Ok(out.stdout.trim().to_string())
    } else {
        Err(out.stderr.trim().to_string())
    }
}
