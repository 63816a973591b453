//! `palisade network …`: clients of the `/networks` endpoints, with docker's flags and output.

use std::process::ExitCode;

use palisade_engine_api::client::Client;
use palisade_engine_api::types::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse, NetworkResource,
};

use super::output::{confirm, print_table, short_id};
use super::collection::{inspect, parse_labels, remove, url_component};
use super::{HostArg, ListArgs, ReferencesArgs};

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum NetworkCommand {
    /// Create a network (a Linux bridge with its own IPv4 subnet); prints its id.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Show networks as a JSON array.
    Inspect(ReferencesArgs),
    /// Remove networks (refused while containers are connected).
    #[command(alias = "remove")]
    Rm(ReferencesArgs),
    /// Connect a container to a network.
    Connect {
        #[command(flatten)]
        host: HostArg,
        /// Another name of the container on this network (repeatable).
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// IPv4 address on the network.
        #[arg(long)]
        ip: Option<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        #[command(flatten)]
        host: HostArg,
        /// Force the container to disconnect.
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
    /// Remove the user networks no container uses; prints their names.
    Prune {
        #[command(flatten)]
        host: HostArg,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(clap::Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    host: HostArg,
    /// Driver (only `bridge`).
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR form (default: a free private /16 or /24).
    #[arg(long)]
    subnet: Option<String>,
    /// Gateway address in the subnet (default: its first address).
    #[arg(long, requires = "subnet")]
    gateway: Option<String>,
    /// Allocate container addresses from this CIDR range of the subnet.
    #[arg(long, requires = "subnet")]
    ip_range: Option<String>,
    /// No route out of the network: containers reach only each other.
    #[arg(long)]
    internal: bool,
    /// Labels (KEY=VALUE).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Driver options (KEY=VALUE; `com.docker.network.bridge.name`).
    #[arg(short, long = "opt")]
    opts: Vec<String>,
    /// Its name.
    name: String,
}

pub(crate) async fn run(command: NetworkCommand) -> anyhow::Result<ExitCode> {
    match command {
        NetworkCommand::Create(args) => create(args).await?,
        NetworkCommand::Ls(ListArgs { host, quiet }) => list(&host.client(), quiet).await?,
        NetworkCommand::Inspect(ReferencesArgs { host, references: networks }) => inspect::<NetworkResource>(&host.client(), "networks", &networks).await?,
        NetworkCommand::Rm(ReferencesArgs { host, references: networks }) => remove(&host.client(), "networks", &networks).await?,
        NetworkCommand::Connect { host, aliases, ip, network, container } => {
            let endpoint_config = (!aliases.is_empty() || ip.is_some()).then(|| EndpointSettings {
                aliases,
                ipam_config: ip.map(|ip| EndpointIpamConfig { ipv4_address: ip, ..EndpointIpamConfig::default() }),
                ..EndpointSettings::default()
            });
            let request = NetworkConnectRequest { container, endpoint_config };
            host.client().post_empty(&format!("/networks/{}/connect", url_component(&network)), Some(&request)).await?;
        }
        NetworkCommand::Disconnect { host, force, network, container } => {
            let request = NetworkDisconnectRequest { container, force };
            host.client().post_empty(&format!("/networks/{}/disconnect", url_component(&network)), Some(&request)).await?;
        }
        NetworkCommand::Prune { host, force } => {
            confirm("network prune", "This will remove all custom networks not used by at least one container.", force)?;
            let pruned: NetworkPruneResponse = host.client().post("/networks/prune", &serde_json::json!({})).await?;
            if !pruned.networks_deleted.is_empty() {
                println!("Deleted Networks:");
                pruned.networks_deleted.iter().for_each(|n| println!("{n}"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let config = args.subnet.map(|subnet| IpamConfig {
        subnet,
        gateway: args.gateway.unwrap_or_default(),
        ip_range: args.ip_range.unwrap_or_default(),
        ..IpamConfig::default()
    });
    let request = NetworkCreateRequest {
        name: args.name,
        driver: args.driver,
        ipam: Some(Ipam { driver: "default".into(), config: config.into_iter().collect(), ..Ipam::default() }),
        internal: args.internal,
        options: parse_labels(&args.opts),
        labels: parse_labels(&args.labels),
        ..NetworkCreateRequest::default()
    };
    let created: NetworkCreateResponse = args.host.client().post("/networks/create", &request).await?;
    println!("{}", created.id);
    Ok(())
}

/// `NETWORK ID  NAME  DRIVER  SCOPE`, by name, as `docker network ls`.
async fn list(client: &Client, quiet: bool) -> anyhow::Result<()> {
    let mut networks: Vec<NetworkResource> = client.get("/networks").await?;
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    if quiet {
        networks.iter().for_each(|n| println!("{}", short_id(&n.id)));
        return Ok(());
    }
    let rows: Vec<[String; 4]> =
        networks.iter().map(|n| [short_id(&n.id).to_owned(), n.name.clone(), n.driver.clone(), n.scope.clone()]).collect();
    print_table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows);
    Ok(())
}
