//! A service's autoscaling bounds (`--autoscale min=2,max=10,target-cpu=70%`) and what the
//! autoscaler last did to it. Shoal's own: swarm has no autoscaler. The decisions are
//! core/src/orchestrator/autoscale.rs's; this file is the data and its one written form.
//!
//! CPU is counted as `docker stats` counts it: 100% is one whole CPU. In the simulator a task's
//! CPU comes from the requests it serves (each costs its image's `cpu-per-request`); on Docker
//! from the engine's container stats.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What [`Autoscale::cooldown_ms`] is when the flag does not say.
pub const AUTOSCALE_COOLDOWN_DEFAULT_MS: u64 = 60_000;
/// The highest `target-cpu` (a task may use up to this many CPUs' worth: 100 CPUs).
pub const AUTOSCALE_TARGET_CPU_PERCENT_MAX: u32 = 10_000;
/// The longest cooldown (the autoscaler keeps a cooldown's recommendations in memory).
pub const AUTOSCALE_COOLDOWN_MAX_MS: u64 = 3_600_000;

/// One running task's CPU, as its agent measured it since its previous heartbeat: thousandths
/// of a CPU (1000 = one whole CPU, `docker stats`' 100%). Not stored: it travels with
/// heartbeats to the leader's autoscaler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskUsage {
    pub task_id: String,
    pub cpu_millicores: u32,
}

/// `--autoscale`: the replicas follow the tasks' CPU between `min_replicas` and
/// `max_replicas`, aiming at `target_cpu_percent` per task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Autoscale {
    pub min_replicas: u64,
    pub max_replicas: u64,
    /// Average CPU per running task to aim at, in percent of one CPU.
    pub target_cpu_percent: u32,
    /// How long the load must have stayed low before the service scales in, and the least
    /// time between a scaling and the next scale-in: what keeps it from flapping.
    pub cooldown_ms: u64,
}

/// A `--autoscale` value that does not parse or does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --autoscale {value:?}: {why}; write e.g. min=2,max=10,target-cpu=70% (optional: cooldown=60s), or off")]
pub struct AutoscaleError {
    pub value: String,
    pub why: String,
}

impl Autoscale {
    /// Parses `min=N,max=N,target-cpu=P%[,cooldown=D]` (the `%` is optional).
    pub fn parse(value: &str) -> Result<Autoscale, AutoscaleError> {
        let bad = |why: String| AutoscaleError { value: value.to_string(), why };
        let (mut min, mut max, mut target, mut cooldown) = (None, None, None, None);
        for kv in value.split(',') {
            let (k, v) = kv.split_once('=').ok_or_else(|| bad(format!("{kv:?} is not key=value")))?;
            let (k, v) = (k.trim(), v.trim());
            let number = |what: &str, v: &str| v.parse::<u64>().map_err(|_| bad(format!("{what} {v:?} is not a whole number")));
            let slot = match k {
                "min" => &mut min,
                "max" => &mut max,
                "target-cpu" => &mut target,
                "cooldown" => &mut cooldown,
                _ => return Err(bad(format!("unknown key {k:?} (keys: min, max, target-cpu, cooldown)"))),
            };
            if slot.is_some() {
                return Err(bad(format!("{k} is given twice")));
            }
            *slot = Some(match k {
                "target-cpu" => number(k, v.strip_suffix('%').unwrap_or(v))?,
                "cooldown" => {
                    let d = humantime::parse_duration(v).map_err(|e| bad(format!("cooldown {v:?} is not a duration ({e})")))?;
                    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
                }
                _ => number(k, v)?,
            });
        }
        let a = Autoscale {
            min_replicas: min.ok_or_else(|| bad("min is missing".into()))?,
            max_replicas: max.ok_or_else(|| bad("max is missing".into()))?,
            target_cpu_percent: u32::try_from(target.ok_or_else(|| bad("target-cpu is missing".into()))?).unwrap_or(u32::MAX),
            cooldown_ms: cooldown.unwrap_or(AUTOSCALE_COOLDOWN_DEFAULT_MS),
        };
        a.check().map_err(bad)?;
        Ok(a)
    }

    /// What makes bounds meaningless, said so the user can fix it.
    pub fn check(&self) -> Result<(), String> {
        if self.min_replicas == 0 {
            return Err("min must be at least 1 (a service scaled to 0 has no task to measure)".into());
        }
        if self.min_replicas > self.max_replicas {
            return Err(format!("min {} is above max {}", self.min_replicas, self.max_replicas));
        }
        if self.target_cpu_percent == 0 || self.target_cpu_percent > AUTOSCALE_TARGET_CPU_PERCENT_MAX {
            return Err(format!("target-cpu {}% is outside 1%..{AUTOSCALE_TARGET_CPU_PERCENT_MAX}%", self.target_cpu_percent));
        }
        if self.cooldown_ms < 1_000 {
            return Err(format!("cooldown {} ms is under a second: the tasks' CPU is measured every few seconds", self.cooldown_ms));
        }
        if self.cooldown_ms > AUTOSCALE_COOLDOWN_MAX_MS {
            return Err(format!("cooldown {} ms is over an hour, the longest the autoscaler remembers", self.cooldown_ms));
        }
        Ok(())
    }

    /// `replicas` brought within the bounds.
    pub fn clamp(&self, replicas: u64) -> u64 {
        replicas.clamp(self.min_replicas, self.max_replicas)
    }
}

/// The written form [`Autoscale::parse`] reads back (`inspect`, the Engine API label).
impl fmt::Display for Autoscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "min={},max={},target-cpu={}%", self.min_replicas, self.max_replicas, self.target_cpu_percent)?;
        if self.cooldown_ms != AUTOSCALE_COOLDOWN_DEFAULT_MS {
            write!(f, ",cooldown={}", humantime::format_duration(std::time::Duration::from_millis(self.cooldown_ms)))?;
        }
        Ok(())
    }
}

/// The autoscaler's latest change to a service (in the store, so a new leader keeps the
/// cooldown and `inspect` can say why the replicas moved).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoscaleStatus {
    pub scaled_at_ms: u64,
    pub from_replicas: u64,
    pub to_replicas: u64,
    /// The running tasks' average CPU that decided it (percent of one CPU); None when the
    /// bounds alone moved the replicas.
    pub cpu_percent: Option<u32>,
}

impl AutoscaleStatus {
    /// One line for `inspect --pretty` and the leader's log.
    pub fn describe(&self) -> String {
        let why = match self.cpu_percent {
            Some(p) => format!("average CPU {p}% per task"),
            None => "outside the bounds".to_string(),
        };
        format!("{} -> {} replicas ({why})", self.from_replicas, self.to_replicas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        let a = Autoscale::parse("min=2,max=10,target-cpu=70%").unwrap();
        assert_eq!(a, Autoscale { min_replicas: 2, max_replicas: 10, target_cpu_percent: 70, cooldown_ms: 60_000 });
        assert_eq!(a.to_string(), "min=2,max=10,target-cpu=70%");
        let b = Autoscale::parse(" max=4 , min=1,target-cpu=150,cooldown=2m").unwrap();
        assert_eq!(b.cooldown_ms, 120_000);
        assert_eq!(Autoscale::parse(&b.to_string()).unwrap(), b);
    }

    #[test]
    fn refuses_what_does_not_hold_together() {
        for (v, why) in [
            ("min=3,max=2,target-cpu=50%", "above max"),
            ("min=0,max=2,target-cpu=50%", "at least 1"),
            ("min=1,max=2", "target-cpu is missing"),
            ("min=1,max=2,target-cpu=0%", "outside"),
            ("min=1,max=2,target-cpu=50%,cooldown=10ms", "under a second"),
            ("min=1,max=2,target-cpu=50%,cooldown=2h", "over an hour"),
            ("min=1,max=2,target-cpu=50%,cpu=3", "unknown key"),
            ("min=1,min=2,max=2,target-cpu=5", "twice"),
            ("min=x,max=2,target-cpu=5", "whole number"),
            ("on", "key=value"),
        ] {
            let e = Autoscale::parse(v).unwrap_err();
            assert!(e.to_string().contains(why), "{v}: {e}");
        }
    }
}
