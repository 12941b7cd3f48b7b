//! What `serve` prints on start-up: where the room is, and for a bind to
//! every interface the `sockchat join` line for each address of this
//! machine, with the TLS flags a client needs.

use std::net::{IpAddr, SocketAddr};

use crate::tls::ServerTls;

/// Says where the room is; for an all-interfaces bind, the addresses others
/// can use. In a TLS room it prints the certificate's fingerprint, and the
/// join commands carry the TLS flags they need (a self-signed certificate
/// is pinned by its fingerprint).
pub fn print(local: SocketAddr, tls: Option<&ServerTls>, password: bool) {
    println!("Server is running on: {local}");
    let flags = match tls {
        None => String::new(),
        Some(tls) if tls.self_signed => format!(" --tls-fingerprint {}", tls.fingerprint),
        Some(_) => " --tls".to_string(),
    };
    if let Some(tls) = tls {
        let kind = if tls.self_signed { "self-signed " } else { "" };
        println!(
            "TLS: {kind}certificate with SHA-256 fingerprint {}",
            tls.fingerprint
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
