//! Quality rules: a burst's figures on TRTC's network-quality scale.
//!
//! TRTC reports network quality as a level from 0 to 6 (`TRTC.EVENT.NETWORK_QUALITY` on the Web,
//! `onNetworkQuality` elsewhere): 0 unknown, 1 excellent, 2 good, 3 poor, 4 bad ("obvious lag
//! and call latency may occur"), 5 very bad ("TRTC can only barely keep the connection, and
//! cannot guarantee the quality"), 6 down ("does not meet TRTC's minimum requirements"). Its
//! speed test says how the level is found: the lower the loss and the smaller the RTT, the better
//! the level. So the level here is the worse of a level by loss and a level by round trip, from
//! one table ([`LEVELS`]):
//!
//! | level | name | loss at most | median RTT at most |
//! |---|---|---|---|
//! | 1 | excellent | 1 % | 100 ms |
//! | 2 | good | 3 % | 200 ms |
//! | 3 | poor | 8 % | 300 ms |
//! | 4 | bad | 15 % | 500 ms |
//! | 5 | very bad | more | more |
//! | 6 | disconnected | nothing came back | |
//! | 0 | unknown | not measured | |
//!
//! The loss graded for the whole path counts the late answers too (an answer a second late is of
//! no use to a call); with a `serve` token, the uplink and the downlink get a level each, from
//! their own loss and the round trip. Jitter is reported, not graded (TRTC does not grade by it).
//!
//! | observation | finding |
//! |---|---|
//! | level 1 or 2 | pass, the figures and the level in the metrics |
//! | level 3, 4 or 5 (whole path or one direction) | warning naming each figure past the good band and its value; the fix follows the cause (loss or round trip), and without a token it says that `serve` limits untokened sources to 20 requests a second |
//! | nothing came back, or ICMP port unreachable | info: quality could not be measured; reachability is the ports and stun probes' to judge (they raise `16387` when no path works) |
//! | the probe could not run here (no route, no socket) | info: not measured, with the reason |

use preflight_probes::quality::{Figures, NoSplit, Observation, Outcome};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::note;

/// One row of the level table: the level, its name, and the most loss (a fraction) and median
/// round trip (ms) it allows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    /// TRTC's level number.
    pub level: u8,
    /// TRTC's name for it.
    pub name: &'static str,
    /// The most loss allowed, as a fraction.
    pub max_loss: f64,
    /// The highest median round trip allowed, in ms.
    pub max_rtt_ms: f64,
}

/// Levels 1 to 4; beyond level 4's bounds a path is level 5 (very bad), and one where nothing
/// came back is level 6 (disconnected).
pub const LEVELS: [Level; 4] = [
    Level {
        level: 1,
        name: "excellent",
        max_loss: 0.01,
        max_rtt_ms: 100.0,
    },
    Level {
        level: 2,
        name: "good",
        max_loss: 0.03,
        max_rtt_ms: 200.0,
    },
    Level {
        level: 3,
        name: "poor",
        max_loss: 0.08,
        max_rtt_ms: 300.0,
    },
    Level {
        level: 4,
        name: "bad",
        max_loss: 0.15,
        max_rtt_ms: 500.0,
    },
];

/// TRTC's name for a level.
pub fn level_name(level: u8) -> &'static str {
    match level {
        1..=4 => LEVELS[usize::from(level) - 1].name,
        5 => "very bad",
        6 => "disconnected",
        _ => "unknown",
    }
}

/// The level a loss fraction alone allows.
pub fn level_by_loss(loss: f64) -> u8 {
    LEVELS
        .iter()
        .find(|row| loss <= row.max_loss + 1e-12)
        .map_or(5, |row| row.level)
}

/// The level a median round trip alone allows.
pub fn level_by_rtt(rtt_ms: f64) -> u8 {
    LEVELS
        .iter()
        .find(|row| rtt_ms <= row.max_rtt_ms)
        .map_or(5, |row| row.level)
}

/// A figure that set a level.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    /// `loss`, `uplink loss`, `downlink loss` or `median RTT`.
    pub figure: &'static str,
    /// Its value, for people (`6.0 %`, `312.4 ms`).
    pub value: String,
    /// The level it alone allows.
    pub level: u8,
    /// The bound of the good band it passed (`3 %`, `200 ms`).
    pub good_bound: String,
}

/// The levels of a measured burst.
#[derive(Clone, Debug, PartialEq)]
pub struct Levels {
    /// The whole path: lost and late answers, and the round trip.
    pub overall: u8,
    /// The uplink, with a split.
    pub uplink: Option<u8>,
    /// The downlink, with a split.
    pub downlink: Option<u8>,
    /// The figures past the good band (level 3 or worse), worst first.
    pub causes: Vec<Cause>,
}

fn percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Milliseconds for people: two decimals below 10 ms, one above.
fn ms_text(duration: std::time::Duration) -> String {
    let value = ms(duration);
    if value < 10.0 {
        format!("{value:.2} ms")
    } else {
        format!("{value:.1} ms")
    }
}

/// The levels of `figures` (level 6 when nothing came back).
pub fn levels(figures: &Figures) -> Levels {
    if !figures.any_answer() {
        return Levels {
            overall: 6,
            uplink: None,
            downlink: None,
            causes: Vec::new(),
        };
    }
    let graded_loss = figures.loss() + figures.late_fraction();
    let rtt_level = figures.rtt.map_or(5, |rtt| level_by_rtt(ms(rtt.median)));
    let good = &LEVELS[1];
    let mut causes = Vec::new();
    let mut add = |figure: &'static str, fraction: f64| {
        let level = level_by_loss(fraction);
        if level >= 3 {
            causes.push(Cause {
                figure,
                value: percent(fraction),
                level,
                good_bound: format!("{} %", good.max_loss * 100.0),
            });
        }
        level
    };
    let loss_level = add("loss", graded_loss);
    let (uplink, downlink) = match &figures.split {
        Ok(split) => {
            let up = add("uplink loss", split.uplink_loss(figures.sent));
            let down = add("downlink loss", split.downlink_loss());
            (Some(up.max(rtt_level)), Some(down.max(rtt_level)))
        }
        Err(_) => (None, None),
    };
    if rtt_level >= 3 {
        causes.push(Cause {
            figure: "median RTT",
            value: figures.rtt.map_or("none on time".to_string(), |rtt| {
                format!("{:.1} ms", ms(rtt.median))
            }),
            level: rtt_level,
            good_bound: format!("{} ms", good.max_rtt_ms),
        });
    }
    causes.sort_by_key(|cause| std::cmp::Reverse(cause.level));
    Levels {
        overall: loss_level
            .max(rtt_level)
            .max(uplink.unwrap_or(0))
            .max(downlink.unwrap_or(0)),
        uplink,
        downlink,
        causes,
    }
}

/// What the diagnosis needs beyond the observation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context {
    /// A `serve` token was given (requests skip its rate limit).
    pub token: bool,
    /// `serve`'s default limit for sources without the token, requests a second.
    pub untokened_limit: u32,
}

/// Whether the probe measured nothing (the report marks it `skip`).
pub fn skipped(observation: &Observation) -> bool {
    match &observation.outcome {
        Outcome::NotRun { .. } => true,
        Outcome::Measured(figures) => !figures.any_answer(),
    }
}

/// One line of the figures, for evidence.
fn figures_text(observation: &Observation, figures: &Figures) -> String {
    let mut text = format!(
        "{} STUN requests to {} at {} a second: {} answered on time, {} late (after {} ms), {} lost ({})",
        figures.sent,
        observation.target,
        observation.rate,
        figures.on_time,
        figures.late,
        observation.cutoff.as_millis(),
        figures.lost,
        percent(figures.loss()),
    );
    if let Some(rtt) = figures.rtt {
        text.push_str(&format!(
            "; RTT min {}, median {}, p95 {}, max {}",
            ms_text(rtt.min),
            ms_text(rtt.median),
            ms_text(rtt.p95),
            ms_text(rtt.max)
        ));
    }
    if let Some(jitter) = figures.jitter {
        text.push_str(&format!(", jitter {}", ms_text(jitter)));
    }
    if figures.duplicates + figures.reordered > 0 {
        text.push_str(&format!(
            "; {} reordered, {} duplicated",
            figures.reordered, figures.duplicates
        ));
    }
    match &figures.split {
        Ok(split) => text.push_str(&format!(
            "; serve received {} of {}: uplink lost {} ({}), downlink lost {} of {} answers ({})",
            split.server_received,
            figures.sent,
            split.uplink_lost,
            percent(split.uplink_loss(figures.sent)),
            split.downlink_lost,
            split.server_received,
            percent(split.downlink_loss())
        )),
        Err(reason) if figures.split_asked => text.push_str(&format!(
            "; loss not split by direction: {}",
            no_split_text(*reason)
        )),
        Err(_) => {}
    }
    text.push('.');
    text
}

fn no_split_text(reason: NoSplit) -> &'static str {
    match reason {
        NoSplit::NotCounted => {
            "no answer carried serve's count (not a trtc-preflight serve with this token)"
        }
        NoSplit::QueryUnanswered => "serve's final count never came back",
        NoSplit::Inconsistent => {
            "serve's count was lower than the answers received (it forgot the burst)"
        }
    }
}

/// Findings of one `quality` probe.
pub fn findings(observation: &Observation, context: &Context) -> Vec<Finding> {
    let figures = match &observation.outcome {
        Outcome::NotRun { reason } => {
            return vec![note(
                Severity::Info,
                "Network quality was not measured on this machine.",
                format!("{}: {reason}.", observation.target),
                "If there is no route to the host, the stun and ports probes say so; otherwise run the check again.".to_string(),
            )]
        }
        Outcome::Measured(figures) => figures,
    };
    if figures.rejected {
        return vec![note(
            Severity::Info,
            "Network quality could not be measured: nothing listens on that UDP port. Whether media can reach the host is for the ports and stun probes to judge.",
            format!(
                "{}: ICMP port unreachable came back to the first request, before any answer.",
                observation.target
            ),
            format!(
                "Point the quality probe at a UDP port that answers STUN: --ports with a `trtc-preflight serve` listening on UDP {}, or --udp-ports with a port it listens on.",
                observation.target.port()
            ),
        )];
    }
    if !figures.any_answer() {
        return vec![note(
            Severity::Info,
            "Network quality could not be measured: nothing came back (TRTC would call this level 6, disconnected). Whether media can reach the host at all is for the ports and stun probes to judge, and they raise 16387 when no path works.",
            figures_text(observation, figures),
            "Read the ports and stun findings for this host; if they pass, run the check again: a path that answers a few requests but not a steady burst is filtered or overloaded.".to_string(),
        )];
    }
    let levels = levels(figures);
    if levels.overall < 3 {
        return Vec::new();
    }
    let causes: Vec<String> = levels
        .causes
        .iter()
        .map(|cause| {
            format!(
                "{} {} ({}: good is at most {})",
                cause.figure,
                cause.value,
                level_name(cause.level),
                cause.good_bound
            )
        })
        .collect();
    let description = format!(
        "The path's quality is {} on TRTC's network-quality scale (level {} of 6): in a call, audio and video would {}.",
        level_name(levels.overall),
        levels.overall,
        match levels.overall {
            3 => "stutter at times and the SDK would lower the resolution to cope",
            4 => "lag and freeze noticeably, with a lower resolution",
            _ => "break up; TRTC can barely keep such a connection and cannot guarantee the call",
        }
    );
    let loss_caused = levels.causes.iter().any(|c| c.figure.ends_with("loss"));
    let rtt_caused = levels.causes.iter().any(|c| c.figure == "median RTT");
    let mut fix = String::new();
    if loss_caused {
        if !context.token && observation.rate > context.untokened_limit {
            fix.push_str(&format!(
                "If the host is a `trtc-preflight serve`, pass its token in TRTC_PREFLIGHT_TOKEN first: without it serve answers only {} requests a second per source, and the rest shows up here as loss. Otherwise: ",
                context.untokened_limit
            ));
        }
        let where_ = match (levels.uplink, levels.downlink) {
            (Some(up), Some(down)) if up >= 3 && down < 3 => " on the way out (uplink)",
            (Some(up), Some(down)) if down >= 3 && up < 3 => " on the way in (downlink)",
            _ => "",
        };
        fix.push_str(&format!(
            "packets are lost{where_}: use a wired connection instead of Wi-Fi (or move closer to the access point), pause large uploads and downloads on this network, and try without the VPN if one is on."
        ));
    }
    if rtt_caused {
        if loss_caused {
            fix.push(' ');
        }
        fix.push_str("The round trip is long: check that traffic is not detoured through a distant VPN or proxy, and that the network's uplink is not saturated (a full queue adds delay before it drops).");
    }
    let fix = format!("Driven by {}. {}", causes.join(", "), capitalise(&fix));
    vec![note(
        Severity::Warning,
        &description,
        figures_text(observation, figures),
        fix,
    )]
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn round(value: f64) -> Value {
    json!((value * 1000.0).round() / 1000.0)
}

/// `metrics` of one `quality` probe.
pub fn metrics(observation: &Observation) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("target".into(), json!(observation.target.to_string()));
    m.insert("rate_per_s".into(), json!(observation.rate));
    m.insert(
        "duration_ms".into(),
        json!(observation.duration.as_millis() as u64),
    );
    m.insert(
        "cutoff_ms".into(),
        json!(observation.cutoff.as_millis() as u64),
    );
    let figures = match &observation.outcome {
        Outcome::NotRun { reason } => {
            m.insert("result".into(), json!("not_run"));
            m.insert("reason".into(), json!(reason));
            None
        }
        Outcome::Measured(figures) if figures.rejected => {
            m.insert("result".into(), json!("rejected"));
            m.insert("reason".into(), Value::Null);
            Some(figures)
        }
        Outcome::Measured(figures) => {
            m.insert("result".into(), json!("measured"));
            m.insert("reason".into(), Value::Null);
            Some(figures)
        }
    };
    let count = |f: &dyn Fn(&Figures) -> u32| json!(figures.map_or(0, f));
    m.insert("sent".into(), count(&|f| f.sent));
    m.insert("on_time".into(), count(&|f| f.on_time));
    m.insert("late".into(), count(&|f| f.late));
    m.insert("lost".into(), count(&|f| f.lost));
    m.insert("duplicates".into(), count(&|f| f.duplicates));
    m.insert("reordered".into(), count(&|f| f.reordered));
    m.insert(
        "loss_percent".into(),
        figures.map_or(Value::Null, |f| round(f.loss() * 100.0)),
    );
    m.insert(
        "late_percent".into(),
        figures.map_or(Value::Null, |f| round(f.late_fraction() * 100.0)),
    );
    m.insert(
        "rtt_ms".into(),
        figures.and_then(|f| f.rtt).map_or(Value::Null, |rtt| {
            json!({
                "min": round(ms(rtt.min)),
                "median": round(ms(rtt.median)),
                "p95": round(ms(rtt.p95)),
                "max": round(ms(rtt.max)),
            })
        }),
    );
    m.insert(
        "rtt_samples_ms".into(),
        Value::Array(figures.map_or(Vec::new(), |f| {
            f.samples
                .iter()
                .map(|sample| sample.map_or(Value::Null, |rtt| round(ms(rtt))))
                .collect()
        })),
    );
    m.insert(
        "jitter_ms".into(),
        figures
            .and_then(|f| f.jitter)
            .map_or(Value::Null, |jitter| round(ms(jitter))),
    );
    let split = figures.and_then(|f| f.split.ok().map(|split| (f, split)));
    m.insert(
        "split".into(),
        split.map_or(Value::Null, |(f, split)| {
            json!({
                "server_received": split.server_received,
                "server_duplicates": split.server_duplicates,
                "uplink_lost": split.uplink_lost,
                "uplink_loss_percent": round(split.uplink_loss(f.sent) * 100.0),
                "downlink_lost": split.downlink_lost,
                "downlink_loss_percent": round(split.downlink_loss() * 100.0),
            })
        }),
    );
    m.insert(
        "split_note".into(),
        match figures.map(|f| (&f.split, f.split_asked)) {
            Some((Err(reason), true)) => json!(no_split_text(*reason)),
            _ => Value::Null,
        },
    );
    let levels = figures.filter(|f| !f.rejected).map(levels);
    let level = levels.as_ref().map_or(0, |l| l.overall);
    m.insert("level".into(), json!(level));
    m.insert("level_name".into(), json!(level_name(level)));
    m.insert(
        "uplink_level".into(),
        json!(levels.as_ref().and_then(|l| l.uplink)),
    );
    m.insert(
        "downlink_level".into(),
        json!(levels.as_ref().and_then(|l| l.downlink)),
    );
    m.insert(
        "level_causes".into(),
        json!(levels.as_ref().map_or(Vec::new(), |l| l
            .causes
            .iter()
            .map(|c| format!("{} {}", c.figure, c.value))
            .collect::<Vec<_>>())),
    );
    m.insert(
        "took_ms".into(),
        json!(figures.map_or(0, |f| f.elapsed.as_millis() as u64)),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::quality::{RttStats, Split};
    use std::time::Duration;

    fn ms_(n: f64) -> Duration {
        Duration::from_secs_f64(n / 1000.0)
    }

    /// A burst of 100 with `lost` lost, `late` late and a constant RTT.
    fn figures(lost: u32, late: u32, rtt_ms: f64, split: Option<(u32, u32)>) -> Figures {
        let on_time = 100 - lost - late;
        Figures {
            sent: 100,
            on_time,
            late,
            lost,
            duplicates: 0,
            reordered: 0,
            error_responses: 0,
            ignored: 0,
            rtt: (on_time > 0).then(|| RttStats {
                min: ms_(rtt_ms),
                median: ms_(rtt_ms),
                p95: ms_(rtt_ms),
                max: ms_(rtt_ms),
            }),
            samples: (0..100)
                .map(|n| (n < on_time).then(|| ms_(rtt_ms)))
                .collect(),
            jitter: Some(ms_(0.5)),
            split: match split {
                Some((up, down)) => Ok(Split {
                    server_received: 100 - up,
                    server_duplicates: 0,
                    uplink_lost: up,
                    downlink_lost: down,
                }),
                None => Err(NoSplit::NotCounted),
            },
            split_asked: split.is_some(),
            rejected: false,
            elapsed: Duration::from_millis(2300),
        }
    }

    fn observation(figures: Figures) -> Observation {
        Observation {
            target: "192.0.2.1:3478".parse().unwrap(),
            local: None,
            rate: 50,
            duration: Duration::from_secs(2),
            cutoff: Duration::from_secs(1),
            outcome: Outcome::Measured(figures),
        }
    }

    fn with_token() -> Context {
        Context {
            token: true,
            untokened_limit: 20,
        }
    }

    #[test]
    fn the_table_grades_loss_and_rtt_and_takes_the_worse() {
        for (loss, level) in [
            (0.0, 1),
            (0.01, 1),
            (0.02, 2),
            (0.03, 2),
            (0.05, 3),
            (0.08, 3),
            (0.1, 4),
            (0.15, 4),
            (0.2, 5),
        ] {
            assert_eq!(level_by_loss(loss), level, "{loss}");
        }
        for (rtt, level) in [
            (10.0, 1),
            (100.0, 1),
            (150.0, 2),
            (250.0, 3),
            (400.0, 4),
            (800.0, 5),
        ] {
            assert_eq!(level_by_rtt(rtt), level, "{rtt}");
        }
        assert_eq!(levels(&figures(0, 0, 250.0, None)).overall, 3);
        assert_eq!(levels(&figures(10, 0, 20.0, None)).overall, 4);
        assert_eq!(levels(&figures(10, 0, 600.0, None)).overall, 5);
        assert_eq!(levels(&figures(100, 0, 0.0, None)).overall, 6);
        for (level, name) in [
            (0, "unknown"),
            (1, "excellent"),
            (2, "good"),
            (3, "poor"),
            (4, "bad"),
            (5, "very bad"),
            (6, "disconnected"),
        ] {
            assert_eq!(level_name(level), name);
        }
    }

    #[test]
    fn a_good_path_passes_with_its_level_in_the_metrics() {
        let o = observation(figures(1, 0, 30.0, Some((1, 0))));
        assert!(findings(&o, &with_token()).is_empty());
        let m = metrics(&o);
        assert_eq!(m["level"], 1);
        assert_eq!(m["level_name"], "excellent");
        assert_eq!(m["uplink_level"], 1);
        assert_eq!(m["split"]["uplink_lost"], 1);
        assert_eq!(m["rtt_ms"]["median"], 30.0);
        assert!(!skipped(&o));
    }

    #[test]
    fn a_poor_level_is_a_warning_naming_the_figure() {
        let o = observation(figures(6, 0, 20.0, None));
        let found = findings(&o, &with_token());
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.code, None);
        assert!(f.description.contains("poor"), "{}", f.description);
        assert!(
            f.fix.contains("loss 6.0 % (poor: good is at most 3 %)"),
            "{}",
            f.fix
        );
        assert!(f.evidence.contains("6 lost (6.0 %)"), "{}", f.evidence);
        assert!(!f.fix.contains("TRTC_PREFLIGHT_TOKEN"), "{}", f.fix);
    }

    #[test]
    fn late_answers_count_towards_the_graded_loss() {
        let o = observation(figures(2, 4, 20.0, None));
        let found = findings(&o, &with_token());
        assert!(found[0].fix.contains("loss 6.0 %"), "{}", found[0].fix);
        assert!(
            found[0].evidence.contains("4 late"),
            "{}",
            found[0].evidence
        );
    }

    #[test]
    fn the_direction_at_fault_is_named() {
        let o = observation(figures(6, 0, 20.0, Some((6, 0))));
        let f = &findings(&o, &with_token())[0];
        assert!(f.fix.contains("uplink loss 6.0 %"), "{}", f.fix);
        assert!(f.fix.contains("on the way out (uplink)"), "{}", f.fix);
        let m = metrics(&o);
        assert_eq!(
            (m["uplink_level"].as_u64(), m["downlink_level"].as_u64()),
            (Some(3), Some(1))
        );
        let o = observation(figures(6, 0, 20.0, Some((0, 6))));
        let f = &findings(&o, &with_token())[0];
        assert!(f.fix.contains("downlink loss 6.0 %"), "{}", f.fix);
        assert!(f.fix.contains("on the way in (downlink)"), "{}", f.fix);
    }

    #[test]
    fn a_long_round_trip_is_named_with_its_own_fix() {
        let o = observation(figures(0, 0, 350.0, None));
        let f = &findings(&o, &with_token())[0];
        assert!(f.description.contains("bad"), "{}", f.description);
        assert!(
            f.fix
                .contains("median RTT 350.0 ms (bad: good is at most 200 ms)"),
            "{}",
            f.fix
        );
        assert!(f.fix.contains("detoured"), "{}", f.fix);
    }

    #[test]
    fn without_a_token_the_fix_mentions_serves_rate_limit() {
        let o = observation(figures(60, 0, 20.0, None));
        let f = &findings(
            &o,
            &Context {
                token: false,
                untokened_limit: 20,
            },
        )[0];
        assert!(f.description.contains("very bad"), "{}", f.description);
        assert!(f.fix.contains("TRTC_PREFLIGHT_TOKEN"), "{}", f.fix);
        assert!(f.fix.contains("20 requests a second"), "{}", f.fix);
    }

    #[test]
    fn nothing_back_is_information_not_a_second_16387() {
        let o = observation(figures(100, 0, 0.0, None));
        let found = findings(&o, &with_token());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Info);
        assert_eq!(found[0].code, None);
        assert!(found[0].description.contains("could not be measured"));
        assert!(skipped(&o));
        let m = metrics(&o);
        assert_eq!(m["level"], 6);
        assert_eq!(m["rtt_ms"], Value::Null);
    }

    #[test]
    fn a_rejected_port_or_a_probe_that_could_not_run_is_information() {
        let mut f = figures(100, 0, 0.0, None);
        f.sent = 1;
        f.lost = 1;
        f.rejected = true;
        let o = observation(f);
        let found = findings(&o, &with_token());
        assert_eq!(found[0].severity, Severity::Info);
        assert!(found[0].evidence.contains("ICMP port unreachable"));
        assert!(skipped(&o));
        assert_eq!(metrics(&o)["result"], "rejected");
        assert_eq!(metrics(&o)["level"], 0);
        let o = Observation {
            outcome: Outcome::NotRun {
                reason: "no route".into(),
            },
            ..observation(figures(0, 0, 1.0, None))
        };
        let found = findings(&o, &with_token());
        assert_eq!(found[0].severity, Severity::Info);
        assert!(found[0].evidence.contains("no route"));
        assert_eq!(metrics(&o)["result"], "not_run");
    }

    #[test]
    fn a_split_that_could_not_be_made_is_said() {
        let mut f = figures(6, 0, 20.0, None);
        f.split_asked = true;
        f.split = Err(NoSplit::QueryUnanswered);
        let o = observation(f);
        let found = findings(&o, &with_token());
        assert!(
            found[0].evidence.contains("final count never came back"),
            "{}",
            found[0].evidence
        );
        assert_eq!(
            metrics(&o)["split_note"],
            "serve's final count never came back"
        );
    }
}
