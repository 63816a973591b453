//! `palisade pull HOST/REPO[:TAG|@DIGEST] oci:DIR[:TAG]|docker-archive:FILE`: download an image.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use palisade_registry::client::{ImageRef, LocalImage, Progress, ProgressEvent};

use super::push::TransferArgs;

/// `palisade pull` arguments.
#[derive(clap::Args)]
pub(crate) struct PullArgs {
    /// Source: HOST[:PORT]/REPO[:TAG|@DIGEST].
    source: String,
    /// Local destination: oci:DIR[:TAG] or docker-archive:FILE.
    destination: String,
    #[command(flatten)]
    transfer: TransferArgs,
}

pub(crate) async fn run(args: PullArgs) -> anyhow::Result<ExitCode> {
    let src: ImageRef = args.source.parse()?;
    let dest: LocalImage = args.destination.parse()?;
    let opts = args.transfer.options()?;
    let bars = Arc::new(Bars::new(args.transfer.quiet));
    let digest = palisade_registry::client::pull(&src, &dest, &opts, bars.clone()).await?;
    bars.finish();
    println!("pulled {src} {digest}");
    Ok(ExitCode::SUCCESS)
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
