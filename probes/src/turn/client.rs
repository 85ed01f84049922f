//! TURN transactions, sans-IO: one request at a time, its retransmissions over UDP, and the
//! long-term credential dance (an unauthenticated request, the 401 with REALM and NONCE, the
//! request again with MESSAGE-INTEGRITY; a 438 stale nonce retried with the new nonce). Time is
//! an input; bytes go in and out; what happened to every request is kept in [`Exchange`]s.

use std::time::{Duration, Instant};

use rtc_stun::message::TransactionId;

use super::message::{self, Answer, Auth, Request};

/// Stale-nonce retries allowed per request (a server that keeps saying 438 is broken).
const MAX_STALE: u32 = 2;

/// How one request went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// `allocate`, `create-permission` or `refresh`.
    pub request: &'static str,
    /// Whether it carried credentials.
    pub authenticated: bool,
    /// The error code, `None` for a success, or `Some(0)` for no answer.
    pub error: Option<u16>,
    /// How long the answer took (from the first transmission).
    pub took: Duration,
    /// Transmissions (retransmissions over UDP included).
    pub transmissions: u32,
}

/// A request that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnError {
    /// No answer: `transmissions` sent, the last `waited` ago.
    Timeout {
        /// The request.
        request: &'static str,
        /// From the first transmission to giving up.
        waited: Duration,
        /// Transmissions.
        transmissions: u32,
    },
    /// An error response.
    Code {
        /// The request.
        request: &'static str,
        /// ERROR-CODE.
        code: u16,
        /// Its reason phrase.
        reason: String,
        /// Whether the request carried credentials (a 401 then means they were refused).
        authenticated: bool,
        /// ALTERNATE-SERVER, with a 300.
        alternate: Option<std::net::SocketAddr>,
    },
    /// The server's 401 had no REALM or NONCE: no way to authenticate.
    NoChallenge,
    /// A request could not be encoded.
    Encode(String),
}

/// What the caller does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Send these bytes (a retransmission, or the request again with credentials).
    Send(Vec<u8>),
    /// The request succeeded.
    Done(Answer),
    /// The request failed.
    Failed(TurnError),
    /// Not for the request in progress (or nothing is in progress).
    Ignored,
}

struct Pending {
    id: TransactionId,
    request: Request,
    bytes: Vec<u8>,
    first_sent: Instant,
    next_at: Instant,
    transmissions: u32,
    authenticated: bool,
    stale: u32,
}

/// A client's transactions with one server.
pub struct Transactions {
    username: String,
    password: String,
    auth: Option<Auth>,
    reliable: bool,
    rto: Duration,
    max_transmissions: u32,
    reliable_timeout: Duration,
    pending: Option<Pending>,
    /// Every request, in order.
    pub history: Vec<Exchange>,
    /// 438 answers retried.
    pub stale_nonces: u32,
}

fn name(request: &Request) -> &'static str {
    match request {
        Request::Allocate { .. } => "allocate",
        Request::CreatePermission { .. } => "create-permission",
        Request::Refresh { .. } => "refresh",
    }
}

impl Transactions {
    /// Transactions for `username`/`password`; `reliable` over TCP and TLS (no
    /// retransmission: one transmission waits `reliable_timeout`); over UDP `rto` doubles
    /// after each of `max_transmissions` transmissions.
    pub fn new(
        username: String,
        password: String,
        reliable: bool,
        rto: Duration,
        max_transmissions: u32,
        reliable_timeout: Duration,
    ) -> Transactions {
        Transactions {
            username,
            password,
            auth: None,
            reliable,
            rto,
            max_transmissions: max_transmissions.max(1),
            reliable_timeout,
            pending: None,
            history: Vec::new(),
            stale_nonces: 0,
        }
    }

    /// The realm the server named, once known.
    pub fn realm(&self) -> Option<&str> {
        self.auth.as_ref().map(|auth| auth.realm.as_str())
    }

    /// Starts `request` (authenticated once the server's realm and nonce are known); the bytes
    /// to send.
    pub fn start(&mut self, request: Request, now: Instant) -> Result<Vec<u8>, TurnError> {
        self.begin(request, now, 0)
    }

    fn begin(&mut self, request: Request, now: Instant, stale: u32) -> Result<Vec<u8>, TurnError> {
        let id = TransactionId::new();
        let bytes =
            message::request(id, &request, self.auth.as_ref()).map_err(TurnError::Encode)?;
        self.pending = Some(Pending {
            id,
            request,
            bytes: bytes.clone(),
            first_sent: now,
            next_at: now
                + if self.reliable {
                    self.reliable_timeout
                } else {
                    self.rto
                },
            transmissions: 1,
            authenticated: self.auth.is_some(),
            stale,
        });
        Ok(bytes)
    }

    /// When [`Transactions::on_timer`] is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|pending| pending.next_at)
    }

    fn record(&mut self, pending: &Pending, error: Option<u16>, now: Instant) {
        self.history.push(Exchange {
            request: name(&pending.request),
            authenticated: pending.authenticated,
            error,
            took: now.saturating_duration_since(pending.first_sent),
            transmissions: pending.transmissions,
        });
    }

    /// Time passed: a retransmission, a timeout, or nothing.
    pub fn on_timer(&mut self, now: Instant) -> Progress {
        let Some(pending) = self.pending.as_mut() else {
            return Progress::Ignored;
        };
        if now < pending.next_at {
            return Progress::Ignored;
        }
        if self.reliable || pending.transmissions >= self.max_transmissions {
            let pending = self
                .pending
                .take()
                .unwrap_or_else(|| unreachable!("checked above"));
            self.record(&pending, Some(0), now);
            return Progress::Failed(TurnError::Timeout {
                request: name(&pending.request),
                waited: now.saturating_duration_since(pending.first_sent),
                transmissions: pending.transmissions,
            });
        }
        let backoff = self.rto.saturating_mul(1 << pending.transmissions.min(10));
        pending.transmissions += 1;
        pending.next_at = now + backoff;
        Progress::Send(pending.bytes.clone())
    }

    /// An answer arrived.
    pub fn on_answer(&mut self, answer: &Answer, now: Instant) -> Progress {
        let Some(pending) = self.pending.take_if(|pending| pending.id.0 == answer.id) else {
            return Progress::Ignored;
        };
        let code = answer.error.as_ref().map(|(code, _)| *code);
        self.record(&pending, code, now);
        let Some((code, reason)) = answer.error.clone() else {
            return Progress::Done(answer.clone());
        };
        let challenge = || {
            Some(Auth {
                username: self.username.clone(),
                password: self.password.clone(),
                realm: answer.realm.clone()?,
                nonce: answer.nonce.clone()?,
            })
        };
        match code {
            // The challenge of an unauthenticated request: answer it with the credentials.
            401 if !pending.authenticated => match challenge() {
                Some(auth) => {
                    self.auth = Some(auth);
                    match self.begin(pending.request, now, pending.stale) {
                        Ok(bytes) => Progress::Send(bytes),
                        Err(error) => Progress::Failed(error),
                    }
                }
                None => Progress::Failed(TurnError::NoChallenge),
            },
            // A stale nonce is not a failure: the same request with the new nonce.
            438 if pending.stale < MAX_STALE && answer.nonce.is_some() => {
                self.stale_nonces += 1;
                if let (Some(auth), Some(nonce)) = (self.auth.as_mut(), answer.nonce.clone()) {
                    auth.nonce = nonce;
                    if let Some(realm) = answer.realm.clone() {
                        auth.realm = realm;
                    }
                } else {
                    self.auth = challenge();
                }
                match self.begin(pending.request, now, pending.stale + 1) {
                    Ok(bytes) => Progress::Send(bytes),
                    Err(error) => Progress::Failed(error),
                }
            }
            _ => Progress::Failed(TurnError::Code {
                request: name(&pending.request),
                code,
                reason,
                authenticated: pending.authenticated,
                alternate: answer.alternate,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::message::method;

    fn transactions(reliable: bool) -> Transactions {
        Transactions::new(
            "alice".into(),
            "s3cret".into(),
            reliable,
            Duration::from_millis(250),
            4,
            Duration::from_secs(3),
        )
    }

    fn id_of(bytes: &[u8]) -> [u8; 12] {
        bytes[8..20].try_into().unwrap()
    }

    fn error(id: [u8; 12], code: u16, realm: Option<&str>, nonce: Option<&str>) -> Answer {
        Answer {
            id,
            method: method::ALLOCATE,
            error: Some((code, format!("error {code}"))),
            realm: realm.map(String::from),
            nonce: nonce.map(String::from),
            ..Answer::default()
        }
    }

    #[test]
    fn the_401_challenge_is_answered_with_credentials_then_success() {
        let now = Instant::now();
        let mut t = transactions(false);
        let first = t.start(Request::Allocate { lifetime: None }, now).unwrap();
        let Progress::Send(second) =
            t.on_answer(&error(id_of(&first), 401, Some("lab"), Some("n1")), now)
        else {
            panic!("no retry with credentials");
        };
        assert_ne!(id_of(&first), id_of(&second));
        assert_eq!(t.realm(), Some("lab"));
        let success = Answer {
            id: id_of(&second),
            method: method::ALLOCATE,
            relayed: Some("127.0.0.1:50000".parse().unwrap()),
            ..Answer::default()
        };
        assert_eq!(t.on_answer(&success, now), Progress::Done(success.clone()));
        let steps: Vec<_> = t
            .history
            .iter()
            .map(|e| (e.authenticated, e.error))
            .collect();
        assert_eq!(steps, [(false, Some(401)), (true, None)]);
    }

    #[test]
    fn a_401_to_credentials_is_a_failure_that_says_so() {
        let now = Instant::now();
        let mut t = transactions(false);
        let first = t.start(Request::Allocate { lifetime: None }, now).unwrap();
        let Progress::Send(second) =
            t.on_answer(&error(id_of(&first), 401, Some("lab"), Some("n1")), now)
        else {
            panic!();
        };
        match t.on_answer(&error(id_of(&second), 401, Some("lab"), Some("n2")), now) {
            Progress::Failed(TurnError::Code {
                code: 401,
                authenticated: true,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stale_nonces_are_retried_a_bounded_number_of_times() {
        let now = Instant::now();
        let mut t = transactions(false);
        let first = t.start(Request::Allocate { lifetime: None }, now).unwrap();
        let Progress::Send(mut bytes) =
            t.on_answer(&error(id_of(&first), 401, Some("lab"), Some("n1")), now)
        else {
            panic!();
        };
        for n in 0..MAX_STALE {
            match t.on_answer(
                &error(id_of(&bytes), 438, Some("lab"), Some(&format!("s{n}"))),
                now,
            ) {
                Progress::Send(next) => bytes = next,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(t.stale_nonces, MAX_STALE);
        match t.on_answer(&error(id_of(&bytes), 438, Some("lab"), Some("again")), now) {
            Progress::Failed(TurnError::Code { code: 438, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn udp_retransmits_with_backoff_then_times_out() {
        let start = Instant::now();
        let mut t = transactions(false);
        let first = t
            .start(Request::Allocate { lifetime: None }, start)
            .unwrap();
        let mut sent = vec![first];
        let at = loop {
            let at = t.deadline().unwrap();
            match t.on_timer(at) {
                Progress::Send(bytes) => sent.push(bytes),
                Progress::Failed(TurnError::Timeout {
                    transmissions,
                    waited,
                    ..
                }) => {
                    assert_eq!(transmissions, 4);
                    // 250 + 500 + 1000 + 2000 ms.
                    assert_eq!(waited, Duration::from_millis(3750));
                    break at;
                }
                other => panic!("{other:?}"),
            }
        };
        assert!(
            sent.windows(2).all(|w| w[0] == w[1]),
            "a retransmission is the same message"
        );
        assert_eq!(at - start, Duration::from_millis(3750));
    }

    #[test]
    fn a_reliable_transport_waits_once() {
        let start = Instant::now();
        let mut t = transactions(true);
        t.start(Request::Allocate { lifetime: None }, start)
            .unwrap();
        let at = t.deadline().unwrap();
        assert_eq!(at - start, Duration::from_secs(3));
        assert!(matches!(
            t.on_timer(at),
            Progress::Failed(TurnError::Timeout {
                transmissions: 1,
                ..
            })
        ));
    }

    #[test]
    fn answers_to_other_transactions_are_ignored() {
        let now = Instant::now();
        let mut t = transactions(false);
        t.start(Request::Allocate { lifetime: None }, now).unwrap();
        assert_eq!(
            t.on_answer(&error([9; 12], 401, Some("x"), Some("y")), now),
            Progress::Ignored
        );
    }
}
