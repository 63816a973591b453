//! Ports for the processes tests start.

use std::net::TcpListener;

/// A TCP port free on 127.0.0.1 now, for a process the test starts to bind later.
///
/// Drawn at random below the kernel's ephemeral range (`ip_local_port_range`, 32768 and up
/// by default), never from it: a port `bind(0)` hands out is one the kernel may give again,
/// meanwhile, to any outgoing connection of a test running alongside (they make many), and
/// the daemon's bind then fails. Below the range only another test drawing the same port in
/// the same moment can collide.
pub fn free_port() -> u16 {
    use rand::Rng as _;
    let (low, high) = (20_000u16, ephemeral_floor());
    for _ in 0..1000 {
        let port = rand::thread_rng().gen_range(low..high);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {low}..{high}");
}

/// The lowest port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_floor() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|floor| *floor > 21_000)
        .unwrap_or(32_768)
}
