//! One module per subcommand.

use std::process::ExitCode;

mod registry;

/// Every `palisade` subcommand.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Run a standalone OCI registry.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
}

pub(crate) async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Registry(cmd) => registry::run(cmd).await,
    }
}
