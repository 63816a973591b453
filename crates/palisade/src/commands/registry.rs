//! `palisade registry …`: the standalone OCI registry.

use std::process::ExitCode;

/// `palisade registry` subcommands.
#[derive(clap::Subcommand)]
pub(crate) enum RegistryCommand {
    /// Serve the registry.
    Serve,
}

pub(crate) async fn run(command: RegistryCommand) -> anyhow::Result<ExitCode> {
    match command {
        RegistryCommand::Serve => anyhow::bail!("the registry is not built yet"),
    }
}
