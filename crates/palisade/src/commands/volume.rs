//! `palisade volume …`: clients of the `/volumes` endpoints, with docker's flags and output.

use std::process::ExitCode;

use palisade_engine_api::volumes::types::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};

use super::output::{confirm, each, human_size, print_table};
use super::collection::{inspect, parse_labels, url_component};
use super::{HostArg, ListArgs, ReferencesArgs};

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum VolumeCommand {
    /// Create a volume of the `local` driver; prints its name.
    Create {
        #[command(flatten)]
        host: HostArg,
        /// Labels (KEY=VALUE).
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Its name (default: a generated one).
        name: Option<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Show volumes as a JSON array.
    Inspect(ReferencesArgs),
    /// Remove volumes (refused while a container uses them).
    #[command(alias = "remove")]
    Rm {
        /// A volume that does not exist is not an error.
        #[arg(short, long)]
        force: bool,
        #[command(flatten)]
        volumes: ReferencesArgs,
    },
    /// Remove the anonymous volumes no container uses; prints their names.
    Prune {
        #[command(flatten)]
        host: HostArg,
        /// Named volumes too, not only anonymous ones.
        #[arg(short, long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
    },
}

pub(crate) async fn run(command: VolumeCommand) -> anyhow::Result<ExitCode> {
    match command {
        VolumeCommand::Create { host, labels, name } => {
            let request = VolumeCreateRequest { name: name.unwrap_or_default(), labels: parse_labels(&labels), ..VolumeCreateRequest::default() };
            let volume: Volume = host.client().post("/volumes/create", &request).await?;
            println!("{}", volume.name);
        }
        VolumeCommand::Ls(ListArgs { host, quiet }) => {
            let mut list: VolumeListResponse = host.client().get("/volumes").await?;
            list.volumes.sort_by(|a, b| a.name.cmp(&b.name));
            if quiet {
                list.volumes.iter().for_each(|v| println!("{}", v.name));
            } else {
                let rows: Vec<[String; 2]> = list.volumes.iter().map(|v| [v.driver.clone(), v.name.clone()]).collect();
                print_table(["DRIVER", "VOLUME NAME"], &rows);
            }
        }
        VolumeCommand::Inspect(ReferencesArgs { host, references: volumes }) => inspect::<Volume>(&host.client(), "volumes", &volumes).await?,
        VolumeCommand::Rm { force, volumes: ReferencesArgs { host, references: volumes } } => {
            let client = &host.client();
            let query = if force { "?force=1" } else { "" };
            each(&volumes, |name| async move { client.delete(&format!("/volumes/{}{query}", url_component(&name))).await }).await?;
        }
        VolumeCommand::Prune { host, all, force } => {
            let warning = if all {
                "This will remove all local volumes not used by at least one container."
            } else {
                "This will remove anonymous local volumes not used by at least one container."
            };
            confirm("volume prune", warning, force)?;
            let query = if all { format!("?filters={}", url_component(r#"{"all":["true"]}"#)) } else { String::new() };
            let pruned: VolumePruneResponse = host.client().post(&format!("/volumes/prune{query}"), &serde_json::json!({})).await?;
            if !pruned.volumes_deleted.is_empty() {
                println!("Deleted Volumes:");
                pruned.volumes_deleted.iter().for_each(|v| println!("{v}"));
                println!();
            }
            println!("Total reclaimed space: {}", human_size(pruned.space_reclaimed));
        }
    }
    Ok(ExitCode::SUCCESS)
}
