//! The data of the catalog: one row per published code or message.
//!
//! Codes, names, hex values and message strings are as published in the SDK's table; the words
//! (description, fix, the reason a code cannot be detected) are ours.

use super::{DetailCode, DetailTable, Detect, MessageEntry, SdkError};
use preflight_reports::Kind::*;

/// Declares the SDK errors: the table, and one constant per key in [`sdk`].
macro_rules! sdk_errors {
    ($(
        $name:ident = $code:literal, $hex:literal;
        description: $description:literal;
        fix: $fix:literal;
        detect: $detect:expr;
    )*) => {
        /// Every row of the SDK error table, in published order.
        pub static SDK_ERRORS: &[SdkError] = &[$(
            SdkError {
                name: stringify!($name),
                code: $code,
                hex: $hex,
                description: $description,
                fix: $fix,
                detect: $detect,
            },
        )*];

        /// The SDK error codes by their published key.
        #[allow(non_upper_case_globals)]
        pub mod sdk {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($code), ", ", $hex, ").")]
                pub const $name: u32 = $code;
            )*
            /// Every code above, in published order.
            pub const ALL: &[u32] = &[$($code),*];
        }
    };
}

/// Declares the rows of a detail-code table (account or room entry).
macro_rules! detail_codes {
    ($(#[$attr:meta])* $table_name:ident, $table:expr, $sdk_code:expr; $(
        $code:literal;
        description: $description:literal;
        fix: $fix:literal;
        detect: $detect:expr;
    )*) => {
        $(#[$attr])*
        pub static $table_name: &[DetailCode] = &[$(
            DetailCode {
                code: $code,
                table: $table,
                sdk_code: $sdk_code,
                description: $description,
                fix: $fix,
                detect: $detect,
            },
        )*];
    };
}

/// Declares the rows of the common-messages table.
macro_rules! messages {
    ($(
        $message:literal => $sdk_code:expr;
        description: $description:literal;
        fix: $fix:literal;
        detect: $detect:expr;
    )*) => {
        /// Every row of the common-messages table, in published order.
        pub static MESSAGES: &[MessageEntry] = &[$(
            MessageEntry {
                message: $message,
                sdk_code: $sdk_code,
                description: $description,
                fix: $fix,
                detect: $detect,
            },
        )*];
    };
}

sdk_errors! {
    INVALID_PARAMETER = 4096, "0x1000";
    description: "A value handed to the SDK is not of the shape it accepts: an SDKAppID that is not a positive number, a userId with characters outside letters, digits, `_` and `-` or longer than 32 bytes, and the like. The SDK refuses it before anything goes on the network.";
    fix: "Correct the value the finding names. SDKAppID is the number shown in the TRTC console under Application Management; userId is 1 to 32 bytes of letters, digits, `_` and `-`.";
    detect: Detect::By(&[Account]);

    INVALID_OPERATION = 4097, "0x1001";
    description: "The application called an SDK method at a moment the client's state forbids it, such as `client.publish` before `client.join` has resolved, or `client.join` a second time on a client that is already in a room.";
    fix: "Await each call's promise before making the next one: `client.join` first, then `publish` or `subscribe`, and `client.leave` before joining again; disable the UI buttons while a call is pending.";
    detect: Detect::Never("It is a mistake in the order of the application's own SDK calls; no machine, browser or network check can provoke or observe it.");

    NOT_SUPPORTED = 4098, "0x1002";
    description: "The browser lacks something the SDK relies on: `RTCPeerConnection`, `navigator.mediaDevices.getUserMedia` (missing on pages that are neither HTTPS nor localhost), or a codec TRTC negotiates. In this tool it also marks a machine with no camera or audio capture subsystem at all.";
    fix: "Use a current desktop Chrome, Edge, Firefox or Safari, serve the page over HTTPS, and call `TRTC.checkSystemRequirements()` at start-up to warn users early; on a server or VM, install and enable the audio and video capture stack.";
    detect: Detect::By(&[Camera, Microphone, Environment, Browser]);

    DEVICE_NOT_FOUND = 4099, "0x1003";
    description: "Capture asked for a camera or microphone and the system lists none of that kind: nothing is plugged in, the driver is missing or disabled, or a VM or remote desktop session does not pass the device through.";
    fix: "Connect or enable the device and confirm it shows up in the OS device list and in the browser's site settings; for audio-only calls create the local stream with `video: false` so that a missing camera is no error.";
    detect: Detect::By(&[Camera, Microphone, Browser]);

    INITIALIZE_FAILED = 4100, "0x1004";
    description: "Capture from a camera or microphone was attempted and did not start. The DOMException name that comes with it (`NotAllowedError`, `NotReadableError`, `OverconstrainedError`, `AbortError`) says why: permission refused, device busy, impossible constraints, or a driver fault.";
    fix: "Act on the accompanying message: grant camera and microphone access in the OS and in the browser, close other programs holding the device (conferencing apps, OBS), or ask for a device ID and resolution the hardware really offers.";
    detect: Detect::By(&[Camera, Microphone, Environment, Browser]);

    SIGNAL_CAHNNEL_SETUP_FAILED = 16385, "0x4001";
    description: "The SDK could not log in over its signaling WebSocket (TLS on TCP 443 to TRTC's domains, plus TCP 8687 for SDKs before 4.12.0). Either the connection itself failed (DNS, firewall, proxy, TLS inspection) or the server refused the credentials, in which case an account code such as 70001 comes with it.";
    fix: "When an account code is present, fix the userSig as that code says. Otherwise allow outbound TCP 443 (and 8687 for SDK < 4.12.0) to TRTC's signaling domains and exempt them from TLS-inspecting proxies.";
    detect: Detect::By(&[Account, Signaling, Webrtc, Browser]);

    SIGNAL_CHANNEL_ERROR = 16386, "0x4002";
    description: "The WebSocket to TRTC's signaling server opened and then broke: it was closed by a proxy or firewall idle timer, reset mid-stream, or carried frames the SDK could not parse.";
    fix: "Find the proxy, VPN or firewall that cuts long-lived WebSockets on TCP 443 and raise its idle timeout or bypass it for TRTC's domains; have the application rejoin when this is reported.";
    detect: Detect::By(&[Signaling, Webrtc]);

    ICE_TRANSPORT_ERROR = 16387, "0x4003";
    description: "No media connection to TRTC's servers could be made: direct UDP to ports 8000, 8080, 8800, 843, 443 and 16285 went unanswered and TRTC's relay over UDP and over TCP/TLS 443 failed as well, or the DTLS handshake on the chosen path never finished.";
    fix: "Allow outbound UDP to those six ports for the best quality, or at the very least outbound TCP 443 with TLS to TRTC's relays; the ports and TURN findings name every path that was closed.";
    detect: Detect::By(&[Stun, Ports, Turn, Webrtc, Browser]);

    JOIN_ROOM_FAILED = 16388, "0x4004";
    description: "Signaling login worked, but TRTC did not let the user into the room or did not answer the join in time. The room-entry code that comes with it (-10012 for a bad roomId, -10018 or -10019 for the privateMapKey, ...) gives the reason.";
    fix: "Read the room-entry code: correct the roomId or the `useStringRoomId` setting, pass a valid `privateMapKey` to `client.join` when advanced permission control is on, and retry after timeouts.";
    detect: Detect::By(&[Room, Webrtc, Browser]);

    CREATE_OFFER_FAILED = 16389, "0x4005";
    description: "The browser's `RTCPeerConnection.createOffer()` rejected, so the SDK had no SDP to send. Usually WebRTC is crippled by an enterprise policy or a privacy extension, or no usable codec is available.";
    fix: "Try a clean browser profile without extensions, review enterprise policies that restrict WebRTC, and update the browser to a current release.";
    detect: Detect::By(&[Webrtc, Browser]);

    SIGNAL_CHANNEL_RECONNECTION_FAILED = 16390, "0x4006";
    description: "After the signaling WebSocket dropped, every automatic reconnect attempt failed, so the client gave up and is no longer in the room.";
    fix: "Make sure TCP 443 to TRTC's signaling domains stays reachable (Wi-Fi roaming, VPN reconnects and proxies that kill idle connections are the usual culprits), then have the application call `client.join` again.";
    detect: Detect::By(&[Signaling]);

    UPLINK_RECONNECTION_FAILED = 16391, "0x4007";
    description: "The connection carrying the local user's published audio and video broke during the call, and the SDK's repeated attempts to restore it all failed.";
    fix: "Stabilise the uplink (wired instead of weak Wi-Fi, no VPN flapping), then publish again with `client.publish` or rejoin; the quality probe shows the loss and jitter of the path.";
    detect: Detect::Never("It is raised only when an established publishing connection drops in the middle of a call; a pre-call check has no publishing connection to lose.");

    DOWNLINK_RECONNECTION_FAILED = 16392, "0x4008";
    description: "The connection delivering other participants' media to this user broke during the call and could not be re-established after several tries.";
    fix: "Check the downlink (Wi-Fi signal, competing downloads, VPN), then rejoin the room; the quality and throughput probes measure whether the path can sustain the incoming streams.";
    detect: Detect::Never("It concerns subscriptions to other participants' media, which only exist inside a running call.");

    REMOTE_STREAM_NOT_EXIST = 16400, "0x4010";
    description: "A subscription was requested for a remote stream whose owner had already stopped sending it: a race between the two users' actions.";
    fix: "Nothing is broken: drop that subscription attempt and subscribe again when the `stream-added` event announces the user's stream.";
    detect: Detect::Never("It depends on another participant's actions in a live room, and there is no other participant before the call.");

    CLIENT_BANNED = 16448, "0x4040";
    description: "TRTC's server removed this user from the room: another client joined with the same userId, or the application's back end removed the user through the server-side API.";
    fix: "Give every device and browser tab its own userId (or close the other session), and check whether your back end called the remove-user API for this user.";
    detect: Detect::Never("It is a decision TRTC's server takes during a call (a second login with the same userId, or an administrator's removal), not a property of this machine or network.");

    SERVER_TIMEOUT = 16449, "0x4041";
    description: "TRTC's media server stopped answering within the SDK's time limit while the call was running.";
    fix: "Retry the operation; if it keeps happening, measure loss and round-trip time with the quality probe and send Tencent Cloud support the time, SDKAppID and roomId.";
    detect: Detect::Never("It reflects the state of TRTC's media server during a call, which a check against test endpoints cannot reproduce.");

    SUBSCRIPTION_TIMEOUT = 16450, "0x4042";
    description: "A request to receive another participant's stream got no completion from the server in time.";
    fix: "Subscribe again; if it keeps happening, look at downlink loss and bandwidth with the quality and throughput probes.";
    detect: Detect::Never("Subscribing needs a remote participant publishing in a live room, which does not exist before the call.");

    PLAY_NOT_ALLOWED = 16451, "0x4043";
    description: "The browser's autoplay rules stopped `stream.play()` with sound because the page had not yet received a user gesture (a click, tap or key press).";
    fix: "Start playback from a user action, or on this error show a button whose click handler calls `stream.resume()`; kiosks can allow autoplay for your origin through a browser policy.";
    detect: Detect::By(&[Environment, Browser]);

    DEVICE_AUTO_RECOVER_FAILED = 16452, "0x4044";
    description: "While publishing, the camera or microphone in use was unplugged or taken over by another program, and the SDK's attempt to capture from it again failed.";
    fix: "Ask the user to plug the device back in or close the program that grabbed it, and offer a button that creates the local stream anew.";
    detect: Detect::Never("It happens only when a device disappears during a running publish; before the call the device probes report the present state as 4099 or 4100 instead.");

    START_PUBLISH_CDN_FAILED = 16453, "0x4045";
    description: "The request to relay the room's stream to a CDN (`client.startPublishCDNStream`) was refused or failed on Tencent's side.";
    fix: "Check that relayed push to CDN is enabled for the application in the TRTC console and that the streamId and push domain are valid, then retry.";
    detect: Detect::Never("CDN relaying is a server-side feature started by an API call inside a call; no local check reaches it.");

    STOP_PUBLISH_CDN_FAILED = 16454, "0x4046";
    description: "The request to end a CDN relay (`client.stopPublishCDNStream`) did not succeed.";
    fix: "Retry the stop call; if the relay keeps running, end it through the server API or ask Tencent Cloud support, giving the streamId.";
    detect: Detect::Never("It concerns stopping a server-side relay that only exists during a call.");

    START_MIX_TRANSCODE_FAILED = 16455, "0x4047";
    description: "Tencent Cloud could not begin mixing several participants' streams into one (`client.startMixTranscode`).";
    fix: "Verify the mix configuration (canvas size, each input's userId and layout) and that On-Cloud MixTranscoding is enabled for the application in the TRTC console, then retry.";
    detect: Detect::Never("Mixing runs on Tencent Cloud at the application's request during a call; nothing on this machine takes part in it.");

    STOP_MIX_TRANSCODE_FAILED = 16456, "0x4048";
    description: "The request to end cloud mixing (`client.stopMixTranscode`) did not succeed.";
    fix: "Retry the stop call; mixing started by a user also ends when that user leaves the room.";
    detect: Detect::Never("It concerns a cloud mixing job that only exists during a call.");

    NOT_SUPPORTED_H264 = 16457, "0x4049";
    description: "This browser can neither encode nor decode H.264, the video codec TRTC uses for web calls; typical of Chromium builds without proprietary codecs and of some Linux and Android browsers.";
    fix: "Use a browser with H.264 support (Chrome, Edge, Safari, or Firefox with its OpenH264 plugin enabled) and check with `TRTC.checkSystemRequirements()` before joining.";
    detect: Detect::By(&[Browser]);

    SWITCH_ROLE_FAILED = 16458, "0x404a";
    description: "In live-streaming mode, `client.switchRole` between `anchor` and `audience` did not complete.";
    fix: "Retry once the previous role change or publish has settled, and make sure the user is in the room and that its privateMapKey, if one is used, grants the anchor privilege.";
    detect: Detect::Never("Role changes are made inside a joined live-mode room; before a call there is no role to switch.");

    UNKNOWN = 65535, "0xFFFF";
    description: "Something failed that neither the SDK nor this tool could put a name to. In this tool it also marks a probe that crashed or did not finish within its deadline.";
    fix: "Read the evidence for what was being done when it happened, run the check again with `-v`, and report the evidence if it repeats.";
    detect: Detect::Any;
}

detail_codes! {
    /// Every row of the account table, in published order (70050 and 70051 come last there).
    ACCOUNT_CODES, DetailTable::Account, sdk::SIGNAL_CAHNNEL_SETUP_FAILED;

    -8;
    description: "Tencent's servers do not know the SDKAppID that was sent: a typo, the ID of a deleted application, or one that belongs to another Tencent Cloud account.";
    fix: "Copy the SDKAppID from Application Management in the TRTC console, and make sure the userSig was generated with the secret key of that same application.";
    detect: Detect::Never("Only Tencent's servers know which SDKAppIDs exist; offline, a malformed SDKAppID is reported as 4096 INVALID_PARAMETER instead.");

    70001;
    description: "The userSig is past its expiry: TLS.time plus TLS.expire lies before now. The server refuses the login.";
    fix: "Issue a fresh userSig from your server with the secret key, with a lifetime that covers the whole call (days, not seconds), and check that the signing server's clock is right.";
    detect: Detect::By(&[Account]);

    70002;
    description: "The userSig sent is empty: the variable holding it was never filled, or the request to your signing server failed without anyone noticing.";
    fix: "Make sure the application has fetched a userSig from your back end before calling `TRTC.createClient`, and that the back end signs with Tencent's `TLSSigAPIv2` library.";
    detect: Detect::By(&[Account]);

    70003;
    description: "The userSig cannot be decoded: it is not TRTC's URL-safe base64 (with `*`, `-` and `_` in place of `+`, `/` and `=`), its zlib stream is broken, or it was cut short when stored or passed around.";
    fix: "Hand the userSig over exactly as your signing server returned it; look for a database column, URL parameter or copy-and-paste step that shortens or re-encodes it.";
    detect: Detect::By(&[Account]);

    70004;
    description: "Another of the server's format checks on the userSig failed: the token's structure is damaged in a way the server counts apart from 70003.";
    fix: "Pass the userSig unmodified from the signing server to `TRTC.createClient` and regenerate it; run this tool's account check on it to see the concrete defect.";
    detect: Detect::Never("A server-side variant of signature verification; an offline decoder cannot tell the variants apart and reports the defect as 70003, 70005 or 70009.");

    70005;
    description: "The userSig decodes, but its JSON lacks a required field (TLS.ver, TLS.identifier, TLS.sdkappid, TLS.time, TLS.expire, TLS.sig) or one of them has the wrong type.";
    fix: "Generate userSigs with Tencent's official `TLSSigAPIv2` library for your server language instead of a hand-written signer, and compare its output with the UserSig tool in the TRTC console.";
    detect: Detect::By(&[Account]);

    70006;
    description: "A server-side check of the userSig's content failed; the server distinguishes this case from 70005 internally without saying more.";
    fix: "Regenerate the userSig with the official `TLSSigAPIv2` library and let this tool's account check decode it to find what is off.";
    detect: Detect::Never("A server-side variant of signature verification; an offline decoder reports the same defects as 70003, 70005 or 70009.");

    70007;
    description: "The server rejected the userSig in one more of its verification branches; the published table gives no detail beyond that.";
    fix: "Sign again with the official library for this SDKAppID and its current secret key, and check the result with this tool's account check before using it.";
    detect: Detect::Never("A server-side variant of signature verification; an offline decoder reports the same defects as 70003, 70005 or 70009.");

    70008;
    description: "Yet another server-side verification branch refused the userSig, without a more specific reason.";
    fix: "Replace the userSig with one freshly made by `TLSSigAPIv2`; if a fresh one fails too, compare SDKAppID, userId and secret key with the console.";
    detect: Detect::Never("A server-side variant of signature verification; an offline decoder reports the same defects as 70003, 70005 or 70009.");

    70009;
    description: "The signature inside the userSig does not match: it was made with a secret key that does not belong to this SDKAppID, often a key of another application or one that has since been reset.";
    fix: "Sign with the secret key shown for this exact SDKAppID in the TRTC console; after resetting the key, update it on every signing server.";
    detect: Detect::By(&[Account]);

    70010;
    description: "The server's signature verification failed in a branch it reports separately; in practice the token is malformed or signed wrongly.";
    fix: "Regenerate the userSig with the official library and run it through this tool's account check, giving it the secret key, to find the precise fault.";
    detect: Detect::Never("A server-side variant of signature verification; an offline decoder reports the same defects as 70003, 70005 or 70009.");

    70013;
    description: "The userId inside the userSig (TLS.identifier) differs from the userId the application passed to `TRTC.createClient`.";
    fix: "Generate the userSig for the very userId you log in with; watch for differences in case or whitespace and for a userSig cached from another user.";
    detect: Detect::By(&[Account]);

    70014;
    description: "The SDKAppID inside the userSig (TLS.sdkappid) differs from the one given to `TRTC.createClient`.";
    fix: "Use one SDKAppID in both the client and the signing server; test and production applications have different IDs and different secret keys.";
    detect: Detect::By(&[Account]);

    70015;
    description: "The account service has no way configured to verify logins for this SDKAppID and account type; the application's login setup is missing.";
    fix: "Check in the TRTC console that the application exists and is active and use userSig (`TLSSigAPIv2`) authentication; contact Tencent Cloud support if the application came from a legacy IM setup.";
    detect: Detect::Never("How an application's logins are verified is configuration held by Tencent's account service.");

    70016;
    description: "The verification public key stored for the application is empty; this concerns applications still on the legacy public/private key (ECDSA) signature.";
    fix: "Upload the public key in the console, or better move to the secret-key (HMAC) userSig; a freshly uploaded key takes around ten minutes to be used.";
    detect: Detect::Never("Which keys Tencent holds for an application is server-side state.");

    70017;
    description: "Tencent's account service timed out while checking a third-party ticket internally.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("A transient condition inside Tencent's account service, visible only in its reply to a real login.");

    70018;
    description: "The account service's internal check of a third-party ticket returned failure.";
    fix: "Regenerate the userSig and retry; if it keeps failing, give Tencent Cloud support the SDKAppID, userId and time of the attempt.";
    detect: Detect::Never("The third-party ticket check runs inside Tencent's account service.");

    70019;
    description: "The server got the login with an empty ticket (userSig) field on its HTTPS verification path.";
    fix: "Set the userSig on the client before joining and make sure nothing between the application and the SDK (a serializer, a wrapper) drops it.";
    detect: Detect::Never("An empty userSig is reported offline as 70002; this code is the server's label for the same defect on another of its verification paths.");

    70020;
    description: "No application with this SDKAppID exists in Tencent Cloud: it was never created, has been deleted, or lives under another site or account.";
    fix: "Create the application in the TRTC console, or copy the right SDKAppID from it, and use that ID together with its own secret key.";
    detect: Detect::Never("Whether an application exists is known only to Tencent Cloud.");

    70052;
    description: "The server judged the userSig unusable for a reason it does not detail.";
    fix: "Issue a new userSig from your signing server and retry; if a freshly issued one is refused as well, check the secret key in the console.";
    detect: Detect::Never("The server does not say which check failed; an offline decoder reports concrete defects as 70001 to 70014 instead.");

    70101;
    description: "The login request reached the account service with no body.";
    fix: "Usually a proxy or filter truncating requests: try another network and a current SDK version; if it persists, contact Tencent Cloud support.";
    detect: Detect::Never("It describes a request as Tencent's server received it; the SDK builds that request, not this machine's configuration.");

    70102;
    description: "The account type in the login request is not one the account service accepts.";
    fix: "Use a current TRTC Web SDK, which fills in the account type itself; a custom or outdated login path is the likely cause.";
    detect: Detect::Never("The account type is filled in by the SDK and checked only by Tencent's server.");

    70103;
    description: "The request carried an identifier in phone-number form that the account service does not accept; TRTC logins do not normally use this form.";
    fix: "Log in with a plain userId string and a userSig rather than a phone-number identity of another account scheme.";
    detect: Detect::Never("A legacy account-system check on the server that TRTC's userId and userSig login does not exercise.");

    70104;
    description: "The request carried an identifier in e-mail form that the account service does not accept; TRTC logins do not normally use this form.";
    fix: "Log in with a plain userId (letters, digits, `_` and `-`) and a userSig; do not pass mail addresses as identities of another account scheme.";
    detect: Detect::Never("A legacy account-system check on the server that TRTC's userId and userSig login does not exercise.");

    70105;
    description: "The identifier in the request does not have the form the account service expects of a userSig-based (TLS) account.";
    fix: "Keep the userId to at most 32 bytes of letters, digits, `_` and `-`, and put exactly the same string in the userSig.";
    detect: Detect::Never("Tencent's server applies its own identifier rules; the offline check reports identifiers it can judge as 4096 INVALID_PARAMETER.");

    70106;
    description: "The request named an identifier type that the account service does not recognise.";
    fix: "Update to a current SDK and log in only with userId and userSig; do not rewrite the SDK's login request.";
    detect: Detect::Never("The identifier type is set by the SDK and judged only by Tencent's account service.");

    70107;
    description: "The account service has no record of this userId, for applications that require users to be imported before they can log in.";
    fix: "Import the user through the account-import server API, or use an application where a userSig login creates the user on first use (the TRTC default).";
    detect: Detect::Never("Which users exist is data held by Tencent's account service.");

    70113;
    description: "A batch account request contained more (or fewer) items than the account service allows in one call.";
    fix: "Split the server API call into batches within the documented size limit.";
    detect: Detect::Never("Batch account operations are server API calls made by a back end, never part of a client joining a call.");

    70114;
    description: "Tencent's security controls are blocking this request or account, for example after suspicious activity.";
    fix: "Contact Tencent Cloud support with the SDKAppID, userId and time to learn the cause and how to lift the block.";
    detect: Detect::Never("Security restrictions are decided by Tencent's servers.");

    70115;
    description: "The Tencent Cloud account (UIN) making the request is not the one that owns the application.";
    fix: "Call the API with the credentials of the Tencent Cloud account that created the SDKAppID, or have access to it granted.";
    detect: Detect::Never("Which Tencent Cloud account owns an application is server-side data.");

    70140;
    description: "The account type sent does not belong to this SDKAppID, a leftover of the legacy IM account model.";
    fix: "Leave the account type to the SDK; if a legacy configuration sets it, take both values from the same application in the console.";
    detect: Detect::Never("The pairing of account types and applications is stored and checked by Tencent's account service.");

    70145;
    description: "The account type value in the request is wrong for this kind of request.";
    fix: "Let the SDK set the account type (update to a current version) and remove any code that overrides it.";
    detect: Detect::Never("The account type is set by the SDK and judged only by Tencent's account service.");

    70169;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70201;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70202;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70203;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70204;
    description: "Tencent's account service has no account type registered for this SDKAppID, so the application's login configuration is incomplete.";
    fix: "Check that the application is fully created in the TRTC console; contact Tencent Cloud support if it dates from the legacy IM account model.";
    detect: Detect::Never("The account types registered for an application are server-side configuration.");

    70205;
    description: "Looking up the application's account type failed inside the account service, usually a passing condition.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("The lookup runs inside Tencent's account service, visible only in its reply to a real login.");

    70206;
    description: "The number of entries in a batch request is outside what the account service accepts per call.";
    fix: "Send the server API request in smaller batches that respect the documented maximum.";
    detect: Detect::Never("Batch account operations are server API calls made by a back end, never part of a client joining a call.");

    70207;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70208;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70209;
    description: "The account service could not work out which Tencent Cloud account (UIN) owns this application.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the SDKAppID so they can check the application's ownership record.";
    detect: Detect::Never("Application ownership is server-side data of Tencent Cloud.");

    70210;
    description: "The request names a Tencent Cloud account (UIN) other than the application's owner.";
    fix: "Make the request with the credentials of the Tencent Cloud account that owns the SDKAppID.";
    detect: Detect::Never("Application ownership is server-side data of Tencent Cloud.");

    70211;
    description: "The Tencent Cloud account number (UIN) in the request is malformed or unknown.";
    fix: "Take the account ID from the Tencent Cloud console's account information page and use it unchanged in the server API request.";
    detect: Detect::Never("The UIN is part of server API requests from a back end, never of a client joining a call.");

    70212;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70213;
    description: "The account service could not read its own stored data while handling the request.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal storage fault of Tencent's account service, visible only in its reply to a real login.");

    70214;
    description: "The account service's internal check of the login ticket failed.";
    fix: "Generate a new userSig and retry; if a fresh one fails too, give Tencent Cloud support the SDKAppID, userId and time.";
    detect: Detect::Never("A check inside Tencent's account service; an offline decoder reports the concrete userSig defects as 70001 to 70014 instead.");

    70221;
    description: "The session set up by an earlier login is no longer valid on the server (it lapsed or was invalidated), so requests made under it are refused.";
    fix: "Log in afresh: fetch a new userSig and call `client.join` again, leaving the room first if the client is still in it.";
    detect: Detect::Never("Login sessions live on Tencent's servers and only exist after a real login.");

    70222;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70225;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70231;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70236;
    description: "The server's check of the userSig signature failed without a more specific code.";
    fix: "Run this tool's account check on the userSig (with `TRTC_SECRET_KEY` set) to learn the precise defect, then regenerate it.";
    detect: Detect::Never("A generic server-side verdict; the offline check reports the specific cause as 70001 to 70014 instead.");

    70308;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70346;
    description: "The server rejected the login ticket (userSig) when verifying it, without a narrower reason.";
    fix: "Regenerate the userSig for this SDKAppID and userId and check it with this tool's account check before joining.";
    detect: Detect::Never("A generic server-side verdict; the offline check reports the specific cause as 70001 to 70014 instead.");

    70347;
    description: "The server's ticket check found the login ticket (userSig) out of date.";
    fix: "Issue a new userSig with a longer lifetime and make sure the clocks of the signing server and the client are correct.";
    detect: Detect::Never("The server applies its own clock to this check; offline, an expired userSig is reported as 70001 and a skewed clock as a warning.");

    70348;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70362;
    description: "A call between Tencent's internal account services did not finish in time.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("A timeout inside Tencent's account service, visible only in its reply to a real login.");

    70401;
    description: "An internal failure in Tencent's account service; nothing the client sent is implicated.";
    fix: "Retry after a few seconds; if it persists, contact Tencent Cloud support with the request time and SDKAppID.";
    detect: Detect::Never("An internal fault of Tencent's account service, visible only in its reply to a real login.");

    70402;
    description: "A request to the account service lacked a mandatory field or had a value out of range.";
    fix: "For server API calls, compare the request body with the API reference; for client logins, update the SDK and make sure SDKAppID, userId and userSig are all set.";
    detect: Detect::Never("It judges a request as Tencent's server received it; the offline check reports malformed client parameters as 4096 INVALID_PARAMETER.");

    70403;
    description: "An operation reserved for the application's administrator account was attempted by an ordinary user.";
    fix: "Perform the operation from your back end with the administrator identity and a userSig made for it.";
    detect: Detect::Never("Administrator-only operations are server API calls, not part of a user joining a call.");

    70050;
    description: "Too many failed logins in a short time made the account service lock this userId for a while.";
    fix: "Stop automatic retries with a bad userSig, fix the signature (this tool's account check says what is wrong), and wait about a minute before logging in again.";
    detect: Detect::Never("The lock is a counter kept on Tencent's servers; a check that does not log in can neither trip nor see it.");

    70051;
    description: "This account has been banned, by the application or by Tencent.";
    fix: "Check whether your back end or the console disabled this userId; if not, contact Tencent Cloud support.";
    detect: Detect::Never("Bans are server-side state of Tencent's account service.");
}

detail_codes! {
    /// Every row of the room-entry table, in published order (10006 is published without a
    /// minus sign and kept so).
    ROOM_ENTRY_CODES, DetailTable::RoomEntry, sdk::JOIN_ROOM_FAILED;

    10006;
    description: "TRTC service for this application is suspended because the Tencent Cloud account is in arrears or its package has run out.";
    fix: "Settle the bill or top up in the Tencent Cloud billing center, then confirm in the TRTC console that the application's status is back to normal.";
    detect: Detect::Never("Billing status is known only to Tencent Cloud.");

    -10011;
    description: "TRTC's server hit an error it did not classify while handling the room entry.";
    fix: "Join again after a few seconds; if it repeats, give Tencent Cloud support the SDKAppID, roomId and time of the attempt.";
    detect: Detect::Never("An internal fault on TRTC's side, visible only in the reply to a real join.");

    -10012;
    description: "The roomId is missing, or outside what TRTC accepts: a numeric roomId must be 1 to 4294967294; a string roomId needs `useStringRoomId` and at most 64 bytes of the documented characters.";
    fix: "Pass a numeric roomId from 1 to 4294967294, or create the client with `useStringRoomId: true` and keep the string roomId to 64 bytes of letters, digits and the documented symbols.";
    detect: Detect::By(&[Room]);

    -10013;
    description: "At room entry, TRTC's server refused the user's credentials (the userSig) for this room.";
    fix: "Check the userSig with this tool's account check; if it is sound, make sure it was issued for this SDKAppID and userId and is still valid at the moment of joining.";
    detect: Detect::Never("It is the room server's own verdict on the credentials; offline, a defective userSig is reported with the matching account code (70001 to 70014).");

    -10015;
    description: "TRTC could not allocate a server node to host the room.";
    fix: "Join again after a few seconds; if it persists, contact Tencent Cloud support with the SDKAppID, roomId and time.";
    detect: Detect::Never("Server allocation happens inside TRTC at join time.");

    -10016;
    description: "TRTC's server could not set up the room, for instance because the room is already at its bandwidth limit.";
    fix: "Retry; for very large rooms spread users over several roomIds or ask Tencent Cloud to raise the limit for the application.";
    detect: Detect::Never("Room creation and its bandwidth limits are decided by TRTC's servers.");

    -10018;
    description: "The application has advanced permission control switched on, and the join carried no privateMapKey, or an empty one.";
    fix: "Generate a privateMapKey on your server for this userId and roomId with the enter-room privilege and pass it as `client.join({ roomId, privateMapKey })`, or turn the feature off in the TRTC console if you do not need it.";
    detect: Detect::By(&[Room]);

    -10019;
    description: "A privateMapKey was passed to the join but does not grant entry: its signature is wrong, it has expired, it was made for another room, user or application, or it lacks the enter-room privilege bit.";
    fix: "Issue it for exactly this SDKAppID, userId and roomId (string rooms use the string-room variant of the generator), with privilege bits that include entering the room and a lifetime that covers the join.";
    detect: Detect::By(&[Room]);

    -10020;
    description: "The join request to TRTC's server got no answer in time.";
    fix: "Join again; if it repeats, check that signaling on TCP 443 is reachable and measure loss with the quality probe.";
    detect: Detect::Never("A timeout of TRTC's own room server; the signaling probe reports unreachable endpoints as 16385 instead.");
}

messages! {
    "publish timeout" => None;
    description: "The SDK's request to start publishing did not complete within its time limit: the media connection or the server's acknowledgement was too slow.";
    fix: "Call `client.publish` again after checking uplink quality; repeated timeouts point to heavy UDP loss or a path that only works over TCP 443.";
    detect: Detect::Never("Publishing happens inside a joined room; before a call there is nothing to publish to.");

    "join room timeout" => Some(sdk::JOIN_ROOM_FAILED);
    description: "`client.join` waited for the server's acknowledgement and gave up. In this tool it means our test peer did not answer a join in time.";
    fix: "Check that signaling on TCP 443 and the media ports are reachable and not slowed by a proxy, then join again.";
    detect: Detect::By(&[Webrtc, Browser]);

    "DTLS Transport connection timeout (10s)" => Some(sdk::ICE_TRANSPORT_ERROR);
    description: "ICE found a working candidate pair, but the DTLS handshake that secures the media did not finish within 10 seconds, typically because a middlebox drops large or fragmented UDP packets or filters everything that is not STUN.";
    fix: "Look at the MTU finding and allow UDP fragments or raise the MTU on VPN links; otherwise make sure TURN over TLS on TCP 443 is allowed so that media can take the relay.";
    detect: Detect::By(&[Webrtc, Browser]);

    "failed to connect to remote server via websocket" => Some(sdk::SIGNAL_CAHNNEL_SETUP_FAILED);
    description: "The SDK's WebSocket to the signaling server did not open; the evidence says whether DNS, the TCP connect, TLS, the HTTP upgrade or a proxy was at fault.";
    fix: "Allow outbound TCP 443 (and 8687 for SDKs before 4.12.0) to TRTC's signaling domains, make sure they resolve with the configured DNS, and keep TLS inspection away from them.";
    detect: Detect::By(&[Signaling, Webrtc, Browser]);

    "ICE/DTLS Transport connection failed" => Some(sdk::ICE_TRANSPORT_ERROR);
    description: "The browser's peer connection went to the failed state: connectivity checks on every candidate pair failed, or the DTLS handshake after them did.";
    fix: "Open outbound UDP 8000, 8080, 8800, 843, 443 and 16285, or at least TCP 443 with TLS for the relay; the ports and TURN findings list the paths that were blocked.";
    detect: Detect::By(&[Webrtc, Browser]);

    "previous publishing is ongoing, please avoid re-publishing" => None;
    description: "The application called `client.publish` while an earlier publish on the same client had not settled yet.";
    fix: "Await the promise of the first `client.publish` before doing anything else with that stream, and disable the publish button while it runs.";
    detect: Detect::Never("A sequencing mistake in the application's own calls; no environment check can cause or observe it.");

    "AbortError" => Some(sdk::INITIALIZE_FAILED);
    description: "The OS or the browser aborted capture for a reason that is neither permission nor a busy device, such as a driver crash or a device that vanished while being opened.";
    fix: "Reconnect the device, update its driver, restart the browser, and try the other camera or microphone; the device findings name the one that failed.";
    detect: Detect::By(&[Camera, Microphone, Browser]);

    "NotReadableError" => Some(sdk::INITIALIZE_FAILED);
    description: "The device exists and access was granted, but it could not be opened, most often because another program (Zoom, Teams, OBS, another tab) holds it exclusively, sometimes because of a hardware or driver fault.";
    fix: "Close the other programs using the camera or microphone and try again, or reboot; on Windows, the camera and microphone privacy pages list the apps that used the device recently.";
    detect: Detect::By(&[Camera, Microphone, Browser]);

    "NotFoundError" => Some(sdk::DEVICE_NOT_FOUND);
    description: "`getUserMedia` found no input of the requested kind: no microphone, no camera, or no screen or window source to share.";
    fix: "Plug in or enable the camera or microphone, check it is not disabled in the firmware settings or device manager, and request no video in audio-only applications.";
    detect: Detect::By(&[Camera, Microphone, Browser]);

    "NotAllowedError" => Some(sdk::INITIALIZE_FAILED);
    description: "Access to the camera or microphone was refused: the user clicked Block, a browser or enterprise policy denies it, the page is not a secure context, or the OS privacy settings (macOS Privacy & Security, Windows Privacy) bar the browser.";
    fix: "Allow camera and microphone for the site in the browser's site settings and for the browser in the OS privacy settings, then reload; tell users why the prompt matters before it appears.";
    detect: Detect::By(&[Camera, Microphone, Environment, Browser]);

    "SignalChannel reconnect failed" => Some(sdk::SIGNAL_CHANNEL_RECONNECTION_FAILED);
    description: "The SDK lost its signaling WebSocket and every attempt to reopen it failed.";
    fix: "Keep TCP 443 to TRTC's signaling domains open and stable (no idle cut-off of less than a few minutes, no VPN switching), then join the room again.";
    detect: Detect::By(&[Signaling]);

    "duplicate publishing, please unpublish and then re-publish" => None;
    description: "`client.publish` was called for a stream that this client is already sending.";
    fix: "Call `client.unpublish` before publishing a different stream, and track state in the application so the same stream is published once.";
    detect: Detect::Never("Application code calling publish twice; it has nothing to do with the machine or the network.");

    "OverconstrainedError" => Some(sdk::INITIALIZE_FAILED);
    description: "No device can satisfy the requested constraints: a `cameraId` or `microphoneId` that does not exist (often stale after a device change), or a resolution or frame rate the camera does not offer.";
    fix: "List devices with `TRTC.getCameras()` and `TRTC.getMicrophones()` and pass an ID from that list, and pick a video profile the camera supports.";
    detect: Detect::By(&[Camera, Microphone, Browser]);

    "RtcError: no valid ice candidate found" => Some(sdk::ICE_TRANSPORT_ERROR);
    description: "The browser gathered no candidate that can reach TRTC's media servers: no STUN answer over UDP and no relay over TCP or TLS. No media path exists.";
    fix: "Open outbound UDP to TRTC's media ports (8000, 8080, 8800, 843, 443, 16285), or at least outbound TCP 443 with TLS to TRTC's relays; the ports finding lists each blocked one.";
    detect: Detect::By(&[Stun, Ports, Turn, Browser]);
}
