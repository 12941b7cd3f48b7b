//! What `serve` prints on start-up: where the room is, and for a bind to
//! every interface the `sockchat join` line for each address of this
//! machine, with the TLS flags a client needs.

use std::net::{IpAddr, SocketAddr};

use crate::tls::ServerTls;

/// Says where the room is; for an all-interfaces bind, the addresses others
/// can use. In a TLS room it prints the certificate's fingerprint, and the
/// join commands carry the TLS flags they need: a self-signed certificate
/// (made at start-up, or a file's) is pinned by its fingerprint, which
/// works whatever names it carries; a self-signed file may also be handed
/// to clients for `--tls-ca`.
pub fn print(local: SocketAddr, tls: Option<&ServerTls>, password: bool) {
    println!("Server is running on: {local}");
    let own_file = tls.and_then(|tls| match &tls.file {
        Some((path, true)) => Some(path),
        _ => None,
    });
    let flags = match tls {
        None => String::new(),
        Some(tls) if tls.self_signed || own_file.is_some() => {
            format!(" --tls-fingerprint {}", tls.fingerprint)
        }
        Some(_) => " --tls".to_string(),
    };
    if let Some(tls) = tls {
        let kind = match tls.self_signed || own_file.is_some() {
            true => "self-signed ",
            false => "",
        };
        println!(
            "TLS: {kind}certificate with SHA-256 fingerprint {}",
            tls.fingerprint
        );
    }
    if let Some(path) = own_file {
        let path = path.display();
        println!(
            "The certificate is self-signed: clients pin its fingerprint, or trust a copy of \
             {path} with --tls-ca {path} (then --host must be a name it carries)"
        );
    }
    if password {
        println!("The room has a password: `join` asks for it (or give it with SOCKCHAT_PASSWORD or --password-file)");
    }
    let port = local.port();
    if local.ip().is_unspecified() {
        let mut any = false;
        for ip in reachable(local.is_ipv6()) {
            if !any {
                println!("Others can join with:");
                any = true;
            }
            println!("  sockchat join --host {ip} --port {port}{flags}");
        }
        if !any {
            println!("Join from this machine with: sockchat join --port {port}{flags}");
        }
    } else if tls.is_some() {
        let host = local.ip();
        println!("Join with: sockchat join --host {host} --port {port}{flags}");
    }
}

/// This machine's non-loopback addresses, from its network interfaces
/// (IPv6 ones too when `v6`).
pub fn reachable(v6: bool) -> Vec<IpAddr> {
    let Ok(interfaces) = if_addrs::get_if_addrs() else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = interfaces
        .iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .filter(|ip| v6 || ip.is_ipv4())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}
