//! `palisade rm [-f] CONTAINER…`: `DELETE /containers/{ref}`.

use std::process::ExitCode;

use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct RmArgs {
    #[command(flatten)]
    host: HostArg,
    /// Kill a running container first.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub(crate) async fn run(args: RmArgs) -> anyhow::Result<ExitCode> {
    let client = args.host.client();
    let query = if args.force { "?force=1" } else { "" };
    for container in &args.containers {
        client.delete(&format!("/containers/{container}{query}")).await?;
        println!("{container}");
    }
    Ok(ExitCode::SUCCESS)
}
