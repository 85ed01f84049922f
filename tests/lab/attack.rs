//! For the tests of `serve` under attack (tests/serve_attack.rs): a `serve` whose process can be
//! watched from /proc (its memory, its file descriptors, the sockets it holds) and stopped as an
//! operator stops it, with Ctrl-C (SIGINT), keeping what it printed to standard error.

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Netns;

/// A running `serve` (in `namespace` when given), with the lines it printed; killed on drop.
pub struct Served {
    child: Child,
    /// `(protocol, address)` per listener line, e.g. `("stun/udp", 127.0.0.1:40000)`.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The `tls sha256:…` line's pin, with TLS listeners.
    pub pin: Option<String>,
    /// The `ready …` line.
    pub ready: String,
}

impl Served {
    /// Starts `serve` with `args`, `TRTC_PREFLIGHT_TOKEN` set to `token` when given, and waits
    /// for its `ready` line.
    pub fn start(namespace: Option<&Netns>, token: Option<&str>, args: &[&str]) -> Served {
        let mut command = super::preflight(namespace);
        if let Some(token) = token {
            command.env("TRTC_PREFLIGHT_TOKEN", token);
        }
        let mut child = command
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let mut listeners = Vec::new();
        let mut pin = None;
        let mut ready = String::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if line.starts_with("ready") {
                ready = line;
                break;
            }
            if let Some(fingerprint) = line.strip_prefix("tls ") {
                pin = Some(fingerprint.to_string());
            } else if let Some((protocol, address)) = line.split_once(' ') {
                listeners.push((protocol.to_string(), address.parse().expect("an address")));
            }
        }
        assert!(
            !ready.is_empty(),
            "serve {args:?} never printed ready: {:?}",
            child.wait_with_output()
        );
        Served {
            child,
            listeners,
            pin,
            ready,
        }
    }

    /// The process id (`ip netns exec` execs `serve` in its own process, so this is `serve`'s).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first listener of `protocol` whose address is IPv4 (`v4`) or IPv6.
    pub fn address(&self, protocol: &str, v4: bool) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(p, a)| p == protocol && a.is_ipv4() == v4)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {protocol} (IPv4: {v4}) in {:?}", self.listeners))
    }

    /// Sends SIGINT, as Ctrl-C does, waits up to 10 s for the exit, and returns the exit status
    /// (`None`: killed by a signal or still running) and everything printed to standard error.
    pub fn interrupt(&mut self) -> (Option<i32>, String) {
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid} failed");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            if started.elapsed() > Duration::from_secs(10) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if status.is_some() {
            if let Some(mut pipe) = self.child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
        }
        (status, stderr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident set size of process `pid`, in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process runs");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status:\n{status}"))
}

/// The inodes of the sockets process `pid` holds open (links `socket:[N]` in /proc/PID/fd).
pub fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// One IPv4 or IPv6 socket a process holds, as the kernel lists it in /proc/PID/net.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InetSocket {
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// Its local address.
    pub local: SocketAddr,
    /// Its remote address (unspecified, port 0, for listeners and unconnected UDP).
    pub remote: SocketAddr,
    /// The kernel's state number: 0x0A is a TCP listener, 0x07 an unconnected UDP socket, 0x01
    /// an established connection.
    pub state: u8,
}

/// TCP state LISTEN in /proc/net/tcp.
pub const TCP_LISTEN: u8 = 0x0A;

/// Every TCP and UDP socket (both families) that process `pid` holds, read from the tables of
/// its own network namespace (/proc/PID/net/{tcp,tcp6,udp,udp6}).
pub fn inet_sockets(pid: u32) -> Vec<InetSocket> {
    let inodes = socket_inodes(pid);
    let mut sockets = Vec::new();
    for (file, protocol) in [
        ("tcp", "tcp"),
        ("tcp6", "tcp"),
        ("udp", "udp"),
        ("udp6", "udp"),
    ] {
        let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some(state), Some(inode)) =
                (fields.get(1), fields.get(2), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let inode: u64 = inode.parse().unwrap_or(0);
            if !inodes.contains(&inode) {
                continue;
            }
            sockets.push(InetSocket {
                protocol,
                local: proc_address(local),
                remote: proc_address(remote),
                state: u8::from_str_radix(state, 16).unwrap_or(0),
            });
        }
    }
    sockets
}

/// Reads `0100007F:0D96` or a 32-digit IPv6 form: each 32-bit word printed as the host reads
/// the network-order bytes, then the port in hex.
fn proc_address(text: &str) -> SocketAddr {
    let (address, port) = text.split_once(':').expect("ADDRESS:PORT");
    let port = u16::from_str_radix(port, 16).expect("a hex port");
    let mut bytes = Vec::new();
    for word in address.as_bytes().chunks(8) {
        let word = u32::from_str_radix(std::str::from_utf8(word).unwrap(), 16).unwrap();
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        _ => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).unwrap())),
    };
    SocketAddr::new(ip, port)
}
