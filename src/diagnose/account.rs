//! Account rules: SDKAppID, userId and userSig.
//!
//! | observation | finding |
//! |---|---|
//! | SDKAppID not a number from 1 to 4294967295 | 4096 INVALID_PARAMETER |
//! | userId empty, over 32 bytes, or outside `A-Z a-z 0-9 _ -` | 4096 INVALID_PARAMETER |
//! | no userSig, or an empty one | 16385, detail 70002 |
//! | userSig not base64 / zlib / JSON | 16385, detail 70003 |
//! | a TLS.* field missing or of the wrong type | 16385, detail 70005 |
//! | TLS.identifier is another user | 16385, detail 70013 |
//! | TLS.sdkappid is another application | 16385, detail 70014 |
//! | HMAC does not verify with the secret key | 16385, detail 70009 |
//! | TLS.time + TLS.expire before now | 16385, detail 70001 |
//! | expires within 24 hours | warning |
//! | TLS.time ahead of this clock | warning: clock skew, with the offset |
//! | TLS.ver not "2.0" | warning: not fully checked |

use preflight_reports::metrics::{AccountMetrics, SignatureCheck, TokenMetrics};
use preflight_reports::{Finding, Severity};

use super::{note, sdk_error};
use crate::catalog::sdk;
use crate::offline::{AccountObservation, TokenObservation};
use crate::time::{human_duration, UnixTime};
use crate::tlssig::Token;

/// Expiring within this many seconds is a warning.
pub const EXPIRY_WARNING_S: i64 = 24 * 3600;
/// A token issued more than this many seconds ahead of this clock is a clock-skew warning.
pub const FUTURE_TOLERANCE_S: i64 = 30;

/// Findings and metrics of an account probe.
pub fn diagnose(observation: &AccountObservation) -> (AccountMetrics, Vec<Finding>) {
    let mut findings = Vec::new();
    let app_id = parse_sdk_app_id(&observation.sdk_app_id);
    if let Err(problem) = &app_id {
        findings.push(sdk_error(
            sdk::INVALID_PARAMETER,
            None,
            None,
            format!("SDKAppID {:?} {problem}.", observation.sdk_app_id),
            "Pass the SDKAppID exactly as the TRTC console shows it under Application Management: a number such as 1400000000, without quotes, spaces or letters."
                .to_string(),
        ));
    }
    if let Err(problem) = check_user_id(&observation.user_id) {
        findings.push(sdk_error(
            sdk::INVALID_PARAMETER,
            None,
            None,
            format!("userId {:?} {problem}.", observation.user_id),
            "Use a userId of 1 to 32 bytes made of letters, digits, `_` and `-` (map other account names to such an id in your application), and sign the userSig for that id."
                .to_string(),
        ));
    }
    user_sig_findings(observation, app_id.ok(), &mut findings);
    let metrics = AccountMetrics {
        sdk_app_id: observation.sdk_app_id.clone(),
        user_id: observation.user_id.clone(),
        checked_at: observation.now.rfc3339(),
        user_sig: token_metrics(&observation.user_sig),
    };
    (metrics, findings)
}

/// `Ok(number)` for a valid SDKAppID, else what is wrong with it.
pub fn parse_sdk_app_id(text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a number (only the digits 0-9)".into());
    }
    match text.parse::<u64>() {
        Ok(0) => Err("is 0; SDKAppIDs start at 1".into()),
        Ok(number) if number <= u64::from(u32::MAX) => Ok(number as u32),
        _ => Err("is larger than 4294967295, the largest SDKAppID".into()),
    }
}

/// `Ok(())` for a valid userId, else what is wrong with it.
pub fn check_user_id(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if text.len() > 32 {
        return Err(format!(
            "is {} bytes long; at most 32 are allowed",
            text.len()
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "contains {bad:?}; only letters, digits, `_` and `-` are allowed"
        ));
    }
    Ok(())
}

fn user_sig_findings(
    observation: &AccountObservation,
    app_id: Option<u32>,
    findings: &mut Vec<Finding>,
) {
    let for_whom = format!(
        "userId {:?} and SDKAppID {}",
        observation.user_id, observation.sdk_app_id
    );
    let regenerate = format!(
        "Have your server sign a new userSig for {for_whom} with that application's secret key (TLSSigAPIv2 genUserSig), and pass it to the SDK whole."
    );
    let token = match &observation.user_sig {
        TokenObservation::Absent { looked } => {
            findings.push(sdk_error(
                sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
                None,
                Some(70002),
                format!("No userSig was given: {looked}."),
                format!("{regenerate} To check it here, put it in TRTC_USER_SIG or a file named by --user-sig-file."),
            ));
            return;
        }
        TokenObservation::Empty { source } => {
            findings.push(sdk_error(
                sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
                None,
                Some(70002),
                format!("The userSig in {source} is empty."),
                regenerate,
            ));
            return;
        }
        TokenObservation::Present {
            decoded: Err(error),
            length,
            source,
            ..
        } => {
            findings.push(sdk_error(
                sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
                None,
                Some(70003),
                format!("The userSig in {source} ({length} characters) cannot be decoded: {error}."),
                format!(
                    "A userSig is usually a few hundred characters of letters, digits and `*-_`; check that nothing cut it short (a buffer, a URL or a log line) or changed it (URL encoding of `*`). {regenerate}"
                ),
            ));
            return;
        }
        TokenObservation::Present {
            decoded: Ok(token), ..
        } => token,
    };
    let (source, signature) = match &observation.user_sig {
        TokenObservation::Present {
            source, signature, ..
        } => (source, *signature),
        _ => unreachable!("only a present token decodes"),
    };
    if !token.problems.is_empty() {
        findings.push(sdk_error(
            sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
            None,
            Some(70005),
            format!("The userSig in {source} decodes, but {}.", token.problems_text()),
            format!("The signing code does not follow TLSSigAPIv2; use Tencent's TLSSigAPIv2 library for your server's language. {regenerate}"),
        ));
    }
    match token.version.as_deref() {
        Some("2.0") | None => {}
        Some(other) => findings.push(note(
            Severity::Warning,
            "The userSig is not a TLSSigAPIv2 token, so this check cannot tell whether TRTC accepts it.",
            format!("TLS.ver is {other:?}; this checker knows \"2.0\"."),
            "Sign userSigs with TLSSigAPIv2 (TLS.ver \"2.0\"), the version TRTC documents for the Web SDK.".to_string(),
        )),
    }
    if let Some(identifier) = &token.identifier {
        if identifier != &observation.user_id {
            findings.push(sdk_error(
                sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
                None,
                Some(70013),
                format!("The userSig was issued for userId {identifier:?}; the call joins as {:?}.", observation.user_id),
                format!(
                    "Join with userId {identifier:?}, or sign a userSig for {:?}: the userId given to the SDK and the one inside the userSig must be the same string, case included.",
                    observation.user_id
                ),
            ));
        }
    }
    if let (Some(inside), Some(given)) = (token.sdk_app_id, app_id) {
        if inside != u64::from(given) {
            findings.push(sdk_error(
                sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
                None,
                Some(70014),
                format!("The userSig was issued for SDKAppID {inside}; the call uses SDKAppID {given}."),
                format!(
                    "Use SDKAppID {inside} in TRTC.createClient, or sign the userSig with the secret key of application {given}: each application has its own key."
                ),
            ));
        }
    }
    match signature {
        SignatureCheck::Mismatch => findings.push(sdk_error(
            sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
            None,
            Some(70009),
            format!(
                "The userSig's HMAC-SHA256 does not verify with the secret key given here (TLS.sdkappid {}, TLS.identifier {:?}): it was signed with another key, or altered after signing.",
                token.sdk_app_id.map_or("missing".to_string(), |id| id.to_string()),
                token.identifier.as_deref().unwrap_or("missing")
            ),
            format!(
                "Sign with the secret key shown in the TRTC console for SDKAppID {} (Application Management > Application Info; a key that was reset invalidates the old one), and check that the key given here is that one.",
                observation.sdk_app_id
            ),
        )),
        SignatureCheck::NotChecked if !observation.secret_key_given && token.problems.is_empty() => findings.push(note(
            Severity::Info,
            "Signature not verified: no secret key was given.",
            "No secret key was given, so a userSig signed with another application's key (70009) is not caught here.".to_string(),
            "To verify the signature too, give the application's secret key in TRTC_SECRET_KEY or --secret-key-file (it is never printed).".to_string(),
        )),
        _ => {}
    }
    let Some(validity) = Validity::of(token) else {
        return;
    };
    expiry_findings(
        validity,
        observation.now,
        "userSig",
        &regenerate,
        findings,
        |evidence, fix| {
            sdk_error(
                sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
                None,
                Some(70001),
                evidence,
                fix,
            )
        },
    );
}

/// When a token was issued and until when it is valid, in UNIX seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// `TLS.time`.
    pub issued_at: i64,
    /// The end of validity (for a privateMapKey, the earlier of the token's and the grant's).
    pub expires_at: i64,
}

impl Validity {
    /// A token's own window, when it has both fields.
    pub fn of(token: &Token) -> Option<Validity> {
        Some(Validity {
            issued_at: token.time?,
            expires_at: token.expires_at()?,
        })
    }
}

/// Expired (an error built by `expired`), expiring-soon and issued-in-the-future findings.
pub fn expiry_findings(
    validity: Validity,
    now: UnixTime,
    what: &str,
    regenerate: &str,
    findings: &mut Vec<Finding>,
    expired: impl Fn(String, String) -> Finding,
) {
    let Validity {
        issued_at,
        expires_at,
    } = validity;
    let lifetime = expires_at.saturating_sub(issued_at);
    if expires_at <= now.0 {
        let short = if lifetime < 300 {
            format!(" A lifetime of {lifetime} s is too short to be usable: sign with days (e.g. 604800 s).")
        } else {
            String::new()
        };
        findings.push(expired(
            format!(
                "The {what} expired at {} ({} ago); it was issued at {} with a lifetime of {}.",
                UnixTime(expires_at).rfc3339(),
                human_duration(now.0.saturating_sub(expires_at)),
                UnixTime(issued_at).rfc3339(),
                human_duration(lifetime)
            ),
            format!("{regenerate}{short}"),
        ));
    } else if expires_at.saturating_sub(now.0) < EXPIRY_WARNING_S {
        findings.push(note(
            Severity::Warning,
            &format!("The {what} is still valid but expires within 24 hours; a call that starts or reconnects after that fails (70001 for a userSig, -10019 for a privateMapKey)."),
            format!(
                "It expires at {} (in {}).",
                UnixTime(expires_at).rfc3339(),
                human_duration(expires_at.saturating_sub(now.0))
            ),
            format!("{regenerate} Give it a lifetime that covers the longest call and its reconnections."),
        ));
    }
    if issued_at.saturating_sub(now.0) > FUTURE_TOLERANCE_S {
        findings.push(note(
            Severity::Warning,
            &format!("The {what} was issued in the future by this machine's clock: the signing server's clock or this one is off, and TRTC compares the times with its own clock."),
            format!(
                "TLS.time is {} ({} ahead of this machine's clock, {}).",
                UnixTime(issued_at).rfc3339(),
                human_duration(issued_at.saturating_sub(now.0)),
                now.rfc3339()
            ),
            "Synchronise the clocks of the signing server and of this machine with NTP (timedatectl set-ntp true, or the OS's time settings).".to_string(),
        ));
    }
}

/// The non-secret facts of a token for the report.
pub fn token_metrics(observation: &TokenObservation) -> Option<TokenMetrics> {
    match observation {
        TokenObservation::Absent { .. } => None,
        TokenObservation::Empty { .. } => Some(TokenMetrics::default()),
        TokenObservation::Present {
            length,
            decoded,
            signature,
            grant,
            ..
        } => {
            let mut metrics = TokenMetrics {
                length: *length,
                signature: *signature,
                ..TokenMetrics::default()
            };
            if let Ok(token) = decoded {
                metrics.decoded = true;
                metrics.version = token.version.clone();
                metrics.identifier = token.identifier.clone();
                metrics.sdk_app_id = token.sdk_app_id;
                metrics.issued_at = token.time.map(|time| UnixTime(time).rfc3339());
                metrics.expires_at = token.expires_at().map(|time| UnixTime(time).rfc3339());
                metrics.lifetime_s = token.expire;
                metrics.has_userbuf = token.userbuf.is_some();
            }
            if let Some(Ok(grant)) = grant {
                metrics.grant = Some(preflight_reports::metrics::GrantMetrics {
                    version: grant.version,
                    account: grant.account.clone(),
                    sdk_app_id: grant.sdk_app_id,
                    room_id: grant.room_id,
                    room_str: grant.room_str.clone(),
                    expires_at: UnixTime(i64::from(grant.expires_at)).rfc3339(),
                    privilege_map: grant.privilege_map,
                    privileges: grant.privilege_names(),
                    account_type: grant.account_type,
                });
            }
            Some(metrics)
        }
    }
}
