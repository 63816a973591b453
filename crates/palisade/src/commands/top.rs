//! `palisade top CONTAINER`: `GET /containers/{ref}/top`, printed as `docker top` does.

use std::process::ExitCode;

use palisade_engine_api::stats::TopResponse;

use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct TopArgs {
    #[command(flatten)]
    host: HostArg,
    container: String,
}

pub(crate) async fn run(args: TopArgs) -> anyhow::Result<ExitCode> {
    let top: TopResponse = args.host.client().get(&format!("/containers/{}/top", args.container)).await?;
    print!("{}", table(&top));
    Ok(ExitCode::SUCCESS)
}

/// Columns padded to their widest cell; the last (the command) is not padded.
fn table(top: &TopResponse) -> String {
    let rows: Vec<&Vec<String>> = std::iter::once(&top.titles).chain(&top.processes).collect();
    let widths: Vec<usize> = (0..top.titles.len()).map(|i| rows.iter().filter_map(|r| r.get(i)).map(String::len).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| if i + 1 == row.len() { cell.clone() } else { format!("{cell:<width$}", width = widths.get(i).copied().unwrap_or(0)) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
