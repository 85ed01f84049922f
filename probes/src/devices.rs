//! What the camera and microphone probes share: the class of a device error, the OS error behind
//! it (a table of Linux errno names and of macOS and Windows status codes, as data), which
//! program holds a busy device (Linux: `/proc/*/fd`), how `--camera`/`--microphone ID|NAME`
//! picks a device, and the inventory the `devices` command prints.
//!
//! Backends report failures as text (nokhwa and cpal keep the OS error only in their messages,
//! e.g. `Device or resource busy (os error 16)`), so [`DeviceError::from_text`] looks for the OS
//! code in the text (`(os error N)`, an `HRESULT` such as `0x8889000A`, an `NSError`'s
//! `Code=-11852`) and classes it with [`OS_ERRORS`]; where no code is found the backend's own
//! class stands.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong with a device, in the classes getUserMedia's DOMExceptions distinguish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// No such device.
    NotFound,
    /// The OS refused access (file permissions, privacy settings).
    Denied,
    /// Another program holds it.
    Busy,
    /// It was there and failed: it vanished while being opened, or the driver failed.
    Failed,
    /// The format or configuration asked for is not offered.
    Unsupported,
    /// No capture subsystem at all (no sound server and no driver, a service not running).
    NoSubsystem,
    /// None of the above.
    Other,
}

impl Cause {
    /// A short name for metrics (`not_found`, `denied`, `busy`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::NotFound => "not_found",
            Cause::Denied => "denied",
            Cause::Busy => "busy",
            Cause::Failed => "failed",
            Cause::Unsupported => "unsupported",
            Cause::NoSubsystem => "no_subsystem",
            Cause::Other => "other",
        }
    }
}

/// The operating systems whose error codes the table knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    /// errno values (Linux numbering).
    Linux,
    /// AVFoundation `AVError` codes and CoreAudio `OSStatus` four-character codes.
    MacOs,
    /// `HRESULT`s of Media Foundation, WASAPI and Win32.
    Windows,
}

impl Platform {
    /// The platform this build runs on, if the table knows it.
    pub fn current() -> Option<Platform> {
        match std::env::consts::OS {
            "linux" | "android" => Some(Platform::Linux),
            "macos" | "ios" => Some(Platform::MacOs),
            "windows" => Some(Platform::Windows),
            _ => None,
        }
    }
}

/// One OS error code the probes recognise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OsError {
    /// Whose code it is.
    pub platform: Platform,
    /// The code (an errno, an `OSStatus`, an `HRESULT` as an unsigned 32-bit value).
    pub code: i64,
    /// Its symbolic name (`EBUSY`, `AUDCLNT_E_DEVICE_IN_USE`, ...).
    pub name: &'static str,
    /// Its class.
    pub cause: Cause,
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.platform {
            Platform::Windows => write!(f, "{} (0x{:08X})", self.name, self.code),
            _ => write!(f, "{} ({})", self.name, self.code),
        }
    }
}

/// A CoreAudio `OSStatus` four-character code as its number.
const fn four_cc(code: &[u8; 4]) -> i64 {
    u32::from_be_bytes(*code) as i64
}

const fn os(platform: Platform, code: i64, name: &'static str, cause: Cause) -> OsError {
    OsError {
        platform,
        code,
        name,
        cause,
    }
}

use Cause::{Busy, Denied, Failed, NoSubsystem, NotFound, Unsupported};
use Platform::{Linux, MacOs, Windows};

/// The OS errors a device open or capture can end with, and what each means for a call.
pub const OS_ERRORS: &[OsError] = &[
    // Linux errno (open(2) on /dev/videoN and /dev/snd/*, V4L2 ioctls, ALSA).
    os(Linux, 1, "EPERM", Denied),
    os(Linux, 2, "ENOENT", NotFound),
    os(Linux, 5, "EIO", Failed),
    os(Linux, 6, "ENXIO", NotFound),
    os(Linux, 13, "EACCES", Denied),
    os(Linux, 16, "EBUSY", Busy),
    // The node exists, its device does not: unplugged, or the driver let go of it.
    os(Linux, 19, "ENODEV", Failed),
    // A format or parameter the driver refuses.
    os(Linux, 22, "EINVAL", Unsupported),
    // V4L2 STREAMON: not enough USB bandwidth left by the other devices on the bus.
    os(Linux, 28, "ENOSPC", Busy),
    os(Linux, 32, "EPIPE", Failed),
    os(Linux, 110, "ETIMEDOUT", Failed),
    // A sound server's socket that nobody listens on.
    os(Linux, 111, "ECONNREFUSED", NoSubsystem),
    // macOS: AVFoundation (AVError) for cameras.
    os(
        MacOs,
        -11852,
        "AVErrorApplicationIsNotAuthorizedToUseDevice",
        Denied,
    ),
    os(
        MacOs,
        -11804,
        "AVErrorDeviceAlreadyUsedByAnotherSession",
        Busy,
    ),
    os(
        MacOs,
        -11815,
        "AVErrorDeviceInUseByAnotherApplication",
        Busy,
    ),
    os(
        MacOs,
        -11817,
        "AVErrorDeviceLockedForConfigurationByAnotherProcess",
        Busy,
    ),
    os(MacOs, -11814, "AVErrorDeviceNotConnected", NotFound),
    os(MacOs, -11808, "AVErrorDeviceWasDisconnected", Failed),
    os(MacOs, -11805, "AVErrorNoDataCaptured", Failed),
    // macOS: CoreAudio OSStatus for microphones.
    os(
        MacOs,
        four_cc(b"!dev"),
        "kAudioHardwareBadDeviceError",
        NotFound,
    ),
    os(
        MacOs,
        four_cc(b"!hog"),
        "kAudioDevicePermissionsError",
        Busy,
    ),
    os(
        MacOs,
        four_cc(b"stop"),
        "kAudioHardwareNotRunningError",
        NoSubsystem,
    ),
    os(
        MacOs,
        four_cc(b"!dat"),
        "kAudioDeviceUnsupportedFormatError",
        Unsupported,
    ),
    // Windows: Win32 errors as HRESULTs.
    os(Windows, 0x8007_0005, "E_ACCESSDENIED", Denied),
    os(Windows, 0x8007_0002, "ERROR_FILE_NOT_FOUND", NotFound),
    os(Windows, 0x8007_0020, "ERROR_SHARING_VIOLATION", Busy),
    os(Windows, 0x8007_0490, "ERROR_NOT_FOUND", NotFound),
    // Windows: Media Foundation (cameras).
    os(
        Windows,
        0xC00D_3704,
        "MF_E_HW_MFT_FAILED_START_STREAMING",
        Busy,
    ),
    os(
        Windows,
        0xC00D_ABE0,
        "MF_E_NO_CAPTURE_DEVICES_AVAILABLE",
        NotFound,
    ),
    os(
        Windows,
        0xC00D_ABE1,
        "MF_E_VIDEO_RECORDING_DEVICE_INVALIDATED",
        Failed,
    ),
    os(
        Windows,
        0xC00D_ABE2,
        "MF_E_VIDEO_RECORDING_DEVICE_PREEMPTED",
        Busy,
    ),
    os(Windows, 0xC00D_36B4, "MF_E_INVALIDMEDIATYPE", Unsupported),
    // Windows: WASAPI (microphones).
    os(Windows, 0x8889_0004, "AUDCLNT_E_DEVICE_INVALIDATED", Failed),
    os(
        Windows,
        0x8889_0008,
        "AUDCLNT_E_UNSUPPORTED_FORMAT",
        Unsupported,
    ),
    os(Windows, 0x8889_000A, "AUDCLNT_E_DEVICE_IN_USE", Busy),
    os(
        Windows,
        0x8889_0010,
        "AUDCLNT_E_SERVICE_NOT_RUNNING",
        NoSubsystem,
    ),
];

/// The table's entry for `code` on `platform`.
pub fn os_error(platform: Platform, code: i64) -> Option<&'static OsError> {
    OS_ERRORS
        .iter()
        .find(|entry| entry.platform == platform && entry.code == code)
}

/// The OS error code a backend's message carries, for `platform`: `(os error N)` (Rust's
/// `io::Error`) or `errno N` on Linux and macOS, `Code=-11852` (an `NSError`) or an `OSStatus`
/// on macOS, `0xXXXXXXXX` (an `HRESULT`) on Windows.
pub fn code_in(platform: Platform, text: &str) -> Option<i64> {
    let number_after = |marker: &str| -> Option<i64> {
        let start = text.find(marker)? + marker.len();
        let rest = text[start..].trim_start();
        let end = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
            .map_or(rest.len(), |(i, _)| i);
        rest[..end].parse().ok()
    };
    match platform {
        Platform::Linux => number_after("(os error ").or_else(|| number_after("errno ")),
        Platform::MacOs => number_after("Code=")
            .or_else(|| number_after("OSStatus "))
            .or_else(|| number_after("(os error ")),
        Platform::Windows => {
            let lower = text.to_ascii_lowercase();
            let mut from = 0;
            while let Some(at) = lower[from..].find("0x") {
                let start = from + at + 2;
                let digits: String = lower[start..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                if digits.len() == 8 {
                    return i64::from_str_radix(&digits, 16).ok();
                }
                from = start;
            }
            number_after("(os error ").map(|code| {
                // A Win32 error code from io::Error, as the HRESULT Windows reports it with.
                if code > 0 && code < 0x1_0000 {
                    0x8007_0000 | code
                } else {
                    code
                }
            })
        }
    }
}

/// The OS error a backend's message carries for `platform`: its code (see [`code_in`]), else
/// one of the table's names written out (ALSA says `EBUSY: Device or resource busy`, Windows
/// code may print `AUDCLNT_E_DEVICE_IN_USE`).
pub fn os_error_in(platform: Platform, text: &str) -> Option<&'static OsError> {
    if let Some(entry) = code_in(platform, text).and_then(|code| os_error(platform, code)) {
        return Some(entry);
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    OS_ERRORS
        .iter()
        .filter(|entry| entry.platform == platform)
        .find(|entry| {
            text.match_indices(entry.name).any(|(at, _)| {
                let before = text[..at].chars().next_back();
                let after = text[at + entry.name.len()..].chars().next();
                !before.is_some_and(word) && !after.is_some_and(word)
            })
        })
}

/// Where in opening and using a device a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Listing devices (or reaching the subsystem that lists them).
    List,
    /// Opening the device.
    Open,
    /// Setting the format.
    Configure,
    /// Starting the stream.
    Start,
    /// Reading from the running stream.
    Capture,
}

impl Stage {
    /// A short name for metrics and evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::List => "list",
            Stage::Open => "open",
            Stage::Configure => "configure",
            Stage::Start => "start",
            Stage::Capture => "capture",
        }
    }
}

/// A device failure: where, its class, the OS error behind it when one is known, and the
/// backend's own words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceError {
    /// Where it happened.
    pub stage: Stage,
    /// Its class.
    pub cause: Cause,
    /// The OS error the message carried, when the table knows it.
    pub os: Option<OsError>,
    /// The device node or id it concerns, when known (`/dev/video0`).
    pub device: Option<String>,
    /// The backend's message.
    pub message: String,
}

impl DeviceError {
    /// An error of a known class with no OS code.
    pub fn new(stage: Stage, cause: Cause, message: impl Into<String>) -> DeviceError {
        DeviceError {
            stage,
            cause,
            os: None,
            device: None,
            message: message.into(),
        }
    }

    /// An error from a backend's message: the OS code in it, when the table knows it, sets the
    /// class; otherwise `fallback` does.
    pub fn from_text(stage: Stage, message: impl Into<String>, fallback: Cause) -> DeviceError {
        let message = message.into();
        let os = Platform::current()
            .and_then(|platform| os_error_in(platform, &message))
            .copied();
        DeviceError {
            stage,
            cause: os.map_or(fallback, |os| os.cause),
            os,
            device: None,
            message,
        }
    }

    /// The same error, about `device`.
    pub fn on(mut self, device: impl Into<String>) -> DeviceError {
        self.device = Some(device.into());
        self
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.stage.as_str())?;
        if let Some(device) = &self.device {
            write!(f, " on {device}")?;
        }
        if let Some(os) = &self.os {
            write!(f, " with {}", os.name)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A process that has a device open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Its name (`/proc/PID/comm`), or `?` when unreadable.
    pub name: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (pid {})", self.name, self.pid)
    }
}

/// The processes other than this one with `device` open, found through `proc_root`
/// (`/proc` in production): each `PID/fd/*` link that points at it. Processes whose
/// descriptors this user may not read are passed over; the second value counts them.
pub fn holders(proc_root: &Path, device: &Path) -> (Vec<Holder>, usize) {
    let own = std::process::id();
    let mut found = Vec::new();
    let mut unreadable = 0;
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return (found, unreadable);
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            unreadable += 1;
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == device));
        if holds {
            let name = std::fs::read_to_string(entry.path().join("comm"))
                .map_or_else(|_| "?".to_string(), |name| name.trim().to_string());
            found.push(Holder { pid, name });
        }
    }
    found.sort_by_key(|holder| holder.pid);
    (found, unreadable)
}

/// How `--camera`/`--microphone ID|NAME` picked a device from a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// This index into the list.
    Found(usize),
    /// Nothing matched.
    NoMatch,
    /// The text is part of several names; these indices.
    Ambiguous(Vec<usize>),
}

/// Picks a device by `wanted`: an exact id (or one of `aliases`, such as `/dev/video0`), else
/// an exact name (any case), else the one name that contains it (any case).
pub fn select<'a>(
    wanted: &str,
    devices: impl Iterator<Item = (&'a str, &'a str, Option<&'a Path>)> + Clone,
) -> Selection {
    let wanted_path = PathBuf::from(wanted);
    if let Some(index) = devices
        .clone()
        .position(|(id, _, path)| id == wanted || path == Some(wanted_path.as_path()))
    {
        return Selection::Found(index);
    }
    if let Some(index) = devices
        .clone()
        .position(|(_, name, _)| name.eq_ignore_ascii_case(wanted))
    {
        return Selection::Found(index);
    }
    let lower = wanted.to_lowercase();
    let partial: Vec<usize> = devices
        .enumerate()
        .filter(|(_, (_, name, _))| name.to_lowercase().contains(&lower))
        .map(|(index, _)| index)
        .collect();
    match partial.as_slice() {
        [] => Selection::NoMatch,
        [one] => Selection::Found(*one),
        _ => Selection::Ambiguous(partial),
    }
}

/// Every camera and microphone the OS offers (the `devices` command).
#[derive(Clone, Debug)]
pub struct Inventory {
    /// The camera API used (`Video4Linux`, `AVFoundation`, `MediaFoundation`).
    pub camera_api: String,
    /// The cameras, or why they could not be listed.
    pub cameras: Result<Vec<crate::camera::CameraInfo>, DeviceError>,
    /// The audio host used (`PulseAudio`, `ALSA`, `CoreAudio`, `WASAPI`).
    pub audio_host: String,
    /// What was tried before that host, and why it was not used.
    pub audio_notes: Vec<String>,
    /// The microphones, or why they could not be listed.
    pub microphones: Result<Vec<crate::microphone::MicrophoneInfo>, DeviceError>,
}

/// Lists every camera and microphone through these backends.
pub fn inventory(
    cameras: &dyn crate::camera::CameraBackend,
    microphones: &dyn crate::microphone::MicrophoneBackend,
) -> Inventory {
    let listed_microphones = microphones.microphones();
    Inventory {
        camera_api: cameras.api(),
        cameras: cameras.cameras(),
        audio_host: microphones.host(),
        audio_notes: microphones.notes(),
        microphones: listed_microphones,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (platform, message as a backend prints it, class, OS name).
    const CASES: &[(Platform, &str, Cause, &str)] = &[
        (
            Linux,
            "Could not open device 0: V4L2 Error: Permission denied (os error 13)",
            Denied,
            "EACCES",
        ),
        (
            Linux,
            "Could not set device property FrameFormat: Device or resource busy (os error 16)",
            Busy,
            "EBUSY",
        ),
        (
            Linux,
            "V4L2 Error: No such file or directory (os error 2)",
            NotFound,
            "ENOENT",
        ),
        (
            Linux,
            "V4L2 Error: No such device (os error 19)",
            Failed,
            "ENODEV",
        ),
        (
            Linux,
            "Operation not permitted (os error 1)",
            Denied,
            "EPERM",
        ),
        (Linux, "VIDIOC_STREAMON: errno 28", Busy, "ENOSPC"),
        (
            Linux,
            "Invalid argument (os error 22)",
            Unsupported,
            "EINVAL",
        ),
        (
            MacOs,
            "Error Domain=AVFoundationErrorDomain Code=-11852 \"Cannot use FaceTime HD Camera\"",
            Denied,
            "AVErrorApplicationIsNotAuthorizedToUseDevice",
        ),
        (
            MacOs,
            "Error Domain=AVFoundationErrorDomain Code=-11815",
            Busy,
            "AVErrorDeviceInUseByAnotherApplication",
        ),
        (
            MacOs,
            "Error Domain=AVFoundationErrorDomain Code=-11814",
            NotFound,
            "AVErrorDeviceNotConnected",
        ),
        (
            MacOs,
            "AudioUnitInitialize: OSStatus 560492391",
            Busy,
            "kAudioDevicePermissionsError",
        ),
        (
            MacOs,
            "OSStatus 560227702",
            NotFound,
            "kAudioHardwareBadDeviceError",
        ),
        (
            Windows,
            "IAudioClient::Initialize failed: 0x8889000A",
            Busy,
            "AUDCLNT_E_DEVICE_IN_USE",
        ),
        (
            Windows,
            "ReadSample: HRESULT 0xc00d3704",
            Busy,
            "MF_E_HW_MFT_FAILED_START_STREAMING",
        ),
        (
            Windows,
            "Access is denied. (os error 5)",
            Denied,
            "E_ACCESSDENIED",
        ),
        (
            Windows,
            "0xC00DABE0: no capture devices are available",
            NotFound,
            "MF_E_NO_CAPTURE_DEVICES_AVAILABLE",
        ),
        (
            Windows,
            "AUDCLNT_E_DEVICE_INVALIDATED (0x88890004)",
            Failed,
            "AUDCLNT_E_DEVICE_INVALIDATED",
        ),
    ];

    #[test]
    fn os_errors_in_backend_messages_are_classed_by_the_table() {
        for (platform, text, cause, name) in CASES {
            let code = code_in(*platform, text).unwrap_or_else(|| panic!("no code in {text:?}"));
            let entry = os_error(*platform, code).unwrap_or_else(|| panic!("{code} not in table"));
            assert_eq!((entry.cause, entry.name), (*cause, *name), "{text:?}");
        }
    }

    #[test]
    fn os_error_names_written_out_are_recognised_as_whole_words() {
        let alsa =
            "ALSA function 'snd_pcm_open' failed with error 'EBUSY: Device or resource busy'";
        assert_eq!(os_error_in(Linux, alsa).map(|e| e.cause), Some(Busy));
        assert_eq!(
            os_error_in(Windows, "Initialize: AUDCLNT_E_DEVICE_IN_USE").map(|e| e.code),
            Some(0x8889_000A)
        );
        // Not inside another word, and not another platform's name.
        assert_eq!(os_error_in(Linux, "XEBUSY or EBUSYX"), None);
        assert_eq!(os_error_in(MacOs, alsa), None);
    }

    #[test]
    fn the_table_has_one_entry_per_code_and_the_four_cc_codes_are_right() {
        for (i, a) in OS_ERRORS.iter().enumerate() {
            for b in &OS_ERRORS[i + 1..] {
                assert!(
                    !(a.platform == b.platform && a.code == b.code),
                    "{a:?} and {b:?}"
                );
            }
        }
        // '!hog' = 0x21686F67.
        assert_eq!(four_cc(b"!hog"), 0x2168_6F67);
        assert_eq!(
            os_error(Windows, 0x8889_000A).unwrap().to_string(),
            "AUDCLNT_E_DEVICE_IN_USE (0x8889000A)"
        );
        assert_eq!(os_error(Linux, 16).unwrap().to_string(), "EBUSY (16)");
    }

    #[test]
    fn messages_without_a_known_code_keep_the_backend_class() {
        assert_eq!(code_in(Linux, "stream timed out"), None);
        let error = DeviceError::from_text(Stage::Capture, "stream timed out", Failed);
        assert_eq!((error.cause, error.os), (Failed, None));
        // A code the table does not know leaves the class alone too.
        let error = DeviceError::from_text(Stage::Open, "odd (os error 9999)", Cause::Other);
        assert_eq!(error.cause, Cause::Other);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_linux_message_gets_its_errno_class_and_name() {
        let error = DeviceError::from_text(
            Stage::Open,
            "Could not open device 0: V4L2 Error: Device or resource busy (os error 16)",
            Cause::Other,
        )
        .on("/dev/video0");
        assert_eq!(error.cause, Busy);
        assert_eq!(error.os.map(|os| os.name), Some("EBUSY"));
        assert!(error
            .to_string()
            .starts_with("open failed on /dev/video0 with EBUSY: "));
    }

    #[test]
    fn select_by_id_path_name_or_a_unique_part_of_a_name() {
        let list = [
            ("0", "Integrated Camera", Some(Path::new("/dev/video0"))),
            ("2", "Logitech C920", Some(Path::new("/dev/video2"))),
            ("3", "Logitech Brio", Some(Path::new("/dev/video3"))),
        ];
        let pick = |wanted: &str| select(wanted, list.iter().copied());
        assert_eq!(pick("2"), Selection::Found(1));
        assert_eq!(pick("/dev/video3"), Selection::Found(2));
        assert_eq!(pick("integrated camera"), Selection::Found(0));
        assert_eq!(pick("c920"), Selection::Found(1));
        assert_eq!(pick("logitech"), Selection::Ambiguous(vec![1, 2]));
        assert_eq!(pick("7"), Selection::NoMatch);
    }

    #[cfg(unix)]
    #[test]
    fn holders_are_the_processes_with_a_link_to_the_device() {
        let root = tempfile::tempdir().unwrap();
        let make = |pid: &str, name: &str, links: &[&str]| {
            let fd = root.path().join(pid).join("fd");
            std::fs::create_dir_all(&fd).unwrap();
            std::fs::write(root.path().join(pid).join("comm"), format!("{name}\n")).unwrap();
            for (n, target) in links.iter().enumerate() {
                std::os::unix::fs::symlink(target, fd.join(n.to_string())).unwrap();
            }
        };
        make("4242", "zoom", &["/dev/null", "/dev/video0"]);
        make("77", "obs", &["/dev/video0"]);
        make("99", "firefox", &["/dev/video2"]);
        std::fs::create_dir_all(root.path().join("self")).unwrap();
        std::fs::create_dir_all(root.path().join("500")).unwrap(); // no fd folder: unreadable
        let (found, unreadable) = holders(root.path(), Path::new("/dev/video0"));
        assert_eq!(
            found,
            [
                Holder {
                    pid: 77,
                    name: "obs".into()
                },
                Holder {
                    pid: 4242,
                    name: "zoom".into()
                }
            ]
        );
        assert_eq!(unreadable, 1);
        assert_eq!(found[1].to_string(), "zoom (pid 4242)");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn holders_finds_a_real_process_holding_a_file_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("device");
        std::fs::write(&file, b"").unwrap();
        // A child that holds the file open on descriptor 3, says so, and waits for its standard
        // input to close.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3<\"$0\"; echo ready; read _")
            .arg(&file)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "ready\n");
        let (found, _) = holders(Path::new("/proc"), &file);
        drop(child.stdin.take());
        let _ = child.wait();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, pid);
        assert_eq!(found[0].name, "sh");
    }
}
