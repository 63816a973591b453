//! Bodies of the network endpoints (`/networks/…`) and the networking parts of container
//! create and inspect, as moby's `api/types/network` names them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::null_as_default;

/// One `IPAM.Config` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    /// `--subnet`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    /// `--ip-range`.
    #[serde(rename = "IPRange", skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    /// `--gateway`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// `--aux-address` (refused when set).
    #[serde(deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub auxiliary_addresses: BTreeMap<String, String>,
}

/// `IPAM` of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    /// `default` (others refused).
    pub driver: String,
    /// `--ipam-opt` (refused when set).
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, String>,
    /// Subnets.
    #[serde(deserialize_with = "null_as_default")]
    pub config: Vec<IpamConfig>,
}

/// `POST /networks/create` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateRequest {
    /// Name.
    pub name: String,
    /// Deprecated: the daemon always refuses duplicate names.
    pub check_duplicate: Option<bool>,
    /// `-d` (only `bridge`).
    pub driver: String,
    /// Addressing.
    #[serde(rename = "IPAM")]
    pub ipam: Option<Ipam>,
    /// `--internal`.
    pub internal: bool,
    /// `--opt`.
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, String>,
    /// `--label`.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Every other field (`EnableIPv6`, `Attachable`, `Ingress`, `ConfigFrom`, …): refused
    /// when set (see [`crate::types::is_unset`]).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `POST /networks/create` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateResponse {
    /// The new network's id.
    pub id: String,
    /// Always empty.
    pub warning: String,
}

/// One container of a network inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkContainer {
    /// Container name.
    pub name: String,
    /// Endpoint id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// MAC address.
    pub mac_address: String,
    /// `a.b.c.d/len`.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// Always empty.
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `ConfigFrom` of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConfigFrom {
    /// Always empty.
    pub network: String,
}

/// `GET /networks/{id}` and each row of `GET /networks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkResource {
    /// Name.
    pub name: String,
    /// Id.
    pub id: String,
    /// RFC 3339.
    pub created: String,
    /// `local`.
    pub scope: String,
    /// `bridge`, `host`, `null`.
    pub driver: String,
    /// True for bridge networks.
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    /// Always false.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Addressing.
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    /// `--internal`.
    pub internal: bool,
    /// Always false.
    pub attachable: bool,
    /// Always false.
    pub ingress: bool,
    /// Always empty.
    pub config_from: NetworkConfigFrom,
    /// Always false.
    pub config_only: bool,
    /// Attached containers by id.
    pub containers: BTreeMap<String, NetworkContainer>,
    /// `--opt`.
    pub options: BTreeMap<String, String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
}

/// `IPAMConfig` of an endpoint (`--ip`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpamConfig {
    /// `--ip`.
    #[serde(rename = "IPv4Address", skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    /// `--ip6` (refused when set).
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    /// `--link-local-ip` (refused when set).
    #[serde(rename = "LinkLocalIPs", deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
}

/// An endpoint: what create and connect ask (`Aliases`, `IPAMConfig`), and what inspect shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    /// `--ip`.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    /// `--link` (refused when set).
    #[serde(deserialize_with = "null_as_default")]
    pub links: Vec<String>,
    /// `--network-alias`.
    #[serde(deserialize_with = "null_as_default")]
    pub aliases: Vec<String>,
    /// MAC address (a requested one is refused).
    pub mac_address: String,
    /// `--driver-opt` (refused when set).
    #[serde(deserialize_with = "null_as_default")]
    pub driver_opts: BTreeMap<String, String>,
    /// The network's id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// The endpoint's id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Gateway (empty on internal networks).
    pub gateway: String,
    /// Address.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// Always empty.
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    /// Always empty.
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    /// Always 0.
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    /// Names the embedded DNS server answers for this container there.
    #[serde(rename = "DNSNames", deserialize_with = "null_as_default")]
    pub dns_names: Vec<String>,
    /// Other fields a client sent (`GwPriority`, …): refused when set.
    #[serde(flatten, skip_serializing)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `NetworkingConfig` of `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// Per network (name or id; `default` for the CLI's default).
    #[serde(deserialize_with = "null_as_default")]
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

/// One host binding of a port (`{"HostIp":"127.0.0.1","HostPort":"8080"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Host address (empty: all).
    pub host_ip: String,
    /// Host port (empty: a free one).
    pub host_port: String,
}

/// `NetworkSettings` of a container inspect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    /// The container's network namespace.
    pub sandbox_key: String,
    /// `80/tcp` → its bindings (`null` when exposed but not published).
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    /// Address on the default bridge.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Gateway on the default bridge.
    pub gateway: String,
    /// Its prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// MAC on the default bridge.
    pub mac_address: String,
    /// Endpoints by network name.
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// One row of a container list's `Ports`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    /// Host address.
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Container port.
    pub private_port: u16,
    /// Host port (absent when not published).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    /// `tcp` or `udp`.
    #[serde(rename = "Type")]
    pub typ: String,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnectRequest {
    /// Container reference.
    pub container: String,
    /// `--alias`, `--ip`.
    pub endpoint_config: Option<EndpointSettings>,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkDisconnectRequest {
    /// Container reference.
    pub container: String,
    /// `-f`.
    pub force: bool,
}

/// `POST /networks/prune` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkPruneResponse {
    /// Names of the removed networks.
    pub networks_deleted: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_cli_network_create_body_parses() {
        // docker CLI 28 `network create --subnet 10.10.0.0/24 --internal --label a=b n`.
        let body = r#"{"Name":"n","Driver":"bridge","Scope":"","EnableIPv4":null,"EnableIPv6":null,"IPAM":{"Driver":"default",
"Options":{},"Config":[{"Subnet":"10.10.0.0/24","IPRange":"","Gateway":"","AuxiliaryAddresses":{}}]},"Internal":true,
"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{"a":"b"}}"#;
        let r: NetworkCreateRequest = serde_json::from_str(body).unwrap();
        assert!(r.internal && r.labels["a"] == "b");
        assert_eq!(r.ipam.unwrap().config[0].subnet, "10.10.0.0/24");
        assert!(r.other.values().all(crate::types::is_unset), "{:?}", r.other);
    }
}
