//! `ilpt tracker` under attack, from many source addresses on loopback: clients bind to
//! 127.0.0.2, 127.0.0.3, … (all of 127.0.0.0/8 is loopback on Linux, and only 127.0.0.1
//! is exempt from the tracker's per-address limits), so each stands for another host.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::common::ilpt;
use super::swarm::{start_reading_lines, Proc};

/// Starts `ilpt tracker` with HTTP only and `extra` flags; returns it with its address.
fn tracker(extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["tracker", "--http", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let (p, lines) = start_reading_lines(&mut ilpt(&args), 1);
    let url = lines[0]
        .strip_prefix("tracker http listening on http://")
        .unwrap()
        .strip_suffix("/announce")
        .unwrap();
    (p, url.parse().unwrap())
}

/// A TCP connection to `to` from `from` (a loopback address).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// The query of an announce of port `port` in the swarm `swarm`.
fn announce_target(swarm: u32, port: u16) -> String {
    let mut ih = [0x5a_u8; 20];
    ih[..4].copy_from_slice(&swarm.to_be_bytes());
    let ih: String = ih.iter().map(|b| format!("%{b:02x}")).collect();
    format!(
        "/announce?info_hash={ih}&peer_id=-TT0001-000000000000&port={port}&uploaded=0&downloaded=0&left=0&compact=1&numwant=5"
    )
}

/// Sends the GETs of `targets` on `stream`, all at once, and returns the answers' bodies.
fn get_pipelined(stream: &mut TcpStream, targets: &[String]) -> std::io::Result<Vec<Vec<u8>>> {
    let mut out = String::new();
    for t in targets {
        out.push_str(&format!("GET {t} HTTP/1.1\r\nHost: tracker\r\n\r\n"));
    }
    stream.write_all(out.as_bytes())?;
    let mut buf = Vec::new();
    let mut bodies = Vec::new();
    let mut chunk = [0u8; 16384];
    while bodies.len() < targets.len() {
        // Answers complete in `buf`, each a head with content-length and its body.
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() < end + 4 + len {
                break;
            }
            bodies.push(buf[end + 4..end + 4 + len].to_vec());
            buf.drain(..end + 4 + len);
        }
        if bodies.len() == targets.len() {
            break;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(bodies)
}

/// One announce on a new connection from `from`; the bencoded answer or the error.
fn announce_from(from: Ipv4Addr, to: SocketAddr, swarm: u32) -> Result<Vec<u8>, String> {
    let mut s = connect_from(from, to).map_err(|e| format!("connect: {e}"))?;
    let target = announce_target(swarm, 6881);
    s.write_all(
        format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| answer[i + 4..].to_vec())
        .ok_or_else(|| format!("no answer: {:?}", String::from_utf8_lossy(&answer)))?;
    if body.starts_with(b"d8:complete") {
        Ok(body)
    } else {
        Err(String::from_utf8_lossy(&body).into_owned())
    }
}

/// The tracker's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// File descriptors the tracker holds.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Waits until `pid` holds at least (or at most) `n` file descriptors.
fn wait_fds(pid: u32, ok: impl Fn(usize) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok(open_fds(pid)) {
        assert!(
            Instant::now() < deadline,
            "{what}: the tracker holds {} descriptors",
            open_fds(pid)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn five_addresses_announcing_twenty_thousand_torrents_each_leave_room_for_a_new_one() {
    let (_t, addr) = tracker(&["--http-threads", "1"]);
    // Five hosts each announce 20,000 new torrents: 100,000, as many as the store holds.
    let flooders: Vec<_> = (0..5u8)
        .map(|h| {
            std::thread::spawn(move || {
                let mut s = connect_from(Ipv4Addr::new(127, 0, 3, 10 + h), addr).unwrap();
                let mut refused = 0;
                for batch in 0..200u32 {
                    let targets: Vec<String> = (0..100u32)
                        .map(|i| announce_target(u32::from(h) << 24 | (batch * 100 + i), 6881))
                        .collect();
                    for body in get_pipelined(&mut s, &targets).unwrap() {
                        refused += usize::from(body.starts_with(b"d14:failure reason"));
                    }
                }
                refused
            })
        })
        .collect();
    let refused: usize = flooders.into_iter().map(|f| f.join().unwrap()).sum();
    // A new torrent from another host gets in, and its peers find each other.
    announce_from(Ipv4Addr::new(127, 0, 3, 100), addr, 0xfeed).unwrap();
    let answer = announce_from(Ipv4Addr::new(127, 0, 3, 101), addr, 0xfeed).unwrap();
    let compact = [127, 0, 3, 100, 0x1a, 0xe1];
    assert!(
        answer.windows(6).any(|w| w == compact),
        "the first peer is not listed: {}",
        String::from_utf8_lossy(&answer)
    );
    // Each flooder was held to its share of new torrents.
    assert!(refused > 0, "no flood announce was refused");
}

#[test]
fn thousands_of_idle_connections_from_one_address_do_not_stop_announces_from_another() {
    // One serving thread: it used to keep 4,096 connections, and close newcomers past it.
    let (t, addr) = tracker(&["--http-threads", "1"]);
    let pid = t.0.id();
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let started = Instant::now();
    let idle: Vec<TcpStream> = (0..5000)
        .map(|i| {
            connect_from(attacker, addr)
                .unwrap_or_else(|e| panic!("idle connection {i}: {e} (raise `ulimit -n`?)"))
        })
        .collect();
    let honest = Ipv4Addr::new(127, 0, 0, 3);
    let failures: Vec<String> = (0..64)
        .filter_map(|i| announce_from(honest, addr, 1000 + i).err())
        .collect();
    // All within the 10 s a connection may stay idle: none of them had timed out.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "too slow to prove anything: {:?}",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of 64 announces failed: {failures:?}",
        failures.len()
    );
    // The tracker kept only a few of the idle ones: it closed the attacker's oldest.
    wait_fds(pid, |n| n < 200, "after 5,000 idle connections");
    drop(idle);
}

#[test]
fn idle_connections_hold_no_request_buffer_and_leave_memory_a_new_wave_reuses() {
    let (t, addr) = tracker(&["--http-threads", "1"]);
    let pid = t.0.id();
    // Warm up: the serving thread and the store have made their first allocations.
    for i in 0..50 {
        announce_from(Ipv4Addr::new(127, 0, 4, 1), addr, i).unwrap();
    }
    let before = rss_kib(pid);
    // Two waves of 4,000 idle connections from 125 hosts, 32 each (none is closed for
    // another), the second after the first closed.
    let mut peaks = Vec::new();
    for wave in 0..2 {
        let idle: Vec<TcpStream> = (0..4000)
            .map(|i| connect_from(Ipv4Addr::new(127, 0, 5, 1 + (i / 32) as u8), addr).unwrap())
            .collect();
        wait_fds(pid, |n| n >= 4000, "while 4,000 idle connections are open");
        peaks.push(rss_kib(pid));
        drop(idle);
        wait_fds(pid, |n| n < 100, "after the idle connections closed");
        eprintln!(
            "tracker RSS: {before} KiB before, {} KiB with wave {wave} of 4,000 idle connections, {} KiB after it closed",
            peaks[wave],
            rss_kib(pid)
        );
    }
    // An idle connection costs its task and socket state (about 1.5 KiB), not a request
    // buffer (hyper kept 16 KiB for each).
    assert!(
        peaks[0].saturating_sub(before) < 4000 * 2,
        "4,000 idle connections took {} KiB",
        peaks[0] - before
    );
    // What closed connections leave behind is reused, not pinned.
    assert!(
        peaks[1] <= peaks[0] + 1024,
        "the second wave grew the tracker from {} to {} KiB",
        peaks[0],
        peaks[1]
    );
    announce_from(Ipv4Addr::new(127, 0, 4, 1), addr, 7).unwrap();
}

#[test]
fn memory_of_thousands_of_keep_alive_connections_is_bounded_and_reused_after_they_close() {
    let (t, addr) = tracker(&["--http-threads", "1"]);
    let pid = t.0.id();
    for i in 0..50 {
        announce_from(Ipv4Addr::new(127, 0, 4, 1), addr, i).unwrap();
    }
    let before = rss_kib(pid);
    // 4,000 connections from 125 hosts, 32 each, that announce once (all in one swarm,
    // so the store barely grows) and then wait, keeping the connection.
    let open: Vec<TcpStream> = (0..4000)
        .map(|i| {
            let mut s = connect_from(Ipv4Addr::new(127, 0, 6, 1 + (i / 32) as u8), addr).unwrap();
            let body = get_pipelined(&mut s, &[announce_target(0x77, 6881)]).unwrap();
            assert!(body[0].starts_with(b"d8:complete"), "{:?}", body[0]);
            s
        })
        .collect();
    wait_fds(pid, |n| n >= 4000, "while 4,000 connections are open");
    let peak = rss_kib(pid);
    // Each holds its task and, at most, hyper's buffers (8 KiB to read, 8 KiB to write).
    assert!(
        peak.saturating_sub(before) < 4000 * 24,
        "4,000 keep-alive connections took {} KiB",
        peak - before
    );
    drop(open);
    wait_fds(pid, |n| n < 100, "after the connections closed");
    // What they took is free for the next ones: a second wave of as many grows the
    // tracker by little (the allocator keeps freed pages for reuse; an allocator that
    // hands them back to the system, jemalloc, cost transfers 25-30 % of their speed).
    let open: Vec<TcpStream> = (0..4000)
        .map(|i| {
            let mut s = connect_from(Ipv4Addr::new(127, 0, 7, 1 + (i / 32) as u8), addr).unwrap();
            let body = get_pipelined(&mut s, &[announce_target(0x77, 6882)]).unwrap();
            assert!(body[0].starts_with(b"d8:complete"), "{:?}", body[0]);
            s
        })
        .collect();
    wait_fds(pid, |n| n >= 4000, "while the second 4,000 are open");
    let second = rss_kib(pid);
    eprintln!("tracker RSS: {before} KiB before, {peak} KiB with 4,000 keep-alive connections, {second} KiB with a second 4,000 after those closed");
    // (Measured: the second wave adds about a quarter of what the first took; a leak
    // would add all of it again.)
    assert!(
        second <= peak + (peak - before) / 2,
        "a second wave grew the tracker to {second} KiB: {before} KiB before, {peak} KiB with the first"
    );
    drop(open);
    announce_from(Ipv4Addr::new(127, 0, 4, 1), addr, 7).unwrap();
}
