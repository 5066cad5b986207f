//! Autoscaling (Shoal's `--autoscale`, issue 24): on each committed entry (once per index),
//! every scaling the autoscaler wrote ([`AutoscaleStatus`] changed)
//!
//! * lands within the service's bounds (`min ≤ replicas ≤ max`), and
//! * if it scales in on the tasks' CPU, comes at least a cooldown after the service's previous
//!   autoscaling: the load must have stayed low for a whole cooldown, so the replicas never
//!   flap (out, in, out) faster than that. Bringing replicas back within the bounds (after a
//!   `service scale` by hand, or new bounds) is immediate and exempt.

use shoal_core::model::{AutoscaleStatus, Object, ServiceMode};
use shoal_core::store::Event;

#[derive(Default)]
pub struct AutoscaleRules {
    checked_up_to: u64,
}

impl AutoscaleRules {
    pub fn committed(&mut self, index: u64, events: &[Event]) -> Result<(), String> {
        if index <= self.checked_up_to {
            return Ok(());
        }
        self.checked_up_to = index;
        for e in events {
            let Event::Updated { old: Object::Service(old), new: Object::Service(new) } = e else { continue };
            let (Some(st), Some(a)) = (&new.autoscale_status, &new.spec.autoscale) else { continue };
            if old.autoscale_status.as_ref() == Some(st) {
                continue;
            }
            let name = &new.spec.annotations.name;
            let ServiceMode::Replicated { replicas } = new.spec.mode else {
                return Err(format!("service {name}: autoscaled, but not a replicated service"));
            };
            if replicas != st.to_replicas || a.clamp(replicas) != replicas {
                return Err(format!("service {name}: the autoscaler set {replicas} replicas ({}), outside its bounds {a}", st.describe()));
            }
            let scaled_in_on_cpu = st.to_replicas < st.from_replicas && st.cpu_percent.is_some();
            if let Some(AutoscaleStatus { scaled_at_ms: before, .. }) = &old.autoscale_status {
                if scaled_in_on_cpu && st.scaled_at_ms < before.saturating_add(a.cooldown_ms) {
                    return Err(format!(
                        "service {name}: scaled in ({}) {} ms after its previous autoscaling, within its cooldown of {} ms (flapping)",
                        st.describe(),
                        st.scaled_at_ms.saturating_sub(*before),
                        a.cooldown_ms
                    ));
                }
            }
        }
        Ok(())
    }
}
