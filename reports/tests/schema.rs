//! The JSON report against its schema: what the `json` renderer writes validates, the DESIGN.md
//! example validates and deserialises, and reports that break the contract are rejected.

mod common;

use std::path::Path;

use common::{assert_valid, rendered, validator};
use preflight_reports::Report;
use serde_json::{json, Value};

#[test]
fn rendered_reports_validate() {
    let validator = validator();
    for report in [
        common::full_report(),
        common::interrupted_report(),
        common::passing_report(),
        Report::assemble("0.1.0", "2026-11-28T10:00:00Z".into(), 0, false, vec![]),
    ] {
        assert_valid(&validator, &rendered(&report));
    }
}

#[test]
fn account_and_room_metrics_without_tokens_validate() {
    let validator = validator();
    let mut account = common::account_probe();
    account.metrics["user_sig"] = Value::Null;
    let mut room = common::room_probe();
    room.metrics["private_map_key"] = Value::Null;
    room.metrics["room_id_type"] = json!("numeric");
    let report = Report::assemble(
        "0.1.0",
        "2026-11-28T10:00:00Z".into(),
        5,
        true,
        vec![account, room],
    );
    assert_valid(&validator, &rendered(&report));
}

#[test]
fn a_skipped_account_probe_may_have_empty_metrics() {
    let validator = validator();
    let mut report = common::full_report();
    let account = report
        .probes
        .iter_mut()
        .find(|probe| probe.id.starts_with("account/"))
        .unwrap();
    account.status = preflight_reports::Status::Skip;
    account.metrics.clear();
    account.findings = vec![common::plain(
        preflight_reports::Severity::Info,
        "Not configured: no SDKAppID was given.",
        "",
        "Pass --sdk-app-id, --user-id and TRTC_USER_SIG.",
    )];
    assert_valid(&validator, &rendered(&report));
}

/// A variant of the full report that breaks the contract in one place.
struct Broken {
    what: &'static str,
    pointer: &'static str,
    apply: fn(&mut Value),
}

fn broken_variants() -> Vec<Broken> {
    fn set(pointer: &'static str, value: Value) -> impl Fn(&mut Value) {
        move |report| *report.pointer_mut(pointer).expect(pointer) = value.clone()
    }
    vec![
        Broken {
            what: "unknown kind",
            pointer: "/probes/0/kind",
            apply: |r| set("/probes/0/kind", json!("satellite"))(r),
        },
        Broken {
            what: "bad status",
            pointer: "/probes/0/status",
            apply: |r| set("/probes/0/status", json!("passed"))(r),
        },
        Broken {
            what: "code 12",
            pointer: "/probes/2/findings/0/code",
            apply: |r| set("/probes/2/findings/0/code", json!(12))(r),
        },
        Broken {
            what: "code above 65535",
            pointer: "/probes/2/findings/0/code",
            apply: |r| set("/probes/2/findings/0/code", json!(65536))(r),
        },
        Broken {
            what: "extra field on the report",
            pointer: "",
            apply: |r| {
                r["extra"] = json!(1);
            },
        },
        Broken {
            what: "extra field on a probe",
            pointer: "/probes/0",
            apply: |r| {
                r["probes"][0]["extra"] = json!(1);
            },
        },
        Broken {
            what: "extra field on a finding",
            pointer: "/probes/2/findings/0",
            apply: |r| {
                r["probes"][2]["findings"][0]["extra"] = json!(1);
            },
        },
        Broken {
            what: "extra field on the summary",
            pointer: "/summary",
            apply: |r| {
                r["summary"]["error"] = json!(0);
            },
        },
        Broken {
            what: "extra field on the tool",
            pointer: "/tool",
            apply: |r| {
                r["tool"]["commit"] = json!("abc");
            },
        },
        Broken {
            what: "missing finding field",
            pointer: "/probes/2/findings/0",
            apply: |r| {
                r["probes"][2]["findings"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("detail_code");
            },
        },
        Broken {
            what: "other schema",
            pointer: "/schema",
            apply: |r| set("/schema", json!("trtc-preflight/report/v2"))(r),
        },
        Broken {
            what: "bad verdict",
            pointer: "/verdict",
            apply: |r| set("/verdict", json!("skip"))(r),
        },
        Broken {
            what: "bad severity",
            pointer: "/probes/2/findings/0/severity",
            apply: |r| set("/probes/2/findings/0/severity", json!("fatal"))(r),
        },
        Broken {
            what: "hex without 0x",
            pointer: "/probes/2/findings/0/hex",
            apply: |r| set("/probes/2/findings/0/hex", json!("4003"))(r),
        },
        Broken {
            what: "name without code",
            pointer: "/probes/2/findings/0/code",
            apply: |r| set("/probes/2/findings/0/code", Value::Null)(r),
        },
        Broken {
            what: "fractional detail code",
            pointer: "/probes/2/findings/0/detail_code",
            apply: |r| set("/probes/2/findings/0/detail_code", json!(1.5))(r),
        },
        Broken {
            what: "start time not RFC 3339",
            pointer: "/started_at",
            apply: |r| set("/started_at", json!("28/11/2026 10:00"))(r),
        },
        Broken {
            what: "codes not integers",
            pointer: "/codes",
            apply: |r| set("/codes", json!(["16387"]))(r),
        },
        Broken {
            what: "negative duration",
            pointer: "/duration_ms",
            apply: |r| set("/duration_ms", json!(-1))(r),
        },
        Broken {
            what: "failed probe without an error finding",
            pointer: "/probes/2/findings/0/severity",
            apply: |r| set("/probes/2/findings/0/severity", json!("warning"))(r),
        },
        Broken {
            what: "passed probe with a warning",
            pointer: "/probes/1/status",
            apply: |r| set("/probes/1/status", json!("pass"))(r),
        },
        Broken {
            what: "skipped probe without its reason",
            pointer: "/probes/5/findings",
            apply: |r| set("/probes/5/findings", json!([]))(r),
        },
        Broken {
            what: "account metrics with an unknown field",
            pointer: "/probes/6/metrics",
            apply: |r| {
                r["probes"][6]["metrics"]["password"] = json!("hunter2");
            },
        },
        Broken {
            what: "account metrics missing a field",
            pointer: "/probes/6/metrics",
            apply: |r| {
                r["probes"][6]["metrics"]
                    .as_object_mut()
                    .unwrap()
                    .remove("checked_at");
            },
        },
        Broken {
            what: "bad signature check",
            pointer: "/probes/6/metrics/user_sig/signature",
            apply: |r| set("/probes/6/metrics/user_sig/signature", json!("valid"))(r),
        },
        Broken {
            what: "token length as a string",
            pointer: "/probes/6/metrics/user_sig/length",
            apply: |r| set("/probes/6/metrics/user_sig/length", json!("196"))(r),
        },
        Broken {
            what: "room metrics as account metrics",
            pointer: "/probes/7/metrics",
            apply: |r| {
                let account = r["probes"][6]["metrics"].clone();
                r["probes"][7]["metrics"] = account;
            },
        },
        Broken {
            what: "bad room id type",
            pointer: "/probes/7/metrics/room_id_type",
            apply: |r| set("/probes/7/metrics/room_id_type", json!("uuid"))(r),
        },
        Broken {
            what: "grant privileges not a list",
            pointer: "/probes/7/metrics/private_map_key/grant/privileges",
            apply: |r| {
                set(
                    "/probes/7/metrics/private_map_key/grant/privileges",
                    json!("enter"),
                )(r)
            },
        },
        Broken {
            what: "grant with an unknown field",
            pointer: "/probes/7/metrics/private_map_key/grant",
            apply: |r| {
                r["probes"][7]["metrics"]["private_map_key"]["grant"]["key"] = json!("x");
            },
        },
        Broken {
            what: "grant version beyond u8",
            pointer: "/probes/7/metrics/private_map_key/grant/version",
            apply: |r| {
                set(
                    "/probes/7/metrics/private_map_key/grant/version",
                    json!(256),
                )(r)
            },
        },
        Broken {
            what: "a room probe that passed without metrics",
            pointer: "/probes/7/metrics",
            apply: |r| set("/probes/7/metrics", json!({}))(r),
        },
        Broken {
            what: "a stun probe that passed without its lookup",
            pointer: "/probes/3/metrics/resolve",
            apply: |r| {
                r["probes"][3]["metrics"]
                    .as_object_mut()
                    .unwrap()
                    .remove("resolve");
            },
        },
        Broken {
            what: "unknown stun result",
            pointer: "/probes/3/metrics/families/0/result",
            apply: |r| set("/probes/3/metrics/families/0/result", json!("timeout"))(r),
        },
        Broken {
            what: "failed stun metrics with an unknown field",
            pointer: "/probes/2/metrics",
            apply: |r| {
                r["probes"][2]["metrics"]["loss"] = json!(0.5);
            },
        },
        Broken {
            what: "free-form signaling metrics",
            pointer: "/probes/4/metrics",
            apply: |r| {
                set(
                    "/probes/4/metrics",
                    json!({"stages": {"dns_ms": 12, "tcp_ms": null}}),
                )(r)
            },
        },
        Broken {
            what: "unknown signaling tcp step",
            pointer: "/probes/4/metrics/families/0/tcp",
            apply: |r| set("/probes/4/metrics/families/0/tcp", json!("timeout"))(r),
        },
    ]
}

#[test]
fn reports_that_break_the_contract_are_rejected() {
    let validator = validator();
    let original = rendered(&common::full_report());
    assert_valid(&validator, &original);
    for broken in broken_variants() {
        let mut instance = original.clone();
        assert!(
            instance.pointer(broken.pointer).is_some(),
            "{}: the fixture has nothing at {}",
            broken.what,
            broken.pointer
        );
        (broken.apply)(&mut instance);
        assert_ne!(
            instance, original,
            "{}: the variant changed nothing",
            broken.what
        );
        assert!(
            !validator.is_valid(&instance),
            "{}: accepted\n{}",
            broken.what,
            serde_json::to_string_pretty(&instance).unwrap()
        );
    }
}

#[test]
fn free_form_metrics_of_other_kinds_accept_any_object() {
    let validator = validator();
    let mut report = rendered(&common::showcase_report());
    let browser = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|probe| probe["kind"] == "browser")
        .expect("the showcase has a browser probe");
    report["probes"][browser]["metrics"] = json!({"anything": {"nested": [1, "two", null]}});
    assert_valid(&validator, &report);
    report["probes"][browser]["metrics"] = json!([1, 2]);
    assert!(!validator.is_valid(&report), "metrics must be an object");
}

#[test]
fn device_probes_metrics_have_their_fixed_shape() {
    let validator = validator();
    let report = rendered(&common::showcase_report());
    assert_valid(&validator, &report);
    for kind in ["camera", "microphone", "environment"] {
        let index = report["probes"]
            .as_array()
            .unwrap()
            .iter()
            .position(|probe| probe["kind"] == kind)
            .unwrap_or_else(|| panic!("the showcase has a {kind} probe"));
        // An invented shape is refused.
        let mut bad = report.clone();
        bad["probes"][index]["metrics"] = json!({"devices": 1, "label": "Integrated Camera"});
        assert!(!validator.is_valid(&bad), "{kind}: invented metrics pass");
        // A field too many is refused too.
        let mut extra = report.clone();
        extra["probes"][index]["metrics"]["surprise"] = json!(1);
        assert!(
            !validator.is_valid(&extra),
            "{kind}: an unknown field passes"
        );
        // A probe that did not run may leave them empty, unless it passed or warned.
        let mut empty = report.clone();
        empty["probes"][index]["metrics"] = json!({});
        let status = report["probes"][index]["status"].as_str().unwrap();
        assert_eq!(
            validator.is_valid(&empty),
            !matches!(status, "pass" | "warn"),
            "{kind} {status} with empty metrics"
        );
    }
}

const DESIGN_EXAMPLE: &str = include_str!("data/design-example.json");

#[test]
fn the_design_example_validates_and_deserialises() {
    let example: Value = serde_json::from_str(DESIGN_EXAMPLE).expect("the example is JSON");
    assert_valid(&validator(), &example);
    let report: Report =
        serde_json::from_str(DESIGN_EXAMPLE).expect("the example deserialises into Report");
    assert_eq!(report.probes.len(), 1);
    assert_eq!(report.codes, [16387]);
    // And back: the model writes the same document it reads.
    assert_eq!(serde_json::to_value(&report).unwrap(), example);
}

/// The JSON block of DESIGN.md's "Report (contract, JSON)" section.
fn design_example(design: &str) -> &str {
    let section = &design[design
        .find("## Report (contract, JSON)")
        .expect("DESIGN.md has the report section")..];
    let start = section
        .find("```json\n")
        .expect("the section has a JSON block")
        + "```json\n".len();
    let end = start + section[start..].find("```").expect("the JSON block ends");
    &section[start..end]
}

#[test]
fn the_copy_of_the_design_example_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/DESIGN.md");
    let Ok(design) = std::fs::read_to_string(&path) else {
        eprintln!("{} is absent: nothing to compare", path.display());
        return;
    };
    let current: Value =
        serde_json::from_str(design_example(&design)).expect("the DESIGN.md example is JSON");
    let copy: Value = serde_json::from_str(DESIGN_EXAMPLE).unwrap();
    assert_eq!(
        current, copy,
        "DESIGN.md's example changed: copy it into reports/tests/data/design-example.json"
    );
}
