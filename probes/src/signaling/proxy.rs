//! HTTP proxies for the signaling probe: which proxy the environment asks for (and whether
//! `NO_PROXY` bypasses it), and the `CONNECT` exchange that opens a tunnel through it.
//!
//! # Which proxy
//!
//! [`ProxyConfig::from_env`] reads the variables curl and most tools read: for `wss://`,
//! `https_proxy` then `HTTPS_PROXY`; for `ws://`, `http_proxy` then `HTTP_PROXY`; for either,
//! when that one is unset, `all_proxy` then `ALL_PROXY`. Empty values count as unset. A value is
//! an `http://` proxy URL (the scheme may be left out; the port defaults to 1080, as curl's);
//! user and password in it are sent as `Proxy-Authorization: Basic`. Other schemes
//! (`https://`, `socks5://`, ...) are recorded as [`Route::Unsupported`], and the probe then
//! connects directly.
//!
//! `no_proxy` / `NO_PROXY` ([`NoProxy`]) lists hosts that bypass the proxy: `*` (every host),
//! a domain (`example.com`, `.example.com` or `*.example.com`: the domain and every name
//! under it), an IP address (`10.0.0.1`, `::1`, `[::1]`), a CIDR block (`10.0.0.0/8`), each
//! optionally with `:port` (`example.com:8443`, `[::1]:443`) to bypass for that port only.
//! Entries are matched against the host as written in the URL, never against its addresses
//! (as curl does: `localhost` does not bypass for `127.0.0.1`).
//!
//! Only the environment is read. A system proxy configured elsewhere (GNOME or KDE settings,
//! a PAC file, WPAD, the Windows or macOS proxy settings) is not looked up: where the desktop
//! sets one without exporting these variables, the probe connects directly.
//!
//! # The tunnel
//!
//! The probe sends `CONNECT host:port HTTP/1.1` with a `Host` header over a TCP connection
//! to the proxy, reads the answer's head (at most 16 KiB) and classifies it ([`ProxyStep`]):
//! a 2xx opens the tunnel; 407 asks for authentication (the schemes it offers are listed); any
//! other status is a refusal; an answer that is not HTTP, a close or a timeout are their own
//! facts.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::io::{excerpt, BoxedIo, Prefixed};
use super::{Target, BODY_EXCERPT};
use crate::tls::PeerSpoke;

/// The most a proxy's answer head may hold.
const MAX_HEAD: usize = 16 * 1024;

/// The port of a proxy URL without one (curl's default).
pub const DEFAULT_PROXY_PORT: u16 = 1080;

/// An HTTP proxy from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The variable it came from, as spelt (`HTTPS_PROXY`, `https_proxy`, ...).
    pub variable: String,
    /// The URL, with any password replaced by `***`.
    pub url: String,
    /// The proxy's host (no brackets around an IPv6 address).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    credentials: Option<(String, String)>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("variable", &self.variable)
            .field("url", &self.url)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Proxy {
    /// Reads a proxy URL found in `variable`.
    pub fn parse(variable: &str, value: &str) -> Result<Proxy, ProxyError> {
        let trimmed = value.trim();
        let error = |reason: &str| ProxyError {
            variable: variable.to_string(),
            value: redact(trimmed),
            reason: reason.to_string(),
        };
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_string(), trimmed),
        };
        if scheme != "http" {
            return Err(error(&format!(
                "{scheme}:// proxies are not supported (only http:// proxies, with CONNECT)"
            )));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (
                    Some((percent_decode(user), percent_decode(password))),
                    host_port,
                )
            }
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port).ok_or_else(|| error("not a host[:port]"))?;
        if host.is_empty() || !valid_host(&host) {
            return Err(error("no valid host in it"));
        }
        let port = match port {
            Some(port) => port.ok_or_else(|| error("the port is not a number from 1 to 65535"))?,
            None => DEFAULT_PROXY_PORT,
        };
        Ok(Proxy {
            variable: variable.to_string(),
            url: redact(trimmed),
            host,
            port,
            credentials,
        })
    }

    /// Whether the URL held a user (sent as `Proxy-Authorization: Basic`).
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

/// A proxy variable that could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value}: {reason}")]
pub struct ProxyError {
    /// The variable.
    pub variable: String,
    /// Its value, with any password replaced by `***`.
    pub value: String,
    /// Why it cannot be used.
    pub reason: String,
}

/// The proxy settings of the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// For `wss://` (`https_proxy` / `HTTPS_PROXY`).
    pub https: Option<Result<Proxy, ProxyError>>,
    /// For `ws://` (`http_proxy` / `HTTP_PROXY`).
    pub http: Option<Result<Proxy, ProxyError>>,
    /// For either, when the one above is unset (`all_proxy` / `ALL_PROXY`).
    pub all: Option<Result<Proxy, ProxyError>>,
    /// Hosts that bypass the proxy.
    pub no_proxy: NoProxy,
}

impl ProxyConfig {
    /// The settings found through `get` (a variable's value by name; tests pass their own).
    pub fn from_env(get: &impl Fn(&str) -> Option<String>) -> ProxyConfig {
        let first = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                get(name)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (name, value))
            })
        };
        let proxy = |names| first(names).map(|(name, value)| Proxy::parse(name, &value));
        ProxyConfig {
            https: proxy(["https_proxy", "HTTPS_PROXY"]),
            http: proxy(["http_proxy", "HTTP_PROXY"]),
            all: proxy(["all_proxy", "ALL_PROXY"]),
            no_proxy: first(["no_proxy", "NO_PROXY"])
                .map(|(name, value)| NoProxy::parse(name, &value))
                .unwrap_or_default(),
        }
    }

    /// The settings of this process's environment.
    pub fn from_process_env() -> ProxyConfig {
        ProxyConfig::from_env(&|name| std::env::var(name).ok())
    }

    /// How `target` is reached under these settings.
    pub fn route(&self, target: &Target) -> Route {
        let specific = if target.secure {
            &self.https
        } else {
            &self.http
        };
        let Some(chosen) = specific.as_ref().or(self.all.as_ref()) else {
            return Route::Direct;
        };
        if let Some(entry) = self.no_proxy.matching(&target.host, target.port) {
            return Route::Bypassed {
                variable: self.no_proxy.variable.clone().unwrap_or_default(),
                entry: entry.to_string(),
            };
        }
        match chosen {
            Ok(proxy) => Route::Proxy(proxy.clone()),
            Err(error) => Route::Unsupported(error.clone()),
        }
    }
}

/// How the probe reaches its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// No proxy is set for this scheme.
    Direct,
    /// A proxy is set, and an entry of `NO_PROXY` bypasses it for this host.
    Bypassed {
        /// `NO_PROXY` or `no_proxy`.
        variable: String,
        /// The entry that matched.
        entry: String,
    },
    /// Through this proxy (`CONNECT`).
    Proxy(Proxy),
    /// A proxy is set that the probe cannot use (another scheme, or not a URL): the probe
    /// connected directly instead.
    Unsupported(ProxyError),
}

impl Route {
    /// The proxy, when going through one.
    pub fn proxy(&self) -> Option<&Proxy> {
        match self {
            Route::Proxy(proxy) => Some(proxy),
            _ => None,
        }
    }
}

/// Hosts that bypass the proxy (`NO_PROXY`; see the module docs for the forms).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    /// The variable it came from (`NO_PROXY` or `no_proxy`), if any.
    pub variable: Option<String>,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    text: String,
    rule: Rule,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    All,
    Domain(String),
    Address(IpAddr),
    Block(IpAddr, u8),
}

impl NoProxy {
    /// Reads a `NO_PROXY` value (entries separated by commas or white space; entries that
    /// cannot be read are ignored, as curl does).
    pub fn parse(variable: &str, text: &str) -> NoProxy {
        NoProxy {
            variable: Some(variable.to_string()),
            entries: text
                .split(|c: char| c == ',' || c.is_ascii_whitespace())
                .filter(|entry| !entry.is_empty())
                .filter_map(Entry::parse)
                .collect(),
        }
    }

    /// The entry that bypasses the proxy for `host` (as in the URL) on `port`, if one does.
    pub fn matching(&self, host: &str, port: u16) -> Option<&str> {
        let host = normal_host(host);
        let address = host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
        self.entries
            .iter()
            .find(|entry| {
                entry.port.is_none_or(|p| p == port)
                    && match &entry.rule {
                        Rule::All => true,
                        Rule::Domain(domain) => {
                            host == *domain
                                || host
                                    .strip_suffix(domain.as_str())
                                    .is_some_and(|head| head.ends_with('.'))
                        }
                        Rule::Address(ip) => address == Some(*ip),
                        Rule::Block(network, prefix) => {
                            address.is_some_and(|ip| in_block(ip, *network, *prefix))
                        }
                    }
            })
            .map(|entry| entry.text.as_str())
    }
}

impl Entry {
    fn parse(text: &str) -> Option<Entry> {
        let lower = text.to_ascii_lowercase();
        let entry = |rule, port| {
            Some(Entry {
                text: text.to_string(),
                rule,
                port,
            })
        };
        if lower == "*" {
            return entry(Rule::All, None);
        }
        if let Ok(ip) = lower.parse::<IpAddr>() {
            return entry(Rule::Address(ip.to_canonical()), None);
        }
        if let Some((network, prefix)) = lower.split_once('/') {
            let network = network
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()?
                .to_canonical();
            let prefix: u8 = prefix.parse().ok()?;
            let bits = if network.is_ipv4() { 32 } else { 128 };
            return (prefix <= bits)
                .then_some(())
                .and(entry(Rule::Block(network, prefix), None));
        }
        let (host, port) = split_host_port(&lower)?;
        let port = match port {
            Some(port) => Some(port?),
            None => None,
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return entry(Rule::Address(ip.to_canonical()), port);
        }
        let domain = normal_host(host.trim_start_matches('*').trim_start_matches('.'));
        if domain.is_empty() || !valid_host(&domain) {
            return None;
        }
        entry(Rule::Domain(domain), port)
    }
}

fn in_block(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

/// Lowercase, no brackets, no trailing dot.
fn normal_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Letters, digits, `-`, `_`, `.`, or an IP address.
pub(crate) fn valid_host(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`: the host (no brackets) and the port if any
/// (`Some(None)` for a port that is not a number from 1 to 65535). `None` when unreadable.
pub(crate) fn split_host_port(text: &str) -> Option<(String, Option<Option<u16>>)> {
    let port_of = |port: &str| port.parse::<u16>().ok().filter(|port| *port != 0);
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        return match after {
            "" => Some((host.to_string(), None)),
            _ => Some((host.to_string(), Some(port_of(after.strip_prefix(':')?)))),
        };
    }
    match text.split_once(':') {
        None => Some((text.to_string(), None)),
        Some((host, port)) if !port.contains(':') => Some((host.to_string(), Some(port_of(port)))),
        // A bare IPv6 address (no port can be told apart without brackets).
        Some(_) => text
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|_| (text.to_string(), None)),
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A URL with the password (or a lone user) replaced by `***`.
fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_string(),
            };
            format!("{scheme}{user}@{host}{}", &rest[end..])
        }
        None => url.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) if hex(hi).is_some() && hex(lo).is_some() => {
                out.push((hex(hi).unwrap_or(0) * 16 + hex(lo).unwrap_or(0)) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the proxy answered to `CONNECT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyStep {
    /// A 2xx: the tunnel is open.
    Tunnel {
        /// The status (200, usually).
        status: u16,
        /// Its reason phrase.
        reason: String,
        /// What the proxy says it is (`Proxy-Agent`, `Server` or `Via`), if it says.
        agent: Option<String>,
    },
    /// 407: the proxy wants credentials.
    AuthRequired {
        /// The schemes it offers (`Basic`, `NTLM`, `Negotiate`, `Digest`, ...), from its
        /// `Proxy-Authenticate` headers, in order.
        schemes: Vec<String>,
        /// Whether credentials from the proxy URL were sent (and so refused).
        credentials_sent: bool,
        /// What the proxy says it is.
        agent: Option<String>,
    },
    /// Another status: the proxy refused the tunnel.
    Refused {
        /// The status.
        status: u16,
        /// Its reason phrase.
        reason: String,
        /// The start of the answer's body, printable (at most 200 characters).
        body: String,
        /// What the proxy says it is.
        agent: Option<String>,
    },
    /// The proxy answered with bytes that are not an HTTP answer.
    NotHttp {
        /// What it spoke, judged from its first bytes.
        spoke: PeerSpoke,
        /// Its first bytes (up to 16).
        first_bytes: Vec<u8>,
    },
    /// The proxy closed (or reset) the connection before a whole answer.
    Closed {
        /// Reset rather than closed.
        reset: bool,
        /// What it sent before (up to 16 bytes).
        first_bytes: Vec<u8>,
    },
    /// No whole answer in time.
    Timeout {
        /// How long the probe waited.
        after: Duration,
    },
    /// Sending or reading failed otherwise.
    Failed {
        /// The OS's words.
        reason: String,
    },
}

impl ProxyStep {
    /// Whether the tunnel is open.
    pub fn is_tunnel(&self) -> bool {
        matches!(self, ProxyStep::Tunnel { .. })
    }

    /// A stable short name: `tunnel`, `auth_required`, `refused`, `not_http`, `closed`,
    /// `timeout`, `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProxyStep::Tunnel { .. } => "tunnel",
            ProxyStep::AuthRequired { .. } => "auth_required",
            ProxyStep::Refused { .. } => "refused",
            ProxyStep::NotHttp { .. } => "not_http",
            ProxyStep::Closed { .. } => "closed",
            ProxyStep::Timeout { .. } => "timeout",
            ProxyStep::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for ProxyStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyStep::Tunnel { status, reason, .. } => {
                write!(f, "tunnel opened ({status} {reason})")
            }
            ProxyStep::AuthRequired {
                schemes,
                credentials_sent,
                ..
            } => write!(
                f,
                "the proxy asks for authentication (407; schemes: {}){}",
                if schemes.is_empty() {
                    "none named".to_string()
                } else {
                    schemes.join(", ")
                },
                if *credentials_sent {
                    "; the credentials in the proxy URL were refused"
                } else {
                    ""
                }
            ),
            ProxyStep::Refused {
                status,
                reason,
                body,
                ..
            } => {
                write!(f, "the proxy refused the tunnel: {status} {reason}")?;
                if !body.is_empty() {
                    write!(f, " ({body})")?;
                }
                Ok(())
            }
            ProxyStep::NotHttp { first_bytes, .. } => write!(
                f,
                "the proxy did not answer HTTP: \"{}\"",
                first_bytes.escape_ascii()
            ),
            ProxyStep::Closed { reset, .. } => write!(
                f,
                "the proxy {} the connection before answering CONNECT",
                if *reset { "reset" } else { "closed" }
            ),
            ProxyStep::Timeout { after } => write!(
                f,
                "the proxy did not answer CONNECT within {} ms",
                after.as_millis()
            ),
            ProxyStep::Failed { reason } => write!(f, "CONNECT through the proxy failed: {reason}"),
        }
    }
}

/// Opens a tunnel to `target` through `proxy` over `stream` (a TCP connection to the proxy):
/// the classified answer, and the tunnel when it opened.
pub(crate) async fn tunnel(
    mut stream: TcpStream,
    proxy: &Proxy,
    target: &Target,
    user_agent: &str,
    timeout: Duration,
) -> (ProxyStep, Option<BoxedIo>) {
    let started = Instant::now();
    let authority = target.authority();
    let mut request = format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {user_agent}\r\n"
    );
    if let Some((user, password)) = &proxy.credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let exchange = async {
        if let Err(error) = stream.write_all(request.as_bytes()).await {
            return Err((error, Vec::new()));
        }
        let mut head = Vec::new();
        let mut chunk = [0u8; 2048];
        loop {
            let read = match stream.read(&mut chunk).await {
                Ok(0) => return Err((std::io::ErrorKind::UnexpectedEof.into(), head)),
                Ok(read) => read,
                Err(error) => return Err((error, head)),
            };
            head.extend_from_slice(&chunk[..read]);
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut answer = httparse::Response::new(&mut headers);
            return Ok(match answer.parse(&head) {
                Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => continue,
                Ok(httparse::Status::Partial) => (
                    ProxyStep::Failed {
                        reason: format!("the answer's head is longer than {MAX_HEAD} bytes"),
                    },
                    Vec::new(),
                ),
                Ok(httparse::Status::Complete(length)) => {
                    let tunnel = answer.code.is_some_and(|code| (200..300).contains(&code));
                    let mut body = head[length..].to_vec();
                    // A refusal's body says why ("Access violation"): read a little more of it,
                    // briefly, when it did not come with the head.
                    if !tunnel {
                        let deadline = tokio::time::Instant::now() + BODY_WAIT;
                        while body.len() < BODY_EXCERPT {
                            match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                                Ok(Ok(read)) if read > 0 => body.extend_from_slice(&chunk[..read]),
                                _ => break,
                            }
                        }
                    }
                    (classify(&answer, &body, proxy), body)
                }
                Err(_) => (
                    ProxyStep::NotHttp {
                        spoke: PeerSpoke::of(&head),
                        first_bytes: head.iter().take(16).copied().collect(),
                    },
                    Vec::new(),
                ),
            });
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => (
            ProxyStep::Timeout {
                after: started.elapsed(),
            },
            None,
        ),
        Ok(Ok((step, rest))) if step.is_tunnel() => {
            let stream: BoxedIo = if rest.is_empty() {
                Box::new(stream)
            } else {
                Box::new(Prefixed::new(rest, stream))
            };
            (step, Some(stream))
        }
        Ok(Ok((step, _))) => (step, None),
        Ok(Err((error, head))) => {
            let first_bytes = head.iter().take(16).copied().collect();
            let step = match error.kind() {
                std::io::ErrorKind::UnexpectedEof => ProxyStep::Closed {
                    reset: false,
                    first_bytes,
                },
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe => ProxyStep::Closed {
                    reset: true,
                    first_bytes,
                },
                _ => ProxyStep::Failed {
                    reason: error.to_string(),
                },
            };
            (step, None)
        }
    }
}

/// How long to wait for the rest of a refusal's body.
const BODY_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

/// Classifies a complete answer head; `body` is what came with it.
fn classify(answer: &httparse::Response<'_, '_>, body: &[u8], proxy: &Proxy) -> ProxyStep {
    let status = answer.code.unwrap_or(0);
    let reason = answer.reason.unwrap_or_default().to_string();
    let values = |name: &'static str| {
        answer
            .headers
            .iter()
            .filter(move |header| header.name.eq_ignore_ascii_case(name))
            .map(|header| String::from_utf8_lossy(header.value).trim().to_string())
    };
    let agent = values("proxy-agent")
        .chain(values("server"))
        .chain(values("via"))
        .next()
        .map(|agent| excerpt(agent.as_bytes(), BODY_EXCERPT));
    match status {
        200..=299 => ProxyStep::Tunnel {
            status,
            reason,
            agent,
        },
        407 => {
            let mut schemes: Vec<String> = Vec::new();
            for scheme in values("proxy-authenticate").flat_map(|value| challenge_schemes(&value)) {
                if !schemes
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(&scheme))
                {
                    schemes.push(scheme);
                }
            }
            ProxyStep::AuthRequired {
                schemes,
                credentials_sent: proxy.has_credentials(),
                agent,
            }
        }
        _ => ProxyStep::Refused {
            status,
            reason,
            body: excerpt(body, BODY_EXCERPT),
            agent,
        },
    }
}

/// The auth schemes of one `Proxy-Authenticate` value (RFC 9110 section 11.6.2: challenges
/// separated by commas, each a scheme then a token68 or auth-params that contain commas too).
/// A comma-separated part that starts with a token not followed by `=` starts a challenge.
pub(crate) fn challenge_schemes(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .iter()
        .filter_map(|part| {
            let part = part.trim();
            let end = part
                .find(|c: char| c.is_ascii_whitespace() || c == '=')
                .unwrap_or(part.len());
            let token = &part[..end];
            let rest = part[end..].trim_start();
            (!token.is_empty() && !rest.starts_with('=')).then(|| token.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ProxyConfig {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyConfig::from_env(&move |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
    }

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    fn proxy_of(route: Route) -> String {
        match route {
            Route::Proxy(proxy) => format!("{} {}", proxy.variable, proxy.authority()),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn the_scheme_picks_the_variable_and_all_proxy_fills_in() {
        let config = env(&[
            ("HTTPS_PROXY", "http://secure.lab:3128"),
            ("http_proxy", "plain.lab:8080"),
            ("ALL_PROXY", "http://all.lab"),
        ]);
        assert_eq!(
            proxy_of(config.route(&target("wss://signal.example.com/"))),
            "HTTPS_PROXY secure.lab:3128"
        );
        assert_eq!(
            proxy_of(config.route(&target("ws://signal.example.com/"))),
            "http_proxy plain.lab:8080"
        );
        let config = env(&[("all_proxy", "http://all.lab"), ("https_proxy", " ")]);
        assert_eq!(
            proxy_of(config.route(&target("wss://signal.example.com/"))),
            "all_proxy all.lab:1080"
        );
        assert_eq!(
            env(&[]).route(&target("wss://signal.example.com/")),
            Route::Direct
        );
    }

    #[test]
    fn lowercase_wins_over_uppercase() {
        let config = env(&[
            ("HTTPS_PROXY", "http://upper.lab:1"),
            ("https_proxy", "http://lower.lab:2"),
            ("NO_PROXY", "upper.example"),
            ("no_proxy", "lower.example"),
        ]);
        assert_eq!(
            proxy_of(config.route(&target("wss://upper.example/"))),
            "https_proxy lower.lab:2"
        );
        assert!(matches!(
            config.route(&target("wss://lower.example/")),
            Route::Bypassed { variable, .. } if variable == "no_proxy"
        ));
    }

    #[test]
    fn other_schemes_and_junk_are_unsupported_unless_bypassed() {
        let config = env(&[
            ("ALL_PROXY", "socks5h://user:pw@socks.lab:1080"),
            ("NO_PROXY", "internal.lab"),
        ]);
        match config.route(&target("wss://signal.example.com/")) {
            Route::Unsupported(error) => {
                assert_eq!(error.variable, "ALL_PROXY");
                assert_eq!(error.value, "socks5h://user:***@socks.lab:1080");
                assert!(error.reason.contains("socks5h://"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            config.route(&target("wss://a.internal.lab/")),
            Route::Bypassed { .. }
        ));
        for junk in [
            "http://",
            "http://proxy.lab:http",
            "http://pro xy.lab",
            "http://[::1",
        ] {
            assert!(Proxy::parse("HTTPS_PROXY", junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn proxy_urls_keep_credentials_out_of_sight() {
        let proxy = Proxy::parse("HTTPS_PROXY", "http://corp%5Cjo:p%40ss@[::1]:3128/").unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("::1", 3128));
        assert_eq!(proxy.authority(), "[::1]:3128");
        assert_eq!(proxy.url, "http://corp%5Cjo:***@[::1]:3128/");
        assert!(proxy.has_credentials());
        assert_eq!(
            proxy.credentials,
            Some(("corp\\jo".to_string(), "p@ss".to_string()))
        );
        let debug = format!("{proxy:?}");
        assert!(
            !debug.contains("p%40ss") && !debug.contains("p@ss"),
            "{debug}"
        );
        let bare = Proxy::parse("http_proxy", "proxy.lab").unwrap();
        assert_eq!(
            (bare.port, bare.has_credentials()),
            (DEFAULT_PROXY_PORT, false)
        );
    }

    #[test]
    fn no_proxy_entries() {
        let no = NoProxy::parse(
            "NO_PROXY",
            "localhost, .corp.lab *.internal.lab,example.com:8443 10.0.0.0/8,192.168.1.5,\
             ::1,[fd00::7]:443, fd12::/16, bad/99, 1.2.3.4/33",
        );
        let cases: [(&str, u16, Option<&str>); 20] = [
            ("localhost", 443, Some("localhost")),
            ("LOCALHOST.", 443, Some("localhost")),
            ("127.0.0.1", 443, None),
            ("corp.lab", 443, Some(".corp.lab")),
            ("a.b.corp.lab", 443, Some(".corp.lab")),
            ("xcorp.lab", 443, None),
            ("internal.lab", 443, Some("*.internal.lab")),
            ("x.internal.lab", 80, Some("*.internal.lab")),
            ("example.com", 8443, Some("example.com:8443")),
            ("www.example.com", 8443, Some("example.com:8443")),
            ("example.com", 443, None),
            ("10.1.2.3", 443, Some("10.0.0.0/8")),
            ("11.1.2.3", 443, None),
            ("192.168.1.5", 443, Some("192.168.1.5")),
            ("::1", 443, Some("::1")),
            ("[::ffff:192.168.1.5]", 443, Some("192.168.1.5")),
            ("fd00::7", 443, Some("[fd00::7]:443")),
            ("fd00::7", 80, None),
            ("fd12:3::1", 80, Some("fd12::/16")),
            ("signal.example.com", 443, None),
        ];
        for (host, port, expected) in cases {
            assert_eq!(no.matching(host, port), expected, "{host}:{port}");
        }
        let all = NoProxy::parse("no_proxy", "*");
        assert_eq!(all.matching("anything.example", 1), Some("*"));
        assert_eq!(NoProxy::default().matching("anything.example", 1), None);
    }

    #[test]
    fn schemes_of_proxy_authenticate() {
        let cases: [(&str, &[&str]); 6] = [
            ("NTLM", &["NTLM"]),
            ("Basic realm=\"x\"", &["Basic"]),
            (
                "Basic realm=\"a, b=c\", charset=\"UTF-8\", Negotiate",
                &["Basic", "Negotiate"],
            ),
            (
                "Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1==, NTLM",
                &["Negotiate", "NTLM"],
            ),
            (
                "Digest realm=\"corp\", qop=\"auth\", nonce=\"a\\\"b,c\"",
                &["Digest"],
            ),
            ("", &[]),
        ];
        for (value, schemes) in cases {
            assert_eq!(challenge_schemes(value), schemes, "{value}");
        }
    }
}
