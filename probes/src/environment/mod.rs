//! The `environment` probe: the OS; whether an audio and a video capture subsystem exist; on
//! Linux, whether this user can really open each capture device node (an `open(2)`, not a
//! guess from group membership); and the browsers' managed policies that bear on calls
//! ([`policies`]).
//!
//! | OS | audio capture subsystem | video capture subsystem |
//! |---|---|---|
//! | Linux | ALSA in the kernel (`/proc/asound`) or a sound server's socket (PulseAudio, PipeWire) | V4L2 in the kernel (`/sys/class/video4linux`) |
//! | macOS | CoreAudio (always) | AVFoundation (always) |
//! | Windows | WASAPI (always) | Media Foundation (`mfplat.dll`; Windows "N" editions lack it) |
//!
//! Every path is read under [`Settings::root`] (`/` in production), so tests lay out their own
//! machine in a folder.

pub mod policies;

use std::path::{Path, PathBuf};

use crate::devices::{self, DeviceError, Holder, Stage};
pub use policies::{Policy, Unreadable};

/// What the probe reads, and where.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The OS (`linux`, `macos`, `windows`): which rules and places apply.
    pub os: String,
    /// Every path is under this folder.
    pub root: PathBuf,
    /// `PULSE_SERVER`.
    pub pulse_server: Option<String>,
    /// `XDG_RUNTIME_DIR`, where sound servers put their sockets.
    pub runtime_dir: Option<PathBuf>,
    /// `SystemRoot` (Windows).
    pub system_root: Option<PathBuf>,
    /// The macOS account whose own managed preferences count too.
    pub user: Option<String>,
    /// Runs `plutil` (macOS) and `reg` (Windows).
    pub runner: policies::Runner,
}

impl Settings {
    /// This machine, as the process sees it.
    pub fn from_process() -> Settings {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Settings {
            os: std::env::consts::OS.to_string(),
            root: PathBuf::from("/"),
            pulse_server: var("PULSE_SERVER"),
            runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            system_root: var("SystemRoot").map(PathBuf::from),
            user: var("USER"),
            runner: policies::run_command,
        }
    }
}

/// The OS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsInfo {
    /// `linux`, `macos`, `windows`, ...
    pub family: String,
    /// The distribution or product name (`Debian GNU/Linux 12 (bookworm)`), when known.
    pub name: Option<String>,
    /// The kernel release (Linux), when known.
    pub kernel: Option<String>,
    /// The CPU architecture.
    pub arch: String,
}

/// Whether a capture subsystem exists, and what shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subsystem {
    /// Whether capture of this kind can work at all.
    pub present: bool,
    /// What was found (`ALSA in the kernel (/proc/asound), 1 card`).
    pub found: Vec<String>,
    /// What was looked for and is not there.
    pub missing: Vec<String>,
}

/// What a device node is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// `/dev/videoN`.
    Video,
    /// `/dev/snd/pcmCxDyc`.
    AudioCapture,
}

/// Whether this user could open a device node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAccess {
    /// The node.
    pub path: PathBuf,
    /// What it is for.
    pub kind: NodeKind,
    /// `None` when it opened; else why not.
    pub error: Option<DeviceError>,
    /// Its permission bits (`0o660`).
    pub mode: Option<u32>,
    /// Its group's name (`video`, `audio`), else its number.
    pub group: Option<String>,
    /// For a busy node: the processes that have it open.
    pub holders: Vec<Holder>,
}

/// What the probe saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The OS.
    pub os: OsInfo,
    /// Audio capture.
    pub audio: Subsystem,
    /// Video capture.
    pub video: Subsystem,
    /// Capture device nodes and whether they opened (Linux).
    pub nodes: Vec<NodeAccess>,
    /// Managed browser policies that bear on calls.
    pub policies: Vec<Policy>,
    /// Policy files or keys that exist and could not be read.
    pub unreadable: Vec<Unreadable>,
}

/// Runs the probe (file reads and short opens; a few milliseconds).
pub fn probe(settings: &Settings) -> Observation {
    let root = settings.root.as_path();
    let os = os_info(settings);
    let (audio, video, nodes) = match settings.os.as_str() {
        "linux" | "android" => (linux_audio(settings), linux_video(root), linux_nodes(root)),
        "macos" => (always("CoreAudio"), always("AVFoundation"), Vec::new()),
        "windows" => (
            always("WASAPI"),
            windows_video(settings.system_root.as_deref()),
            Vec::new(),
        ),
        other => (
            unknown(other, "audio capture"),
            unknown(other, "video capture"),
            Vec::new(),
        ),
    };
    let users: Vec<String> = settings.user.iter().cloned().collect();
    let sources = policies::sources(&settings.os, root, &users);
    let (policies, unreadable) = policies::read(&sources, settings.runner);
    Observation {
        os,
        audio,
        video,
        nodes,
        policies,
        unreadable,
    }
}

fn always(what: &str) -> Subsystem {
    Subsystem {
        present: true,
        found: vec![format!("{what} (part of the OS)")],
        missing: Vec::new(),
    }
}

fn unknown(os: &str, what: &str) -> Subsystem {
    Subsystem {
        present: false,
        found: Vec::new(),
        missing: vec![format!("a {what} API this tool knows on {os}")],
    }
}

fn os_info(settings: &Settings) -> OsInfo {
    let root = settings.root.as_path();
    let name = match settings.os.as_str() {
        "linux" => ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .find_map(|file| std::fs::read_to_string(root.join(file)).ok())
            .and_then(|text| {
                text.lines().find_map(|line| {
                    line.strip_prefix("PRETTY_NAME=")
                        .map(|value| value.trim().trim_matches('"').to_string())
                })
            }),
        _ => None,
    };
    let kernel = std::fs::read_to_string(root.join("proc/sys/kernel/osrelease"))
        .ok()
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    OsInfo {
        family: settings.os.clone(),
        name,
        kernel,
        arch: std::env::consts::ARCH.to_string(),
    }
}

fn linux_audio(settings: &Settings) -> Subsystem {
    let root = settings.root.as_path();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let asound = root.join("proc/asound");
    if asound.is_dir() {
        let cards = std::fs::read_to_string(asound.join("cards"))
            .map(|text| {
                text.lines()
                    .filter(|line| {
                        line.trim_start().starts_with(|c: char| c.is_ascii_digit())
                            && line.contains("]:")
                    })
                    .count()
            })
            .unwrap_or(0);
        found.push(format!(
            "ALSA in the kernel (/proc/asound), {cards} sound card{}",
            if cards == 1 { "" } else { "s" }
        ));
    } else {
        missing.push("ALSA in the kernel (no /proc/asound)".to_string());
    }
    let mut sockets: Vec<(String, PathBuf)> = Vec::new();
    if let Some(path) = settings
        .pulse_server
        .as_deref()
        .and_then(|server| server.strip_prefix("unix:"))
    {
        sockets.push(("PulseAudio (PULSE_SERVER)".into(), PathBuf::from(path)));
    }
    if let Some(runtime) = &settings.runtime_dir {
        sockets.push(("PulseAudio".into(), runtime.join("pulse/native")));
        sockets.push(("PipeWire".into(), runtime.join("pipewire-0")));
    }
    let mut server = false;
    for (name, path) in &sockets {
        if path.exists() {
            server = true;
            found.push(format!("{name} socket {}", path.display()));
        }
    }
    if !server {
        missing.push(if sockets.is_empty() {
            "a sound server (PULSE_SERVER and XDG_RUNTIME_DIR are unset)".to_string()
        } else {
            format!(
                "a sound server socket ({})",
                sockets
                    .iter()
                    .map(|(_, path)| path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }
    Subsystem {
        present: !found.is_empty(),
        found,
        missing,
    }
}

fn linux_video(root: &Path) -> Subsystem {
    let class = root.join("sys/class/video4linux");
    if class.is_dir() {
        let nodes = std::fs::read_dir(&class).map_or(0, |entries| entries.count());
        Subsystem {
            present: true,
            found: vec![format!(
                "V4L2 in the kernel (/sys/class/video4linux), {nodes} node{}",
                if nodes == 1 { "" } else { "s" }
            )],
            missing: Vec::new(),
        }
    } else {
        Subsystem {
            present: false,
            found: Vec::new(),
            missing: vec![
                "V4L2 in the kernel (no /sys/class/video4linux: the videodev module is not loaded)"
                    .to_string(),
            ],
        }
    }
}

/// Media Foundation, which Windows "N" editions ship without.
pub fn windows_video(system_root: Option<&Path>) -> Subsystem {
    let Some(system_root) = system_root else {
        return Subsystem {
            present: true,
            found: vec!["Media Foundation (assumed: SystemRoot is unset)".to_string()],
            missing: Vec::new(),
        };
    };
    let dll = system_root.join("System32").join("mfplat.dll");
    if dll.exists() {
        Subsystem {
            present: true,
            found: vec![format!("Media Foundation ({})", dll.display())],
            missing: Vec::new(),
        }
    } else {
        Subsystem {
            present: false,
            found: Vec::new(),
            missing: vec![format!(
                "Media Foundation ({} is missing: a Windows \"N\" edition without the Media Feature Pack)",
                dll.display()
            )],
        }
    }
}

/// Opens each capture node for reading and writing, without blocking, and closes it again.
#[cfg(not(unix))]
fn linux_nodes(_root: &Path) -> Vec<NodeAccess> {
    Vec::new()
}

/// Opens each capture node for reading and writing, without blocking, and closes it again.
#[cfg(unix)]
fn linux_nodes(root: &Path) -> Vec<NodeAccess> {
    let mut nodes = Vec::new();
    let dev = root.join("dev");
    let mut candidates: Vec<(PathBuf, NodeKind)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dev) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("video") && name[5..].chars().all(|c| c.is_ascii_digit()) {
                candidates.push((entry.path(), NodeKind::Video));
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(dev.join("snd")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("pcmC") && name.ends_with('c') {
                candidates.push((entry.path(), NodeKind::AudioCapture));
            }
        }
    }
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    let groups = std::fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    for (path, kind) in candidates {
        nodes.push(open_node(root, &path, kind, &groups));
    }
    nodes
}

#[cfg(unix)]
fn open_node(root: &Path, path: &Path, kind: NodeKind, groups: &str) -> NodeAccess {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let metadata = std::fs::metadata(path).ok();
    let mode = metadata.as_ref().map(|metadata| metadata.mode() & 0o7777);
    let group = metadata.as_ref().map(|metadata| {
        let gid = metadata.gid();
        groups
            .lines()
            .find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let number = fields.nth(1)?.parse::<u32>().ok()?;
                (number == gid).then(|| name.to_string())
            })
            .unwrap_or_else(|| gid.to_string())
    });
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nonblocking())
        .open(path);
    let shown = path.display().to_string();
    let error = opened.err().map(|error| {
        DeviceError::from_text(Stage::Open, format!("{error}"), devices::Cause::Other)
            .on(shown.clone())
    });
    let holders = match &error {
        Some(error) if error.cause == devices::Cause::Busy => {
            devices::holders(&root.join("proc"), path).0
        }
        _ => Vec::new(),
    };
    NodeAccess {
        path: path.to_path_buf(),
        kind,
        error,
        mode,
        group,
        holders,
    }
}

/// `O_NONBLOCK`: an ALSA device opened without it waits while another program has it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn nonblocking() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
fn nonblocking() -> i32 {
    0
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    fn settings(root: &Path) -> Settings {
        Settings {
            os: "linux".into(),
            root: root.to_path_buf(),
            pulse_server: None,
            runtime_dir: None,
            system_root: None,
            user: None,
            runner: |_, _| None,
        }
    }

    #[test]
    fn a_bare_linux_machine_has_neither_subsystem() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/os-release"),
            "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        )
        .unwrap();
        let observation = probe(&settings(root.path()));
        assert_eq!(
            observation.os.name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert!(!observation.audio.present);
        assert!(!observation.video.present);
        assert_eq!(
            observation.audio.missing.len(),
            2,
            "{:?}",
            observation.audio
        );
        assert!(observation.nodes.is_empty());
        assert!(observation.policies.is_empty());
    }

    #[test]
    fn kernel_subsystems_cards_and_a_sound_server() {
        let root = tempfile::tempdir().unwrap();
        let make = |path: &str| std::fs::create_dir_all(root.path().join(path)).unwrap();
        make("proc/asound");
        std::fs::write(
            root.path().join("proc/asound/cards"),
            " 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n                      HDA Intel PCH at 0xf7f10000 irq 31\n 1 [C920           ]: USB-Audio - HD Pro Webcam C920\n",
        )
        .unwrap();
        make("sys/class/video4linux/video0");
        make("run/user/1000/pulse");
        std::fs::write(root.path().join("run/user/1000/pulse/native"), "").unwrap();
        let observation = probe(&Settings {
            runtime_dir: Some(root.path().join("run/user/1000")),
            ..settings(root.path())
        });
        assert!(observation.audio.present);
        assert_eq!(observation.audio.found.len(), 2, "{:?}", observation.audio);
        assert!(observation.audio.found[0].ends_with("2 sound cards"));
        assert!(observation.video.present);
        assert!(observation.video.found[0].ends_with("1 node"));
    }

    #[test]
    fn nodes_that_open_and_one_that_does_not() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("dev/snd")).unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/group"),
            "root:x:0:\nvideo:x:44:alice\n",
        )
        .unwrap();
        // Regular files stand in for the nodes: one opens, the other is a folder (EISDIR).
        std::fs::write(root.path().join("dev/video0"), "").unwrap();
        std::fs::create_dir(root.path().join("dev/video1")).unwrap();
        std::fs::write(root.path().join("dev/snd/pcmC0D0c"), "").unwrap();
        std::fs::write(root.path().join("dev/snd/pcmC0D0p"), "").unwrap();
        std::fs::write(root.path().join("dev/videoX"), "").unwrap();
        let observation = probe(&settings(root.path()));
        let nodes: Vec<(String, NodeKind, bool)> = observation
            .nodes
            .iter()
            .map(|node| {
                (
                    node.path
                        .strip_prefix(root.path())
                        .unwrap()
                        .display()
                        .to_string(),
                    node.kind,
                    node.error.is_none(),
                )
            })
            .collect();
        assert_eq!(
            nodes,
            [
                ("dev/snd/pcmC0D0c".to_string(), NodeKind::AudioCapture, true),
                ("dev/video0".to_string(), NodeKind::Video, true),
                ("dev/video1".to_string(), NodeKind::Video, false),
            ]
        );
        assert!(observation.nodes[1].mode.is_some());
    }

    #[test]
    fn windows_without_media_foundation() {
        let root = tempfile::tempdir().unwrap();
        assert!(!windows_video(Some(root.path())).present);
        std::fs::create_dir_all(root.path().join("System32")).unwrap();
        std::fs::write(root.path().join("System32/mfplat.dll"), "").unwrap();
        assert!(windows_video(Some(root.path())).present);
    }

    /// Denied for real: a node this user may not open (not meaningful as root, who may open
    /// anything).
    #[test]
    fn a_node_without_permission_is_denied_with_its_os_error() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        let node = root.path().join("dev/video0");
        std::fs::write(&node, "").unwrap();
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o000)).unwrap();
        let observation = probe(&settings(root.path()));
        let access = &observation.nodes[0];
        assert_eq!(access.mode, Some(0));
        if rustix::process::geteuid().is_root() {
            assert_eq!(access.error, None, "root opens anything");
        } else {
            let error = access.error.as_ref().unwrap();
            assert_eq!(error.cause, devices::Cause::Denied);
            assert_eq!(error.os.map(|os| os.name), Some("EACCES"));
        }
    }
}
