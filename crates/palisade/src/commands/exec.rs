//! `palisade exec [-d] [-e K=V]… [-w DIR] [-u USER] CONTAINER CMD…`: `POST
//! /containers/{ref}/exec`, `POST /exec/{id}/start` (its output streamed, demultiplexed), then
//! `GET /exec/{id}/json` for the exit code to exit with. No stdin and no terminal (docker's `-i`
//! and `-t` are not offered).

use std::process::ExitCode;

use palisade_engine_api::client::{read_chunks, Method};
use palisade_engine_api::exec::{ExecCreateRequest, ExecCreateResponse, ExecInspect, ExecStartRequest};

use super::output::write_frames;
use super::collection::url_component;
use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct ExecArgs {
    #[command(flatten)]
    host: HostArg,
    /// Start the command and return at once (no output, no exit code).
    #[arg(short, long)]
    detach: bool,
    /// Environment variables (KEY=VALUE).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Working directory in the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// User (name or uid, optionally :group or :gid).
    #[arg(short, long)]
    user: Option<String>,
    /// The container (name or id).
    container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub(crate) async fn run(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let client = args.host.client();
    let request = ExecCreateRequest {
        user: args.user.unwrap_or_default(),
        attach_stdout: !args.detach,
        attach_stderr: !args.detach,
        env: args.env,
        working_dir: args.workdir.unwrap_or_default(),
        cmd: args.command,
        ..ExecCreateRequest::default()
    };
    let created: ExecCreateResponse = client.post(&format!("/containers/{}/exec", url_component(&args.container)), &request).await?;
    let id = url_component(&created.id);
    if args.detach {
        let start = ExecStartRequest { detach: true, ..ExecStartRequest::default() };
        client.post_empty(&format!("/exec/{id}/start"), Some(&start)).await?;
        return Ok(ExitCode::SUCCESS);
    }
    // No body: the daemon's default start (attached, no terminal); no upgrade asked, so the
    // output comes as the response body, ending once the exit code is recorded.
    let output = client.open(Method::POST, &format!("/exec/{id}/start")).await?;
    let mut buffer = Vec::new();
    read_chunks(output, |chunk| write_frames(&mut buffer, &chunk)).await?;
    let inspect: ExecInspect = client.get(&format!("/exec/{id}/json")).await?;
    let Some(code) = inspect.exit_code else {
        anyhow::bail!("the output of exec {} ended before the command exited", created.id);
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)))
}
