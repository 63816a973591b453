//! `palisade load -i FILE`: `POST /images/load`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct LoadArgs {
    #[command(flatten)]
    host: HostArg,
    /// Image archive (docker save format or OCI archive).
    #[arg(short, long)]
    input: PathBuf,
}

pub(crate) async fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let archive = std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let body = args.host.client().post_raw("/images/load?quiet=1", "application/x-tar", archive).await?;
    for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let message: serde_json::Value = serde_json::from_slice(line)?;
        if let Some(error) = message.get("error").and_then(|e| e.as_str()) {
            anyhow::bail!("{error}");
        }
        print!("{}", message.get("stream").and_then(|s| s.as_str()).unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}
