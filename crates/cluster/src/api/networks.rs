//! Overlay networks at the Engine-API edge: `docker network create -d overlay` checked and
//! converted into the cluster model, and networks shown as dockerd shows swarm networks: all of
//! them on a manager, on a worker those its tasks or containers are on.
//! Local (bridge) networks never come here: the engine serves them.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use palisade_engine_api::networks::not_a_swarm_manager;
use palisade_engine_api::types::{
    is_unset, validate_swarm_name, Ipam, IpamConfig, NetworkCreateRequest, NetworkCreateResponse, NetworkResource,
};
use palisade_engine_api::{ApiError, SwarmNetworkBackend};
use palisade_pki::NodeRole;

use super::errors::to_api;
use super::{unexpected, ApiResult};
use crate::daemon::Daemon;
use crate::error::Error;
use crate::overlay::OverlayNetwork;
use crate::rpc::{ControlCall, ControlReply, NetworkCreate, NetworkView};

/// The option that turns encryption on (Docker) or, set to `false`, off (Palisade's default
/// is on).
const ENCRYPTED: &str = "encrypted";
/// The option dockerd shows an overlay network's VXLAN identifier in.
const VXLANID_LIST: &str = "com.docker.network.driver.overlay.vxlanid_list";
/// Audit actions.
const NETWORK_CREATE: &str = "network.create";
const NETWORK_REMOVE: &str = "network.remove";
/// How Go writes a zero `time.Time` in JSON.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// Names dockerd keeps for its own networks.
const PREDEFINED: &[&str] = &["bridge", "host", "none", "ingress"];

impl SwarmNetworkBackend for Daemon {
    /// Every overlay network on a manager; on a worker, those its tasks or containers are on
    /// (as dockerd shows them there); none outside a swarm.
    async fn swarm_network_list(&self) -> ApiResult<Vec<NetworkResource>> {
        match self.network_holder().await {
            Holder::Manager => match self.call(ControlCall::NetworkList).await? {
                ControlReply::Networks(networks) => Ok(networks.iter().map(network_resource).collect()),
                other => Err(unexpected(&other)),
            },
            Holder::Worker(networks) => Ok(networks),
            Holder::None => Ok(Vec::new()),
        }
    }

    async fn swarm_network_inspect(&self, reference: String) -> ApiResult<Option<NetworkResource>> {
        match self.network_holder().await {
            Holder::Manager => match self.control(ControlCall::NetworkInspect { reference }).await {
                Ok(ControlReply::Network(network)) => Ok(Some(network_resource(&network))),
                Ok(other) => Err(unexpected(&other)),
                Err(Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(to_api(e)),
            },
            Holder::Worker(networks) => {
                let by_id = networks.iter().find(|n| n.id == reference || n.name == reference);
                let mut by_prefix = networks.iter().filter(|n| !reference.is_empty() && n.id.starts_with(&reference));
                let unique_prefix = by_prefix.next().filter(|_| by_prefix.next().is_none());
                Ok(by_id.or(unique_prefix).cloned())
            }
            Holder::None => Ok(None),
        }
    }

    /// Recorded in the audit log with whether the network is encrypted: opting out is a
    /// security decision.
    async fn swarm_network_create(&self, request: NetworkCreateRequest) -> ApiResult<NetworkCreateResponse> {
        let target = format!("network {}", request.name);
        let encrypted = request.options.get(ENCRYPTED).is_none_or(|v| v != "false");
        let result = self.network_create(request).await;
        self.record(NETWORK_CREATE, target, &[("encrypted", encrypted.to_string())], &result).await;
        result
    }

    async fn swarm_network_remove(&self, id: String) -> ApiResult<()> {
        let target = format!("network {id}");
        let result = self.done(ControlCall::NetworkRemove { reference: id }).await;
        self.record(NETWORK_REMOVE, target, &[], &result).await;
        result
    }
}

/// Where this node's view of the swarm's networks comes from.
enum Holder {
    /// The cluster store (through the leader).
    Manager,
    /// The networks its worker received for its tasks and containers, as shown (never their
    /// keys).
    Worker(Vec<NetworkResource>),
    /// Nowhere: the node is in no swarm.
    None,
}

impl Daemon {
    async fn network_holder(&self) -> Holder {
        match self.active().await {
            Ok(node) if node.role() == NodeRole::Manager => Holder::Manager,
            Ok(node) => Holder::Worker(node.overlay.borrow().networks.iter().map(overlay_resource).collect()),
            Err(_) => Holder::None,
        }
    }

    /// `network create -d overlay`: on a manager only, as dockerd refuses it elsewhere.
    async fn network_create(&self, request: NetworkCreateRequest) -> ApiResult<NetworkCreateResponse> {
        match self.active().await.map(|node| node.role()) {
            Err(_) => return Err(not_a_swarm_manager()),
            Ok(NodeRole::Worker) => {
                return Err(ApiError::forbidden(
                    "Cannot create a multi-host network from a worker node. Please create the network from a manager node.",
                ))
            }
            Ok(NodeRole::Manager) => {}
        }
        validate_swarm_name(&request.name)?;
        let create = network_create(request).map_err(to_api)?;
        match self.call(ControlCall::NetworkCreate(create)).await? {
            ControlReply::ObjectId(id) => Ok(NetworkCreateResponse { id, warning: String::new() }),
            other => Err(unexpected(&other)),
        }
    }
}

/// Checks a create request for an overlay network (its name passed [`validate_swarm_name`]);
/// whatever Palisade would not do as asked is refused, not dropped.
fn network_create(r: NetworkCreateRequest) -> Result<NetworkCreate, Error> {
    if r.driver != "overlay" {
        return Err(Error::invalid(format!("swarm networks use the overlay driver, not {:?}", r.driver)));
    }
    if PREDEFINED.contains(&r.name.as_str()) {
        return Err(Error::PermissionDenied(format!("{} is a pre-defined network and cannot be created", r.name)));
    }
    let mut attachable = false;
    for (key, value) in &r.other {
        match key.as_str() {
            "Attachable" => attachable = value.as_bool().unwrap_or(false),
            "Scope" if matches!(value.as_str(), None | Some("" | "swarm")) => {}
            "EnableIPv4" if value.as_bool() != Some(false) => {}
            _ if is_unset(value) => {}
            _ => return Err(Error::invalid(format!("network option {key} is not supported for overlay networks by Palisade"))),
        }
    }
    if r.internal {
        return Err(Error::invalid("internal overlay networks (--internal) are not supported by Palisade"));
    }
    let mut encrypted = true;
    for (key, value) in &r.options {
        match (key.as_str(), value.as_str()) {
            (ENCRYPTED, "" | "true") => encrypted = true,
            (ENCRYPTED, "false") => encrypted = false,
            (ENCRYPTED, other) => return Err(Error::invalid(format!("--opt encrypted={other}: true or false"))),
            (other, _) => return Err(Error::invalid(format!("network option {other} is not supported for overlay networks by Palisade"))),
        }
    }
    let ipam = r.ipam.unwrap_or_default();
    if !matches!(ipam.driver.as_str(), "" | "default") || !ipam.options.is_empty() {
        return Err(Error::invalid("IPAM drivers and options are not supported by Palisade"));
    }
    if ipam.config.len() > 1 {
        return Err(Error::invalid("Palisade overlay networks have one IPv4 subnet"));
    }
    let config = ipam.config.into_iter().next().unwrap_or_default();
    if !config.ip_range.is_empty() || !config.auxiliary_addresses.is_empty() {
        return Err(Error::invalid("--ip-range and --aux-address are not supported for overlay networks by Palisade"));
    }
    let subnet = match config.subnet.as_str() {
        "" => None,
        text => Some(text.parse::<Ipv4Net>().map_err(|_| Error::invalid(format!("invalid subnet {text}: an IPv4 CIDR is needed")))?),
    };
    let gateway = match config.gateway.as_str() {
        "" => None,
        _ if subnet.is_none() => return Err(Error::invalid("--gateway needs --subnet")),
        text => Some(text.parse::<Ipv4Addr>().map_err(|_| Error::invalid(format!("invalid gateway {text}")))?),
    };
    Ok(NetworkCreate { name: r.name, labels: r.labels, attachable, subnet, gateway, encrypted })
}

/// A swarm network as dockerd shows it: scope `swarm`, driver `overlay`, its VXLAN identifier
/// and (when encrypted) `"encrypted": ""` in its options, as Docker's encrypted networks show.
fn network_resource(n: &NetworkView) -> NetworkResource {
    NetworkResource {
        created: palisade_engine_api::types::timestamp(n.created_at),
        attachable: n.attachable,
        ingress: n.ingress,
        labels: n.labels.clone(),
        ..swarm_resource(&n.id, &n.name, n.vni, (n.subnet, n.gateway), n.encrypted)
    }
}

/// A network as a worker knows it from its tasks': no labels, and Go's zero time as its
/// creation time (which the docker CLI parses, unlike an empty one).
fn overlay_resource(n: &OverlayNetwork) -> NetworkResource {
    NetworkResource { created: GO_ZERO_TIME.into(), ..swarm_resource(&n.id, &n.name, n.vni, (n.subnet, n.gateway), n.encrypted()) }
}

/// What every view of a swarm network shows.
fn swarm_resource(id: &str, name: &str, vni: u32, (subnet, gateway): (Ipv4Net, Ipv4Addr), encrypted: bool) -> NetworkResource {
    let mut options = std::collections::BTreeMap::from([(VXLANID_LIST.to_owned(), vni.to_string())]);
    if encrypted {
        options.insert(ENCRYPTED.to_owned(), String::new());
    }
    NetworkResource {
        name: name.to_owned(),
        id: id.to_owned(),
        scope: "swarm".into(),
        driver: "overlay".into(),
        enable_ipv4: true,
        ipam: Ipam {
            driver: "default".into(),
            options: Default::default(),
            config: vec![IpamConfig { subnet: subnet.to_string(), gateway: gateway.to_string(), ..IpamConfig::default() }],
        },
        options,
        ..NetworkResource::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> NetworkCreateRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn overlay_networks_are_encrypted_unless_opted_out() {
        let plain = request(serde_json::json!({"Name": "n", "Driver": "overlay"}));
        assert!(network_create(plain).unwrap().encrypted);
        let opted_in = request(serde_json::json!({"Name": "n", "Driver": "overlay", "Options": {"encrypted": ""}}));
        assert!(network_create(opted_in).unwrap().encrypted);
        let opted_out = request(serde_json::json!({"Name": "n", "Driver": "overlay", "Options": {"encrypted": "false"}}));
        assert!(!network_create(opted_out).unwrap().encrypted);
        let unclear = request(serde_json::json!({"Name": "n", "Driver": "overlay", "Options": {"encrypted": "maybe"}}));
        assert!(network_create(unclear).is_err());
    }

    #[test]
    fn what_palisade_would_not_do_as_asked_is_refused() {
        for body in [
            serde_json::json!({"Name": "n", "Driver": "overlay", "Internal": true}),
            serde_json::json!({"Name": "n", "Driver": "overlay", "Ingress": true}),
            serde_json::json!({"Name": "n", "Driver": "overlay", "Options": {"com.docker.network.driver.overlay.vxlanid_list": "5000"}}),
            serde_json::json!({"Name": "n", "Driver": "overlay", "IPAM": {"Config": [{"Gateway": "10.1.0.1"}]}}),
            serde_json::json!({"Name": "n", "Driver": "overlay", "IPAM": {"Config": [{"Subnet": "nonsense"}]}}),
            serde_json::json!({"Name": "ingress", "Driver": "overlay"}),
        ] {
            assert!(network_create(request(body.clone())).is_err(), "{body}");
        }
        let attachable = request(serde_json::json!({"Name": "n", "Driver": "overlay", "Attachable": true, "Scope": "swarm"}));
        assert!(network_create(attachable).unwrap().attachable);
    }
}
