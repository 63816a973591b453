//! `palisade rmi IMAGE…`: `DELETE /images/{name}`.

use std::process::ExitCode;

use palisade_engine_api::containers::types::ImageDeleteItem;

use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct RmiArgs {
    #[command(flatten)]
    host: HostArg,
    #[arg(required = true)]
    images: Vec<String>,
}

pub(crate) async fn run(args: RmiArgs) -> anyhow::Result<ExitCode> {
    let client = args.host.client();
    for image in &args.images {
        let items: Vec<ImageDeleteItem> = client.delete_json(&format!("/images/{image}")).await?;
        for item in items {
            if let Some(tag) = item.untagged {
                println!("Untagged: {tag}");
            }
            if let Some(id) = item.deleted {
                println!("Deleted: {id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
