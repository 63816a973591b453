//! `palisade run [--rm] [-d] [--name N] [-v …] [--mount …] [--restart …] IMAGE [CMD…]`: create,
//! start, then either print the id (`-d`) or stream the output and exit with the container's
//! exit code.

mod mounts;

use std::process::ExitCode;

use palisade_engine_api::client::{read_chunks, Method};
use palisade_engine_api::containers::types::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse, HostConfig, WaitResponse,
};

use palisade_engine_api::types::{EndpointIpamConfig, EndpointSettings, NetworkingConfig, PortBinding};

use mounts::{mount_spec, restart_policy, volume_spec, VolumeSpec};

use super::content_trust::ContentTrustArgs;
use super::output::write_frames;
use super::pull::{credentials, daemon_pull, daemon_tag};
use super::push::TransferArgs;
use super::HostArg;

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    host: HostArg,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Run in the background and print the container id.
    #[arg(short, long)]
    detach: bool,
    /// Container name.
    #[arg(long)]
    name: Option<String>,
    /// Environment variables (KEY=VALUE).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// OCI runtime (crun or runc) instead of the daemon's default.
    #[arg(long)]
    runtime: Option<String>,
    /// Network (`bridge`, `host`, `none` or a network's name) [default: the default bridge].
    #[arg(long)]
    network: Option<String>,
    /// Name of the container on its network, besides its own.
    #[arg(long)]
    network_alias: Vec<String>,
    /// IPv4 address on the network.
    #[arg(long)]
    ip: Option<String>,
    /// Publish a port: `[IP:][HOST:]CONTAINER[/tcp|/udp]`.
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Publish every exposed port on a free host port.
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Mount a volume or host path: `NAME:/PATH[:ro]`, `/HOST:/PATH[:ro]`, or `/PATH` (an
    /// anonymous volume).
    #[arg(short = 'v', long = "volume")]
    volumes: Vec<String>,
    /// Mount: `type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…]…`.
    #[arg(long = "mount")]
    mounts: Vec<String>,
    /// Restart policy: `no`, `always`, `unless-stopped` or `on-failure[:MAX-RETRIES]`.
    #[arg(long)]
    restart: Option<String>,
    /// USER:PASSWORD for the registry and trust server, when content trust has to look the
    /// image up or pull it (default: PALISADE_REGISTRY_AUTH).
    #[arg(long, env = "PALISADE_REGISTRY_AUTH", hide_env_values = true)]
    creds: Option<String>,
    #[command(flatten)]
    trust: ContentTrustArgs,
    /// Image to run.
    image: String,
    /// Command and arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// With content trust on, the image the tag's signed digest names, pulled (by that digest) if
/// the daemon does not have it yet; else the image as given.
async fn trusted_image(args: &RunArgs) -> anyhow::Result<String> {
    let Some(pinned) = args.trust.pin(&args.image, credentials(args.creds.as_deref())?).await? else {
        return Ok(args.image.clone());
    };
    let by_digest = pinned.by_digest();
    let present = args.host.client().get::<serde_json::Value>(&format!("/images/{by_digest}/json")).await.is_ok();
    if !present {
        let transfer = TransferArgs { tls_ca: None, insecure: false, creds: args.creds.clone(), quiet: true };
        daemon_pull(&args.host, &by_digest, &transfer)?.run().await?;
        daemon_tag(&args.host, &pinned).await?;
    }
    Ok(by_digest)
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let client = args.host.client();
    // Bad flags are reported before anything is pulled or created.
    let volumes = args.volumes.iter().map(|v| volume_spec(v)).collect::<anyhow::Result<Vec<_>>>()?;
    let mounts = args.mounts.iter().map(|m| mount_spec(m)).collect::<anyhow::Result<Vec<_>>>()?;
    let restart = args.restart.as_deref().map(restart_policy).transpose()?.unwrap_or_default();
    let image = trusted_image(&args).await?;
    let request = ContainerCreateRequest {
        config: ContainerConfig {
            image,
            cmd: args.command.clone(),
            env: args.env.clone(),
            attach_stdout: !args.detach,
            attach_stderr: !args.detach,
            ..ContainerConfig::default()
        },
        host_config: HostConfig {
            auto_remove: args.rm,
            runtime: args.runtime.clone().unwrap_or_default(),
            network_mode: args.network.clone().unwrap_or_else(|| "default".into()),
            publish_all_ports: args.publish_all,
            mounts,
            restart_policy: restart,
            ..HostConfig::default()
        },
        networking_config: NetworkingConfig::default(),
    };
    let mut request = request;
    for volume in volumes {
        match volume {
            VolumeSpec::Bind(bind) => request.host_config.binds.push(bind),
            VolumeSpec::Anonymous(target) => {
                request.config.volumes.insert(target, serde_json::json!({}));
            }
        }
    }
    for spec in &args.publish {
        let (host, container) = publish_spec(spec)?;
        request.config.exposed_ports.insert(container.clone(), serde_json::json!({}));
        request.host_config.port_bindings.entry(container).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(host);
    }
    if !args.network_alias.is_empty() || args.ip.is_some() {
        let endpoint = EndpointSettings {
            aliases: args.network_alias.clone(),
            ipam_config: args.ip.clone().map(|ip| EndpointIpamConfig { ipv4_address: ip, ..EndpointIpamConfig::default() }),
            ..EndpointSettings::default()
        };
        request.networking_config.endpoints_config.insert(request.host_config.network_mode.clone(), endpoint);
    }
    let query = args.name.as_deref().map(|n| format!("?name={n}")).unwrap_or_default();
    let created: ContainerCreateResponse = client.post(&format!("/containers/create{query}"), &request).await?;
    for warning in &created.warnings {
        eprintln!("WARNING: {warning}");
    }
    let id = created.id;
    let started = async {
        // Attached output and the exit code are requested before the start, so nothing is
        // missed even when the daemon auto-removes the container right after it exits.
        let attached = if args.detach {
            None
        } else {
            let attach = format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1");
            let wait = format!("/containers/{id}/wait?condition=next-exit");
            Some(tokio::try_join!(client.open(Method::POST, &attach), client.open(Method::POST, &wait))?)
        };
        client.post_empty::<()>(&format!("/containers/{id}/start"), None).await?;
        Ok::<_, palisade_engine_api::client::ClientError>(attached)
    };
    let attached = match started.await {
        Ok(attached) => attached,
        Err(e) => {
            // Never started, so the daemon will not auto-remove it: `--rm` is ours to keep.
            if args.rm {
                let _ = client.delete(&format!("/containers/{id}?force=1")).await;
            }
            return Err(e.into());
        }
    };
    let Some((output, exit)) = attached else {
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    };
    let mut buffer = Vec::new();
    read_chunks(output, |chunk| write_frames(&mut buffer, &chunk)).await?;
    let mut body = Vec::new();
    read_chunks(exit, |chunk| body.extend_from_slice(&chunk)).await?;
    let exit: WaitResponse = serde_json::from_slice(&body)?;
    Ok(ExitCode::from(u8::try_from(exit.status_code).unwrap_or(255)))
}

/// `-p [IP:][HOST:]CONTAINER[/PROTO]` as docker's CLI splits it: the binding and `PORT/PROTO`.
fn publish_spec(spec: &str) -> anyhow::Result<(PortBinding, String)> {
    let (addr, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let parts: Vec<&str> = addr.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => anyhow::bail!("invalid publish spec {spec:?}: expected [IP:][HOST:]CONTAINER[/PROTO]"),
    };
    if container.is_empty() {
        anyhow::bail!("invalid publish spec {spec:?}: no container port");
    }
    Ok((PortBinding { host_ip: ip.to_owned(), host_port: host.to_owned() }, format!("{container}/{proto}")))
}
