//! A network lab for end-to-end tests: our `serve` and coturn on loopback, and network
//! namespaces with nftables rules for real firewalls. Everything stays on loopback or inside
//! namespaces the test creates; each is removed when its handle drops.

#![allow(dead_code)]

pub mod attack;
pub mod hostile;
pub mod impair;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_trtc-preflight")
}

/// A command for the binary with a clean environment (no inherited secrets or clock).
pub fn preflight(namespace: Option<&Netns>) -> Command {
    let mut command = match namespace {
        Some(namespace) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", &namespace.name, bin()]);
            command
        }
        None => Command::new(bin()),
    };
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

/// A running `serve`, with the addresses it printed; killed on drop.
pub struct Serve {
    child: Child,
    /// `(protocol, address)` per listener, e.g. `("stun/udp", 127.0.0.1:40000)`.
    pub listeners: Vec<(String, std::net::SocketAddr)>,
    /// The TLS certificate's fingerprint as printed (`sha256:<hex>`), with TLS listeners.
    pub pin: Option<String>,
}

impl Serve {
    /// Starts `serve` with `args` (in `namespace` if given) and waits for its `ready` line.
    pub fn start(namespace: Option<&Netns>, args: &[&str]) -> Serve {
        let mut child = preflight(namespace)
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut listeners = Vec::new();
        let mut pin = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line.starts_with("ready") {
                break;
            }
            if let Some(fingerprint) = line.strip_prefix("tls ") {
                pin = Some(fingerprint.to_string());
            } else if let Some((protocol, address)) = line.split_once(' ') {
                listeners.push((protocol.to_string(), address.parse().expect("an address")));
            }
        }
        assert!(
            !listeners.is_empty(),
            "serve printed no listener: {:?}",
            child.wait_with_output()
        );
        Serve {
            child,
            listeners,
            pin,
        }
    }

    /// The port of the first listener of `protocol` (`stun/udp`, `stun/tcp`).
    pub fn port(&self, protocol: &str) -> u16 {
        self.listeners
            .iter()
            .find(|(p, _)| p == protocol)
            .map(|(_, a)| a.port())
            .expect("a listener")
    }

    /// Every port of `protocol`, in order.
    pub fn ports(&self, protocol: &str) -> Vec<u16> {
        self.listeners
            .iter()
            .filter(|(p, _)| p == protocol)
            .map(|(_, a)| a.port())
            .collect()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ports that were free a moment ago (for servers that cannot bind port 0, such as coturn).
pub fn free_ports(count: usize) -> Vec<u16> {
    let sockets: Vec<std::net::UdpSocket> = (0..count)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = sockets
        .iter()
        .map(|socket| socket.local_addr().unwrap().port())
        .collect();
    for port in &ports {
        // The TCP port must be free as well.
        if std::net::TcpListener::bind(("127.0.0.1", *port)).is_err() {
            return free_ports(count);
        }
    }
    ports
}

/// coturn as a STUN server nobody here wrote, on 127.0.0.1; killed on drop.
pub struct Coturn {
    child: Child,
    /// The UDP and TCP port it listens on.
    pub port: u16,
}

impl Coturn {
    /// Starts coturn in STUN-only mode and waits until it answers over UDP.
    pub fn start() -> Coturn {
        let port = free_ports(1)[0];
        let child = Command::new("turnserver")
            .args([
                "-n",
                "--no-cli",
                "--stun-only",
                "--no-tls",
                "--no-dtls",
                "--listening-ip",
                "127.0.0.1",
            ])
            .args([
                "--listening-port",
                &port.to_string(),
                "--log-file",
                "stdout",
                "--simple-log",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("coturn (Debian package coturn) is installed: .ci/run installs it");
        let coturn = Coturn { child, port };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            // The client waits forever for an answer that never comes: bound each try.
            let output = Command::new("timeout")
                .args([
                    "0.5",
                    "turnutils_stunclient",
                    "-p",
                    &port.to_string(),
                    "127.0.0.1",
                ])
                .output();
            if output.is_ok_and(|output| {
                String::from_utf8_lossy(&output.stdout).contains("reflexive addr")
            }) {
                return coturn;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("coturn did not answer on 127.0.0.1:{port} within 10 s");
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace of the test's own, with loopback up; deleted on drop.
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Creates a namespace. Needs root (CI runs as root).
    pub fn new() -> Netns {
        let name = format!(
            "tp{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run(&["ip", "netns", "add", &name]);
        let namespace = Netns { name };
        namespace.exec(&["ip", "link", "set", "lo", "up"]);
        namespace
    }

    /// Runs a command inside the namespace and asserts it succeeded.
    pub fn exec(&self, command: &[&str]) -> Output {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(command);
        run(&all)
    }

    /// Joins this namespace to `other` with a veth pair: `here` (address/prefix) on this side,
    /// `there` on the other. Interface names are derived from the namespaces' names.
    pub fn link(&self, other: &Netns, here: &str, there: &str) -> (String, String) {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let (a, b) = (
            format!("va{}x{id}", std::process::id() % 100_000),
            format!("vb{}x{id}", std::process::id() % 100_000),
        );
        run(&[
            "ip",
            "link",
            "add",
            &a,
            "netns",
            &self.name,
            "type",
            "veth",
            "peer",
            "name",
            &b,
            "netns",
            &other.name,
        ]);
        self.exec(&["ip", "addr", "add", here, "dev", &a]);
        self.exec(&["ip", "link", "set", &a, "up"]);
        other.exec(&["ip", "addr", "add", there, "dev", &b]);
        other.exec(&["ip", "link", "set", &b, "up"]);
        (a, b)
    }

    /// Loads an nftables ruleset (text as `nft -f` reads it) inside the namespace.
    pub fn nft(&self, ruleset: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft (Debian package nftables) is installed: .ci/run installs it");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ruleset.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "nft -f failed: {}\n{ruleset}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(command: &[&str]) -> Output {
    let output = Command::new(command[0])
        .args(&command[1..])
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "{command:?} could not start ({error}); the network tests need iproute2 and root"
            )
        });
    assert!(
        output.status.success(),
        "{command:?} failed (the network tests need root): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The JSON report of a finished run.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not a JSON report ({error}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Validates a report against the schema.
pub fn validate(report: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(preflight_reports::SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|error| error.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{report:#}");
}

/// The probe with this id.
pub fn probe<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|probe| probe["id"] == id)
        .unwrap_or_else(|| panic!("no probe {id} in {report:#}"))
}

/// `(severity, code)` of each finding of a probe.
pub fn findings(probe: &serde_json::Value) -> Vec<(String, Option<u64>)> {
    probe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            (
                finding["severity"].as_str().unwrap().to_string(),
                finding["code"].as_u64(),
            )
        })
        .collect()
}

/// Runs `check` with `args` and `env` (in `namespace` if given), and returns its output, its
/// JSON report (validated against the schema) and the wall time. `args` must ask for
/// `--format json` on standard output.
pub fn check_json(
    namespace: Option<&Netns>,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Output, serde_json::Value, Duration) {
    let started = Instant::now();
    let output = preflight(namespace)
        .arg("check")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let took = started.elapsed();
    let report = json(&output);
    validate(&report);
    (output, report, took)
}

/// coturn as a TURN relay nobody here wrote, with long-term credentials (user `alice`,
/// password `s3cret`, realm `lab`) on `listen`, UDP and TCP on `port`, TLS on `tls_port` with a
/// fresh self-signed certificate (its pin in `pin`); in `namespace` when given; killed on drop.
pub struct Relay {
    child: Child,
    /// UDP and TCP.
    pub port: u16,
    /// TLS.
    pub tls_port: u16,
    /// The certificate's pin, `sha256:<hex>`.
    pub pin: String,
    _dir: tempfile::TempDir,
}

impl Relay {
    /// Starts coturn and waits until it accepts TCP on its port.
    pub fn start(namespace: Option<&Netns>, listen: &str, extra: &[&str]) -> Relay {
        use base64::Engine;
        let ports = free_ports(2);
        let dir = tempfile::tempdir().unwrap();
        let generated = preflight_probes::tls::self_signed(&[listen.to_string()]).unwrap();
        let pem = |label: &str, der: &[u8]| {
            let text = base64::engine::general_purpose::STANDARD.encode(der);
            let lines: Vec<&str> = text
                .as_bytes()
                .chunks(64)
                .map(|chunk| std::str::from_utf8(chunk).unwrap())
                .collect();
            format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                lines.join("\n")
            )
        };
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, pem("CERTIFICATE", &generated.cert)).unwrap();
        std::fs::write(&key, pem("PRIVATE KEY", generated.key.secret_der())).unwrap();
        let mut command = match namespace {
            Some(namespace) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", &namespace.name, "turnserver"]);
                command
            }
            None => Command::new("turnserver"),
        };
        let child = command
            .args(["-n", "--no-cli", "--no-dtls", "--fingerprint"])
            .args(["--listening-ip", listen, "--relay-ip", listen])
            .args(["--listening-port", &ports[0].to_string()])
            .args(["--tls-listening-port", &ports[1].to_string()])
            .args([
                "--cert",
                cert.to_str().unwrap(),
                "--pkey",
                key.to_str().unwrap(),
            ])
            .args(["--lt-cred-mech", "--user", "alice:s3cret", "--realm", "lab"])
            .args([
                "--allow-loopback-peers",
                "--log-file",
                "stdout",
                "--simple-log",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("coturn (Debian package coturn) is installed: .ci/run installs it");
        let relay = Relay {
            child,
            port: ports[0],
            tls_port: ports[1],
            pin: preflight_probes::tls::format_pin(&generated.sha256),
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            let probe = match namespace {
                Some(namespace) => Command::new("ip")
                    .args(["netns", "exec", &namespace.name, "bash", "-c"])
                    .arg(format!("exec 3<>/dev/tcp/{listen}/{}", relay.port))
                    .output()
                    .is_ok_and(|output| output.status.success()),
                None => std::net::TcpStream::connect((listen, relay.port)).is_ok(),
            };
            if probe {
                return relay;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "coturn did not listen on {listen}:{}",
                relay.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
