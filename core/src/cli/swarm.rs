//! `swarm …`: `swarm init`'s cluster settings, `swarm update`, `join-token`, `unlock-key`, and
//! the control op autolock's commands send (shared by the CLI and the simulator's steps).

use clap::Subcommand;

/// `swarm init`'s cluster settings (docker's flags and defaults).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct InitFlags {
    /// Default address pool in CIDR format (repeatable; default 10.0.0.0/8)
    #[arg(long = "default-addr-pool")]
    pub default_addr_pool: Vec<String>,
    /// Default address pool subnet mask length
    #[arg(long = "default-addr-pool-mask-length", default_value_t = 24)]
    pub default_addr_pool_mask_length: u8,
    /// Task history retention limit
    #[arg(long = "task-history-limit", default_value_t = 5)]
    pub task_history_limit: u32,
    /// The most replicas one service may ask for (Shoal's guard against a swarm-sized typo)
    #[arg(long = "max-service-replicas", default_value_t = crate::model::DEFAULT_MAX_SERVICE_REPLICAS)]
    pub max_service_replicas: u64,
    /// Enable manager autolocking (requiring an unlock key to start a stopped manager)
    #[arg(long)]
    pub autolock: bool,
    /// Dispatcher heartbeat period (ns|us|ms|s|m|h; default 5s)
    #[arg(long = "dispatcher-heartbeat")]
    pub dispatcher_heartbeat: Option<String>,
    /// Validity period for node certificates (ns|us|ms|s|m|h; default 2160h0m0s)
    #[arg(long = "cert-expiry")]
    pub cert_expiry: Option<String>,
}

/// `--dispatcher-heartbeat` and `--cert-expiry` as the control API takes them (their bounds
/// are `control::apply_cluster_settings`'s, for init and update alike).
fn settings(heartbeat: &Option<String>, expiry: &Option<String>) -> Result<(Option<u64>, Option<u64>), String> {
    let heartbeat_ms = heartbeat.as_deref().map(|v| crate::cli::parse_duration_ms("dispatcher-heartbeat", v)).transpose()?;
    let expiry_secs = expiry.as_deref().map(|v| crate::cli::parse_duration_ms("cert-expiry", v).map(|ms| ms / 1000)).transpose()?;
    Ok((heartbeat_ms, expiry_secs))
}

impl InitFlags {
    /// The Cluster object's settings these flags ask for; Err says which flag is wrong.
    pub fn spec(&self) -> Result<crate::model::ClusterSpec, String> {
        let mut spec = crate::model::ClusterSpec::default();
        if !self.default_addr_pool.is_empty() {
            spec.network.default_addr_pool = self.default_addr_pool.clone();
        }
        spec.network.subnet_size = self.default_addr_pool_mask_length;
        crate::control::validate_network_defaults(&spec.network).map_err(|e| e.to_string())?;
        spec.orchestration.task_history_retention_limit = self.task_history_limit;
        if self.max_service_replicas == 0 {
            return Err("--max-service-replicas 0 would refuse every replicated service: give at least 1".into());
        }
        spec.orchestration.max_service_replicas = self.max_service_replicas;
        // Asked for here; the daemon turns it on with a key once the swarm exists (the Cluster
        // holds a key exactly while autolock is on).
        spec.encryption.auto_lock_managers = self.autolock;
        let (heartbeat_ms, expiry_secs) = settings(&self.dispatcher_heartbeat, &self.cert_expiry)?;
        crate::control::apply_cluster_settings(&mut spec, heartbeat_ms, expiry_secs).map_err(|e| e.to_string())?;
        Ok(spec)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SwarmCommand {
    /// Update the swarm's settings.
    Update(SwarmUpdate),
    /// Manage the unlock key.
    UnlockKey {
        /// Rotate unlock key
        #[arg(long)]
        rotate: bool,
        /// Only display the key
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Display and rotate the root CA.
    Ca(SwarmCa),
    /// Manage join tokens.
    JoinToken {
        /// Rotate the join token
        #[arg(long)]
        rotate: bool,
        /// Only display the token
        #[arg(long, short = 'q')]
        quiet: bool,
        /// worker or manager
        #[arg(value_parser = ["worker", "manager"])]
        role: String,
    },
}

/// `swarm ca`'s flags (docker's, but a root CA given as files or an external CA: the swarm
/// makes its new root itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct SwarmCa {
    /// Rotate the swarm CA: a new root, every node's certificate reissued
    #[arg(long)]
    pub rotate: bool,
    /// Exit immediately instead of waiting for the root rotation to converge
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Suppress progress output
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Validity period for node certificates (ns|us|ms|s|m|h)
    #[arg(long = "cert-expiry")]
    pub cert_expiry: Option<String>,
}

impl SwarmCa {
    /// The change these flags ask for; None to only show the root.
    pub fn change(&self) -> Result<Option<crate::control::ClusterUpdate>, String> {
        if !self.rotate {
            if self.cert_expiry.is_some() {
                return Err("`--cert-expiry` flag requires the `--rotate` flag to update the CA".into());
            }
            return Ok(None);
        }
        let (_, cert_expiry_secs) = settings(&None, &self.cert_expiry)?;
        Ok(Some(crate::control::ClusterUpdate { rotate_ca: true, cert_expiry_secs, ..Default::default() }))
    }
}

/// `swarm update`'s flags (docker's, plus `--max-service-replicas`).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct SwarmUpdate {
    /// Task history retention limit
    #[arg(long = "task-history-limit")]
    pub task_history_limit: Option<u32>,
    /// The most replicas one service may ask for
    #[arg(long = "max-service-replicas")]
    pub max_service_replicas: Option<u64>,
    /// Change manager autolocking setting (true|false)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub autolock: Option<bool>,
    /// Dispatcher heartbeat period (ns|us|ms|s|m|h)
    #[arg(long = "dispatcher-heartbeat")]
    pub dispatcher_heartbeat: Option<String>,
    /// Validity period for node certificates issued from now on (ns|us|ms|s|m|h)
    #[arg(long = "cert-expiry")]
    pub cert_expiry: Option<String>,
}

impl SwarmUpdate {
    /// The change these flags ask for; Err names the flag that is wrong (the bounds are
    /// checked where the change is made, `control::update_cluster`).
    pub fn change(&self) -> Result<crate::control::ClusterUpdate, String> {
        let (dispatcher_heartbeat_ms, cert_expiry_secs) = settings(&self.dispatcher_heartbeat, &self.cert_expiry)?;
        Ok(crate::control::ClusterUpdate {
            task_history_limit: self.task_history_limit,
            max_service_replicas: self.max_service_replicas,
            autolock: self.autolock,
            dispatcher_heartbeat_ms,
            cert_expiry_secs,
            ..Default::default()
        })
    }
}

/// The control op of a cluster update (the other way is `control::ops`): `new_key` draws an
/// unlock key (from the OS in production, the seed in the simulator) when one may be needed,
/// autolock turned on or the key rotated, and the update carries none.
pub fn update_cluster_op(c: &crate::control::ClusterUpdate, new_key: impl FnOnce() -> crate::ca::unlock_key::UnlockKey) -> crate::proto::control_request::Op {
    let needed = c.autolock == Some(true) || c.rotate_unlock_key;
    let new_unlock_key = match (&c.new_unlock_key, needed) {
        (Some(k), _) => k.to_string(),
        (None, true) => new_key().to_string(),
        (None, false) => String::new(),
    };
    crate::proto::control_request::Op::UpdateCluster(crate::proto::UpdateCluster {
        task_history_limit: c.task_history_limit,
        max_service_replicas: c.max_service_replicas,
        autolock: c.autolock,
        rotate_unlock_key: c.rotate_unlock_key,
        new_unlock_key,
        dispatcher_heartbeat_ms: c.dispatcher_heartbeat_ms,
        cert_expiry_secs: c.cert_expiry_secs,
        rotate_ca: c.rotate_ca,
        // The leader makes it.
        new_root_ca: None,
    })
}

/// What `swarm init --autolock`, `swarm update --autolock=true` and `swarm unlock-key` print
/// (docker's words, with Shoal's command).
pub fn unlock_key_message(key: &str) -> String {
    format!(
        "To unlock a swarm manager after it restarts, run the `shoal swarm unlock`\ncommand and provide the following key:\n\n    {key}\n\n\
         Remember to store this key in a password manager, since without it you\nwill not be able to restart the manager."
    )
}

