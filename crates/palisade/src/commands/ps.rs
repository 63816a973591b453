//! `palisade ps [-a] [-q]`: `GET /containers/json`, as `docker ps` prints it.

use std::process::ExitCode;

use palisade_engine_api::containers::types::ContainerSummary;

use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct PsArgs {
    #[command(flatten)]
    host: HostArg,
    /// Show stopped containers too.
    #[arg(short, long)]
    all: bool,
    /// Only IDs.
    #[arg(short, long)]
    quiet: bool,
}

pub(crate) async fn run(args: PsArgs) -> anyhow::Result<ExitCode> {
    let query = if args.all { "?all=1" } else { "" };
    let containers: Vec<ContainerSummary> = args.host.client().get(&format!("/containers/json{query}")).await?;
    if !args.quiet {
        println!("{:<14} {:<12} {:<24} {:<28} NAMES", "CONTAINER ID", "IMAGE", "COMMAND", "STATUS");
    }
    for c in containers {
        let id = c.id.get(..12).unwrap_or(&c.id);
        if args.quiet {
            println!("{id}");
            continue;
        }
        let mut command: String = c.command.chars().take(20).collect();
        if command.len() < c.command.len() {
            command.push('…');
        }
        let names: Vec<&str> = c.names.iter().map(|n| n.trim_start_matches('/')).collect();
        println!("{id:<14} {:<12} {:<24} {:<28} {}", c.image, format!("\"{command}\""), c.status, names.join(","));
    }
    Ok(ExitCode::SUCCESS)
}
