//! `serve`'s WebRTC answerer behind its signaling endpoint: the probes' answerer
//! ([`preflight_probes::webrtc::answerer`]) adapted to the endpoint's [`Answerer`] hook.

use std::sync::Arc;

use preflight_probes::webrtc::answerer::{self, Session};
use preflight_probes::webrtc::IceCandidateInit;
use tokio::sync::mpsc;

use crate::signal_server::{Answer, AnswerSession, Answerer, BoxFuture, Candidate, Offer};

/// The answerer `serve` runs.
pub struct WebRtcAnswerer(pub answerer::Answerer);

impl Answerer for WebRtcAnswerer {
    fn misbehave(&self) -> Option<&'static str> {
        self.0.config().misbehave.map(|how| how.as_str())
    }

    fn answer(&self, offer: Offer) -> BoxFuture<'static, Result<Answer, String>> {
        let answerer = self.0.clone();
        Box::pin(async move {
            let answered = answerer
                .answer(offer.sdp)
                .await
                .map_err(|error| error.to_string())?;
            let (tx, rx) = mpsc::channel(64);
            let mut theirs = answered.candidates;
            tokio::spawn(async move {
                while let Some(candidate) = theirs.recv().await {
                    if tx.send(to_wire(candidate)).await.is_err() {
                        break;
                    }
                }
            });
            Ok(Answer {
                sdp: answered.sdp,
                session: Box::new(WebRtcSession(Arc::new(answered.session))),
                candidates: Some(rx),
            })
        })
    }
}

struct WebRtcSession(Arc<Session>);

impl AnswerSession for WebRtcSession {
    fn add_candidate(&self, candidate: Candidate) -> BoxFuture<'static, Result<(), String>> {
        let session = self.0.clone();
        Box::pin(async move { session.add_candidate(from_wire(candidate)).await })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let session = self.0.clone();
        Box::pin(async move { session.close().await })
    }
}

fn to_wire(candidate: IceCandidateInit) -> Candidate {
    Candidate {
        candidate: candidate.candidate,
        sdp_mid: candidate.sdp_mid,
        sdp_mline_index: candidate.sdp_mline_index,
        username_fragment: candidate.username_fragment,
    }
}

fn from_wire(candidate: Candidate) -> IceCandidateInit {
    IceCandidateInit {
        candidate: candidate.candidate,
        sdp_mid: candidate.sdp_mid,
        sdp_mline_index: candidate.sdp_mline_index,
        username_fragment: candidate.username_fragment,
    }
}
