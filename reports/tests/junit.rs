//! The JUnit renderer, read back with an independent parser (`junit-parser`).

mod common;

use preflight_reports::{junit, RenderOptions, Report};

fn parse(report: &Report) -> junit_parser::TestSuites {
    let xml = junit::render(report, RenderOptions::default()).expect("renders");
    junit_parser::from_reader(xml.as_slice()).expect("junit-parser reads the output")
}

#[test]
fn one_suite_per_kind_in_order_of_first_appearance() {
    let suites = parse(&common::full_report());
    assert_eq!(suites.name, "trtc-preflight");
    let names: Vec<&str> = suites
        .suites
        .iter()
        .map(|suite| suite.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "camera",
            "microphone",
            "stun",
            "signaling",
            "turn",
            "account",
            "room"
        ]
    );
    assert_eq!(suites.tests, 8);
    assert_eq!(suites.failures, 3);
    assert_eq!(suites.skipped, 1);
    assert_eq!(suites.errors, 0);

    let stun = &suites.suites[2];
    assert_eq!((stun.tests, stun.failures, stun.skipped), (2, 1, 0));
    let ids: Vec<&str> = stun
        .cases
        .iter()
        .map(|case| case.original_name.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "stun/udp/stun.example.com:3478",
            "stun/tcp/stun.example.com:3478"
        ]
    );
    for case in &stun.cases {
        assert_eq!(case.classname.as_deref(), Some("trtc-preflight.stun"));
    }
    assert!(
        (stun.cases[0].time - 1.502).abs() < 1e-9,
        "{}",
        stun.cases[0].time
    );
    assert!(stun.cases[1].status.is_success());
}

#[test]
fn failures_carry_code_name_and_message() {
    let suites = parse(&common::full_report());
    let case = |name: &str| {
        suites
            .suites
            .iter()
            .flat_map(|suite| &suite.cases)
            .find(|case| case.original_name == name)
            .unwrap_or_else(|| panic!("no test case {name}"))
    };

    let stun = case("stun/udp/stun.example.com:3478");
    assert!(stun.status.is_failure());
    let failure = stun.status.failure_as_ref();
    assert_eq!(
        failure.message,
        "16387 ICE_TRANSPORT_ERROR: RtcError: no valid ice candidate found"
    );
    assert_eq!(failure.failure_type, "ICE_TRANSPORT_ERROR");
    for part in [
        "code: 16387",
        "name: ICE_TRANSPORT_ERROR",
        "hex: 0x4003",
        "message: RtcError: no valid ice candidate found",
        "evidence: 3 STUN binding requests to 203.0.113.7:3478/udp",
        "fix: Allow outbound UDP to 203.0.113.7",
    ] {
        assert!(
            failure.text.contains(part),
            "{part:?} not in {:?}",
            failure.text
        );
    }

    // No message string: the description stands in; the detail code follows the name.
    let account = case("account/1400000001/alice");
    let failure = account.status.failure_as_ref();
    assert_eq!(
        failure.message,
        "16385 SIGNAL_CAHNNEL_SETUP_FAILED (70001): The userSig has expired, so the server refuses the \
         signaling channel."
    );
    assert!(
        failure.text.contains("detail code: 70001"),
        "{}",
        failure.text
    );
    assert_eq!(account.classname.as_deref(), Some("trtc-preflight.account"));
}

#[test]
fn skips_carry_the_reason_and_warnings_go_to_system_out() {
    let suites = parse(&common::full_report());
    let cases: Vec<&junit_parser::TestCase> = suites
        .suites
        .iter()
        .flat_map(|suite| &suite.cases)
        .collect();

    let turn = cases
        .iter()
        .find(|case| case.original_name == "turn")
        .unwrap();
    assert!(turn.status.is_skipped());
    let skipped = turn.status.skipped_as_ref();
    assert_eq!(
        skipped.message,
        "Not configured: no --turn option and no turn key in the profile."
    );
    assert!(
        skipped.text.contains("Pass --turn turns:relay.example.com"),
        "{}",
        skipped.text
    );

    let microphone = cases
        .iter()
        .find(|case| case.original_name == "microphone/default")
        .unwrap();
    assert!(microphone.status.is_success());
    let out = microphone.system_out.as_deref().unwrap_or_default();
    assert!(out.contains("severity: warning"), "{out}");
    assert!(out.contains("evidence: peak -0.1 dBFS"), "{out}");
    assert!(out.contains("fix: Lower the input gain"), "{out}");

    let camera = cases
        .iter()
        .find(|case| case.original_name == "camera/default")
        .unwrap();
    assert!(camera.status.is_success());
    assert!(camera.system_out.is_none());
}

#[test]
fn a_failure_without_a_code_names_its_severity() {
    let finding = common::plain(
        preflight_reports::Severity::Error,
        "The camera delivered only black frames.",
        "120 frames, all luma below 16",
        "Open the lens cover.",
    );
    let probe = common::probe(
        "camera/default",
        preflight_reports::Kind::Camera,
        "",
        false,
        900,
        serde_json::Map::new(),
        vec![finding],
    );
    let report = Report::assemble(
        "0.1.0",
        "2026-11-28T10:00:00Z".into(),
        900,
        true,
        vec![probe],
    );
    let suites = parse(&report);
    let failure = suites.suites[0].cases[0].status.failure_as_ref();
    assert_eq!(
        failure.message,
        "error: The camera delivered only black frames."
    );
    assert_eq!(failure.failure_type, "error");
}

#[test]
fn an_interrupted_run_says_so() {
    let suites = parse(&common::interrupted_report());
    assert_eq!(suites.tests, 2);
    assert_eq!(suites.failures, 0);
    for suite in &suites.suites {
        assert_eq!(
            suite.properties.hashmap.get("complete").map(String::as_str),
            Some("false")
        );
        assert!(
            suite
                .system_err
                .as_deref()
                .is_some_and(|err| err.contains("interrupted")),
            "{:?}",
            suite.system_err
        );
    }

    let complete = parse(&common::full_report());
    for suite in &complete.suites {
        assert_eq!(
            suite.properties.hashmap.get("complete").map(String::as_str),
            Some("true")
        );
        assert!(suite.system_err.is_none());
    }

    // Interrupted before any probe finished: still one suite that says so.
    let empty = Report::assemble("0.1.0", "2026-11-28T10:00:00Z".into(), 5, false, vec![]);
    let suites = parse(&empty);
    assert_eq!(suites.suites.len(), 1);
    assert_eq!(suites.tests, 0);
    assert!(suites.suites[0]
        .system_err
        .as_deref()
        .is_some_and(|err| err.contains("interrupted")));
}

#[test]
fn output_is_one_document_ending_in_one_newline() {
    let xml = junit::render(&common::full_report(), RenderOptions::default()).unwrap();
    assert!(xml.starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    assert!(xml.ends_with(b"</testsuites>\n"));
}

#[test]
fn with_fail_on_warning_a_probe_that_warned_fails_too() {
    let report = common::full_report();
    let warned = report
        .probes
        .iter()
        .filter(|probe| probe.status == preflight_reports::Status::Warn)
        .count();
    assert!(warned > 0, "the fixture needs a probe that warned");
    let options = RenderOptions {
        fail_on_warning: true,
        ..RenderOptions::default()
    };
    let xml = junit::render(&report, options).unwrap();
    let suites = junit_parser::from_reader(xml.as_slice()).unwrap();
    assert_eq!(suites.failures, 3 + warned as u64);
    let text = String::from_utf8(xml).unwrap();
    assert!(text.contains("type=\"warning\""), "{text}");
}
