//! The HTML report in a real browser: headless Chromium (Debian's `chromium`) opens each page from
//! a file and must make no request for it, hold every finding in its DOM as text (the hostile one
//! included, with no element injected), and leave screenshots (wide, narrow) and a printed PDF as
//! artefacts under `target/tmp/html-report/`.
//!
//! Requests are read from Chromium's own network log (`--log-net-log`): a request the page makes
//! has the page as its initiator (`null` for a file), while Chromium's background traffic (update
//! checks, which `--host-resolver-rules` sends nowhere) has none (`not an origin`). A control page
//! that does load an image proves the check sees a request when there is one.
//!
//! Needs `/usr/bin/chromium`; without it the tests say so and pass, unless
//! `TRTC_PREFLIGHT_REQUIRE_PEERS=1` (CI) makes that a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use preflight_reports::{html, RenderOptions, Report};
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

/// One Chromium at a time: they are heavy, and the machine may have two cores.
static CHROMIUM_LOCK: Mutex<()> = Mutex::new(());

/// Whether Chromium is here; when not, fails with `TRTC_PREFLIGHT_REQUIRE_PEERS=1`, else says
/// why the test is skipped.
fn chromium_present() -> bool {
    if Path::new(CHROMIUM).is_file() {
        return true;
    }
    let what = format!("no {CHROMIUM} (Debian package chromium)");
    if std::env::var("TRTC_PREFLIGHT_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{what}; TRTC_PREFLIGHT_REQUIRE_PEERS=1 requires every test peer");
    }
    eprintln!("SKIPPED: {what} (TRTC_PREFLIGHT_REQUIRE_PEERS=1 makes this a failure)");
    false
}

/// `target/tmp/html-report/`: the pages, screenshots and PDF a person can look at afterwards.
fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The real report `trtc-preflight demo --format json` wrote.
fn demo_report() -> Report {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/demo-report.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("a report")
}

/// Writes the page of `report` as `NAME.html` among the artefacts.
fn write_page(name: &str, report: &Report) -> PathBuf {
    let path = artefacts().join(format!("{name}.html"));
    std::fs::write(&path, html::render(report, RenderOptions::default())).unwrap();
    path
}

/// What one Chromium run left.
struct Run {
    stdout: String,
    stderr: String,
    /// The page's own requests, from the network log: `initiator url`.
    page_requests: Vec<String>,
    /// Every request in the network log, the background's included.
    all_requests: usize,
}

/// Runs headless Chromium on `page` with `args` (`--dump-dom`, `--screenshot=...`), with a fresh
/// profile, every name resolving nowhere, and a network log.
fn chromium(page: &Path, args: &[String]) -> Run {
    let _one_at_a_time = CHROMIUM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("html-chromium-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let net_log = work.join("net-log.json");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join("profile").display()
        ))
        .arg(format!("--log-net-log={}", net_log.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Read both pipes while waiting, with a deadline.
    let mut stdout_pipe = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout_pipe, &mut text).ok();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr_pipe, &mut text).ok();
        text
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    assert!(status.success(), "chromium: {status}\n{stderr}");
    let (page_requests, all_requests) = requests(&net_log);
    let _ = std::fs::remove_dir_all(&work);
    Run {
        stdout,
        stderr,
        page_requests,
        all_requests,
    }
}

/// The requests in a Chromium network log: those a page initiated (`initiator url`), and how
/// many there were in all.
fn requests(net_log: &Path) -> (Vec<String>, usize) {
    let text = std::fs::read_to_string(net_log).expect("chromium wrote its network log");
    let log: Value = serde_json::from_str(&text).expect("the network log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("the log names URL_REQUEST_START_JOB");
    let mut page = Vec::new();
    let mut all = 0;
    for event in log["events"].as_array().expect("events") {
        if event["type"].as_u64() != Some(start_job) {
            continue;
        }
        let Some(url) = event["params"]["url"].as_str() else {
            continue;
        };
        all += 1;
        let initiator = event["params"]["initiator"].as_str().unwrap_or("");
        if initiator != "not an origin" {
            page.push(format!("{initiator} {url}"));
        }
    }
    (page, all)
}

/// The text of a serialised DOM: no style, no tags, entities decoded, blanks collapsed.
fn dom_text(dom: &str) -> String {
    let mut dom = dom.to_string();
    while let (Some(start), Some(end)) = (dom.find("<style"), dom.find("</style>")) {
        dom.replace_range(start..end + "</style>".len(), " ");
    }
    let mut text = String::new();
    let mut in_tag = false;
    for ch in dom.chars() {
        match ch {
            '<' => in_tag = true,
            // Inline elements (`<code>`) join their text to the words around them; blocks are
            // separated by the line breaks between them.
            '>' if in_tag => in_tag = false,
            ch if !in_tag => text.push(ch),
            _ => {}
        }
    }
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    common::squash(&decoded)
}

#[test]
fn pages_render_with_every_finding_and_make_no_request() {
    if !chromium_present() {
        return;
    }
    // The quality probe as it writes its metrics today: figures, no samples.
    let mut without_samples = common::showcase_report();
    for probe in &mut without_samples.probes {
        probe.metrics.remove("rtt_samples_ms");
    }
    for (name, report) in [
        ("showcase", common::showcase_report()),
        ("showcase-without-samples", without_samples),
        ("full", common::full_report()),
        ("interrupted", common::interrupted_report()),
        ("demo", demo_report()),
    ] {
        let page = write_page(name, &report);
        let run = chromium(&page, &["--dump-dom".to_string()]);
        assert!(
            run.page_requests.is_empty(),
            "{name}: the page made requests: {:?}",
            run.page_requests
        );
        let dom = &run.stdout;
        assert!(
            dom.contains("<main>"),
            "{name}: no DOM\n{dom}\n{}",
            run.stderr
        );
        // The browser applied the page's policy (it is in the DOM it parsed) and built no
        // element from a report's text.
        assert!(dom.contains("content=\"default-src 'none';"), "{name}");
        for tag in ["<script", "<img", "<iframe", "<object"] {
            assert!(!dom.contains(tag), "{name}: {tag} in the DOM");
        }
        let text = dom_text(dom);
        let findings: usize = report.probes.iter().map(|probe| probe.findings.len()).sum();
        assert_eq!(
            dom.matches("<li class=\"finding ").count(),
            findings,
            "{name}"
        );
        for probe in &report.probes {
            for finding in &probe.findings {
                let mut expected = vec![
                    common::as_rendered(&finding.description),
                    common::as_rendered(&finding.evidence),
                    common::as_rendered(&finding.fix),
                ];
                if let (Some(code), Some(sdk_name), Some(hex)) =
                    (finding.code, &finding.name, &finding.hex)
                {
                    expected.push(format!("{code} {sdk_name} {hex}"));
                }
                if let Some(message) = &finding.message {
                    expected.push(format!("\"{}\"", common::as_rendered(message)));
                }
                for want in expected.iter().filter(|want| !want.is_empty()) {
                    assert!(
                        text.contains(want.as_str()),
                        "{name}: {want:?} is not on the page; the DOM is at {}",
                        page.display()
                    );
                }
            }
        }
        assert!(text.contains(&format!(
            "{} pass, {} warn, {} fail, {} skip",
            report.summary.pass, report.summary.warn, report.summary.fail, report.summary.skip
        )));
    }
}

#[test]
fn the_request_check_sees_a_load_and_the_page_policy_stops_it() {
    if !chromium_present() {
        return;
    }
    let control = |name: &str, head: &str| {
        let page = artefacts().join(format!("control-{name}.html"));
        std::fs::write(
            &page,
            format!(
                "<!DOCTYPE html><html><head>{head}</head><body>\
                 <img src=\"http://canary.invalid/x.png\"></body></html>"
            ),
        )
        .unwrap();
        chromium(&page, &["--dump-dom".to_string()])
    };
    // Without a policy the image is requested, and the check sees it.
    let run = control("without-policy", "");
    assert!(
        run.page_requests
            .iter()
            .any(|request| request.ends_with("http://canary.invalid/x.png")),
        "{:?} of {} requests",
        run.page_requests,
        run.all_requests
    );
    // With the report's policy, the same page requests nothing.
    let run = control(
        "with-policy",
        &format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
            html::CONTENT_SECURITY_POLICY
        ),
    );
    assert!(run.page_requests.is_empty(), "{:?}", run.page_requests);
}

/// Width and height of a PNG, from its header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        path.display()
    );
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn screenshots_wide_and_narrow_and_a_printed_copy() {
    if !chromium_present() {
        return;
    }
    let page = write_page("showcase", &common::showcase_report());
    for (width, height) in [(1000, 3000), (390, 3000)] {
        let shot = artefacts().join(format!("showcase-{width}.png"));
        let _ = std::fs::remove_file(&shot);
        let run = chromium(
            &page,
            &[
                format!("--screenshot={}", shot.display()),
                format!("--window-size={width},{height}"),
            ],
        );
        assert!(run.page_requests.is_empty(), "{:?}", run.page_requests);
        assert_eq!(png_size(&shot), (width, height), "{}", run.stderr);
        eprintln!("screenshot: {}", shot.display());
    }
    let pdf = artefacts().join("showcase.pdf");
    let _ = std::fs::remove_file(&pdf);
    let run = chromium(
        &page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".to_string(),
        ],
    );
    assert!(run.page_requests.is_empty(), "{:?}", run.page_requests);
    let bytes =
        std::fs::read(&pdf).unwrap_or_else(|e| panic!("{}: {e}\n{}", pdf.display(), run.stderr));
    assert!(bytes.starts_with(b"%PDF-"));
    eprintln!("printed: {} ({} bytes)", pdf.display(), bytes.len());
}
