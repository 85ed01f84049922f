//! TLS for the probes (STUN over TLS now, the signaling WebSocket later) and for `serve`:
//! a client handshake that reports facts, and server-side certificates.
//!
//! # Client: [`connect`]
//!
//! One handshake over a stream the caller opened, with the trust of [`Trust`], under a
//! deadline. Success returns the stream and the [`HandshakeFacts`] (version, cipher suite,
//! ALPN, the certificates seen, how long it took, how the peer was verified). Failure returns a
//! classified [`TlsFailure`]: expired, not yet valid, wrong name, unknown issuer, pin
//! mismatch, an alert from the peer, a peer that does not speak TLS (and what it spoke),
//! timeout, closed or reset. Facts only: what a failure means for a call is decided elsewhere.
//!
//! The certificates the peer presented are captured by a thin wrapper around the verifier, so
//! that a failure still names them (the issuer of an unknown chain, the names of a wrong one).
//! The first bytes the peer sent are kept by [`Sniffed`], so that "not TLS" says whether the
//! peer spoke HTTP, STUN, SSH or something else.
//!
//! # Trust
//!
//! | [`Trust`] | what is accepted | [`Verification`] |
//! |---|---|---|
//! | default | a chain to the OS's roots, valid now, for the requested name (the platform verifier; where it cannot be built, e.g. no system bundle, Mozilla's roots from `webpki-roots`) | `Platform` / `BundledRoots` |
//! | `ca` | a chain to those roots **only** (like curl's `--cacert`: the OS's roots are not added), valid now, for the name | `CaFile` |
//! | `pin` | exactly the leaf certificate whose SHA-256 (of its DER) matches; name and dates are **not** checked (the pin is the trust decision, as with `serve`'s self-signed certificate; the dates stay in the facts); the peer must still prove it holds the key (handshake signature) | `Pin` |
//! | `insecure` | anything | `Off` (recorded in the facts so every line made with it can say so) |
//!
//! `pin` wins over `ca`, `insecure` over both. "Now" is the system clock, or [`Trust::clock`]
//! when set (tests, or a plan's injected clock).
//!
//! With the default trust, a chain the OS accepted may still end at a root that no browser
//! ships: one installed on this machine by a TLS-inspecting proxy, firewall or antivirus.
//! [`HandshakeFacts::public_root`] says whether it ends at one of Mozilla's roots
//! ([`ends_at_public_root`], a pure function of the certificates presented), and
//! [`HandshakeFacts::top_issuer`] names the root it ends at.
//!
//! # Server: [`self_signed`], [`acceptor`], [`load_certificates`], [`load_private_key`]
//!
//! `serve` uses a given certificate chain and key (PEM files), or generates a self-signed
//! certificate at start and prints its fingerprint ([`format_pin`]) for clients to `--pin`.
//!
//! The crypto provider is `ring` everywhere (no aws-lc).

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
pub use rustls::pki_types::CertificateDer;
use rustls::pki_types::{PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub use tokio_rustls::TlsAcceptor;

/// The ALPN protocol id of STUN and TURN over TLS (RFC 7443).
pub const ALPN_STUN_TURN: &[u8] = b"stun.turn";

/// How many of the peer's first bytes are kept to say what it spoke.
const SNIFF_LEN: usize = 16;

/// What the client trusts (see the module docs for the table).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// Roots from a PEM file (`--ca`): trusted instead of the OS's roots.
    pub ca: Option<Vec<CertificateDer<'static>>>,
    /// SHA-256 of the one leaf certificate (DER) to accept (`--pin sha256:…`).
    pub pin: Option<[u8; 32]>,
    /// Accept any certificate (`--insecure`); recorded as [`Verification::Off`].
    pub insecure: bool,
    /// "Now" for certificate dates, in UNIX seconds; `None` is the system clock.
    pub clock: Option<u64>,
}

/// How the peer's certificate was (or was not) verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verification {
    /// A chain to the OS's roots (the platform verifier).
    Platform,
    /// A chain to Mozilla's roots (`webpki-roots`): the platform verifier could not be built.
    BundledRoots,
    /// A chain to the roots of the `--ca` file only.
    CaFile,
    /// The leaf's SHA-256 matched the pin (name and dates not checked).
    Pin,
    /// Not verified at all (`--insecure`).
    Off,
}

impl Verification {
    /// `platform`, `bundled_roots`, `ca_file`, `pin` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Platform => "platform",
            Verification::BundledRoots => "bundled_roots",
            Verification::CaFile => "ca_file",
            Verification::Pin => "pin",
            Verification::Off => "off",
        }
    }
}

/// Facts of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFacts {
    /// Subject, RFC 4514 style (`CN=signal.example.com, O=…`); empty when unparseable.
    pub subject: String,
    /// Issuer, same style.
    pub issuer: String,
    /// Subject alternative names: DNS names and IP addresses, in order.
    pub names: Vec<String>,
    /// `notBefore`, UNIX seconds.
    pub not_before: i64,
    /// `notAfter`, UNIX seconds.
    pub not_after: i64,
    /// SHA-256 of the DER encoding (what `--pin` compares).
    pub sha256: [u8; 32],
    /// Issuer equals subject.
    pub self_signed: bool,
    /// Why the certificate could not be parsed (then only `sha256` is meaningful).
    pub parse_error: Option<String>,
}

impl CertFacts {
    /// Parses the facts of a DER certificate (never fails: see [`CertFacts::parse_error`]).
    pub fn of(der: &[u8]) -> CertFacts {
        let sha256 = sha256(der);
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => {
                let subject = cert.subject().to_string();
                let issuer = cert.issuer().to_string();
                let names = match cert.subject_alternative_name() {
                    Ok(Some(san)) => san
                        .value
                        .general_names
                        .iter()
                        .filter_map(general_name)
                        .collect(),
                    _ => Vec::new(),
                };
                CertFacts {
                    self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
                    subject,
                    issuer,
                    names,
                    not_before: cert.validity().not_before.timestamp(),
                    not_after: cert.validity().not_after.timestamp(),
                    sha256,
                    parse_error: None,
                }
            }
            Err(error) => CertFacts {
                subject: String::new(),
                issuer: String::new(),
                names: Vec::new(),
                not_before: 0,
                not_after: 0,
                sha256,
                self_signed: false,
                parse_error: Some(error.to_string()),
            },
        }
    }
}

fn general_name(name: &x509_parser::extensions::GeneralName<'_>) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    match name {
        GeneralName::DNSName(name) => Some((*name).to_string()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => Some(IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?).to_string()),
            16 => Some(IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?).to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Facts of a completed handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeFacts {
    /// The name sent as SNI and checked against the certificate (unless pinned or insecure).
    pub server_name: String,
    /// `TLS 1.3` or `TLS 1.2`.
    pub protocol: String,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The protocol the server chose by ALPN, if it chose one.
    pub alpn: Option<String>,
    /// The leaf certificate.
    pub leaf: Option<CertFacts>,
    /// The further certificates the server sent (intermediates, sometimes a root), in order.
    pub chain: Vec<CertFacts>,
    /// How the certificate was verified.
    pub verification: Verification,
    /// With the default trust: whether the chain ends at one of the publicly trusted roots
    /// (Mozilla's, as in `webpki-roots`), judged by [`ends_at_public_root`]. `Some(false)`: the
    /// OS accepted a chain to a root of its own (a TLS-inspecting proxy or firewall, or a local
    /// antivirus, whose root was installed on this machine). `None`: not applicable (`--pin`,
    /// `--ca`, `--insecure`) or could not tell.
    pub public_root: Option<bool>,
    /// The name of the root the presented chain ends at (the issuer of its top certificate,
    /// [`top_issuer`]), RFC 4514 style; `None` when unparseable.
    pub top_issuer: Option<String>,
    /// From the first byte sent to the handshake's end.
    pub duration: Duration,
}

/// What a peer that is not speaking TLS spoke, judged from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerSpoke {
    /// `HTTP/…` (a plain HTTP server or proxy).
    Http,
    /// A STUN message (plain STUN over TCP).
    Stun,
    /// `SSH-…`.
    Ssh,
    /// Other printable text (a banner: SMTP, FTP, …).
    Text,
    /// Other bytes.
    Binary,
}

impl PeerSpoke {
    /// Classifies the first bytes a peer sent.
    pub fn of(bytes: &[u8]) -> PeerSpoke {
        if bytes.starts_with(b"HTTP/") {
            PeerSpoke::Http
        } else if bytes.starts_with(b"SSH-") {
            PeerSpoke::Ssh
        } else if bytes.len() >= 8
            && bytes[0] & 0xC0 == 0
            && bytes[4..8] == [0x21, 0x12, 0xA4, 0x42]
        {
            PeerSpoke::Stun
        } else if !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        {
            PeerSpoke::Text
        } else {
            PeerSpoke::Binary
        }
    }

    /// `http`, `stun`, `ssh`, `text` or `binary`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerSpoke::Http => "http",
            PeerSpoke::Stun => "stun",
            PeerSpoke::Ssh => "ssh",
            PeerSpoke::Text => "text",
            PeerSpoke::Binary => "binary",
        }
    }
}

/// Why a client handshake failed. Facts only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// The leaf's `notAfter` is before "now".
    Expired {
        /// `notAfter`, UNIX seconds.
        not_after: i64,
        /// "Now" as the check saw it, UNIX seconds.
        now: i64,
        /// The certificate.
        leaf: Box<CertFacts>,
    },
    /// The leaf's `notBefore` is after "now" (often: this machine's clock is wrong).
    NotYetValid {
        /// `notBefore`, UNIX seconds.
        not_before: i64,
        /// "Now" as the check saw it, UNIX seconds.
        now: i64,
        /// The certificate.
        leaf: Box<CertFacts>,
    },
    /// The certificate is not for the requested name.
    NameMismatch {
        /// The name asked for.
        requested: String,
        /// The names the certificate holds.
        presented: Vec<String>,
        /// The certificate.
        leaf: Box<CertFacts>,
    },
    /// The chain does not end at a trusted root (self-signed when `leaf.self_signed`; with a
    /// TLS-inspecting proxy, the issuer names the proxy's CA).
    UnknownIssuer {
        /// The certificate.
        leaf: Box<CertFacts>,
        /// The further certificates sent.
        chain: Vec<CertFacts>,
    },
    /// The leaf is not the pinned certificate.
    PinMismatch {
        /// The pin.
        expected: [u8; 32],
        /// The leaf's SHA-256.
        got: [u8; 32],
        /// The certificate.
        leaf: Box<CertFacts>,
    },
    /// Another certificate problem (bad signature, revoked, wrong purpose, bad encoding).
    BadCertificate {
        /// rustls's words.
        reason: String,
        /// The certificate, when one was presented.
        leaf: Option<Box<CertFacts>>,
    },
    /// The peer ended the handshake with a TLS alert.
    Alert {
        /// The alert's name as in the RFCs, e.g. `handshake_failure`.
        alert: String,
    },
    /// The peer answered with bytes that are not TLS.
    NotTls {
        /// What it spoke.
        spoke: PeerSpoke,
        /// Its first bytes (up to 16).
        first_bytes: Vec<u8>,
    },
    /// The peer speaks TLS, but nothing in common with us (versions, cipher suites, ...).
    Incompatible {
        /// rustls's words.
        reason: String,
    },
    /// The peer speaks TLS, but broke the protocol.
    Protocol {
        /// rustls's words.
        reason: String,
    },
    /// No complete handshake before the deadline.
    Timeout {
        /// How long the probe waited.
        after: Duration,
    },
    /// The connection was closed (or reset) during the handshake.
    Closed {
        /// Reset rather than closed.
        reset: bool,
        /// Bytes the peer sent before (none when it closed on the ClientHello).
        first_bytes: Vec<u8>,
    },
    /// The name to connect to is neither a DNS name nor an IP address.
    InvalidName {
        /// The name.
        name: String,
    },
    /// This machine's TLS set-up failed (a CA file whose certificates cannot be roots, ...).
    Setup {
        /// What failed.
        reason: String,
    },
    /// Reading or writing failed otherwise.
    Io {
        /// The OS's words.
        reason: String,
    },
}

impl TlsFailure {
    /// A stable short name: `expired`, `not_yet_valid`, `name_mismatch`, `unknown_issuer`,
    /// `pin_mismatch`, `bad_certificate`, `alert`, `not_tls`, `incompatible`, `protocol`,
    /// `timeout`, `closed`, `invalid_name`, `setup`, `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            TlsFailure::Expired { .. } => "expired",
            TlsFailure::NotYetValid { .. } => "not_yet_valid",
            TlsFailure::NameMismatch { .. } => "name_mismatch",
            TlsFailure::UnknownIssuer { .. } => "unknown_issuer",
            TlsFailure::PinMismatch { .. } => "pin_mismatch",
            TlsFailure::BadCertificate { .. } => "bad_certificate",
            TlsFailure::Alert { .. } => "alert",
            TlsFailure::NotTls { .. } => "not_tls",
            TlsFailure::Incompatible { .. } => "incompatible",
            TlsFailure::Protocol { .. } => "protocol",
            TlsFailure::Timeout { .. } => "timeout",
            TlsFailure::Closed { .. } => "closed",
            TlsFailure::InvalidName { .. } => "invalid_name",
            TlsFailure::Setup { .. } => "setup",
            TlsFailure::Io { .. } => "io",
        }
    }

    /// Whether the handshake got as far as the server's certificate: the path carries TLS to a
    /// TLS server, and only trust (or the certificate itself) failed.
    pub fn reached_certificate(&self) -> bool {
        matches!(
            self,
            TlsFailure::Expired { .. }
                | TlsFailure::NotYetValid { .. }
                | TlsFailure::NameMismatch { .. }
                | TlsFailure::UnknownIssuer { .. }
                | TlsFailure::PinMismatch { .. }
                | TlsFailure::BadCertificate { .. }
        )
    }

    /// The leaf certificate the peer presented, when the failure concerns it.
    pub fn leaf(&self) -> Option<&CertFacts> {
        match self {
            TlsFailure::Expired { leaf, .. }
            | TlsFailure::NotYetValid { leaf, .. }
            | TlsFailure::NameMismatch { leaf, .. }
            | TlsFailure::UnknownIssuer { leaf, .. }
            | TlsFailure::PinMismatch { leaf, .. } => Some(leaf),
            TlsFailure::BadCertificate { leaf, .. } => leaf.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::Expired {
                not_after,
                now,
                leaf,
            } => write!(
                f,
                "certificate {} expired at {} (now {})",
                leaf.subject,
                utc(*not_after),
                utc(*now)
            ),
            TlsFailure::NotYetValid {
                not_before,
                now,
                leaf,
            } => write!(
                f,
                "certificate {} is not valid before {} (now {}: is this machine's clock right?)",
                leaf.subject,
                utc(*not_before),
                utc(*now)
            ),
            TlsFailure::NameMismatch {
                requested,
                presented,
                ..
            } => write!(
                f,
                "certificate is for {}, not {requested}",
                if presented.is_empty() {
                    "no name".to_string()
                } else {
                    presented.join(", ")
                }
            ),
            TlsFailure::UnknownIssuer { leaf, .. } if leaf.self_signed => write!(
                f,
                "certificate {} is self-signed and not trusted",
                leaf.subject
            ),
            TlsFailure::UnknownIssuer { leaf, .. } => write!(
                f,
                "certificate {} was issued by {}, which is not a trusted root",
                leaf.subject, leaf.issuer
            ),
            TlsFailure::PinMismatch { expected, got, .. } => write!(
                f,
                "certificate is {}, not the pinned {}",
                format_pin(got),
                format_pin(expected)
            ),
            TlsFailure::BadCertificate { reason, .. } => write!(f, "bad certificate: {reason}"),
            TlsFailure::Alert { alert } => {
                write!(f, "the server ended the handshake: alert {alert}")
            }
            TlsFailure::NotTls { spoke, first_bytes } => write!(
                f,
                "the server does not speak TLS: it answered {} ({})",
                match spoke {
                    PeerSpoke::Http => "HTTP",
                    PeerSpoke::Stun => "STUN",
                    PeerSpoke::Ssh => "SSH",
                    PeerSpoke::Text => "text",
                    PeerSpoke::Binary => "other bytes",
                },
                escape(first_bytes)
            ),
            TlsFailure::Incompatible { reason } => {
                write!(f, "no TLS version or cipher suite in common: {reason}")
            }
            TlsFailure::Protocol { reason } => write!(f, "TLS protocol error: {reason}"),
            TlsFailure::Timeout { after } => {
                write!(f, "no TLS handshake within {} ms", after.as_millis())
            }
            TlsFailure::Closed { reset, first_bytes } => write!(
                f,
                "the connection was {} during the TLS handshake{}",
                if *reset { "reset" } else { "closed" },
                if first_bytes.is_empty() {
                    String::new()
                } else {
                    format!(" after {}", escape(first_bytes))
                }
            ),
            TlsFailure::InvalidName { name } => {
                write!(f, "{name:?} is neither a DNS name nor an IP address")
            }
            TlsFailure::Setup { reason } => write!(f, "TLS set-up failed: {reason}"),
            TlsFailure::Io { reason } => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for TlsFailure {}

/// `2021-01-01 00:00:00 UTC` for UNIX seconds.
pub fn utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

fn escape(bytes: &[u8]) -> String {
    format!("\"{}\"", bytes.escape_ascii())
}

/// SHA-256 of `bytes` (of a certificate's DER: its fingerprint).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `sha256:` and the lowercase hex of a fingerprint: what `serve` prints and `--pin` takes.
pub fn format_pin(fingerprint: &[u8; 32]) -> String {
    let hex: String = fingerprint.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Why a pin could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SHA-256 pin: expected sha256: and 64 hex digits (colons allowed), as `serve` prints or `openssl x509 -noout -fingerprint -sha256` shows")]
pub struct PinError(pub String);

/// Reads a pin: `sha256:` (optional) and 64 hex digits, either case, colons allowed (the
/// `openssl x509 -fingerprint -sha256` form).
pub fn parse_pin(text: &str) -> Result<[u8; 32], PinError> {
    let trimmed = text.trim();
    let hex = trimmed
        .strip_prefix("sha256:")
        .or_else(|| trimmed.strip_prefix("SHA256:"))
        .or_else(|| trimmed.strip_prefix("sha256 Fingerprint="))
        .or_else(|| trimmed.strip_prefix("SHA256 Fingerprint="))
        .unwrap_or(trimmed);
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 {
        return Err(PinError(text.to_string()));
    }
    let mut pin = [0u8; 32];
    for (byte, pair) in pin.iter_mut().zip(digits.chunks(2)) {
        let text = std::str::from_utf8(pair).map_err(|_| PinError(text.to_string()))?;
        *byte = u8::from_str_radix(text, 16).map_err(|_| PinError(text.to_string()))?;
    }
    Ok(pin)
}

/// A stream that keeps a copy of the first bytes read from it, so that a failed handshake can
/// say what the peer spoke. Reads and writes pass through unchanged.
#[derive(Debug)]
pub struct Sniffed<S> {
    inner: S,
    first: [u8; SNIFF_LEN],
    len: usize,
}

impl<S> Sniffed<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Sniffed<S> {
        Sniffed {
            inner,
            first: [0; SNIFF_LEN],
            len: 0,
        }
    }

    /// The first bytes read (up to 16).
    pub fn first_bytes(&self) -> &[u8] {
        &self.first[..self.len]
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped stream.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.len < SNIFF_LEN {
            let new = &buf.filled()[before..];
            let take = new.len().min(SNIFF_LEN - this.len);
            this.first[this.len..this.len + take].copy_from_slice(&new[..take]);
            this.len += take;
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniffed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A client TLS stream over `S` (a `TcpStream` by default).
pub type ClientStream<S = tokio::net::TcpStream> = tokio_rustls::client::TlsStream<Sniffed<S>>;

/// The `ring` provider (this crate's only one).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A verifier and how it verifies.
type Verifier = (Arc<dyn ServerCertVerifier>, Verification);

/// The default verifier: the platform's, or Mozilla's roots where it cannot be built. Built
/// once per process (loading the system bundle takes milliseconds).
fn default_verifier() -> Result<Verifier, String> {
    static DEFAULT: OnceLock<Result<Verifier, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(
            || match rustls_platform_verifier::Verifier::new(provider()) {
                Ok(verifier) => Ok((Arc::new(verifier), Verification::Platform)),
                Err(_) => {
                    let roots = RootCertStore {
                        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                    };
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map(|verifier| {
                            (
                                verifier as Arc<dyn ServerCertVerifier>,
                                Verification::BundledRoots,
                            )
                        })
                        .map_err(|error| format!("no usable root certificates: {error}"))
                }
            },
        )
        .clone()
}

/// A client prepared from a [`Trust`]: build it once, connect many times.
#[derive(Debug, Clone)]
pub struct Client {
    verifier: Arc<dyn ServerCertVerifier>,
    verification: Verification,
    trust: Trust,
}

impl Client {
    /// Prepares the verifier that `trust` asks for.
    pub fn new(trust: &Trust) -> Result<Client, TlsFailure> {
        let (verifier, verification): (Arc<dyn ServerCertVerifier>, _) = if trust.insecure {
            (Arc::new(AcceptAnything), Verification::Off)
        } else if let Some(pin) = trust.pin {
            (Arc::new(Pinned { pin }), Verification::Pin)
        } else if let Some(ca) = &trust.ca {
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(ca.iter().cloned());
            if added == 0 {
                return Err(TlsFailure::Setup {
                    reason: "the CA file holds no certificate usable as a root".to_string(),
                });
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|error| TlsFailure::Setup {
                    reason: format!("the CA file's roots cannot be used: {error}"),
                })?;
            (verifier, Verification::CaFile)
        } else {
            default_verifier().map_err(|reason| TlsFailure::Setup { reason })?
        };
        Ok(Client {
            verifier,
            verification,
            trust: trust.clone(),
        })
    }

    /// How this client verifies certificates.
    pub fn verification(&self) -> Verification {
        self.verification
    }

    /// One handshake over `stream` for `server_name` (a DNS name or an IP address, brackets
    /// allowed), offering `alpn` (the server may choose none), within `timeout`.
    pub async fn connect<S>(
        &self,
        stream: S,
        server_name: &str,
        alpn: &[&[u8]],
        timeout: Duration,
    ) -> Result<(ClientStream<S>, HandshakeFacts), TlsFailure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let bare = server_name.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare.to_string()).map_err(|_| TlsFailure::InvalidName {
            name: server_name.to_string(),
        })?;
        let seen = Arc::new(Mutex::new(None));
        let capturing = Arc::new(Capturing {
            inner: self.verifier.clone(),
            seen: seen.clone(),
        });
        let time: Arc<dyn rustls::time_provider::TimeProvider> = match self.trust.clock {
            Some(seconds) => Arc::new(FixedTime(seconds)),
            None => Arc::new(rustls::time_provider::DefaultTimeProvider),
        };
        let mut config = ClientConfig::builder_with_details(provider(), time)
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsFailure::Setup {
                reason: error.to_string(),
            })?
            .dangerous()
            .with_custom_certificate_verifier(capturing)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));

        let started = Instant::now();
        let handshake = connector
            .connect(name, Sniffed::new(stream))
            .into_fallible();
        let result = match tokio::time::timeout(timeout, handshake).await {
            Err(_) => {
                return Err(TlsFailure::Timeout {
                    after: started.elapsed(),
                })
            }
            Ok(result) => result,
        };
        let duration = started.elapsed();
        let presented = seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        match result {
            Ok(stream) => {
                let (_, connection) = stream.get_ref();
                let facts = HandshakeFacts {
                    server_name: bare.to_string(),
                    protocol: match connection.protocol_version() {
                        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_string(),
                        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_string(),
                        Some(other) => format!("{other:?}"),
                        None => String::new(),
                    },
                    cipher_suite: connection
                        .negotiated_cipher_suite()
                        .map(|suite| format!("{:?}", suite.suite()))
                        .unwrap_or_default(),
                    alpn: connection
                        .alpn_protocol()
                        .map(|protocol| String::from_utf8_lossy(protocol).into_owned()),
                    leaf: presented.first().map(|der| CertFacts::of(der)),
                    chain: presented
                        .iter()
                        .skip(1)
                        .map(|der| CertFacts::of(der))
                        .collect(),
                    verification: self.verification,
                    public_root: match self.verification {
                        Verification::Platform => ends_at_public_root(&presented),
                        // The verifier holds Mozilla's roots only.
                        Verification::BundledRoots => Some(true),
                        Verification::CaFile | Verification::Pin | Verification::Off => None,
                    },
                    top_issuer: top_issuer(&presented),
                    duration,
                };
                Ok((stream, facts))
            }
            Err((error, sniffed)) => {
                Err(self.classify(&error, bare, &presented, sniffed.first_bytes()))
            }
        }
    }

    fn classify(
        &self,
        error: &io::Error,
        requested: &str,
        presented: &[CertificateDer<'static>],
        first_bytes: &[u8],
    ) -> TlsFailure {
        let leaf = || {
            Box::new(
                presented
                    .first()
                    .map_or_else(|| CertFacts::of(&[]), |der| CertFacts::of(der)),
            )
        };
        let tls = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let now = || -> i64 {
            match self.trust.clock {
                Some(seconds) => i64::try_from(seconds).unwrap_or(i64::MAX),
                None => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            }
        };
        let not_tls = !first_bytes.is_empty() && !looks_like_tls(first_bytes);
        match tls {
            _ if not_tls => TlsFailure::NotTls {
                spoke: PeerSpoke::of(first_bytes),
                first_bytes: first_bytes.to_vec(),
            },
            Some(rustls::Error::InvalidCertificate(certificate)) => {
                if let (Some(pin), Some(der)) = (self.trust.pin, presented.first()) {
                    if !self.trust.insecure && sha256(der) != pin {
                        return TlsFailure::PinMismatch {
                            expected: pin,
                            got: sha256(der),
                            leaf: leaf(),
                        };
                    }
                }
                match certificate {
                    CertificateError::ExpiredContext { time, not_after } => TlsFailure::Expired {
                        not_after: unix(not_after),
                        now: unix(time),
                        leaf: leaf(),
                    },
                    CertificateError::Expired => {
                        let leaf = leaf();
                        TlsFailure::Expired {
                            not_after: leaf.not_after,
                            now: now(),
                            leaf,
                        }
                    }
                    CertificateError::NotValidYetContext { time, not_before } => {
                        TlsFailure::NotYetValid {
                            not_before: unix(not_before),
                            now: unix(time),
                            leaf: leaf(),
                        }
                    }
                    CertificateError::NotValidYet => {
                        let leaf = leaf();
                        TlsFailure::NotYetValid {
                            not_before: leaf.not_before,
                            now: now(),
                            leaf,
                        }
                    }
                    // The names as the certificate holds them (rustls's context has them
                    // in its own debug format).
                    CertificateError::NotValidForNameContext { .. }
                    | CertificateError::NotValidForName => {
                        let leaf = leaf();
                        TlsFailure::NameMismatch {
                            requested: requested.to_string(),
                            presented: leaf.names.clone(),
                            leaf,
                        }
                    }
                    CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer {
                        leaf: leaf(),
                        chain: presented
                            .iter()
                            .skip(1)
                            .map(|der| CertFacts::of(der))
                            .collect(),
                    },
                    other => TlsFailure::BadCertificate {
                        reason: rustls::Error::InvalidCertificate(other.clone()).to_string(),
                        leaf: presented.first().map(|der| Box::new(CertFacts::of(der))),
                    },
                }
            }
            Some(rustls::Error::AlertReceived(alert)) => TlsFailure::Alert {
                alert: alert_name(alert),
            },
            Some(rustls::Error::NoCertificatesPresented) => TlsFailure::BadCertificate {
                reason: "the server presented no certificate".to_string(),
                leaf: None,
            },
            Some(error @ rustls::Error::PeerIncompatible(_)) => TlsFailure::Incompatible {
                reason: error.to_string(),
            },
            Some(error) => TlsFailure::Protocol {
                reason: error.to_string(),
            },
            None => match error.kind() {
                io::ErrorKind::UnexpectedEof => TlsFailure::Closed {
                    reset: false,
                    first_bytes: first_bytes.to_vec(),
                },
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => TlsFailure::Closed {
                    reset: true,
                    first_bytes: first_bytes.to_vec(),
                },
                _ => TlsFailure::Io {
                    reason: error.to_string(),
                },
            },
        }
    }
}

/// One client handshake with `trust` (see [`Client::connect`]; build a [`Client`] to reuse the
/// trust across connections).
pub async fn connect<S>(
    stream: S,
    server_name: &str,
    trust: &Trust,
    alpn: &[&[u8]],
    timeout: Duration,
) -> Result<(ClientStream<S>, HandshakeFacts), TlsFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Client::new(trust)?
        .connect(stream, server_name, alpn, timeout)
        .await
}

/// Whether a chain the OS accepted ends at one of the publicly trusted roots: Mozilla's
/// (`webpki-roots`), the set every browser trusts. `presented` is what the server sent, leaf
/// first. A pure function of the certificates: the OS's own path (which may use roots and
/// intermediates of its own) is not seen.
///
/// - `Some(true)`: some presented certificate is issued by one of those roots, or is one
///   (its subject is a root's: a root sent along, or cross-signed). Names are compared as DER
///   bytes, as certificate verifiers do.
/// - `Some(false)`: none is, so the OS trusts a root that is not public: typically the CA of a
///   TLS-inspecting proxy, firewall or antivirus, installed on this machine; or a company's
///   own CA for its own servers.
/// - `None`: nothing presented, a certificate that cannot be parsed, or a chain whose top
///   certificate was issued by a certificate that was not sent and that its Authority
///   Information Access names (macOS and Windows fetch such a missing intermediate, which may
///   well be issued by a public root).
pub fn ends_at_public_root(presented: &[CertificateDer<'_>]) -> Option<bool> {
    let mut certs = Vec::with_capacity(presented.len());
    for der in presented {
        certs.push(x509_parser::parse_x509_certificate(der).ok()?.1);
    }
    let public = |name: &x509_parser::x509::X509Name<'_>| {
        der_contents(name.as_raw()).is_some_and(|subject| {
            webpki_roots::TLS_SERVER_ROOTS
                .iter()
                .any(|root| root.subject.as_ref() == subject)
        })
    };
    if certs
        .iter()
        .any(|cert| public(cert.issuer()) || public(cert.subject()))
    {
        return Some(true);
    }
    let top = top_of(&certs)?;
    let fetchable_issuer = top.subject().as_raw() != top.issuer().as_raw()
        && top.iter_extensions().any(|extension| {
            matches!(
                extension.parsed_extension(),
                x509_parser::extensions::ParsedExtension::AuthorityInfoAccess(access)
                    if access.iter().any(|description| {
                        description.access_method.to_id_string() == OID_CA_ISSUERS
                    })
            )
        });
    (!fetchable_issuer).then_some(false)
}

/// The name of the root a presented chain ends at: the issuer of its top certificate (the
/// leaf, then each issuer that was sent, followed by name), RFC 4514 style.
pub fn top_issuer(presented: &[CertificateDer<'_>]) -> Option<String> {
    let certs: Vec<_> = presented
        .iter()
        .map_while(|der| {
            x509_parser::parse_x509_certificate(der)
                .ok()
                .map(|(_, cert)| cert)
        })
        .collect();
    if certs.len() != presented.len() {
        return None;
    }
    top_of(&certs).map(|top| top.issuer().to_string())
}

/// `id-ad-caIssuers`: where to fetch a certificate's issuer.
const OID_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// The top of a chain: from the leaf, follow each issuer among the certificates sent (by
/// name, each certificate once) until none is; servers do not always send them in order.
fn top_of<'c, 'a>(
    certs: &'c [x509_parser::certificate::X509Certificate<'a>],
) -> Option<&'c x509_parser::certificate::X509Certificate<'a>> {
    let mut current = certs.first()?;
    let mut visited = vec![0usize];
    while let Some(index) = (0..certs.len()).find(|index| {
        !visited.contains(index) && certs[*index].subject().as_raw() == current.issuer().as_raw()
    }) {
        visited.push(index);
        current = &certs[index];
    }
    Some(current)
}

/// The contents of a DER SEQUENCE (a `Name` without its tag and length: how `webpki-roots`
/// stores a root's subject).
fn der_contents(tlv: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = tlv.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        (
            bytes
                .iter()
                .fold(0usize, |length, byte| (length << 8) | usize::from(*byte)),
            rest,
        )
    };
    (rest.len() == length).then_some(rest)
}

/// A TLS record starts with a content type 20 to 24 and major version 3.
fn looks_like_tls(bytes: &[u8]) -> bool {
    (20..=24).contains(&bytes[0]) && bytes.get(1).is_none_or(|major| *major == 3)
}

fn unix(time: &UnixTime) -> i64 {
    i64::try_from(time.as_secs()).unwrap_or(i64::MAX)
}

/// `HandshakeFailure` -> `handshake_failure`.
fn alert_name(alert: &rustls::AlertDescription) -> String {
    let camel = format!("{alert:?}");
    let mut snake = String::with_capacity(camel.len() + 4);
    for (index, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

#[derive(Debug)]
struct FixedTime(u64);

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(self.0)))
    }
}

/// Records the certificates presented, then lets `inner` decide.
#[derive(Debug)]
struct Capturing {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Arc<Mutex<Option<Vec<CertificateDer<'static>>>>>,
}

impl ServerCertVerifier for Capturing {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|der| der.clone().into_owned())
            .collect();
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(chain);
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }
}

/// Accepts exactly the leaf with the pinned SHA-256; the handshake signature is still checked.
#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if sha256(end_entity) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `--insecure`: accepts any certificate and any handshake signature.
#[derive(Debug)]
struct AcceptAnything;

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

// ---------------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------------

/// A certificate generated at start, with its key and fingerprint.
#[derive(Debug)]
pub struct SelfSigned {
    /// The certificate (DER).
    pub cert: CertificateDer<'static>,
    /// Its private key (PKCS#8 DER, ECDSA P-256).
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the certificate: the pin ([`format_pin`]).
    pub sha256: [u8; 32],
}

/// A server-side TLS set-up failure.
#[derive(Debug, thiserror::Error)]
pub enum ServerTlsError {
    /// A name cannot go into a certificate.
    #[error("cannot make a certificate for {names:?}: {reason}")]
    Generate {
        /// The names asked for.
        names: Vec<String>,
        /// rcgen's words.
        reason: String,
    },
    /// The certificate and key cannot be used together (or at all).
    #[error("{0}")]
    Config(String),
}

/// Generates a self-signed certificate (ECDSA P-256, `CN=trtc-preflight serve <tag>`, the tag
/// from its key) for `names`
/// (DNS names and IP addresses), valid from a day ago for a year.
pub fn self_signed(names: &[String]) -> Result<SelfSigned, ServerTlsError> {
    let generate = |reason: String| ServerTlsError::Generate {
        names: names.to_vec(),
        reason,
    };
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).map_err(|e| generate(e.to_string()))?;
    let key = rcgen::KeyPair::generate().map_err(|e| generate(e.to_string()))?;
    // A subject of its own (verifiers find issuers by name: two self-signed certificates with
    // the same subject would be taken for one another, with a confusing bad signature).
    let tag: String = sha256(key.public_key_raw())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(
        rcgen::DnType::CommonName,
        format!("trtc-preflight serve {tag}"),
    );
    params.distinguished_name = subject;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + now.saturating_sub(Duration::from_secs(86_400));
    params.not_after = epoch + now + Duration::from_secs(365 * 86_400);
    let cert = params
        .self_signed(&key)
        .map_err(|e| generate(e.to_string()))?;
    let cert = cert.der().clone();
    Ok(SelfSigned {
        sha256: sha256(&cert),
        cert,
        key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    })
}

/// A TLS acceptor for `chain` (leaf first) and `key`, offering `alpn` (a client that offers
/// ALPN protocols none of which is in `alpn` is refused with `no_application_protocol`; a
/// client that offers none is served).
pub fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<TlsAcceptor, ServerTlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| ServerTlsError::Config(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| {
            ServerTlsError::Config(match error {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key does not belong to the certificate".to_string()
                }
                other => format!("the certificate or key cannot be used: {other}"),
            })
        })?;
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Why a PEM file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    /// The file could not be read.
    #[error("{path}: cannot read it: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS's words.
        source: io::Error,
    },
    /// It is not PEM, or a section is broken.
    #[error("{path}: not a valid PEM file: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// It holds no section of the kind wanted.
    #[error("{path}: no {what} in it (expected a PEM block -----BEGIN {begin}-----)")]
    Missing {
        /// The file.
        path: String,
        /// `certificate` or `private key`.
        what: &'static str,
        /// The PEM label expected.
        begin: &'static str,
    },
}

fn pem_error(path: &Path, error: rustls::pki_types::pem::Error) -> PemError {
    let path = path.display().to_string();
    match error {
        rustls::pki_types::pem::Error::Io(source) => PemError::Read { path, source },
        other => PemError::Invalid {
            path,
            reason: format!("{other:?}"),
        },
    }
}

/// Every certificate in a PEM file (a chain leaf first, or CA roots), at least one.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let bytes = std::fs::read(path).map_err(|source| PemError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_error(path, error))?;
    if certs.is_empty() {
        return Err(PemError::Missing {
            path: path.display().to_string(),
            what: "certificate",
            begin: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    let bytes = std::fs::read(path).map_err(|source| PemError::Read {
        path: path.display().to_string(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => PemError::Missing {
            path: path.display().to_string(),
            what: "private key",
            begin: "PRIVATE KEY",
        },
        other => pem_error(path, other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const WAIT: Duration = Duration::from_secs(5);

    /// 2020-01-01, 2021-01-01, 2030-01-01, 2035-01-01 in UNIX seconds.
    const Y2020: i64 = 1_577_836_800;
    const Y2021: i64 = 1_609_459_200;
    const Y2035: u64 = 2_051_222_400;

    /// A private CA for the tests, and leaves it signs.
    struct LabCa {
        cert: CertificateDer<'static>,
        params: rcgen::CertificateParams,
        key: rcgen::KeyPair,
    }

    impl LabCa {
        fn new() -> LabCa {
            let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.key_usages = vec![
                rcgen::KeyUsagePurpose::KeyCertSign,
                rcgen::KeyUsagePurpose::DigitalSignature,
            ];
            let mut name = rcgen::DistinguishedName::new();
            name.push(rcgen::DnType::CommonName, "Preflight Lab CA");
            params.distinguished_name = name;
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap().der().clone();
            LabCa { cert, params, key }
        }

        /// A leaf for `names`, valid between the two dates (years).
        fn leaf(
            &self,
            names: &[&str],
            from: (i32, u8, u8),
            until: (i32, u8, u8),
        ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
            let mut params = rcgen::CertificateParams::new(
                names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            )
            .unwrap();
            let mut name = rcgen::DistinguishedName::new();
            name.push(rcgen::DnType::CommonName, names[0]);
            params.distinguished_name = name;
            params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
            params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
            let key = rcgen::KeyPair::generate().unwrap();
            let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
            let cert = params.signed_by(&key, &issuer).unwrap().der().clone();
            (cert, PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        }

        fn trust(&self) -> Trust {
            Trust {
                ca: Some(vec![self.cert.clone()]),
                ..Trust::default()
            }
        }
    }

    /// A TLS server on loopback: handshakes every connection, then echoes until EOF.
    async fn tls_server(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        alpn: &[&[u8]],
    ) -> std::net::SocketAddr {
        let acceptor = acceptor(chain, key, alpn).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut stream) = acceptor.accept(stream).await {
                        let mut buf = [0u8; 256];
                        while let Ok(n) = stream.read(&mut buf).await {
                            if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                });
            }
        });
        address
    }

    /// A plain TCP server that runs `serve` on each connection.
    async fn tcp_server<F, Fut>(serve: F) -> std::net::SocketAddr
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
        address
    }

    async fn handshake(
        address: std::net::SocketAddr,
        name: &str,
        trust: &Trust,
        alpn: &[&[u8]],
    ) -> Result<(ClientStream, HandshakeFacts), TlsFailure> {
        let stream = TcpStream::connect(address).await.unwrap();
        connect(stream, name, trust, alpn, WAIT).await
    }

    fn serve_cert() -> SelfSigned {
        self_signed(&["localhost".to_string(), "127.0.0.1".to_string()]).unwrap()
    }

    #[tokio::test]
    async fn a_pinned_self_signed_certificate_is_accepted_and_described() {
        let own = serve_cert();
        let address = tls_server(vec![own.cert.clone()], own.key, &[ALPN_STUN_TURN]).await;
        let trust = Trust {
            pin: Some(own.sha256),
            ..Trust::default()
        };
        let (mut stream, facts) = handshake(address, "127.0.0.1", &trust, &[ALPN_STUN_TURN])
            .await
            .unwrap();
        assert_eq!(facts.protocol, "TLS 1.3");
        assert!(
            facts.cipher_suite.starts_with("TLS13_"),
            "{}",
            facts.cipher_suite
        );
        assert_eq!(facts.alpn.as_deref(), Some("stun.turn"));
        assert_eq!(facts.verification, Verification::Pin);
        assert_eq!(facts.server_name, "127.0.0.1");
        assert!(facts.duration < WAIT);
        let leaf = facts.leaf.unwrap();
        assert_eq!(leaf.sha256, own.sha256);
        assert!(
            leaf.subject.starts_with("CN=trtc-preflight serve "),
            "{}",
            leaf.subject
        );
        assert!(leaf.self_signed);
        assert_eq!(leaf.names, ["localhost", "127.0.0.1"]);
        assert!(leaf.not_before < leaf.not_after);
        assert!(facts.chain.is_empty());
        // The stream works.
        stream.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        stream.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");
    }

    #[tokio::test]
    async fn a_pin_ignores_the_name_and_the_dates() {
        let ca = LabCa::new();
        let (cert, key) = ca.leaf(&["old.lab"], (2020, 1, 1), (2021, 1, 1));
        let pin = sha256(&cert);
        let address = tls_server(vec![cert], key, &[]).await;
        let trust = Trust {
            pin: Some(pin),
            ..Trust::default()
        };
        let (_, facts) = handshake(address, "other.lab", &trust, &[]).await.unwrap();
        assert_eq!(facts.leaf.unwrap().not_after, Y2021);
        assert_eq!(facts.alpn, None);
    }

    #[tokio::test]
    async fn a_wrong_pin_says_both_fingerprints() {
        let own = serve_cert();
        let address = tls_server(vec![own.cert.clone()], own.key, &[]).await;
        let expected = [7u8; 32];
        let trust = Trust {
            pin: Some(expected),
            ..Trust::default()
        };
        let failure = handshake(address, "localhost", &trust, &[])
            .await
            .unwrap_err();
        match &failure {
            TlsFailure::PinMismatch {
                expected: e, got, ..
            } => {
                assert_eq!(*e, expected);
                assert_eq!(*got, own.sha256);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            failure.to_string().contains(&format_pin(&own.sha256)),
            "{failure}"
        );
        assert_eq!(failure.kind(), "pin_mismatch");
    }

    #[tokio::test]
    async fn a_self_signed_certificate_is_an_unknown_issuer_by_default() {
        let own = serve_cert();
        let address = tls_server(vec![own.cert.clone()], own.key, &[]).await;
        let failure = handshake(address, "localhost", &Trust::default(), &[])
            .await
            .unwrap_err();
        match &failure {
            TlsFailure::UnknownIssuer { leaf, chain } => {
                assert!(leaf.self_signed);
                assert!(chain.is_empty());
                assert_eq!(leaf.sha256, own.sha256);
            }
            other => panic!("{other:?}"),
        }
        assert!(failure.to_string().contains("self-signed"), "{failure}");
    }

    #[tokio::test]
    async fn a_private_ca_is_unknown_by_default_and_trusted_with_ca() {
        let ca = LabCa::new();
        let (cert, key) = ca.leaf(&["signal.lab"], (2020, 1, 1), (2100, 1, 1));
        let address = tls_server(vec![cert, ca.cert.clone()], key, &[]).await;
        let failure = handshake(address, "signal.lab", &Trust::default(), &[])
            .await
            .unwrap_err();
        match &failure {
            TlsFailure::UnknownIssuer { leaf, chain } => {
                assert!(!leaf.self_signed);
                assert_eq!(leaf.issuer, "CN=Preflight Lab CA");
                assert_eq!(chain.len(), 1);
                assert_eq!(chain[0].subject, "CN=Preflight Lab CA");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            failure.to_string().contains("Preflight Lab CA"),
            "{failure}"
        );
        let (_, facts) = handshake(address, "signal.lab", &ca.trust(), &[])
            .await
            .unwrap();
        assert_eq!(facts.verification, Verification::CaFile);
        assert_eq!(facts.leaf.unwrap().names, ["signal.lab"]);
        assert_eq!(facts.chain.len(), 1);
    }

    #[tokio::test]
    async fn an_expired_certificate_says_when() {
        let ca = LabCa::new();
        let (cert, key) = ca.leaf(&["signal.lab"], (2020, 1, 1), (2021, 1, 1));
        let address = tls_server(vec![cert], key, &[]).await;
        let failure = handshake(address, "signal.lab", &ca.trust(), &[])
            .await
            .unwrap_err();
        match &failure {
            TlsFailure::Expired {
                not_after,
                now,
                leaf,
            } => {
                assert_eq!(*not_after, Y2021);
                assert!(*now > Y2021);
                assert_eq!(leaf.not_before, Y2020);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            failure
                .to_string()
                .contains("expired at 2021-01-01 00:00:00 UTC"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn the_clock_is_an_input() {
        let ca = LabCa::new();
        let (cert, key) = ca.leaf(&["signal.lab"], (2020, 1, 1), (2030, 1, 1));
        let address = tls_server(vec![cert], key, &[]).await;
        let at = |clock| Trust {
            clock: Some(clock),
            ..ca.trust()
        };
        let failure = handshake(address, "signal.lab", &at(Y2035), &[])
            .await
            .unwrap_err();
        assert!(
            matches!(failure, TlsFailure::Expired { now, .. } if now == Y2035 as i64),
            "{failure:?}"
        );
        let failure = handshake(address, "signal.lab", &at(1_500_000_000), &[])
            .await
            .unwrap_err();
        match &failure {
            TlsFailure::NotYetValid {
                not_before, now, ..
            } => assert_eq!((*not_before, *now), (Y2020, 1_500_000_000)),
            other => panic!("{other:?}"),
        }
        assert!(failure.to_string().contains("clock"), "{failure}");
        assert!(handshake(address, "signal.lab", &at(Y2021 as u64), &[])
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_wrong_name_lists_the_names_of_the_certificate() {
        let ca = LabCa::new();
        let (cert, key) = ca.leaf(&["signal.lab", "10.0.0.1"], (2020, 1, 1), (2100, 1, 1));
        let address = tls_server(vec![cert], key, &[]).await;
        let failure = handshake(address, "portal.example", &ca.trust(), &[])
            .await
            .unwrap_err();
        match &failure {
            TlsFailure::NameMismatch {
                requested,
                presented,
                ..
            } => {
                assert_eq!(requested, "portal.example");
                assert!(
                    presented.contains(&"signal.lab".to_string()),
                    "{presented:?}"
                );
                assert!(presented.contains(&"10.0.0.1".to_string()), "{presented:?}");
            }
            other => panic!("{other:?}"),
        }
        let failure = handshake(address, "127.0.0.1", &ca.trust(), &[])
            .await
            .unwrap_err();
        assert_eq!(failure.kind(), "name_mismatch", "{failure:?}");
    }

    #[tokio::test]
    async fn insecure_accepts_anything_and_says_so() {
        let ca = LabCa::new();
        let (cert, key) = ca.leaf(&["old.lab"], (2020, 1, 1), (2021, 1, 1));
        let address = tls_server(vec![cert], key, &[]).await;
        let trust = Trust {
            insecure: true,
            pin: Some([0; 32]),
            ..Trust::default()
        };
        let (_, facts) = handshake(address, "wrong.lab", &trust, &[]).await.unwrap();
        assert_eq!(facts.verification, Verification::Off);
        assert_eq!(facts.leaf.unwrap().names, ["old.lab"]);
    }

    #[tokio::test]
    async fn an_http_server_is_not_tls() {
        let address = tcp_server(|mut stream| async move {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            let _ = stream.read(&mut buf).await;
        })
        .await;
        let failure = handshake(address, "localhost", &Trust::default(), &[])
            .await
            .unwrap_err();
        match &failure {
            TlsFailure::NotTls { spoke, first_bytes } => {
                assert_eq!(*spoke, PeerSpoke::Http);
                assert_eq!(first_bytes, b"HTTP/1.1 400 Bad");
            }
            other => panic!("{other:?}"),
        }
        assert!(failure.to_string().contains("HTTP"), "{failure}");
    }

    #[tokio::test]
    async fn a_stun_answer_is_not_tls() {
        let address = tcp_server(|mut stream| async move {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            let mut answer = vec![0x01, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
            answer.extend_from_slice(&[9; 12]);
            let _ = stream.write_all(&answer).await;
            let _ = stream.read(&mut buf).await;
        })
        .await;
        let failure = handshake(address, "localhost", &Trust::default(), &[])
            .await
            .unwrap_err();
        assert!(
            matches!(
                failure,
                TlsFailure::NotTls {
                    spoke: PeerSpoke::Stun,
                    ..
                }
            ),
            "{failure:?}"
        );
    }

    #[tokio::test]
    async fn plain_stun_over_tcp_closes_on_the_client_hello() {
        // Our own responder on a TCP port, reached with TLS by mistake.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let responder = Arc::new(Mutex::new(
            crate::responder::Responder::new(crate::responder::ResponderConfig::default()).unwrap(),
        ));
        tokio::spawn(crate::responder::serve_tcp(
            listener,
            responder,
            crate::responder::TcpConfig::default(),
            std::future::pending(),
        ));
        let failure = handshake(address, "localhost", &Trust::default(), &[])
            .await
            .unwrap_err();
        match &failure {
            TlsFailure::Closed { first_bytes, .. } => assert!(first_bytes.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let address = tcp_server(|mut stream| async move {
            let mut buf = [0u8; 1024];
            while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        })
        .await;
        let stream = TcpStream::connect(address).await.unwrap();
        let started = Instant::now();
        let failure = connect(
            stream,
            "localhost",
            &Trust::default(),
            &[],
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        let elapsed = started.elapsed();
        match failure {
            TlsFailure::Timeout { after } => assert!(after >= Duration::from_millis(200)),
            other => panic!("{other:?}"),
        }
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[tokio::test]
    async fn an_alpn_the_server_does_not_speak_is_an_alert() {
        let own = serve_cert();
        let address = tls_server(vec![own.cert.clone()], own.key, &[b"h2"]).await;
        let trust = Trust {
            pin: Some(own.sha256),
            ..Trust::default()
        };
        let failure = handshake(address, "localhost", &trust, &[ALPN_STUN_TURN])
            .await
            .unwrap_err();
        assert_eq!(
            failure,
            TlsFailure::Alert {
                alert: "no_application_protocol".to_string()
            }
        );
    }

    #[tokio::test]
    async fn a_bad_name_and_a_useless_ca_are_typed() {
        let stream = tokio::io::duplex(64).0;
        let failure = connect(stream, "not a name", &Trust::default(), &[], WAIT)
            .await
            .unwrap_err();
        assert_eq!(failure.kind(), "invalid_name");
        let trust = Trust {
            ca: Some(vec![CertificateDer::from(vec![1, 2, 3])]),
            ..Trust::default()
        };
        assert_eq!(Client::new(&trust).unwrap_err().kind(), "setup");
    }

    #[test]
    fn pins_are_read_in_every_common_form() {
        let pin: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        let text = format_pin(&pin);
        assert!(text.starts_with("sha256:") && text.len() == 7 + 64);
        assert_eq!(parse_pin(&text), Ok(pin));
        let openssl: Vec<String> = pin.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_pin(&openssl.join(":")), Ok(pin));
        assert_eq!(
            parse_pin(&format!("sha256 Fingerprint={}", openssl.join(":"))),
            Ok(pin)
        );
        assert_eq!(parse_pin(&text[7..]), Ok(pin));
        for bad in [
            "",
            "sha256:",
            "sha256:abcd",
            &format!("{}zz", &text[..text.len() - 2]),
        ] {
            let error = parse_pin(bad).unwrap_err();
            assert!(error.to_string().contains("64 hex digits"), "{error}");
        }
    }

    #[test]
    fn dates_are_printed_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(Y2021), "2021-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400 + 3_661), "2000-02-29 01:01:01 UTC");
        assert_eq!(utc(-86_400), "1969-12-31 00:00:00 UTC");
    }

    #[test]
    fn first_bytes_say_what_the_peer_spoke() {
        let cases: [(&[u8], PeerSpoke); 6] = [
            (b"HTTP/1.0 200 OK", PeerSpoke::Http),
            (b"SSH-2.0-OpenSSH_9.2", PeerSpoke::Ssh),
            (
                &[0x01, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42, 1, 2],
                PeerSpoke::Stun,
            ),
            (b"220 mail.example ESMTP\r\n", PeerSpoke::Text),
            (&[0xFF, 0x00, 0x13], PeerSpoke::Binary),
            (b"", PeerSpoke::Binary),
        ];
        for (bytes, spoke) in cases {
            assert_eq!(PeerSpoke::of(bytes), spoke, "{bytes:?}");
        }
    }

    #[test]
    fn self_signed_certificates_hold_the_names_and_their_fingerprint() {
        let own = self_signed(&["serve.lab".to_string(), "::1".to_string()]).unwrap();
        let facts = CertFacts::of(&own.cert);
        assert_eq!(facts.sha256, own.sha256);
        assert_eq!(facts.names, ["serve.lab", "::1"]);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(facts.not_before < now && now < facts.not_after);
        assert!(self_signed(&["bad name ü".to_string()]).is_err());
        assert!(CertFacts::of(b"junk").parse_error.is_some());
    }

    #[test]
    fn an_acceptor_refuses_a_key_of_another_certificate() {
        let (one, other) = (serve_cert(), serve_cert());
        let Err(error) = acceptor(vec![one.cert], other.key, &[]) else {
            panic!("a key of another certificate was accepted");
        };
        assert!(error.to_string().contains("does not belong"), "{error}");
    }

    #[test]
    fn pem_files_load_with_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LabCa::new();
        let (cert, _) = ca.leaf(&["signal.lab"], (2020, 1, 1), (2100, 1, 1));
        let key = rcgen::KeyPair::generate().unwrap();
        let chain_pem = format!(
            "{}{}",
            pem_encode("CERTIFICATE", &cert),
            pem_encode("CERTIFICATE", &ca.cert)
        );
        let chain = dir.path().join("chain.pem");
        std::fs::write(&chain, &chain_pem).unwrap();
        let key_file = dir.path().join("key.pem");
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        assert_eq!(
            load_certificates(&chain).unwrap(),
            vec![cert, ca.cert.clone()]
        );
        assert!(matches!(
            load_private_key(&key_file).unwrap(),
            PrivateKeyDer::Pkcs8(_)
        ));

        // A key file given as --cert, a certificate given as --key, a missing file, junk.
        let error = load_certificates(&key_file).unwrap_err().to_string();
        assert!(error.contains("key.pem: no certificate in it"), "{error}");
        let error = load_private_key(&chain).unwrap_err().to_string();
        assert!(error.contains("chain.pem: no private key in it"), "{error}");
        let missing = dir.path().join("missing.pem");
        let error = load_certificates(&missing).unwrap_err().to_string();
        assert!(error.contains("missing.pem: cannot read it"), "{error}");
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let error = load_certificates(&broken).unwrap_err().to_string();
        assert!(
            error.contains("broken.pem: not a valid PEM file"),
            "{error}"
        );
    }

    /// A DER SEQUENCE around `contents` (a `Name` from a root's subject).
    fn der_sequence(contents: &[u8]) -> Vec<u8> {
        let mut der = vec![0x30];
        match contents.len() {
            length @ 0..=0x7F => der.push(length as u8),
            length @ 0x80..=0xFF => der.extend([0x81, length as u8]),
            length => der.extend([0x82, (length >> 8) as u8, length as u8]),
        }
        der.extend_from_slice(contents);
        der
    }

    /// The distinguished name of a real public root, rebuilt attribute by attribute for rcgen
    /// (`None` when rcgen cannot write it byte for byte: repeated or multi-valued attributes,
    /// string types other than PrintableString and UTF8String).
    fn public_root_name(subject: &[u8]) -> Option<rcgen::DistinguishedName> {
        use x509_parser::prelude::FromDer;
        let wrapped = der_sequence(subject);
        let (_, name) = x509_parser::x509::X509Name::from_der(&wrapped).ok()?;
        let mut rebuilt = rcgen::DistinguishedName::new();
        for rdn in name.iter() {
            let mut attributes = rdn.iter();
            let attribute = attributes.next()?;
            if attributes.next().is_some() {
                return None;
            }
            let oid: Vec<u64> = attribute.attr_type().iter()?.collect();
            let text = std::str::from_utf8(attribute.as_slice()).ok()?;
            let value = match attribute.attr_value().tag().0 {
                19 => rcgen::DnValue::PrintableString(text.try_into().ok()?),
                12 => rcgen::DnValue::Utf8String(text.to_string()),
                _ => return None,
            };
            let kind = rcgen::DnType::from_oid(&oid);
            if rebuilt.get(&kind).is_some() {
                return None;
            }
            rebuilt.push(kind, value);
        }
        Some(rebuilt)
    }

    /// A CA of our own that bears the name of one of Mozilla's roots (not its key), and that
    /// name as the root's DN string.
    fn impostor_of_a_public_root() -> (LabCa, String) {
        for root in webpki_roots::TLS_SERVER_ROOTS {
            let Some(name) = public_root_name(root.subject.as_ref()) else {
                continue;
            };
            let mut ca = LabCa::new();
            ca.params.distinguished_name = name;
            ca.cert = ca.params.self_signed(&ca.key).unwrap().der().clone();
            let (_, parsed) = x509_parser::parse_x509_certificate(&ca.cert).unwrap();
            let (same, text) = (
                der_contents(parsed.subject().as_raw()) == Some(root.subject.as_ref()),
                parsed.subject().to_string(),
            );
            if same {
                return (ca, text);
            }
        }
        panic!("no root of webpki-roots can be rebuilt by rcgen");
    }

    #[test]
    fn a_chain_to_a_private_root_is_not_public() {
        let ca = LabCa::new();
        let (leaf, _) = ca.leaf(&["signal.lab"], (2020, 1, 1), (2100, 1, 1));
        // Leaf alone, leaf and root, and the root sent twice: the top is the lab CA each time.
        for chain in [
            vec![leaf.clone()],
            vec![leaf.clone(), ca.cert.clone()],
            vec![leaf.clone(), ca.cert.clone(), ca.cert.clone()],
        ] {
            assert_eq!(ends_at_public_root(&chain), Some(false), "{}", chain.len());
            assert_eq!(top_issuer(&chain).as_deref(), Some("CN=Preflight Lab CA"));
        }
        // A self-signed certificate the OS would trust (installed by hand).
        let own = serve_cert();
        assert_eq!(
            ends_at_public_root(std::slice::from_ref(&own.cert)),
            Some(false)
        );
    }

    #[test]
    fn a_chain_to_a_public_root_name_is_public() {
        let (impostor, name) = impostor_of_a_public_root();
        let (leaf, _) = impostor.leaf(&["signal.example"], (2020, 1, 1), (2100, 1, 1));
        assert_eq!(ends_at_public_root(std::slice::from_ref(&leaf)), Some(true));
        assert_eq!(top_issuer(std::slice::from_ref(&leaf)), Some(name.clone()));
        // The root sent along (or alone: its subject is a public root's).
        assert_eq!(
            ends_at_public_root(&[leaf.clone(), impostor.cert.clone()]),
            Some(true)
        );
        assert_eq!(top_issuer(&[leaf, impostor.cert.clone()]), Some(name));
        assert_eq!(ends_at_public_root(&[impostor.cert]), Some(true));
    }

    #[test]
    fn an_intermediate_the_os_may_have_fetched_is_not_judged() {
        let ca = LabCa::new();
        let mut params = rcgen::CertificateParams::new(vec!["signal.lab".to_string()]).unwrap();
        // AuthorityInfoAccess: caIssuers at http://ca.lab/i.der.
        let uri = b"http://ca.lab/i.der";
        let mut description = vec![0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
        description.extend([0x86, uri.len() as u8]);
        description.extend_from_slice(uri);
        let access = der_sequence(&der_sequence(&description));
        params.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 1],
            access,
        )];
        let key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::from_params(&ca.params, &ca.key);
        let leaf = params.signed_by(&key, &issuer).unwrap().der().clone();
        assert_eq!(ends_at_public_root(std::slice::from_ref(&leaf)), None);
        // With its issuer sent, the chain is complete: judged.
        assert_eq!(ends_at_public_root(&[leaf, ca.cert.clone()]), Some(false));
    }

    #[test]
    fn nothing_or_junk_cannot_be_judged() {
        assert_eq!(ends_at_public_root(&[]), None);
        assert_eq!(top_issuer(&[]), None);
        let junk = CertificateDer::from(vec![1, 2, 3]);
        let ca = LabCa::new();
        assert_eq!(ends_at_public_root(&[ca.cert.clone(), junk.clone()]), None);
        assert_eq!(top_issuer(&[ca.cert.clone(), junk]), None);
    }

    #[test]
    fn der_contents_reads_short_and_long_lengths() {
        assert_eq!(der_contents(&[0x30, 0x02, 7, 8]), Some(&[7u8, 8][..]));
        let long = der_sequence(&[9; 200]);
        assert_eq!(&long[..3], &[0x30, 0x81, 200]);
        assert_eq!(der_contents(&long), Some(&[9u8; 200][..]));
        let longer = der_sequence(&[5; 300]);
        assert_eq!(der_contents(&longer).map(<[u8]>::len), Some(300));
        for bad in [
            &[][..],
            &[0x31, 0x00],
            &[0x30, 0x03, 1],
            &[0x30, 0x80],
            &[0x30],
        ] {
            assert_eq!(der_contents(bad), None, "{bad:?}");
        }
    }

    /// A client that trusts `ca` the way the OS trusts an installed root: a chain to it is
    /// verified, and recorded as [`Verification::Platform`].
    fn as_if_the_os_trusted(ca: &LabCa) -> Client {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert.clone()).unwrap();
        Client {
            verifier: WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .unwrap(),
            verification: Verification::Platform,
            trust: Trust::default(),
        }
    }

    #[tokio::test]
    async fn a_private_root_the_os_trusts_is_a_fact_of_the_handshake() {
        let ca = LabCa::new();
        let (cert, key) = ca.leaf(&["signal.lab"], (2020, 1, 1), (2100, 1, 1));
        let address = tls_server(vec![cert, ca.cert.clone()], key, &[]).await;
        let stream = TcpStream::connect(address).await.unwrap();
        let (_, facts) = as_if_the_os_trusted(&ca)
            .connect(stream, "signal.lab", &[], WAIT)
            .await
            .unwrap();
        assert_eq!(facts.verification, Verification::Platform);
        assert_eq!(facts.public_root, Some(false));
        assert_eq!(facts.top_issuer.as_deref(), Some("CN=Preflight Lab CA"));

        // The same chain trusted with --ca, or pinned: not judged (the user chose the root).
        let (_, facts) = handshake(address, "signal.lab", &ca.trust(), &[])
            .await
            .unwrap();
        assert_eq!(facts.verification, Verification::CaFile);
        assert_eq!(facts.public_root, None);
        assert_eq!(facts.top_issuer.as_deref(), Some("CN=Preflight Lab CA"));
    }

    #[tokio::test]
    async fn a_public_root_the_os_trusts_is_not_inspection() {
        let (impostor, name) = impostor_of_a_public_root();
        let (cert, key) = impostor.leaf(&["signal.example"], (2020, 1, 1), (2100, 1, 1));
        let address = tls_server(vec![cert], key, &[]).await;
        let stream = TcpStream::connect(address).await.unwrap();
        let (_, facts) = as_if_the_os_trusted(&impostor)
            .connect(stream, "signal.example", &[], WAIT)
            .await
            .unwrap();
        assert_eq!(facts.public_root, Some(true));
        assert_eq!(facts.top_issuer, Some(name));
        let trust = Trust {
            insecure: true,
            ..Trust::default()
        };
        let (_, facts) = handshake(address, "signal.example", &trust, &[])
            .await
            .unwrap();
        assert_eq!(facts.public_root, None);
    }

    /// PEM without a dependency: base64 in lines of 64.
    fn pem_encode(label: &str, der: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut encoded = String::new();
        for chunk in der.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    encoded.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
                } else {
                    encoded.push('=');
                }
            }
        }
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }
}
