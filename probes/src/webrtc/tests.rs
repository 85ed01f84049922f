//! The probe against the answerer, in-process on loopback, over a minimal server of the
//! signaling protocol (the real one, `serve`'s, is tested with both in the application).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use super::answerer::{Answerer, Config, Misbehave};
use super::probe::{self, Failure, Settings, Stage};
use super::{CandidateKind, IceCandidateInit};
use crate::signaling::Target;

/// Serves the protocol's hello, join, offer and candidate with `answerer`, for every
/// connection.
async fn server(answerer: Answerer, answers: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answerer = answerer.clone();
            tokio::spawn(async move {
                let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (mut sink, mut stream) = socket.split();
                let (out, mut outgoing) = tokio::sync::mpsc::unbounded_channel::<String>();
                tokio::spawn(async move {
                    while let Some(text) = outgoing.recv().await {
                        if sink.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                });
                let mut session = None;
                while let Some(Ok(Message::Text(text))) = stream.next().await {
                    let message: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let reply = match message["type"].as_str().unwrap() {
                        "hello" => serde_json::json!({
                            "type": "welcome", "server": "test", "version": "0",
                            "answerer": answers,
                        }),
                        "join" => serde_json::json!({"type": "joined", "room": message["room"]}),
                        "offer" => {
                            let sdp = message["sdp"].as_str().unwrap().to_string();
                            match answerer.answer(sdp).await {
                                Ok(answered) => {
                                    let mut candidates = answered.candidates;
                                    session = Some(answered.session);
                                    let out = out.clone();
                                    let _ = out.send(
                                        serde_json::json!({"type": "answer", "sdp": answered.sdp})
                                            .to_string(),
                                    );
                                    tokio::spawn(async move {
                                        while let Some(candidate) = candidates.recv().await {
                                            let mut message = candidate.to_json();
                                            message["type"] = "candidate".into();
                                            let _ = out.send(message.to_string());
                                        }
                                    });
                                    continue;
                                }
                                Err(error) => serde_json::json!({
                                    "type": "error", "code": "answer_failed",
                                    "message": error.to_string(),
                                }),
                            }
                        }
                        "candidate" => {
                            if let (Some(session), Some(candidate)) =
                                (&session, IceCandidateInit::from_json(&message))
                            {
                                let _ = session.add_candidate(candidate).await;
                            }
                            continue;
                        }
                        "leave" => {
                            if let Some(session) = session.take() {
                                session.close().await;
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    let _ = out.send(reply.to_string());
                }
                if let Some(session) = session.take() {
                    session.close().await;
                }
            });
        }
    });
    address
}

fn quick() -> Settings {
    Settings {
        join_timeout: Duration::from_secs(2),
        ice_timeout: Duration::from_secs(2),
        dtls_timeout: Duration::from_secs(2),
        channel_timeout: Duration::from_secs(2),
        media_timeout: Duration::from_secs(2),
        ..Settings::default()
    }
}

fn answerer(misbehave: Option<Misbehave>) -> Answerer {
    Answerer::new(Config {
        misbehave,
        ..Config::default()
    })
}

async fn run(misbehave: Option<Misbehave>) -> probe::Observation {
    let address = server(answerer(misbehave), true).await;
    let target = Target::parse(&format!("ws://{address}/")).unwrap();
    probe::probe(&target, &quick()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_connects_echoes_data_and_gets_media_back() {
    let observation = run(None).await;
    assert_eq!(observation.failure, None, "{observation:#?}");
    let timings = &observation.timings;
    assert!(timings.signaling.is_some() && timings.answer.is_some());
    assert!(timings.ice.is_some() && timings.dtls.is_some());
    assert!(timings.ready.is_some(), "{observation:#?}");
    let channel = observation.channel.as_ref().unwrap();
    assert!(channel.opened);
    assert_eq!((channel.sent, channel.echoed), (3, 3));
    assert_eq!(channel.largest_echoed, Some(16_000));
    assert_eq!(observation.media.len(), 2);
    for media in &observation.media {
        assert!(media.sent >= 1, "{media:?}");
        assert!(media.received >= 5, "{media:?}");
        assert!(media.peer_received.unwrap() >= media.received, "{media:?}");
    }
    assert!(observation
        .local_candidates
        .iter()
        .all(|candidate| candidate.kind == CandidateKind::Host));
    assert!(!observation.remote_candidates.is_empty());
    let selected = observation.selected.as_ref().expect("a selected pair");
    assert_eq!(selected.local.address, "127.0.0.1");
    assert_eq!(selected.remote.address, "127.0.0.1");
    eprintln!("{:?}", observation.timings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_times_the_join_out() {
    let started = Instant::now();
    let observation = run(Some(Misbehave::NeverAnswer)).await;
    match observation.failure {
        Some(Failure::Timeout {
            during: Stage::Answer,
            waited,
        }) => assert!(waited >= Duration::from_secs(2), "{waited:?}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_dtls_is_told_from_ice() {
    let observation = run(Some(Misbehave::StallDtls)).await;
    match &observation.failure {
        Some(Failure::Dtls { waited, .. }) => assert!(*waited >= Duration::from_secs(2)),
        other => panic!("{other:?} {observation:#?}"),
    }
    assert!(observation.timings.ice.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_dropped_on_the_way_back_is_seen_with_its_direction() {
    let observation = run(Some(Misbehave::DropDownlink)).await;
    assert_eq!(observation.failure, None, "{observation:#?}");
    for media in &observation.media {
        assert_eq!(media.received, 0, "{media:?}");
        assert!(media.peer_received.unwrap() > 0, "{media:?}");
    }
    let channel = observation.channel.as_ref().unwrap();
    assert_eq!(channel.echoed, channel.sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_dropped_on_the_way_out_is_seen_with_its_direction() {
    let observation = run(Some(Misbehave::DropUplink)).await;
    assert_eq!(observation.failure, None, "{observation:#?}");
    for media in &observation.media {
        assert_eq!(media.received, 0, "{media:?}");
        assert_eq!(media.peer_received, Some(0), "{media:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_an_answerer_says_so() {
    let address = server(answerer(None), false).await;
    let target = Target::parse(&format!("ws://{address}/")).unwrap();
    let observation = probe::probe(&target, &quick()).await;
    assert_eq!(observation.failure, Some(Failure::NoAnswerer));
}

/// An offer as the probe makes it (a data channel, audio and video).
async fn an_offer() -> String {
    let (events, _rx) = super::Events::new();
    let pc = super::build(
        super::Build {
            bind: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            ice_servers: Vec::new(),
            relay_only: false,
            all_codecs: false,
            discard: None,
            ice_disconnected: Duration::from_secs(5),
        },
        events,
    )
    .await
    .unwrap();
    pc.create_data_channel("x", None).await.unwrap();
    for kind in [
        super::media::MediaKind::Audio,
        super::media::MediaKind::Video,
    ] {
        let track = super::media::track(kind, 7, None);
        pc.add_track(track as std::sync::Arc<dyn webrtc::media_stream::track_local::TrackLocal>)
            .await
            .unwrap();
    }
    let offer = pc.create_offer(None).await.unwrap();
    let _ = pc.close().await;
    offer.sdp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_limited_in_number_and_in_time() {
    let answerer = Answerer::new(Config {
        max_sessions: 1,
        session_time: Duration::from_millis(300),
        ..Config::default()
    });
    let offer = an_offer().await;
    let first = answerer.answer(offer.clone()).await.expect("answered");
    assert!(first.sdp.contains("m=audio") && first.sdp.contains("m=video"));
    assert_eq!(answerer.open_sessions(), 1);
    match answerer.answer(offer.clone()).await {
        Err(super::answerer::AnswerError::Busy(1)) => {}
        other => panic!("{:?}", other.map(|answered| answered.sdp)),
    }
    // The refused offer took no session; the first ends at its time limit.
    let started = Instant::now();
    while answerer.open_sessions() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the session outlived its limit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answerer.answer(offer).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_that_is_not_sdp_is_refused_and_takes_no_session() {
    let answerer = answerer(None);
    match answerer.answer("v=0\r\n".into()).await {
        Err(super::answerer::AnswerError::Failed(message)) => {
            assert!(message.starts_with("the offer "), "{message}");
        }
        other => panic!("{:?}", other.map(|answered| answered.sdp)),
    }
    assert_eq!(answerer.open_sessions(), 0);
}

#[test]
fn candidates_are_read_from_sdp_lines() {
    let host = super::Candidate::parse(
        "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host generation 0",
    )
    .unwrap();
    assert_eq!(host.to_string(), "host udp 127.0.0.1:5000");
    let relay = super::Candidate::parse(
        "a=candidate:2 1 UDP 16777215 ::1 3478 typ relay raddr 0.0.0.0 rport 0",
    )
    .unwrap();
    assert_eq!(
        (relay.kind, relay.protocol.as_str()),
        (CandidateKind::Relay, "udp")
    );
    assert_eq!(relay.to_string(), "relay udp [::1]:3478");
    assert_eq!(
        super::Candidate::parse("candidate:1 1 udp 1 127.0.0.1 x typ host"),
        None
    );
    assert_eq!(
        super::Candidate::parse("candidate:1 1 udp 1 127.0.0.1 9 foo host"),
        None
    );
    let sdp = "v=0\r\na=candidate:1 1 udp 1 10.0.0.1 9 typ host\r\na=mid:0\r\n";
    assert_eq!(super::sdp_candidates(sdp).len(), 1);
    assert_eq!(super::first_mid(sdp), Some("0".into()));
}

#[test]
fn the_filter_tells_dtls_from_media_as_rfc_7983_does() {
    use super::Discard;
    for (first, dtls, media) in [
        (0u8, false, false),
        (1, false, false),
        (22, true, false),
        (63, true, false),
        (128, false, true),
        (191, false, true),
        (200, false, false),
    ] {
        assert_eq!(Discard::Dtls.matches(first), dtls, "{first}");
        assert_eq!(Discard::Media.matches(first), media, "{first}");
    }
}

#[test]
fn misbehaviours_have_stable_names() {
    for how in Misbehave::ALL {
        assert_eq!(Misbehave::parse(how.as_str()), Some(how));
    }
    assert_eq!(Misbehave::parse("explode"), None);
}
