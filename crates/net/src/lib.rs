//! Container networks for one node: the default `bridge` network and user-defined bridge
//! networks (plus `host` and `none` as docker lists them), IPAM, a network namespace per
//! container, attachment in-process over netlink (veth pairs on Linux bridges), one nftables
//! table for isolation between networks, masquerade and published ports, and the embedded DNS
//! server at 127.0.0.11 inside each container on a user network.
#![warn(missing_docs)]

mod dns;
mod error;
mod firewall;
mod ipam;
pub mod link;
mod manager;
pub mod netns;
mod network;
mod port_maps;
mod ports;

pub use dns::DNS_ADDRESS;
pub use error::{Error, Result};
pub use manager::{
    ContainerRequest, ContainerView, DefaultBridge, EndpointRequest, EndpointView, NetConfig, NetworkCreate, NetworkView,
    Networks, Sandbox, ServiceNames,
};
pub use network::{valid_name, Driver, Network, Subnet};
pub use ports::{ContainerPort, PortBinding, Protocol};
