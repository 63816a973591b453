//! `palisade node …`: Engine-API client verbs, with docker's output.

use std::process::ExitCode;

use futures::future::try_join_all;
use palisade_engine_api::client::Client;
use palisade_engine_api::types::{Info, Node};

use super::output::capitalize;
use super::collection::{parse_labels, url_component};
use super::service::tasks;
use super::{HostArg, ListArgs};

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum NodeCommand {
    /// List nodes.
    Ls(ListArgs),
    /// Show nodes (`self` for this one).
    Inspect {
        #[command(flatten)]
        host: HostArg,
        /// Human-readable output.
        #[arg(long)]
        pretty: bool,
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Remove nodes.
    Rm {
        #[command(flatten)]
        host: HostArg,
        /// Remove even if the node is up.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Make nodes managers.
    Promote {
        #[command(flatten)]
        host: HostArg,
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Make nodes workers.
    Demote {
        #[command(flatten)]
        host: HostArg,
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Change a node's availability or labels.
    Update {
        #[command(flatten)]
        host: HostArg,
        /// `active`, `pause` (no new tasks) or `drain` (its tasks move elsewhere).
        #[arg(long, value_parser = ["active", "pause", "drain"])]
        availability: Option<String>,
        /// Add or change a label (KEY=VALUE).
        #[arg(long = "label-add")]
        label_add: Vec<String>,
        /// Remove a label, by key.
        #[arg(long = "label-rm")]
        label_rm: Vec<String>,
        node: String,
    },
    /// List the tasks on nodes (this one by default).
    Ps {
        #[command(flatten)]
        host: HostArg,
        #[command(flatten)]
        table: tasks::TableArgs,
        #[arg(default_value = "self")]
        nodes: Vec<String>,
    },
}

pub(crate) async fn run(command: NodeCommand) -> anyhow::Result<ExitCode> {
    match command {
        NodeCommand::Ls(ListArgs { host, quiet }) => list(&host.client(), quiet).await?,
        NodeCommand::Inspect { host, pretty, nodes } => inspect(&host.client(), pretty, &nodes).await?,
        NodeCommand::Rm { host, force, nodes } => {
            let client = host.client();
            for node in nodes {
                let query = if force { "?force=1" } else { "" };
                client.delete(&format!("/nodes/{node}{query}")).await?;
                println!("{node}");
            }
        }
        NodeCommand::Promote { host, nodes } => set_role(&host.client(), &nodes, "manager").await?,
        NodeCommand::Demote { host, nodes } => set_role(&host.client(), &nodes, "worker").await?,
        NodeCommand::Update { host, availability, label_add, label_rm, node: reference } => {
            let client = host.client();
            let mut node = resolve(&client, &reference).await?;
            if let Some(availability) = availability {
                node.spec.availability = availability;
            }
            for key in &label_rm {
                anyhow::ensure!(node.spec.labels.remove(key).is_some(), "key {key} doesn't exist in node's labels");
            }
            node.spec.labels.extend(parse_labels(&label_add));
            update(&client, &node).await?;
            println!("{reference}");
        }
        NodeCommand::Ps { host, table, nodes } => {
            let client = host.client();
            let nodes = try_join_all(nodes.iter().map(|reference| resolve(&client, reference))).await?;
            tasks::print(&client, "node", &nodes.into_iter().map(|n| n.id).collect::<Vec<_>>(), &table).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(client: &Client, quiet: bool) -> anyhow::Result<()> {
    let mut nodes: Vec<Node> = client.get("/nodes").await?;
    nodes.sort_by(|a, b| a.description.hostname.cmp(&b.description.hostname).then(a.id.cmp(&b.id)));
    if quiet {
        nodes.iter().for_each(|n| println!("{}", n.id));
        return Ok(());
    }
    let info: Info = client.get("/info").await?;
    println!("{:<29} {:<15} {:<9} {:<14} {:<16} ENGINE VERSION", "ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS");
    for node in nodes {
        let id = if node.id == info.swarm.node_id { format!("{} *", node.id) } else { node.id.clone() };
        let manager = match &node.manager_status {
            Some(status) if status.leader => "Leader".to_owned(),
            Some(status) => capitalize(&status.reachability),
            None => String::new(),
        };
        println!(
            "{id:<29} {:<15} {:<9} {:<14} {manager:<16} {}",
            node.description.hostname,
            capitalize(&node.status.state),
            capitalize(&node.spec.availability),
            node.description.engine.engine_version
        );
    }
    Ok(())
}

async fn resolve(client: &Client, reference: &str) -> anyhow::Result<Node> {
    let id = if reference == "self" { client.get::<Info>("/info").await?.swarm.node_id } else { reference.to_owned() };
    Ok(client.get(&format!("/nodes/{}", url_component(&id))).await?)
}

/// `POST /nodes/{id}/update?version=` with `node`'s spec.
async fn update(client: &Client, node: &Node) -> anyhow::Result<()> {
    Ok(client.post_empty(&format!("/nodes/{}/update?version={}", node.id, node.version.index), Some(&node.spec)).await?)
}

async fn inspect(client: &Client, pretty: bool, references: &[String]) -> anyhow::Result<()> {
    let mut nodes = Vec::new();
    for reference in references {
        nodes.push(resolve(client, reference).await?);
    }
    if !pretty {
        println!("{}", serde_json::to_string_pretty(&nodes)?);
        return Ok(());
    }
    for node in nodes {
        println!("ID:\t\t\t{}", node.id);
        println!("Hostname:\t\t{}", node.description.hostname);
        println!("Joined at:\t\t{}", node.created_at);
        println!("Status:\n State:\t\t\t{}\n Availability:\t\t{}\n Address:\t\t{}", capitalize(&node.status.state), capitalize(&node.spec.availability), node.status.addr);
        if let Some(status) = &node.manager_status {
            println!("Manager Status:\n Address:\t\t{}\n Raft Status:\t\t{}\n Leader:\t\t{}", status.addr, capitalize(&status.reachability), if status.leader { "Yes" } else { "No" });
        }
        println!("Platform:\n Operating System:\t{}\n Architecture:\t\t{}", node.description.platform.os, node.description.platform.architecture);
        println!("Engine Version:\t\t{}", node.description.engine.engine_version);
        println!("TLS Info:\n TrustRoot:\n{}\n Issuer Subject:\t{}\n Issuer Public Key:\t{}", node.description.tls_info.trust_root, node.description.tls_info.cert_issuer_subject, node.description.tls_info.cert_issuer_public_key);
    }
    Ok(())
}

async fn set_role(client: &Client, references: &[String], role: &str) -> anyhow::Result<()> {
    for reference in references {
        let mut node = resolve(client, reference).await?;
        if node.spec.role == role {
            println!("Node {reference} is already a {role}.");
            continue;
        }
        node.spec.role = role.to_owned();
        update(client, &node).await?;
        if role == "manager" {
            println!("Node {reference} promoted to a manager in the swarm.");
        } else {
            println!("Manager {reference} demoted in the swarm.");
        }
    }
    Ok(())
}
