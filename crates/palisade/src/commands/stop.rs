//! `palisade stop [-t SECONDS] CONTAINER…`: `POST /containers/{ref}/stop`.

use std::process::ExitCode;

use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct StopArgs {
    #[command(flatten)]
    host: HostArg,
    /// Seconds to wait before killing.
    #[arg(short, long)]
    time: Option<i64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub(crate) async fn run(args: StopArgs) -> anyhow::Result<ExitCode> {
    let client = args.host.client();
    let query = args.time.map(|t| format!("?t={t}")).unwrap_or_default();
    for container in &args.containers {
        client.post_empty::<()>(&format!("/containers/{container}/stop{query}"), None).await?;
        println!("{container}");
    }
    Ok(ExitCode::SUCCESS)
}
