//! Bad input ends the run with exit status 2 and a message naming the flag, or the profile file,
//! line and key; nothing is sent. And flags win over the profile, the profile over defaults.

use std::process::{Command, Output};

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TRTC_PREFLIGHT_NOW", "2026-11-28T10:00:00Z")
        .output()
        .unwrap()
}

struct Case {
    name: &'static str,
    profile: Option<&'static str>,
    args: &'static [&'static str],
    /// Every one of these must be in the error message.
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "unknown profile key",
        profile: Some(
            "timeout = \"30s\"\nsdk_app_id = 1400000000\nuser_id = \"alice\"\nbogus_key = 1\n",
        ),
        args: &[],
        expect: &["profile.toml", "line 4", "unknown field `bogus_key`"],
    },
    Case {
        name: "bad duration in the profile",
        profile: Some("# a comment\ntimeout = \"30 parsecs\"\n"),
        args: &[],
        expect: &["profile.toml", "line 2", "`timeout`", "parsecs"],
    },
    Case {
        name: "wrong type in the profile",
        profile: Some("\n\nfail_on = 3\n"),
        args: &[],
        expect: &["profile.toml", "line 3", "`fail_on`", "integer"],
    },
    Case {
        name: "bad fail_on value in the profile",
        profile: Some("fail_on = \"sometimes\"\n"),
        args: &[],
        expect: &["line 1", "`fail_on`", "\"sometimes\"", "error", "warning"],
    },
    Case {
        name: "unknown kind in the profile",
        profile: Some("only = [\"account\", \"cameras\"]\n"),
        args: &[],
        expect: &[
            "line 1",
            "`only`",
            "\"cameras\" is not a probe kind",
            "camera",
        ],
    },
    Case {
        name: "bad STUN target in the profile",
        profile: Some("stun = [\n  \"127.0.0.1:3478\",\n  \"nohost\",\n]\n"),
        args: &[],
        expect: &["line 3", "`stun`", "HOST:PORT"],
    },
    Case {
        name: "a TOML syntax error",
        profile: Some("timeout = \"30s\"\n[x\n"),
        args: &[],
        expect: &["profile.toml", "line 2"],
    },
    Case {
        name: "missing secret file named by the profile",
        profile: Some("sdk_app_id = 1\nuser_id = \"a\"\nuser_sig_file = \"missing.sig\"\n"),
        args: &[],
        expect: &["line 3", "`user_sig_file`", "missing.sig"],
    },
    Case {
        name: "bad output format in the profile",
        profile: Some("[[output]]\nformat = \"pdf\"\npath = \"r.pdf\"\n"),
        args: &[],
        expect: &["line 2", "output.format", "\"pdf\""],
    },
    Case {
        name: "missing profile",
        profile: None,
        args: &["--profile", "nope.toml"],
        expect: &["--profile nope.toml", "cannot read"],
    },
    Case {
        name: "unknown kind",
        profile: None,
        args: &["--only", "account,foo"],
        expect: &["--only", "\"foo\""],
    },
    Case {
        name: "unknown required kind",
        profile: None,
        args: &["--require", "cam"],
        expect: &["--require", "\"cam\""],
    },
    Case {
        name: "zero timeout",
        profile: None,
        args: &["--timeout", "0"],
        expect: &["--timeout 0", "more than 0"],
    },
    Case {
        name: "bad fail-on",
        profile: None,
        args: &["--fail-on", "info"],
        expect: &["--fail-on", "\"info\""],
    },
    Case {
        name: "unknown format",
        profile: None,
        args: &["--format", "xml"],
        expect: &[
            "--format xml",
            "text, json, junit, html, markdown or prometheus",
        ],
    },
    Case {
        name: "two formats on stdout",
        profile: None,
        args: &["--format", "json", "--format", "text"],
        expect: &["standard output", "--output"],
    },
    Case {
        name: "output with no format and no known extension",
        profile: None,
        args: &["--output", "report.dat"],
        expect: &["--output report.dat", ".json"],
    },
    Case {
        name: "sdk app id alone",
        profile: None,
        args: &["--sdk-app-id", "1"],
        expect: &["--sdk-app-id needs --user-id"],
    },
    Case {
        name: "user id alone",
        profile: None,
        args: &["--user-id", "a"],
        expect: &["--user-id needs --sdk-app-id"],
    },
    Case {
        name: "private map key requirement without a room",
        profile: None,
        args: &["--require-private-map-key"],
        expect: &["--require-private-map-key needs --room-id"],
    },
    Case {
        name: "bad resolve",
        profile: None,
        args: &["--resolve", "host=not-an-ip"],
        expect: &["--resolve host=not-an-ip", "IPv4 or IPv6"],
    },
    Case {
        name: "bad stun port",
        profile: None,
        args: &["--stun", "127.0.0.1:99999"],
        expect: &["--stun 127.0.0.1:99999", "not a port"],
    },
    Case {
        name: "bad turn url",
        profile: None,
        args: &["--turn", "http://relay"],
        expect: &["--turn http://relay", "turn:"],
    },
    Case {
        name: "bad signal url",
        profile: None,
        args: &["--signal", "https://x"],
        expect: &["--signal https://x", "ws://"],
    },
    Case {
        name: "bad udp ports",
        profile: None,
        args: &["--udp-ports", "8000,70000"],
        expect: &["--udp-ports", "\"70000\""],
    },
    Case {
        name: "bad pin",
        profile: None,
        args: &["--pin", "md5:abc"],
        expect: &["--pin", "sha256:"],
    },
    Case {
        name: "missing user sig file",
        profile: None,
        args: &["--user-sig-file", "none.sig"],
        expect: &["--user-sig-file none.sig"],
    },
];

#[test]
fn every_bad_input_exits_2_naming_where_it_is() {
    let mut failures = Vec::new();
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["check"];
        if let Some(profile) = case.profile {
            std::fs::write(dir.path().join("profile.toml"), profile).unwrap();
            args.extend(["--profile", "profile.toml"]);
        }
        args.extend(case.args);
        let output = run(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let missing: Vec<_> = case
            .expect
            .iter()
            .filter(|text| !stderr.contains(*text))
            .collect();
        if output.status.code() != Some(2) || !missing.is_empty() || !output.stdout.is_empty() {
            failures.push(format!(
                "{}: status {:?}, missing {missing:?}, stderr {stderr:?}, stdout {:?}",
                case.name,
                output.status.code(),
                String::from_utf8_lossy(&output.stdout)
            ));
        }
        assert!(stderr.starts_with("error: "), "{}: {stderr}", case.name);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn flags_win_over_the_profile_and_the_profile_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("profile.toml"),
        "timeout = \"7s\"\nfail_on = \"warning\"\nroom_id = 10000\nudp_ports = [3478, 3479]\nports = \"lab.example\"\n",
    )
    .unwrap();
    let plan = |extra: &[&str]| {
        let mut args = vec!["check", "--profile", "profile.toml", "--dry-run"];
        args.extend(extra);
        let output = run(dir.path(), &args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let from_profile = plan(&[]);
    assert!(
        from_profile.contains("7 s for the run; fail on warning"),
        "{from_profile}"
    );
    assert!(from_profile.contains("room/10000"), "{from_profile}");
    let from_flags = plan(&["--timeout", "2s", "--fail-on", "error", "--room-id", "42"]);
    assert!(
        from_flags.contains("2 s for the run; fail on error"),
        "{from_flags}"
    );
    assert!(
        from_flags.contains("room/42") && !from_flags.contains("room/10000"),
        "{from_flags}"
    );
    let defaults = {
        let output = run(dir.path(), &["check", "--dry-run"]);
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(
        defaults.contains("60 s for the run; fail on error"),
        "{defaults}"
    );
}

#[test]
fn a_dry_run_sends_nothing_and_lists_what_is_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &[
            "check",
            "--dry-run",
            "--stun",
            "tcp:127.0.0.1:3478",
            "--room-id",
            "5",
        ],
    );
    assert_eq!(output.status.code(), Some(0));
    let plan = String::from_utf8(output.stdout).unwrap();
    assert!(
        plan.starts_with("Plan (dry run: nothing is sent)"),
        "{plan}"
    );
    assert!(plan.contains("stun/tcp/127.0.0.1:3478"), "{plan}");
    assert!(plan.contains("Not configured: pass --signal"), "{plan}");
    assert!(plan.contains("Not configured: pass --sdk-app-id"), "{plan}");
}

#[test]
fn check_with_no_targets_runs_and_lists_the_unconfigured_network_probes() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["check", "--format", "json"]);
    // The local probes (camera, microphone, environment) run and judge this machine as it is:
    // 0 with its devices, 1 without.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for kind in ["camera", "microphone", "environment"] {
        let probe = report["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|probe| probe["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} probe"));
        assert_ne!(probe["status"], "skip", "{probe:#}");
    }
    let skipped: Vec<&str> = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|probe| probe["status"] == "skip")
        .filter(|probe| {
            probe["findings"][0]["evidence"]
                .as_str()
                .unwrap()
                .starts_with("Not configured")
        })
        .map(|probe| probe["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "stun",
        "ports",
        "turn",
        "signaling",
        "webrtc",
        "account",
        "room",
    ] {
        assert!(skipped.contains(&kind), "{kind} missing from {skipped:?}");
    }
}

#[test]
fn a_run_in_which_everything_was_skipped_says_nothing_was_checked() {
    let dir = tempfile::tempdir().unwrap();
    // The local probes always have something to check: without them, nothing was.
    let local = "camera,microphone,environment";
    let output = run(dir.path(), &["check", "--skip", local]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("verdict: NOTHING CHECKED"), "{text}");
    let output = run(dir.path(), &["check", "--room-id", "1", "--skip", local]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("verdict: PASS") && !text.contains("NOTHING CHECKED"),
        "{text}"
    );
}
