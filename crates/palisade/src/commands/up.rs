//! `palisade up`: the all-in-one node on embedded defaults.

use std::process::ExitCode;

use palisade_engine_api::types::{InitRequest, Swarm};
use palisade_engine_api::Backend;

use super::daemon::{serve, DaemonArgs};

#[derive(clap::Args, Debug)]
pub(crate) struct UpArgs {
    #[command(flatten)]
    daemon: DaemonArgs,
}

pub(crate) async fn run(mut args: UpArgs) -> anyhow::Result<ExitCode> {
    // Secure by default: unless told otherwise, the cluster port listens on loopback only.
    args.daemon.listen_addr.get_or_insert(([127, 0, 0, 1], 2377).into());
    let (daemon, socket) = args.daemon.start().await?;
    let fresh = daemon.info().await.map_err(|e| anyhow::anyhow!(e.message))?.swarm.local_node_state == "inactive";
    if fresh {
        let request = InitRequest { advertise_addr: String::new(), listen_addr: String::new(), ..InitRequest::default() };
        daemon.swarm_init(request).await.map_err(|e| anyhow::anyhow!(e.message))?;
    }
    let swarm: Swarm = daemon.swarm_inspect().await.map_err(|e| anyhow::anyhow!(e.message))?;
    let ca_file = args.daemon.data_root.join("node").join("root-ca.crt");
    let info = daemon.info().await.map_err(|e| anyhow::anyhow!(e.message))?;
    let manager = info.swarm.remote_managers.as_ref().and_then(|m| m.first()).map(|m| m.addr.clone()).unwrap_or_default();
    println!("Palisade is up{}.", if fresh { " (new one-node swarm)" } else { "" });
    println!("  Engine API:    unix://{}   (docker -H unix://{} …)", socket.display(), socket.display());
    println!("  Cluster port:  {manager} (mutual TLS)");
    println!("  Root CA:       {}", ca_file.display());
    println!("  Join as worker:   palisade swarm join --token {} {manager}", swarm.join_tokens.worker);
    println!("  Join as manager:  palisade swarm join --token {} {manager}", swarm.join_tokens.manager);
    serve(daemon, args.daemon.engine()?, &socket).await?;
    Ok(ExitCode::SUCCESS)
}
