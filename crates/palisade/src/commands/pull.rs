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
}

pub(crate) async fn run(args: PullArgs) -> anyhow::Result<ExitCode> {
    let Some(destination) = &args.destination else {
        return pull_into_daemon(&args).await;
    };
    let src: ImageRef = args.source.parse()?;
    let dest: LocalImage = destination.parse()?;
    let opts = args.transfer.options()?;
    let bars = Arc::new(Bars::new(args.transfer.quiet));
    let digest = palisade_registry::client::pull(&src, &dest, &opts, bars.clone()).await?;
    bars.finish();
    println!("pulled {src} {digest}");
    Ok(ExitCode::SUCCESS)
}

/// `POST /images/create`: the daemon pulls; its progress lines are printed as they come.
async fn pull_into_daemon(args: &PullArgs) -> anyhow::Result<ExitCode> {
    if args.transfer.tls_ca.is_some() || args.transfer.insecure {
        anyhow::bail!(
            "--tls-ca and --insecure apply to pulls into oci:DIR or docker-archive:FILE; the daemon trusts \
             <data-root>/certs.d/HOST[:PORT]/ca.crt for a registry's certificate"
        );
    }
    let auth = credentials(args.transfer.creds.as_deref())?.map(|(user, password)| {
        let server = args.source.split_once('/').map_or("", |(host, _)| host);
        RegistryAuth::header_value(&user, &password, server)
    });
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("X-Registry-Auth", a.as_str())).collect();
    let path = format!("/images/create?fromImage={}", percent_encode(&args.source));
    let response = args.host.client().open_with_headers(Method::POST, &path, &headers).await?;
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
            if args.transfer.quiet || status == "Downloading" {
                continue;
            }
            match message.id {
                Some(id) => println!("{id}: {status}"),
                None => println!("{status}"),
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
    if args.transfer.quiet {
        println!("{}", args.source);
    }
    Ok(ExitCode::SUCCESS)
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
        }
    }
}
