//! The listening sockets of the servers (API, bootstrap, xDS and the ones that follow). With
//! `apiServer.interface` empty, the default, a server listens on every interface of both
//! families (X12), like Kuma's `:port`: one IPv6 socket with `IPV6_V6ONLY` off, which takes
//! IPv4 connections too, so `localhost` works whether it resolves to `127.0.0.1` or `::1`. On a
//! host without IPv6 it listens on IPv4 alone and says so once. An explicit interface is
//! exactly that address (`::` is IPv6 only).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Once;

use nix::errno::Errno;
use socket2::{Domain, Protocol, Socket, Type};
use ursa_actors::config::interface_address;

/// Connections waiting to be accepted, per listener.
const BACKLOG: i32 = 1024;

/// A listener on `port` of `interface` (see the module documentation); port 0 lets the OS
/// choose one, the same for both families.
pub fn listen(interface: &str, port: u16) -> io::Result<TcpListener> {
    let address =
        interface_address(interface).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    match address {
        Some(ip) => socket(SocketAddr::new(ip, port), true),
        None => match socket(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port), false) {
            Err(e) if no_ipv6(&e) => {
                static SAID: Once = Once::new();
                SAID.call_once(|| {
                    tracing::warn!(error = %e, "this host has no IPv6: listening on IPv4 only");
                });
                socket(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port), true)
            }
            other => other,
        },
    }
}

/// The host cannot open or bind an IPv6 socket (IPv6 disabled in the kernel).
fn no_ipv6(e: &io::Error) -> bool {
    let no = [
        Errno::EAFNOSUPPORT,
        Errno::EPROTONOSUPPORT,
        Errno::EADDRNOTAVAIL,
    ];
    e.raw_os_error()
        .is_some_and(|code| no.iter().any(|n| *n as i32 == code))
}

/// A bound, listening TCP socket on `address`; an IPv6 one takes IPv4 connections too unless
/// `v6_only`.
fn socket(address: SocketAddr, v6_only: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(v6_only)?;
    }
    // As the standard library does on Unix: a restarted server gets its port back while
    // connections of the previous process are in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_ipv6_falls_back_to_ipv4() {
        for missing in [
            Errno::EAFNOSUPPORT,
            Errno::EPROTONOSUPPORT,
            Errno::EADDRNOTAVAIL,
        ] {
            assert!(
                no_ipv6(&io::Error::from_raw_os_error(missing as i32)),
                "{missing}"
            );
        }
        // A port in use is an error to report, not a reason to listen elsewhere.
        for other in [Errno::EADDRINUSE, Errno::EACCES] {
            assert!(
                !no_ipv6(&io::Error::from_raw_os_error(other as i32)),
                "{other}"
            );
        }
    }

    #[test]
    fn an_ipv6_address_is_ipv6_only_and_every_interface_takes_both() {
        let v6 = listen("::", 0).unwrap();
        let port = v6.local_addr().unwrap().port();
        assert!(std::net::TcpStream::connect(("::1", port)).is_ok());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        let both = listen("", 0).unwrap();
        let port = both.local_addr().unwrap().port();
        assert!(std::net::TcpStream::connect(("::1", port)).is_ok());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    }
}
