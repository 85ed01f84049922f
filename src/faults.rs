//! Fault injection for tests: `TRTC_PREFLIGHT_FAULTS="account=sleep:30s,room=panic"` makes the
//! named probe kinds stall or panic before they start, so the runner's deadlines, Ctrl-C handling
//! and panic isolation can be tested on the real binary. Unset, it does nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use preflight_reports::Kind;

/// The environment variable that injects faults.
pub const ENV: &str = "TRTC_PREFLIGHT_FAULTS";

/// What to do to a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wait this long first (a hung probe).
    Sleep(Duration),
    /// Panic with a fixed message.
    Panic,
}

/// Faults by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults(BTreeMap<Kind, Fault>);

impl Faults {
    /// Parses `kind=sleep:DURATION` and `kind=panic`, comma-separated.
    pub fn parse(text: &str) -> Result<Faults, String> {
        let mut faults = BTreeMap::new();
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (kind, fault) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not KIND=sleep:DURATION or KIND=panic"))?;
            let kind = Kind::parse(kind).ok_or_else(|| format!("{kind:?} is not a probe kind"))?;
            let fault = match fault.split_once(':') {
                Some(("sleep", duration)) => Fault::Sleep(crate::config::parse_duration(duration)?),
                None if fault == "panic" => Fault::Panic,
                _ => return Err(format!("{fault:?} is not sleep:DURATION or panic")),
            };
            faults.insert(kind, fault);
        }
        Ok(Faults(faults))
    }

    /// Applies the fault configured for `kind`, if any.
    pub async fn apply(&self, kind: Kind) {
        match self.0.get(&kind) {
            Some(Fault::Sleep(duration)) => tokio::time::sleep(*duration).await,
            Some(Fault::Panic) => panic!("fault injected by {ENV} into the {kind} probe"),
            None => {}
        }
    }
}
