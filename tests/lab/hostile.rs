//! For the hostile-peer tests: run `check` while watching how much memory it takes.
//!
//! The peak resident set (`VmHWM` in `/proc/PID/status`, the kernel's own high-water mark) is
//! read every few milliseconds while the process runs; the last reading before it exits holds
//! the peak of the whole run but for the last few milliseconds.

use std::io::Read;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// A sane bound for the peak memory of one `check` run, whatever its peers do.
pub const PEAK_LIMIT_KIB: u64 = 200 * 1024;

/// What one watched run of `check` produced.
pub struct Watched {
    /// Exit status and both streams.
    pub output: Output,
    /// The JSON report (validated against the schema).
    pub report: serde_json::Value,
    /// The wall time from spawning the process to its exit.
    pub took: Duration,
    /// The peak resident set of the process, in KiB.
    pub peak_kib: u64,
}

/// Runs `check` with `args` and `env` on this machine (not in a namespace) and returns its
/// report, wall time and peak memory. `args` must ask for `--format json` on standard output.
pub fn check_watched(args: &[&str], env: &[(&str, &str)]) -> Watched {
    let started = Instant::now();
    let mut child = super::preflight(None)
        .arg("check")
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let pid = child.id();
    let drain = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stream.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let mut peak_kib = 0;
    let status = loop {
        // Read before reaping: once reaped, /proc/PID is gone (and a zombie has no VmHWM).
        if let Some(kib) = high_water_mark_kib(pid) {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let output = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    assert!(peak_kib > 0, "no VmHWM was read for process {pid}");
    let report = super::json(&output);
    super::validate(&report);
    Watched {
        output,
        report,
        took,
        peak_kib,
    }
}

/// `VmHWM` of a running process, in KiB.
fn high_water_mark_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A TLS server on 127.0.0.1 with a fresh self-signed certificate for `127.0.0.1`, offering
/// `alpn`: it completes each handshake, then hands the session's plaintext to `handler` on a
/// thread of its own, as a blocking stream (so that fixtures can write what they like, as fast
/// or as slowly as they like). Returns its address and the certificate's pin (`sha256:…`).
pub fn tls_server<F>(alpn: &[&[u8]], handler: F) -> (std::net::SocketAddr, String)
where
    F: Fn(std::os::unix::net::UnixStream) + Send + Sync + 'static,
{
    let own = preflight_probes::tls::self_signed(&["127.0.0.1".to_string()]).unwrap();
    let pin = preflight_probes::tls::format_pin(&own.sha256);
    let acceptor =
        preflight_probes::tls::acceptor(vec![own.cert.clone()], own.key.clone_key(), alpn).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let handler = std::sync::Arc::new(handler);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, handler) = (acceptor.clone(), handler.clone());
                tokio::spawn(async move {
                    let Ok(mut session) = acceptor.accept(stream).await else {
                        return;
                    };
                    // The plaintext, bridged to the handler's thread through a socket pair.
                    let (near, far) = std::os::unix::net::UnixStream::pair().unwrap();
                    far.set_nonblocking(true).unwrap();
                    let mut far = tokio::net::UnixStream::from_std(far).unwrap();
                    let blocking = std::thread::spawn(move || handler(near));
                    let _ = tokio::io::copy_bidirectional(&mut session, &mut far).await;
                    drop(far);
                    let _ = tokio::task::spawn_blocking(move || blocking.join()).await;
                });
            }
        });
    });
    (address, pin)
}
