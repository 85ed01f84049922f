//! The HTML renderer, read as text: the page loads nothing, every finding is on it and escaped,
//! the areas come in order, the path matrix is a table and a quality burst a chart; and a
//! snapshot of a representative page. (`html_chromium.rs` opens the pages in a real browser.)

mod common;

use preflight_reports::{html, Kind, RenderOptions, Report};

fn render(report: &Report) -> String {
    html::render(report, RenderOptions::default())
}

/// The real report `trtc-preflight demo --format json` wrote (every network probe on loopback).
fn demo_report() -> Report {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/demo-report.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("a report")
}

fn reports() -> Vec<(&'static str, Report)> {
    vec![
        ("showcase", common::showcase_report()),
        ("full", common::full_report()),
        ("interrupted", common::interrupted_report()),
        ("passing", common::passing_report()),
        ("demo", demo_report()),
        (
            "empty",
            Report::assemble("0.1.0", "2026-11-28T10:00:00Z".into(), 0, false, vec![]),
        ),
    ]
}

/// The values of every `name="..."` attribute in the page.
fn attributes<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    page.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &page[at + needle.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

#[test]
fn the_page_can_fetch_nothing() {
    for (name, report) in reports() {
        let page = render(&report);
        // The policy comes first in the head, before anything a browser could fetch.
        let head = &page[..page.find("</head>").unwrap()];
        let csp = head
            .find("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';")
            .unwrap_or_else(|| panic!("{name}: no CSP"));
        assert!(csp < head.find("<link").unwrap(), "{name}");
        assert!(csp < head.find("<style>").unwrap(), "{name}");
        // No element that loads, no script, no attribute pointing out of the page.
        for tag in [
            "<script", "<img", "<iframe", "<object", "<embed", "<video", "<audio", "<source",
            "<form", "<base", "<input",
        ] {
            assert!(!page.contains(tag), "{name}: {tag}");
        }
        let sources = attributes(&page, "src");
        assert!(sources.is_empty(), "{name}: src={sources:?}");
        for href in attributes(&page, "href") {
            assert!(
                href.starts_with('#') || href == "data:,",
                "{name}: href={href}"
            );
        }
        let style = &page[page.find("<style>").unwrap()..page.find("</style>").unwrap()];
        assert!(
            !style.contains("url(") && !style.contains("@import") && !style.contains("@font-face")
        );
    }
}

#[test]
fn pages_without_urls_in_their_findings_have_no_url_at_all() {
    for (name, report) in reports() {
        if name == "showcase" {
            continue; // its hostile finding quotes one, as text
        }
        let page = render(&report);
        for scheme in ["http://", "https://", "//fonts", "ftp://"] {
            assert!(!page.contains(scheme), "{name}: {scheme}");
        }
    }
}

#[test]
fn hostile_text_stays_text() {
    let page = render(&common::showcase_report());
    assert!(page.contains(
        "server said: &lt;/p&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img \
         src=&quot;http://evil.example/x.png&quot; onerror=alert(1)&gt;"
    ));
    assert!(page.contains("Clock skew of &lt;5 s&gt; &amp; &quot;more&quot; for &#39;this&#39; host; see <code>date -u</code>."));
    assert!(page.contains(
        "Run <code>chronyc makestep</code> &amp; check &lt;ntp.conf&gt; | *twice*; a lone ` backtick stays [x](y)."
    ));
    // The control character is shown, not sent.
    assert!(!page.contains('\u{1b}'));
    assert!(page.contains("not numbered \\u{1b}[2J"));
    // Only the markup the renderer writes: every `<` opens one of its own elements.
    let allowed = [
        "!DOCTYPE",
        "html",
        "head",
        "meta",
        "link",
        "title",
        "style",
        "body",
        "header",
        "main",
        "footer",
        "section",
        "article",
        "h1",
        "h2",
        "h3",
        "p",
        "span",
        "b",
        "code",
        "time",
        "ol",
        "ul",
        "li",
        "a",
        "dl",
        "dt",
        "dd",
        "div",
        "table",
        "caption",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "figure",
        "figcaption",
        "svg",
        "title",
        "line",
        "text",
        "path",
        "circle",
        "details",
        "summary",
        "pre",
    ];
    for (at, _) in page.match_indices('<') {
        let rest = page[at + 1..].trim_start_matches('/');
        let tag: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect();
        assert!(allowed.contains(&tag.as_str()), "<{tag} at {at}");
    }
}

#[test]
fn every_finding_is_on_the_page_with_its_code_and_anchor() {
    for (name, report) in reports() {
        let page = render(&report);
        let findings: usize = report.probes.iter().map(|probe| probe.findings.len()).sum();
        assert_eq!(
            page.matches("<li class=\"finding ").count(),
            findings,
            "{name}"
        );
        for (p, probe) in report.probes.iter().enumerate() {
            assert!(page.contains(&format!("id=\"probe-{}\"", p + 1)), "{name}");
            for (f, finding) in probe.findings.iter().enumerate() {
                let anchor = format!("id=\"probe-{}-finding-{}\"", p + 1, f + 1);
                let start = page
                    .find(&anchor)
                    .unwrap_or_else(|| panic!("{name}: {anchor}"));
                let item = &page[start..start + page[start..].find("</li>").unwrap()];
                assert!(item.contains(&format!(
                    "<span class=\"sev\">{}</span>",
                    finding.severity.as_str()
                )));
                if let (Some(code), Some(name), Some(hex)) =
                    (finding.code, &finding.name, &finding.hex)
                {
                    assert!(
                        item.contains(&format!("<b class=\"code\">{code}</b>")),
                        "{item}"
                    );
                    assert!(
                        item.contains(&format!("<code class=\"name\">{name}</code>")),
                        "{item}"
                    );
                    assert!(
                        item.contains(&format!("<span class=\"hex\">{hex}</span>")),
                        "{item}"
                    );
                }
                if let Some(detail) = finding.detail_code {
                    assert!(item.contains(&format!("detail <b>{detail}</b>")), "{item}");
                }
                if let Some(message) = &finding.message {
                    assert!(item.contains(&html::escape(message)), "{item}");
                }
                for text in [&finding.evidence, &finding.fix] {
                    if !text.contains('`') && !text.trim().is_empty() {
                        assert!(
                            item.contains(&html::escape(text)),
                            "{name}: {text:?} in {item}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn errors_and_warnings_are_listed_first_most_serious_first() {
    let page = render(&common::showcase_report());
    let start = page.find("<section class=\"to-fix\">").unwrap();
    let list = &page[start..start + page[start..].find("</section>").unwrap()];
    let severities: Vec<&str> = list
        .match_indices("<span class=\"sev\">")
        .map(|(at, tag)| {
            let rest = &list[at + tag.len()..];
            &rest[..rest.find('<').unwrap()]
        })
        .collect();
    assert_eq!(
        severities,
        ["error", "error", "error", "warning", "warning", "warning", "warning"]
    );
    // Each links to its finding.
    for href in attributes(list, "href") {
        assert!(page.contains(&format!("id=\"{}\"", &href[1..])), "{href}");
    }
    // A passing report has nothing to fix.
    assert!(!render(&common::passing_report()).contains("class=\"to-fix\""));
}

#[test]
fn areas_come_in_order_and_an_empty_one_says_so() {
    let page = render(&common::full_report());
    let order: Vec<usize> = [
        "area-devices",
        "area-browser",
        "area-network",
        "area-signaling",
        "area-webrtc",
        "area-account",
    ]
    .iter()
    .map(|id| page.find(&format!("id=\"{id}\"")).unwrap())
    .collect();
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{order:?}");
    // The full report has no browser and no WebRTC probe.
    assert!(page.contains("<section class=\"area empty\" id=\"area-browser\">"));
    assert!(page.contains("<section class=\"area empty\" id=\"area-webrtc\">"));
    assert!(page.contains("Not checked in this run: a WebRTC connection with a test peer."));
}

#[test]
fn the_path_matrix_is_a_table_of_ports_by_family() {
    let report = common::showcase_report();
    let page = render(&report);
    let start = page.find("<table class=\"matrix\">").unwrap();
    let table = &page[start..start + page[start..].find("</table>").unwrap()];
    assert!(table.contains("<th scope=\"col\">IPv4</th><th scope=\"col\">IPv6</th>"));
    // A row per protocol and port: 6 UDP ports and TLS 443.
    assert_eq!(table.matches("<th scope=\"row\">").count(), 7, "{table}");
    assert!(table.contains(
        "<tr><td>UDP</td><th scope=\"row\">843</th><td class=\"closed\" title=\"gave up after 1000 ms"
    ));
    assert!(table.contains("<td class=\"open\">open <span class=\"rtt\">21.5 ms</span></td><td class=\"closed\">no route</td>"));
    assert!(table.contains("<tr><td>TLS</td><th scope=\"row\">443</th><td class=\"open\">open <span class=\"rtt\">24 ms</span></td>"));
    // Only a ports probe has one; the demo's real matrix makes one too.
    assert_eq!(page.matches("<table class=\"matrix\">").count(), 1);
    let demo = html::render(&demo_report(), RenderOptions::default());
    assert_eq!(demo.matches("<table class=\"matrix\">").count(), 1);
}

/// The card of the first probe of `kind` on the page.
fn card<'a>(page: &'a str, report: &Report, kind: Kind) -> &'a str {
    let index = report
        .probes
        .iter()
        .position(|probe| probe.kind == kind)
        .unwrap();
    let card = &page[page.find(&format!("id=\"probe-{}\"", index + 1)).unwrap()..];
    &card[..card.find("</article>").unwrap()]
}

#[test]
fn a_quality_burst_is_a_chart_and_other_probes_have_none() {
    let report = common::showcase_report();
    let page = render(&report);
    assert_eq!(page.matches("<svg ").count(), 1);
    let card = card(&page, &report, Kind::Quality);
    assert!(
        card.contains("<svg viewBox=\"0 0 640 200\" role=\"img\""),
        "{card}"
    );
    assert!(card.contains(
        "RTT of 150 samples over the burst: min 20 ms, median 22.1 ms, max 48.3 ms; 4 lost"
    ));
    assert_eq!(card.matches("<line class=\"lost\"").count(), 4);
    // Its figures, in the probe's own shape: a percentage, a rate, the level and its cause.
    for figure in [
        "<dt>network quality</dt><dd>poor</dd>",
        "<dt>level (0–6)</dt><dd>3</dd>",
        "<dt>because of</dt><dd>loss 2.7 %</dd>",
        "<dt>RTT p95</dt><dd>34.9 ms</dd>",
        "<dt>loss</dt><dd>2.67 %</dd>",
        "<dt>uplink loss</dt><dd>1.33 %</dd>",
        "<dt>rate</dt><dd>50/s</dd>",
    ] {
        assert!(card.contains(figure), "{figure} not in {card}");
    }
    let card = self::card(&page, &report, Kind::Throughput);
    for figure in [
        "<dt>call&#39;s rate</dt><dd>1540 kbit/s</dd>",
        "<dt>the call fits</dt><dd>yes</dd>",
        "<dt>uplink achieved</dt><dd>1532 kbit/s</dd>",
        "<dt>uplink loss</dt><dd>0.41 %</dd>",
    ] {
        assert!(card.contains(figure), "{figure} not in {card}");
    }
}

#[test]
fn without_samples_the_chart_is_the_spread_of_the_rtt() {
    let mut report = common::showcase_report();
    let quality = report
        .probes
        .iter()
        .position(|probe| probe.kind == Kind::Quality)
        .unwrap();
    for samples in [
        serde_json::json!("not an array"),
        serde_json::json!([]),
        serde_json::json!([null, null, "x", {"rtt_ms": "slow"}]),
        serde_json::json!([{"seq": 1}]),
        serde_json::Value::Null,
    ] {
        report.probes[quality].metrics["rtt_samples_ms"] = samples.clone();
        let page = render(&report);
        let card = card(&page, &report, Kind::Quality);
        assert!(!card.contains("<path class=\"rtt\""), "{samples}");
        assert!(
            card.contains(
                "RTT over the burst: min 20.03 ms, median 22.15 ms, p95 34.89 ms, max 48.35 ms"
            ) || card.contains(
                "RTT over the burst: min 20 ms, median 22.1 ms, p95 34.9 ms, max 48.3 ms"
            ),
            "{card}"
        );
        assert!(card.contains("<rect class=\"range\""), "{card}");
    }
    // The probe as it writes its metrics today: no samples; and one that measured nothing.
    report.probes[quality].metrics.remove("rtt_samples_ms");
    assert!(render(&report).contains("<rect class=\"range\""));
    report.probes[quality].metrics["rtt_ms"] = serde_json::Value::Null;
    assert!(!render(&report).contains("<svg"));
    // Samples as objects with an `rtt_ms` each, the first of them lost.
    report.probes[quality].metrics.insert(
        "rtt_samples_ms".into(),
        serde_json::json!([{"rtt_ms": null}, {"rtt_ms": 20.0}, {"rtt_ms": 30.0}]),
    );
    assert!(render(&report)
        .contains("RTT of 3 samples over the burst: min 20 ms, median 30 ms, max 30 ms; 1 lost"));
}

#[test]
fn the_showcase_is_a_valid_report() {
    let validator = common::validator();
    let report = common::showcase_report();
    common::assert_valid(&validator, &common::rendered(&report));
}

#[test]
fn an_interrupted_run_says_so_at_the_top() {
    let page = render(&common::interrupted_report());
    let header = &page[page.find("<header").unwrap()..page.find("</header>").unwrap()];
    assert!(
        header.contains("Incomplete: the run was interrupted"),
        "{header}"
    );
    assert!(header.contains("<span class=\"word\">WARN</span>"));
    let nothing = render(&Report::assemble(
        "0.1.0",
        "2026-11-28T10:00:00Z".into(),
        0,
        true,
        vec![common::full_report().probes.remove(5)],
    ));
    assert!(nothing.contains("<header class=\"verdict v-skip\">"));
    assert!(nothing.contains("<span class=\"word\">NOTHING CHECKED</span>"));
}

#[test]
fn full_report() {
    insta::assert_snapshot!(render(&common::full_report()));
}
