//! `palisade pull IMAGE`: the daemon pulls into its image store (`POST /images/create`, as
//! `docker pull`). `palisade pull HOST/REPO[:TAG|@DIGEST] oci:DIR[:TAG]|docker-archive:FILE`:
//! this process downloads into a local layout or archive.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use palisade_engine_api::client::{read_chunks, Method};
use palisade_engine_api::containers::types::{JsonMessage, RegistryAuth};
use palisade_registry::client::{ImageRef, LocalImage, Progress, ProgressEvent};

use super::content_trust::{ContentTrustArgs, Pinned};
use super::push::TransferArgs;
use super::HostArg;

/// `palisade pull` arguments.
#[derive(clap::Args)]
pub(crate) struct PullArgs {
    #[command(flatten)]
    host: HostArg,
    /// Image: [HOST[:PORT]/]REPO[:TAG|@DIGEST].
    source: String,
    /// Download here (oci:DIR[:TAG] or docker-archive:FILE) instead of into the daemon's store.
    destination: Option<String>,
    #[command(flatten)]
    transfer: TransferArgs,
    #[command(flatten)]
    trust: ContentTrustArgs,
}

pub(crate) async fn run(args: PullArgs) -> anyhow::Result<ExitCode> {
    let opts = args.transfer.options()?;
    // With content trust on, a tag is fetched by its signed digest (docker's trusted pull).
    let pinned = args.trust.pin(&args.source, opts.credentials.clone()).await?;
    if let Some(p) = &pinned {
        println!("Pull (1 of 1): {}@{}", p.tagged(), p.digest);
    }
    let source = pinned.as_ref().map_or_else(|| args.source.clone(), Pinned::by_digest);
    let Some(destination) = &args.destination else {
        daemon_pull(&args.host, &source, &args.transfer)?.run().await?;
        if let Some(p) = &pinned {
            daemon_tag(&args.host, p).await?;
            println!("Tagging {} as {}", p.by_digest(), p.tagged());
        }
        if args.transfer.quiet {
            println!("{}", args.source);
        }
        return Ok(ExitCode::SUCCESS);
    };
    let src: ImageRef = source.parse()?;
    let mut dest: LocalImage = destination.parse()?;
    if let (Some(p), LocalImage::Oci { tag: tag @ None, .. }) = (&pinned, &mut dest) {
        *tag = Some(p.tag.clone());
    }
    let bars = Arc::new(Bars::new(args.transfer.quiet));
    let digest = palisade_registry::client::pull(&src, &dest, &opts, bars.clone()).await?;
    bars.finish();
    println!("pulled {src} {digest}");
    Ok(ExitCode::SUCCESS)
}

/// `POST /images/{repo@digest}/tag`: the daemon's image pulled by the signed digest gets its tag.
pub(crate) async fn daemon_tag(host: &HostArg, pinned: &Pinned) -> anyhow::Result<()> {
    let path = format!(
        "/images/{}/tag?repo={}&tag={}",
        percent_encode(&pinned.by_digest()),
        percent_encode(&pinned.repo),
        percent_encode(&pinned.tag)
    );
    host.client().post_empty::<()>(&path, None).await?;
    Ok(())
}

/// A pull by the daemon, ready to run.
pub(crate) struct DaemonPull<'a> {
    host: &'a HostArg,
    image: String,
    auth: Option<String>,
    quiet: bool,
}

/// The daemon pull of `image` with `transfer`'s credentials (the daemon has its own TLS trust).
pub(crate) fn daemon_pull<'a>(host: &'a HostArg, image: &str, transfer: &TransferArgs) -> anyhow::Result<DaemonPull<'a>> {
    if transfer.tls_ca.is_some() || transfer.insecure {
        anyhow::bail!(
            "--tls-ca and --insecure apply to pulls into oci:DIR or docker-archive:FILE; the daemon trusts \
             <data-root>/certs.d/HOST[:PORT]/ca.crt for a registry's certificate"
        );
    }
    let auth = credentials(transfer.creds.as_deref())?.map(|(user, password)| {
        let server = image.split_once('/').map_or("", |(host, _)| host);
        RegistryAuth::header_value(&user, &password, server)
    });
    Ok(DaemonPull { host, image: image.to_owned(), auth, quiet: transfer.quiet })
}

impl DaemonPull<'_> {
    /// `POST /images/create`: the daemon pulls; its progress lines are printed as they come.
    pub(crate) async fn run(self) -> anyhow::Result<()> {
        let headers: Vec<(&str, &str)> = self.auth.iter().map(|a| ("X-Registry-Auth", a.as_str())).collect();
        let path = format!("/images/create?fromImage={}", percent_encode(&self.image));
        let response = self.host.client().open_with_headers(Method::POST, &path, &headers).await?;
        let mut pending = Vec::new();
        let mut failure = None;
        let mut last_status = String::new();
        read_chunks(response, |chunk| {
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Ok(message) = serde_json::from_slice::<JsonMessage>(&line) else { continue };
                if let Some(error) = message.error {
                    failure = Some(error);
                    continue;
                }
                let status = message.status.unwrap_or_default();
                if !self.quiet && status != "Downloading" {
                    match &message.id {
                        Some(id) => println!("{id}: {status}"),
                        None => println!("{status}"),
                    }
                }
                last_status = status;
            }
        })
        .await?;
        if let Some(error) = failure {
            anyhow::bail!("{error}");
        }
        if !last_status.starts_with("Status: ") {
            anyhow::bail!("the daemon ended the pull without a result");
        }
        Ok(())
    }
}

/// Percent-encodes a query value (image names only need a few characters escaped).
fn percent_encode(value: &str) -> String {
    value.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        out
    })
}

/// `USER:PASSWORD` → (user, password).
pub(crate) fn credentials(creds: Option<&str>) -> anyhow::Result<Option<(String, String)>> {
    creds
        .map(|c| {
            c.split_once(':')
                .map(|(u, p)| (u.to_owned(), p.to_owned()))
                .ok_or_else(|| anyhow::anyhow!("--creds must be USER:PASSWORD"))
        })
        .transpose()
}

/// One indicatif bar per blob.
pub(crate) struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub(crate) fn new(quiet: bool) -> Self {
        let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        Self { multi: MultiProgress::with_draw_target(target), bars: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn finish(&self) {
        let _ = self.multi.clear();
    }

    fn short(digest: &str) -> String {
        digest.split_once(':').map_or(digest, |(_, h)| h).chars().take(12).collect()
    }
}

impl Progress for Bars {
    fn event(&self, event: ProgressEvent) {
        let Ok(mut bars) = self.bars.lock() else { return };
        match event {
            ProgressEvent::Start { digest, size } => {
                let bar = self.multi.add(ProgressBar::new(size));
                if let Ok(style) =
                    ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(Self::short(&digest));
                bars.insert(digest, bar);
            }
            ProgressEvent::Bytes { digest, n } => {
                if let Some(b) = bars.get(&digest) {
                    b.inc(n);
                }
            }
            ProgressEvent::Done { digest } => {
                if let Some(b) = bars.remove(&digest) {
                    b.finish_with_message("done");
                }
            }
            ProgressEvent::Exists { digest } => {
                let _ = self.multi.println(format!("{} already exists", Self::short(&digest)));
            }
            ProgressEvent::Mounted { digest, from } => {
                let _ = self.multi.println(format!("{} mounted from {from}", Self::short(&digest)));
            }
        }
    }
}
