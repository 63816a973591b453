//! `palisade logs [-f] CONTAINER`: `GET /containers/{ref}/logs`, demultiplexed.

use std::process::ExitCode;

use palisade_engine_api::client::Method;

use super::output::write_frames;
use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    host: HostArg,
    /// Follow the output until the container exits.
    #[arg(short, long)]
    follow: bool,
    container: String,
}

pub(crate) async fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let follow = if args.follow { "&follow=1" } else { "" };
    let path = format!("/containers/{}/logs?stdout=1&stderr=1{follow}", args.container);
    let mut buffer = Vec::new();
    args.host.client().stream(Method::GET, &path, |chunk| write_frames(&mut buffer, &chunk)).await?;
    Ok(ExitCode::SUCCESS)
}
