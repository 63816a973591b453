//! `palisade start CONTAINER…` and `palisade restart [-t SECONDS] CONTAINER…`: `POST
//! /containers/{ref}/start` and `/restart`, printing each container as docker does.

use std::process::ExitCode;

use super::output::each;
use super::collection::url_component;
use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct StartArgs {
    #[command(flatten)]
    host: HostArg,
    /// Containers (names or ids).
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub(crate) struct RestartArgs {
    #[command(flatten)]
    host: HostArg,
    /// Seconds to wait for the container to stop before killing it.
    #[arg(short, long)]
    time: Option<u32>,
    /// Containers (names or ids).
    #[arg(required = true)]
    containers: Vec<String>,
}

pub(crate) async fn start(args: StartArgs) -> anyhow::Result<ExitCode> {
    post_each(&args.host, &args.containers, "start").await
}

pub(crate) async fn restart(args: RestartArgs) -> anyhow::Result<ExitCode> {
    let action = match args.time {
        Some(t) => format!("restart?t={t}"),
        None => "restart".to_owned(),
    };
    post_each(&args.host, &args.containers, &action).await
}

/// `POST /containers/{ref}/{action}` for each container.
async fn post_each(host: &HostArg, containers: &[String], action: &str) -> anyhow::Result<ExitCode> {
    let client = &host.client();
    each(containers, |container| async move {
        client.post_empty::<()>(&format!("/containers/{}/{action}", url_component(&container)), None).await
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
