//! TURN messages on the wire (RFC 8656), on top of `rtc-stun` and `rtc-turn`'s attributes:
//! Allocate, CreatePermission, Refresh and Send built here; every answer parsed into an
//! [`Answer`] that keeps what a diagnosis needs (the error code and reason, REALM, NONCE,
//! ALTERNATE-SERVER, the relayed and mapped addresses, LIFETIME).

use std::net::SocketAddr;
use std::time::Duration;

use rtc_stun::addr::MappedAddress;
use rtc_stun::attributes::{
    ATTR_ALTERNATE_SERVER, ATTR_NONCE, ATTR_REALM, ATTR_SOFTWARE, ATTR_USERNAME,
};
use rtc_stun::error_code::ErrorCodeAttribute;
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{
    Getter, Message, MessageType, Setter, TransactionId, CLASS_ERROR_RESPONSE, CLASS_INDICATION,
    CLASS_REQUEST, CLASS_SUCCESS_RESPONSE, METHOD_ALLOCATE, METHOD_CREATE_PERMISSION, METHOD_DATA,
    METHOD_REFRESH, METHOD_SEND,
};
use rtc_stun::textattrs::TextAttribute;
use rtc_stun::xoraddr::XorMappedAddress;
use rtc_turn::proto::data::Data;
use rtc_turn::proto::lifetime::Lifetime;
use rtc_turn::proto::peeraddr::PeerAddress;
use rtc_turn::proto::relayaddr::RelayedAddress;
use rtc_turn::proto::reqtrans::RequestedTransport;
use rtc_turn::proto::PROTO_UDP;

/// Long-term credentials, and the realm and nonce the server gave.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    /// USERNAME.
    pub username: String,
    /// The password (only its MD5 key goes on the wire).
    pub password: String,
    /// REALM, from the server's 401.
    pub realm: String,
    /// NONCE, from the server's 401 or 438.
    pub nonce: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &"***")
            .field("realm", &self.realm)
            .field("nonce", &self.nonce)
            .finish()
    }
}

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// An Allocate for a UDP relay; `lifetime` proposed when given.
    Allocate {
        /// LIFETIME.
        lifetime: Option<Duration>,
    },
    /// A CreatePermission for a peer's address.
    CreatePermission {
        /// XOR-PEER-ADDRESS (its port is ignored by the server).
        peer: SocketAddr,
    },
    /// A Refresh (a lifetime of zero deletes the allocation).
    Refresh {
        /// LIFETIME.
        lifetime: Duration,
    },
}

fn encode(error: impl std::fmt::Display) -> String {
    format!("cannot encode the message: {error}")
}

/// Encodes `request` with transaction `id`, authenticated when `auth` is given.
pub fn request(
    id: TransactionId,
    request: &Request,
    auth: Option<&Auth>,
) -> Result<Vec<u8>, String> {
    let method = match request {
        Request::Allocate { .. } => METHOD_ALLOCATE,
        Request::CreatePermission { .. } => METHOD_CREATE_PERMISSION,
        Request::Refresh { .. } => METHOD_REFRESH,
    };
    let mut m = Message::new();
    m.build(&[
        Box::new(id),
        Box::new(MessageType::new(method, CLASS_REQUEST)),
    ])
    .map_err(encode)?;
    match request {
        Request::Allocate { lifetime } => {
            RequestedTransport {
                protocol: PROTO_UDP,
            }
            .add_to(&mut m)
            .map_err(encode)?;
            if let Some(lifetime) = lifetime {
                Lifetime(*lifetime).add_to(&mut m).map_err(encode)?;
            }
        }
        Request::CreatePermission { peer } => {
            PeerAddress {
                ip: peer.ip(),
                port: peer.port(),
            }
            .add_to(&mut m)
            .map_err(encode)?;
        }
        Request::Refresh { lifetime } => {
            Lifetime(*lifetime).add_to(&mut m).map_err(encode)?;
        }
    }
    TextAttribute::new(
        ATTR_SOFTWARE,
        concat!("trtc-preflight ", env!("CARGO_PKG_VERSION")).into(),
    )
    .add_to(&mut m)
    .map_err(encode)?;
    if let Some(auth) = auth {
        TextAttribute::new(ATTR_USERNAME, auth.username.clone())
            .add_to(&mut m)
            .map_err(encode)?;
        TextAttribute::new(ATTR_REALM, auth.realm.clone())
            .add_to(&mut m)
            .map_err(encode)?;
        TextAttribute::new(ATTR_NONCE, auth.nonce.clone())
            .add_to(&mut m)
            .map_err(encode)?;
        let provider = rtc_stun::crypto::default_provider().map_err(encode)?;
        MessageIntegrity::new_long_term_integrity_with_provider(
            auth.username.clone(),
            auth.realm.clone(),
            auth.password.clone(),
            provider.crypto(),
        )
        .map_err(encode)?
        .add_to(&mut m)
        .map_err(encode)?;
    }
    FINGERPRINT.add_to(&mut m).map_err(encode)?;
    Ok(m.raw)
}

/// A Send indication carrying `data` to `peer` (indications are never authenticated).
pub fn send_indication(
    id: TransactionId,
    peer: SocketAddr,
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let mut m = Message::new();
    m.build(&[
        Box::new(id),
        Box::new(MessageType::new(METHOD_SEND, CLASS_INDICATION)),
    ])
    .map_err(encode)?;
    PeerAddress {
        ip: peer.ip(),
        port: peer.port(),
    }
    .add_to(&mut m)
    .map_err(encode)?;
    Data(data.to_vec()).add_to(&mut m).map_err(encode)?;
    FINGERPRINT.add_to(&mut m).map_err(encode)?;
    Ok(m.raw)
}

/// A decoded message from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A success or error response to a request.
    Answer(Answer),
    /// A Data indication: `data` from `peer` through the relay.
    Data {
        /// XOR-PEER-ADDRESS.
        peer: SocketAddr,
        /// DATA.
        data: Vec<u8>,
    },
    /// Anything else (ignored).
    Other,
}

/// A response, with the attributes the probe reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// The transaction it answers.
    pub id: [u8; 12],
    /// The method: `allocate`, `create-permission`, `refresh`, or `other`.
    pub method: &'static str,
    /// `None` for a success; the ERROR-CODE and its reason phrase otherwise.
    pub error: Option<(u16, String)>,
    /// REALM.
    pub realm: Option<String>,
    /// NONCE.
    pub nonce: Option<String>,
    /// ALTERNATE-SERVER.
    pub alternate: Option<SocketAddr>,
    /// XOR-RELAYED-ADDRESS.
    pub relayed: Option<SocketAddr>,
    /// XOR-MAPPED-ADDRESS (this client as the server saw it).
    pub mapped: Option<SocketAddr>,
    /// LIFETIME.
    pub lifetime: Option<Duration>,
    /// SOFTWARE (the server's name and version, when it tells).
    pub software: Option<String>,
}

/// Decodes one message; `Err` when it is not STUN at all.
pub fn parse(bytes: &[u8]) -> Result<Inbound, String> {
    let mut m = Message::new();
    m.raw = bytes.to_vec();
    m.decode()
        .map_err(|error| format!("not a STUN message: {error}"))?;
    let class = m.typ.class;
    if class == CLASS_INDICATION && m.typ.method == METHOD_DATA {
        let mut peer = PeerAddress::default();
        let mut data = Data::default();
        if peer.get_from(&m).is_ok() && data.get_from(&m).is_ok() {
            return Ok(Inbound::Data {
                peer: SocketAddr::new(peer.ip, peer.port),
                data: data.0,
            });
        }
        return Ok(Inbound::Other);
    }
    if class != CLASS_SUCCESS_RESPONSE && class != CLASS_ERROR_RESPONSE {
        return Ok(Inbound::Other);
    }
    let text = |attr| {
        TextAttribute::get_from_as(&m, attr)
            .ok()
            .map(|text| text.text)
    };
    let mut answer = Answer {
        id: m.transaction_id.0,
        method: if m.typ.method == METHOD_ALLOCATE {
            method::ALLOCATE
        } else if m.typ.method == METHOD_CREATE_PERMISSION {
            method::CREATE_PERMISSION
        } else if m.typ.method == METHOD_REFRESH {
            method::REFRESH
        } else {
            "other"
        },
        realm: text(ATTR_REALM),
        nonce: text(ATTR_NONCE),
        software: text(ATTR_SOFTWARE),
        ..Answer::default()
    };
    if class == CLASS_ERROR_RESPONSE {
        let mut code = ErrorCodeAttribute::default();
        answer.error = Some(match code.get_from(&m) {
            Ok(()) => (
                code.code.0,
                String::from_utf8_lossy(&code.reason).into_owned(),
            ),
            Err(_) => (0, "an error response without ERROR-CODE".into()),
        });
        let mut alternate = MappedAddress::default();
        if alternate.get_from_as(&m, ATTR_ALTERNATE_SERVER).is_ok() {
            answer.alternate = Some(SocketAddr::new(alternate.ip, alternate.port));
        }
    }
    let mut relayed = RelayedAddress::default();
    if relayed.get_from(&m).is_ok() {
        answer.relayed = Some(SocketAddr::new(relayed.ip, relayed.port));
    }
    let mut mapped = XorMappedAddress::default();
    if mapped.get_from(&m).is_ok() {
        answer.mapped = Some(SocketAddr::new(mapped.ip, mapped.port));
    }
    let mut lifetime = Lifetime::default();
    if lifetime.get_from(&m).is_ok() {
        answer.lifetime = Some(lifetime.0);
    }
    Ok(Inbound::Answer(answer))
}

/// The method names, for [`Answer::method`].
pub mod method {
    /// Allocate.
    pub const ALLOCATE: &str = "allocate";
    /// Refresh.
    pub const REFRESH: &str = "refresh";
    /// CreatePermission.
    pub const CREATE_PERMISSION: &str = "create-permission";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth {
            username: "alice".into(),
            password: "s3cret".into(),
            realm: "lab".into(),
            nonce: "n0nce".into(),
        }
    }

    #[test]
    fn an_authenticated_allocate_has_what_a_server_checks() {
        let bytes = request(
            TransactionId([7; 12]),
            &Request::Allocate {
                lifetime: Some(Duration::from_secs(60)),
            },
            Some(&auth()),
        )
        .unwrap();
        let mut m = Message::new();
        m.raw = bytes.clone();
        m.decode().unwrap();
        assert_eq!(m.typ, MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST));
        let mut transport = RequestedTransport::default();
        transport.get_from(&m).unwrap();
        assert_eq!(transport.protocol, PROTO_UDP);
        assert_eq!(
            TextAttribute::get_from_as(&m, ATTR_USERNAME).unwrap().text,
            "alice"
        );
        // The integrity checks with the long-term key (MD5 of user:realm:password).
        let provider = rtc_stun::crypto::default_provider().unwrap();
        let key = MessageIntegrity::long_term_integrity_key(
            "alice".into(),
            "lab".into(),
            "s3cret".into(),
            provider.crypto(),
        )
        .unwrap();
        MessageIntegrity::check(&mut m, &key, provider.crypto()).unwrap();
        // The password itself is not in the message.
        assert!(!bytes.windows(6).any(|w| w == b"s3cret"));
        assert!(!format!("{:?}", auth()).contains("s3cret"));
    }

    #[test]
    fn error_answers_keep_code_reason_realm_nonce_and_alternate() {
        let mut m = Message::new();
        m.build(&[
            Box::new(TransactionId([1; 12])),
            Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE)),
        ])
        .unwrap();
        ErrorCodeAttribute {
            code: rtc_stun::error_code::ErrorCode(300),
            reason: b"Try Alternate".to_vec(),
        }
        .add_to(&mut m)
        .unwrap();
        TextAttribute::new(ATTR_REALM, "lab".into())
            .add_to(&mut m)
            .unwrap();
        TextAttribute::new(ATTR_NONCE, "abc".into())
            .add_to(&mut m)
            .unwrap();
        MappedAddress {
            ip: "127.0.0.2".parse().unwrap(),
            port: 3479,
        }
        .add_to_as(&mut m, ATTR_ALTERNATE_SERVER)
        .unwrap();
        let Inbound::Answer(answer) = parse(&m.raw).unwrap() else {
            panic!("not an answer");
        };
        assert_eq!(answer.error, Some((300, "Try Alternate".into())));
        assert_eq!(answer.realm.as_deref(), Some("lab"));
        assert_eq!(answer.nonce.as_deref(), Some("abc"));
        assert_eq!(answer.alternate, Some("127.0.0.2:3479".parse().unwrap()));
        assert_eq!(answer.method, method::ALLOCATE);
    }

    #[test]
    fn send_indications_carry_the_peer_and_the_data() {
        let bytes = send_indication(
            TransactionId([2; 12]),
            "10.0.0.2:50000".parse().unwrap(),
            b"hi",
        )
        .unwrap();
        let mut m = Message::new();
        m.raw = bytes;
        m.decode().unwrap();
        assert_eq!(m.typ, MessageType::new(METHOD_SEND, CLASS_INDICATION));
        let mut data = Data::default();
        data.get_from(&m).unwrap();
        assert_eq!(data.0, b"hi");
    }

    #[test]
    fn garbage_is_not_stun() {
        assert!(parse(b"GET / HTTP/1.1\r\n\r\n").is_err());
    }
}
