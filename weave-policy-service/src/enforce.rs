//! Keeps this host's kernel in step with the policy model: the full transition when policies
//! change (or at start), element commands when targets change. Each step is one nft
//! transaction; when one fails the kernel keeps the rules it had and so does our record of
//! them, so the next step starts from the truth.

use super::nft;
use weave_netdev::{nft as kernel, NetdevError};
use weave_policy::{ElemChange, KernelView};

#[derive(Debug)]
pub struct Enforcer {
    /// What the kernel holds, as far as we applied it (`None`: unknown, rebuild).
    applied: Option<KernelView>,
    /// The overlay's UDP ports (`--port` and the one above it), left untracked.
    overlay_ports: Vec<u16>,
}

impl Default for Enforcer {
    fn default() -> Enforcer {
        Enforcer { applied: None, overlay_ports: nft::OVERLAY_PORTS.to_vec() }
    }
}

impl Enforcer {
    pub fn new() -> Enforcer {
        Enforcer::default()
    }

    /// An enforcer for a router on UDP `port` (sleeve) and `port + 1` (fastdp).
    pub fn with_overlay_port(port: u16) -> Enforcer {
        Enforcer { applied: None, overlay_ports: vec![port, port.wrapping_add(1)] }
    }

    /// Brings the kernel to `view` (policies changed, or start).
    pub fn sync(&mut self, view: &KernelView) -> Result<(), NetdevError> {
        if !view.policies.is_empty() {
            // Bridged frames reach the forward hook only with this on (it is by default in a
            // new namespace, but a host may have turned it off).
            let _ = weave_netdev::sysctl::write("net/bridge/bridge-nf-call-iptables", "1");
        }
        kernel::apply_batch(&nft::transition(self.applied.as_ref(), view, &self.overlay_ports))?;
        self.applied = Some(view.clone());
        Ok(())
    }

    /// Applies element changes (a target came, went or changed). Nothing to do while no table
    /// exists: the next [`Enforcer::sync`] carries them.
    pub fn apply(&mut self, changes: &[ElemChange]) -> Result<(), NetdevError> {
        let Some(applied) = self.applied.as_mut().filter(|a| !a.policies.is_empty()) else { return Ok(()) };
        let Some(batch) = nft::element_changes(changes) else { return Ok(()) };
        kernel::apply_batch(&batch)?;
        nft::apply_changes(applied, changes);
        Ok(())
    }

    /// Forgets what was applied, so the next sync rebuilds the table (it was removed under us).
    pub fn invalidate(&mut self) {
        self.applied = None;
    }

    /// What the kernel holds, as far as we applied it.
    pub fn applied(&self) -> Option<&KernelView> {
        self.applied.as_ref()
    }

    /// Whether the kernel should have our table now.
    pub fn active(&self) -> bool {
        self.applied.as_ref().is_some_and(|a| !a.policies.is_empty())
    }

    /// Removes the table (`weave reset`).
    pub fn remove() -> Result<(), NetdevError> {
        if kernel::table_exists("inet", nft::TABLE) {
            kernel::run(&["delete", "table", "inet", nft::TABLE])?;
        }
        Ok(())
    }

    /// The named counters: per policy rule (`pN_iR`, `pN_eR`) and per isolating policy
    /// (`pN_drop_i`, `pN_drop_e`).
    pub fn counters() -> Result<Vec<kernel::CounterValue>, NetdevError> {
        kernel::counters("inet", nft::TABLE)
    }
}
