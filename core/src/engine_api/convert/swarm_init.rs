//! `POST /swarm/init` and `POST /swarm/join` on a daemon that is in no swarm yet: what their
//! bodies ask of Shoal. The swarm's settings become `shoal swarm init`'s flags, so both doors
//! apply the same checks. This node's listen and advertised addresses are resolved as
//! dockerd resolves them. A setting Shoal cannot honour is refused by name, never dropped.

use super::super::{types as d, ApiError};
use crate::cli::InitFlags;
use core::net::{IpAddr, SocketAddr};

/// dockerd's listen address when a request gives none (the docker CLI always sends one).
pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:2377";

fn unsupported(flag: &str, instead: &str) -> ApiError {
    ApiError::BadRequest(format!("{flag} is not supported by Shoal yet: {instead}"))
}

/// Only `active` (or nothing) is honoured at init or join: Shoal's join carries no
/// availability yet.
fn check_availability(a: &str) -> Result<(), ApiError> {
    match a {
        "" | "active" => Ok(()),
        other => Err(unsupported(
            &format!("--availability {other}"),
            "init or join as active, then `docker node update --availability` the node",
        )),
    }
}

/// The settings `r` asks the new swarm for, as `shoal swarm init`'s flags (validated by
/// their own [`InitFlags::spec`] afterwards).
pub fn init_flags_from_docker(r: &d::InitRequest) -> Result<InitFlags, ApiError> {
    let spec = &r.spec;
    let leave_out = "leave it out (Shoal keeps its default)";
    if !spec.ca_config.external_cas.is_empty() || !spec.ca_config.signing_ca_cert.is_empty() || !spec.ca_config.signing_ca_key.is_empty() {
        return Err(unsupported("an external CA (--external-ca, --external-ca-cert)", "let the swarm make its own root CA"));
    }
    if spec.raft.snapshot_interval != 0 {
        return Err(unsupported("--snapshot-interval", leave_out));
    }
    if spec.raft.keep_old_snapshots.is_some_and(|n| n != 0) {
        return Err(unsupported("--max-snapshots", leave_out));
    }
    if r.data_path_port != 0 {
        return Err(unsupported("--data-path-port", leave_out));
    }
    check_availability(&r.availability)?;
    let task_history_limit = match spec.orchestration.task_history_retention_limit {
        None => crate::model::ClusterSpec::default().orchestration.task_history_retention_limit,
        Some(n) => u32::try_from(n).map_err(|_| ApiError::BadRequest(format!("--task-history-limit {n}: give 0 or more")))?,
    };
    let default_addr_pool_mask_length = match r.subnet_size {
        0 => 24,
        n => u8::try_from(n).map_err(|_| ApiError::BadRequest(format!("--default-addr-pool-mask-length {n}: give a prefix length of at most 32")))?,
    };
    Ok(InitFlags {
        default_addr_pool: r.default_addr_pool.clone(),
        default_addr_pool_mask_length,
        task_history_limit,
        max_service_replicas: crate::model::DEFAULT_MAX_SERVICE_REPLICAS,
        autolock: r.auto_lock_managers || spec.encryption_config.auto_lock_managers,
        // As durations the flags' parser reads (milliseconds: the model's resolution).
        dispatcher_heartbeat: spec.dispatcher.heartbeat_period.filter(|ns| *ns != 0).map(|ns| format!("{}ms", ns / 1_000_000)),
        cert_expiry: spec.ca_config.node_cert_expiry.filter(|ns| *ns != 0).map(|ns| format!("{}ms", ns / 1_000_000)),
    })
}

/// What a join asks that Shoal checks before it dials anyone: a token, a manager, and an
/// availability it can honour.
pub fn check_join(r: &d::JoinRequest) -> Result<(), ApiError> {
    if r.join_token.trim().is_empty() {
        return Err(ApiError::BadRequest("a join token is needed: give --token (from `docker swarm join-token worker` on a manager)".into()));
    }
    if r.remote_addrs.iter().all(|a| a.trim().is_empty()) {
        return Err(ApiError::BadRequest("a manager's address is needed: docker swarm join --token TOKEN MANAGER:PORT".into()));
    }
    check_availability(&r.availability)
}

/// A manager's address as `docker swarm join` gives it, with dockerd's default port 2377
/// added when it has none (`10.0.0.5`, `[::1]`, `manager-1`).
pub fn manager_address(addr: &str) -> String {
    let addr = addr.trim();
    if addr.parse::<SocketAddr>().is_ok() {
        return addr.to_string();
    }
    match addr.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, 2377).to_string(),
        Err(_) if addr.contains(':') => addr.to_string(),
        Err(_) => format!("{addr}:2377"),
    }
}

/// This node's listen and advertised addresses from a request's `ListenAddr` and
/// `AdvertiseAddr`, as dockerd reads them. The listen address defaults to
/// [`DEFAULT_LISTEN_ADDR`]. The advertised one may be an IP (the listen port is added) or
/// ip:port. Left empty, it is the listen IP if that is a specific one, else `default_ip` (the
/// machine's address on its default route, which only the runtime can look up).
pub fn node_addresses(listen: &str, advertise: &str, default_ip: Option<IpAddr>) -> Result<(SocketAddr, SocketAddr), ApiError> {
    let listen = if listen.trim().is_empty() { DEFAULT_LISTEN_ADDR } else { listen.trim() };
    let listen: SocketAddr = listen
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("--listen-addr {listen:?}: give ip:port, e.g. 0.0.0.0:2377 (Shoal does not look up interfaces by name yet)")))?;
    let advertise = advertise.trim();
    let advertise = if advertise.is_empty() {
        let ip = if listen.ip().is_unspecified() { default_ip } else { Some(listen.ip()) };
        let ip = ip.ok_or_else(|| {
            ApiError::BadRequest("could not choose an IP address to advertise: this machine has no default route; give --advertise-addr".into())
        })?;
        SocketAddr::new(ip, listen.port())
    } else if let Ok(a) = advertise.parse::<SocketAddr>() {
        a
    } else if let Ok(ip) = advertise.parse::<IpAddr>() {
        SocketAddr::new(ip, listen.port())
    } else {
        return Err(ApiError::BadRequest(format!(
            "--advertise-addr {advertise:?}: give an IP address or ip:port that other machines reach (Shoal does not look up interfaces by name yet)"
        )));
    };
    if advertise.ip().is_unspecified() {
        return Err(ApiError::BadRequest(format!("--advertise-addr {advertise}: an unspecified address cannot be dialled: give this machine's IP")));
    }
    Ok((listen, advertise))
}

#[cfg(test)]
mod tests {
    use super::*;

    // dockerd: an advertised address without a port takes the listen port; none at all takes
    // the listen IP, or the default route's when listening on every interface.
    #[test]
    fn addresses_are_resolved_as_dockerd_resolves_them() {
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        let a = |l, adv, d| node_addresses(l, adv, d).map(|(l, a)| (l.to_string(), a.to_string())).map_err(|e| e.to_string());
        assert_eq!(a("", "", Some(ip)).unwrap(), ("0.0.0.0:2377".into(), "10.0.0.5:2377".into()));
        assert_eq!(a("0.0.0.0:4300", "192.168.1.2", None).unwrap(), ("0.0.0.0:4300".into(), "192.168.1.2:4300".into()));
        assert_eq!(a("127.0.0.1:4300", "", None).unwrap(), ("127.0.0.1:4300".into(), "127.0.0.1:4300".into()));
        assert_eq!(a("0.0.0.0:2377", "10.1.1.1:4000", None).unwrap().1, "10.1.1.1:4000");
        let no_route = a("0.0.0.0:2377", "", None).unwrap_err();
        assert!(no_route.contains("--advertise-addr"), "{no_route}");
        assert!(a("eth0:2377", "", Some(ip)).unwrap_err().contains("--listen-addr"));
        assert!(a("", "eth0", Some(ip)).unwrap_err().contains("interfaces by name"));
        assert!(a("", "0.0.0.0", Some(ip)).unwrap_err().contains("unspecified"));
    }

    // A setting Shoal cannot honour is refused by its docker flag, never dropped.
    #[test]
    fn init_settings_shoal_lacks_are_refused_by_flag() {
        let mut r = d::InitRequest::default();
        let f = init_flags_from_docker(&r).unwrap();
        assert_eq!((f.task_history_limit, f.default_addr_pool_mask_length, f.autolock), (5, 24, false));
        r.auto_lock_managers = true;
        r.spec.orchestration.task_history_retention_limit = Some(2);
        r.spec.dispatcher.heartbeat_period = Some(2_000_000_000);
        r.spec.ca_config.node_cert_expiry = Some(48 * 3600 * 1_000_000_000);
        let f = init_flags_from_docker(&r).unwrap();
        assert_eq!((f.task_history_limit, f.autolock), (2, true));
        let spec = f.spec().unwrap();
        assert_eq!((spec.dispatcher.heartbeat_period_ms, spec.ca_config.node_cert_expiry_secs), (2_000, 48 * 3600));
        r.spec.ca_config.node_cert_expiry = Some(60 * 1_000_000_000);
        let e = init_flags_from_docker(&r).unwrap().spec().unwrap_err();
        assert!(e.contains("minimum certificate expiry time is 1h0m0s"), "{e}");
        for (mutate, flag) in [
            (Box::new(|r: &mut d::InitRequest| r.spec.raft.snapshot_interval = 10) as Box<dyn Fn(&mut d::InitRequest)>, "--snapshot-interval"),
            (Box::new(|r: &mut d::InitRequest| r.data_path_port = 4790), "--data-path-port"),
            (Box::new(|r: &mut d::InitRequest| r.availability = "drain".into()), "--availability drain"),
            (Box::new(|r: &mut d::InitRequest| r.spec.orchestration.task_history_retention_limit = Some(-1)), "--task-history-limit -1"),
        ] {
            let mut r = d::InitRequest::default();
            mutate(&mut r);
            let e = init_flags_from_docker(&r).unwrap_err().to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
    }

    // dockerd adds 2377 to a manager given without a port.
    #[test]
    fn a_manager_without_a_port_gets_2377() {
        assert_eq!(manager_address("10.0.0.5"), "10.0.0.5:2377");
        assert_eq!(manager_address("10.0.0.5:4242"), "10.0.0.5:4242");
        assert_eq!(manager_address("[::1]"), "[::1]:2377");
        assert_eq!(manager_address("manager-1"), "manager-1:2377");
        assert_eq!(manager_address("manager-1:4000"), "manager-1:4000");
    }

    #[test]
    fn a_join_needs_a_token_and_a_manager() {
        let ok = d::JoinRequest { join_token: "SHTKN-1-x-y".into(), remote_addrs: vec!["10.0.0.1:2377".into()], ..Default::default() };
        assert!(check_join(&ok).is_ok());
        assert!(check_join(&d::JoinRequest { join_token: String::new(), ..ok.clone() }).unwrap_err().to_string().contains("--token"));
        assert!(check_join(&d::JoinRequest { remote_addrs: vec![], ..ok.clone() }).unwrap_err().to_string().contains("MANAGER:PORT"));
    }
}
