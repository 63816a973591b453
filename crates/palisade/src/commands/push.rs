//! `palisade push oci:DIR[:TAG]|docker-archive:FILE HOST/REPO[:TAG]`: upload a local image.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use palisade_registry::client::{ClientOptions, ImageRef, LocalImage};

use super::pull::{credentials, Bars};

/// Flags shared by `push` and `pull`.
#[derive(clap::Args, Clone)]
pub(crate) struct TransferArgs {
    /// PEM CA certificate(s) to trust for the registry's TLS certificate.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// Talk plain http:// to the registry (no TLS). Never use it across a network.
    #[arg(long, conflicts_with = "tls_ca")]
    pub(crate) insecure: bool,
    /// USER:PASSWORD for Basic or token auth (default: PALISADE_REGISTRY_AUTH).
    #[arg(long, env = "PALISADE_REGISTRY_AUTH", hide_env_values = true)]
    pub(crate) creds: Option<String>,
    /// No progress bars.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

impl TransferArgs {
    pub(crate) fn options(&self) -> anyhow::Result<ClientOptions> {
        Ok(ClientOptions { tls_ca: self.tls_ca.clone(), insecure: self.insecure, credentials: credentials(self.creds.as_deref())? })
    }
}

/// `palisade push` arguments.
#[derive(clap::Args)]
pub(crate) struct PushArgs {
    /// Local image: oci:DIR[:TAG] or docker-archive:FILE.
    source: String,
    /// Destination: HOST[:PORT]/REPO[:TAG|@DIGEST].
    destination: String,
    #[command(flatten)]
    transfer: TransferArgs,
}

pub(crate) async fn run(args: PushArgs) -> anyhow::Result<ExitCode> {
    let src: LocalImage = args.source.parse()?;
    let dest: ImageRef = args.destination.parse()?;
    let opts = args.transfer.options()?;
    let bars = Arc::new(Bars::new(args.transfer.quiet));
    let digest = palisade_registry::client::push(&src, &dest, &opts, bars.clone()).await?;
    bars.finish();
    println!("pushed {dest} {digest}");
    Ok(ExitCode::SUCCESS)
}
