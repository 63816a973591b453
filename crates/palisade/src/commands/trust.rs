//! `palisade trust …`: docker's `docker trust` verbs, same output, against a Notary server.
//! The trust directory is docker's (`$DOCKER_CONFIG/trust`), so keys and cached metadata are
//! shared with `docker trust` and `notary`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use palisade_registry::client::{LocalImage, RemoteClient};
use palisade_trust::client::{
    parse_public_key_pem, public_key_pem, reports_json, target_meta, validate_signer_name, ImageName, KeyStore, Repository,
    TrustReport,
};
use palisade_trust::RoleName;

use super::content_trust::TrustLocation;
use super::pull::Bars;
use super::push::TransferArgs;

/// `palisade trust` subcommands.
#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum TrustCommand {
    /// Manage keys for signing images.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage entities who can sign images.
    #[command(subcommand)]
    Signer(SignerCommand),
    /// Sign an image (IMAGE:TAG), pushing it first with --from.
    Sign(SignArgs),
    /// Return low-level information about keys and signatures.
    Inspect(InspectArgs),
    /// Remove trust for an image.
    Revoke(RevokeArgs),
}

/// Where the trust data lives and how to reach the servers.
#[derive(clap::Args, Clone)]
pub(crate) struct TrustArgs {
    #[command(flatten)]
    location: TrustLocation,
    #[command(flatten)]
    transfer: TransferArgs,
}

impl TrustArgs {
    fn keys(&self) -> anyhow::Result<KeyStore> {
        self.location.keys()
    }

    fn repository(&self, name: &ImageName, push: bool) -> anyhow::Result<Repository> {
        self.location.repository(name, self.transfer.options()?.credentials, push)
    }
}

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum KeyCommand {
    /// Generate and load a signing key-pair.
    Generate {
        /// Key name.
        name: String,
        /// Directory to write the public key to.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Load a private key file into the local trust store.
    Load {
        /// PEM private key file.
        file: PathBuf,
        /// Name for the loaded key.
        #[arg(long, default_value = "signer")]
        name: String,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Rotate a repository key (root, targets; snapshot and timestamp on the server).
    Rotate {
        /// Repository (HOST[:PORT]/REPO).
        repo: String,
        /// root, targets, snapshot or timestamp.
        role: String,
        #[command(flatten)]
        trust: TrustArgs,
    },
}

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum SignerCommand {
    /// Add a signer.
    Add {
        /// Public key file(s).
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// Signer name.
        name: String,
        /// Repositories.
        #[arg(required = true)]
        repos: Vec<String>,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Remove a signer.
    Remove {
        /// Signer name.
        name: String,
        /// Repositories.
        #[arg(required = true)]
        repos: Vec<String>,
        /// Do not prompt for confirmation.
        #[arg(long, short)]
        force: bool,
        #[command(flatten)]
        trust: TrustArgs,
    },
}

#[derive(clap::Args)]
pub(crate) struct SignArgs {
    /// IMAGE:TAG.
    image: String,
    /// Push this local image (oci:DIR[:TAG] or docker-archive:FILE) to IMAGE:TAG first.
    #[arg(long, value_name = "SOURCE")]
    from: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
}

#[derive(clap::Args)]
pub(crate) struct InspectArgs {
    /// IMAGE[:TAG]...
    #[arg(required = true)]
    images: Vec<String>,
    /// Print the information in a human friendly format.
    #[arg(long)]
    pretty: bool,
    #[command(flatten)]
    trust: TrustArgs,
}

#[derive(clap::Args)]
pub(crate) struct RevokeArgs {
    /// IMAGE[:TAG].
    image: String,
    /// Do not prompt for confirmation.
    #[arg(long, short)]
    yes: bool,
    #[command(flatten)]
    trust: TrustArgs,
}

pub(crate) async fn run(command: TrustCommand) -> anyhow::Result<ExitCode> {
    match command {
        TrustCommand::Key(KeyCommand::Generate { name, dir, trust }) => key_generate(&name, &dir, &trust),
        TrustCommand::Key(KeyCommand::Load { file, name, trust }) => key_load(&file, &name, &trust),
        TrustCommand::Key(KeyCommand::Rotate { repo, role, trust }) => key_rotate(&repo, &role, &trust).await,
        TrustCommand::Signer(SignerCommand::Add { keys, name, repos, trust }) => signer_add(&keys, &name, &repos, &trust).await,
        TrustCommand::Signer(SignerCommand::Remove { name, repos, force, trust }) => {
            signer_remove(&name, &repos, force, &trust).await
        }
        TrustCommand::Sign(args) => sign(args).await,
        TrustCommand::Inspect(args) => inspect(args).await,
        TrustCommand::Revoke(args) => revoke(args).await,
    }
}

fn key_generate(name: &str, dir: &std::path::Path, trust: &TrustArgs) -> anyhow::Result<ExitCode> {
    validate_signer_name(name).map_err(|_| {
        anyhow!("key name \"{name}\" must start with lowercase alphanumeric characters and can include \"-\" or \"_\" after the first character")
    })?;
    if !dir.is_dir() {
        bail!("public key path does not exist: \"{}\"", dir.display());
    }
    let pub_path = dir.join(format!("{name}.pub"));
    if pub_path.exists() {
        bail!("public key file already exists: \"{}\"", pub_path.display());
    }
    println!("Generating key for {name}...");
    let (_, public) = trust.keys()?.generate(name, None).with_context(|| format!("failed to generate key for {name}"))?;
    std::fs::write(&pub_path, public_key_pem(name, &public)?)
        .with_context(|| format!("failed to write public key to {}", pub_path.display()))?;
    println!("Successfully generated and loaded private key. Corresponding public key available: {}", pub_path.display());
    Ok(ExitCode::SUCCESS)
}

fn key_load(file: &std::path::Path, name: &str, trust: &TrustArgs) -> anyhow::Result<ExitCode> {
    use std::os::unix::fs::PermissionsExt as _;
    validate_signer_name(name).map_err(|_| {
        anyhow!("key name \"{name}\" must start with lowercase alphanumeric characters and can include \"-\" or \"_\" after the first character")
    })?;
    println!("Loading key from \"{}\"...", file.display());
    let meta = std::fs::metadata(file).with_context(|| format!("refusing to load key from {}", file.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!("refusing to load key from {}: private key file {} must not be readable or writable by others", file.display(), file.display());
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(file).with_context(|| format!("refusing to load key from {}", file.display()))?);
    trust.keys()?.import(&text, name).with_context(|| format!("error importing key from {}", file.display()))?;
    println!("Successfully imported key from {}", file.display());
    Ok(ExitCode::SUCCESS)
}

async fn key_rotate(repo: &str, role: &str, trust: &TrustArgs) -> anyhow::Result<ExitCode> {
    let name = ImageName::parse(repo)?;
    let role = RoleName::new(role)?;
    let client = trust.repository(&name, true)?;
    let current = client.fetch_existing().await?;
    let key = client.rotate_key(&current, &role).await?;
    println!("Successfully rotated {role} key for repository {}: new key {}", name.gun, key.canonical_id());
    Ok(ExitCode::SUCCESS)
}

async fn signer_add(keys: &[PathBuf], name: &str, repos: &[String], trust: &TrustArgs) -> anyhow::Result<ExitCode> {
    validate_signer_name(name)?;
    if name == "releases" {
        bail!("releases is a reserved keyword, use a different signer name");
    }
    let mut public = Vec::new();
    for path in keys {
        let text = std::fs::read_to_string(path).with_context(|| "unable to read public key from file".to_owned())?;
        public.push(parse_public_key_pem(&text).with_context(|| format!("could not parse public key from file: {}", path.display()))?);
    }
    let mut failed = Vec::new();
    for repo in repos {
        println!("Adding signer \"{name}\" to {repo}...");
        let result = async {
            let image = ImageName::parse(repo)?;
            let client = trust.repository(&image, true)?;
            let current = match client.fetch().await? {
                Some(c) => c,
                None => {
                    println!("Initializing signed repository for {repo}...");
                    let c = client.initialize().await?;
                    println!("Successfully initialized \"{repo}\"");
                    c
                }
            };
            client.add_signer(&current, name, &public).await?;
            anyhow::Ok(())
        }
        .await;
        match result {
            Ok(()) => println!("Successfully added signer: {name} to {repo}\n"),
            Err(e) => {
                eprintln!("{e:#}\n");
                failed.push(repo.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("failed to add signer to: {}", failed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// docker's `prompt.Confirm`: `[y/N]` on stdin.
fn confirm(message: &str) -> anyhow::Result<bool> {
    print!("{message} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    let yes = matches!(answer.trim(), "y" | "Y" | "yes");
    if !yes {
        println!("\nAborting action.");
    }
    Ok(yes)
}

async fn signer_remove(name: &str, repos: &[String], force: bool, trust: &TrustArgs) -> anyhow::Result<ExitCode> {
    let mut failed = Vec::new();
    for repo in repos {
        println!("Removing signer \"{name}\" from {repo}...");
        let result = async {
            let image = ImageName::parse(repo)?;
            let client = trust.repository(&image, true)?;
            let current = client.fetch_existing().await?;
            if client.is_last_releases_signer(&current, name)? && !force {
                let message = format!(
                    "The signer \"{name}\" signed the last released version of {repo}. Removing this signer will make {repo} unpullable. Are you sure you want to continue?"
                );
                if !confirm(&message)? {
                    return anyhow::Ok(false);
                }
            }
            client.remove_signer(&current, name).await?;
            anyhow::Ok(true)
        }
        .await;
        match result {
            Ok(false) => {}
            Ok(true) => println!("Successfully removed {name} from {repo}\n"),
            Err(e) => {
                eprintln!("{e:#}\n");
                failed.push(repo.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("error removing signer from: {}", failed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

async fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let name = ImageName::parse(&args.image)?;
    if name.by_digest {
        bail!("cannot use a digest reference for IMAGE:TAG");
    }
    let Some(tag) = name.tag.clone() else { bail!("no tag specified for {}", args.image) };
    let opts = args.trust.transfer.options()?;
    if let Some(from) = &args.from {
        let src: LocalImage = from.parse()?;
        let bars = Arc::new(Bars::new(args.trust.transfer.quiet));
        palisade_registry::client::push(&src, &name.image, &opts, bars.clone()).await?;
        bars.finish();
    }
    let (_, manifest) = RemoteClient::new(&name.image, &opts, false)?
        .get_manifest(&tag)
        .await
        .with_context(|| format!("looking up {} in the registry", args.image))?;
    let meta = target_meta(&manifest);
    let client = args.trust.repository(&name, true)?;
    let current = match client.fetch().await? {
        Some(c) => c,
        None => {
            let c = client.initialize().await?;
            println!("Finished initializing signed repository for {}", args.image);
            c
        }
    };
    println!("Signing and pushing trust metadata for {}", args.image);
    let report = TrustReport::new(&args.image, &current, Some(&tag));
    if let Some(existing) = report.signed_tags.first() {
        let mut signers = existing.signers.clone();
        signers.sort();
        println!("Existing signatures for tag {} digest {} from:\n{}", existing.tag, existing.digest, signers.join(", "));
    }
    let repo_name = format!("{}/{}", name.image.registry, name.image.repo);
    client.sign(&current, &tag, &meta).await.with_context(|| format!("failed to sign {repo_name}:{tag}"))?;
    println!("Successfully signed {repo_name}:{tag}");
    Ok(ExitCode::SUCCESS)
}

async fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    let mut failure = None;
    for image in &args.images {
        let result = async {
            let name = ImageName::parse(image)?;
            let client = args.trust.repository(&name, false)?;
            let repo = client.fetch_existing().await?;
            anyhow::Ok(TrustReport::new(image, &repo, name.tag.as_deref()))
        }
        .await;
        match result {
            Ok(r) => {
                if args.pretty {
                    if !reports.is_empty() {
                        print!("\n\n");
                    }
                    print!("{}", r.pretty());
                }
                reports.push(r);
            }
            Err(e) => {
                tracing::debug!("{e:#}");
                failure = Some(anyhow!("no signatures or cannot access {image}: {e:#}"));
                break;
            }
        }
    }
    if !args.pretty {
        println!("{}", reports_json(&reports));
    }
    std::io::stdout().flush()?;
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let name = ImageName::parse(&args.image)?;
    if name.by_digest {
        bail!("cannot use a digest reference for IMAGE:TAG");
    }
    if name.tag.is_none()
        && !args.yes
        && !confirm(&format!("Confirm you would like to delete all signature data for {}?", args.image))?
    {
        bail!("trust revoke has been cancelled");
    }
    let client = args.trust.repository(&name, true)?;
    let result = async {
        let current = client.fetch_existing().await?;
        client.revoke(&current, name.tag.as_deref()).await?;
        anyhow::Ok(())
    }
    .await;
    result.with_context(|| format!("could not remove signature for {}", args.image))?;
    println!("Successfully deleted signature for {}", args.image);
    Ok(ExitCode::SUCCESS)
}
