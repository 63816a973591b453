//! `palisade images`: `GET /images/json`, as `docker images` prints it.

use std::process::ExitCode;

use palisade_engine_api::containers::types::ImageSummary;

use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct ImagesArgs {
    #[command(flatten)]
    host: HostArg,
    /// Only IDs.
    #[arg(short, long)]
    quiet: bool,
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

pub(crate) async fn run(args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let images: Vec<ImageSummary> = args.host.client().get("/images/json").await?;
    if !args.quiet {
        println!("{:<12} {:<9} {:<14} SIZE", "REPOSITORY", "TAG", "IMAGE ID");
    }
    for image in images {
        if args.quiet {
            println!("{}", short_id(&image.id));
            continue;
        }
        let tags = if image.repo_tags.is_empty() { vec!["<none>:<none>".to_owned()] } else { image.repo_tags.clone() };
        for tag in tags {
            let (repo, tag) = tag.rsplit_once(':').unwrap_or((&tag, "<none>"));
            println!("{repo:<12} {tag:<9} {:<14} {:.1}MB", short_id(&image.id), image.size as f64 / 1e6);
        }
    }
    Ok(ExitCode::SUCCESS)
}
