//! `palisade swarm …`: Engine-API client verbs, with docker's output.

use std::process::ExitCode;

use palisade_engine_api::client::Client;
use palisade_engine_api::types::{Info, InitRequest, JoinRequest, Node, Swarm, SwarmSpec, UnlockKeyResponse, UnlockRequest};
use secrecy::SecretString;
use serde_json::json;
use zeroize::Zeroizing;

use super::{duration, HostArg};

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum SwarmCommand {
    /// Initialise a swarm with this node as its first manager.
    Init {
        #[command(flatten)]
        host: HostArg,
        /// Address advertised to other nodes.
        #[arg(long, default_value = "")]
        advertise_addr: String,
        /// Cluster port address.
        #[arg(long, default_value = "0.0.0.0:2377")]
        listen_addr: String,
        /// Validity of node certificates (e.g. 2160h).
        #[arg(long)]
        cert_expiry: Option<String>,
        /// Period of node heartbeats (e.g. 5s).
        #[arg(long)]
        dispatcher_heartbeat: Option<String>,
        /// Lock managers: after a restart they need the unlock key (printed here).
        #[arg(long)]
        autolock: bool,
    },
    /// Join a swarm as a worker or manager, as the token decides.
    Join {
        #[command(flatten)]
        host: HostArg,
        /// The join token.
        #[arg(long)]
        token: String,
        /// Address advertised to other nodes.
        #[arg(long, default_value = "")]
        advertise_addr: String,
        /// Cluster port address.
        #[arg(long, default_value = "0.0.0.0:2377")]
        listen_addr: String,
        /// A manager's cluster address (HOST:PORT).
        remote: String,
    },
    /// Show or rotate a join token.
    JoinToken {
        #[command(flatten)]
        host: HostArg,
        /// Print only the token.
        #[arg(short, long)]
        quiet: bool,
        /// Replace the token.
        #[arg(long)]
        rotate: bool,
        /// `worker` or `manager`.
        role: String,
    },
    /// Leave the swarm.
    Leave {
        #[command(flatten)]
        host: HostArg,
        /// Leave even as the last manager (erases the cluster).
        #[arg(short, long)]
        force: bool,
    },
    /// Print the root CA certificate.
    Ca {
        #[command(flatten)]
        host: HostArg,
    },
    /// Change swarm settings.
    Update {
        #[command(flatten)]
        host: HostArg,
        /// Validity of node certificates (e.g. 720h).
        #[arg(long)]
        cert_expiry: Option<String>,
        /// Period of node heartbeats (e.g. 5s).
        #[arg(long)]
        dispatcher_heartbeat: Option<String>,
        /// Turn manager autolock on or off (`--autolock`, `--autolock=false`).
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        autolock: Option<bool>,
    },
    /// Unlock a locked manager (the key is read from stdin, or prompted for on a terminal).
    Unlock {
        #[command(flatten)]
        host: HostArg,
    },
    /// Show or rotate the manager unlock key.
    UnlockKey {
        #[command(flatten)]
        host: HostArg,
        /// Print only the key.
        #[arg(short, long)]
        quiet: bool,
        /// Replace the key.
        #[arg(long)]
        rotate: bool,
    },
}

pub(crate) async fn run(command: SwarmCommand) -> anyhow::Result<ExitCode> {
    match command {
        SwarmCommand::Init { host, advertise_addr, listen_addr, cert_expiry, dispatcher_heartbeat, autolock } => {
            let client = host.client();
            let mut spec = SwarmSpec::default();
            apply_durations(&mut spec, cert_expiry.as_deref(), dispatcher_heartbeat.as_deref())?;
            spec.encryption_config.auto_lock_managers = autolock;
            let request = InitRequest { listen_addr, advertise_addr, spec, auto_lock_managers: autolock, ..InitRequest::default() };
            let node_id: String = client.post("/swarm/init", &request).await?;
            let node: Node = client.get(&format!("/nodes/{node_id}")).await?;
            let swarm: Swarm = client.get("/swarm").await?;
            println!("Swarm initialized: current node ({node_id}) is now a manager.\n");
            if let Some(status) = node.manager_status {
                println!("To add a worker to this swarm, run the following command:\n");
                println!("    palisade swarm join --token {} {}\n", swarm.join_tokens.worker, status.addr);
            }
            println!("To add a manager to this swarm, run 'palisade swarm join-token manager' and follow the instructions.\n");
            if autolock {
                print_unlock_key(&fetch_unlock_key(&client).await?, false);
            }
        }
        SwarmCommand::Join { host, token, advertise_addr, listen_addr, remote } => {
            let client = host.client();
            let request = JoinRequest { listen_addr, advertise_addr, remote_addrs: vec![remote], join_token: token, ..JoinRequest::default() };
            client.post_empty("/swarm/join", Some(&request)).await?;
            let info: Info = client.get("/info").await?;
            let role = if info.swarm.control_available { "manager" } else { "worker" };
            println!("This node joined a swarm as a {role}.");
        }
        SwarmCommand::JoinToken { host, quiet, rotate, role } => join_token(&host.client(), quiet, rotate, &role).await?,
        SwarmCommand::Leave { host, force } => {
            let path = if force { "/swarm/leave?force=1" } else { "/swarm/leave" };
            host.client().post_empty::<()>(path, None).await?;
            println!("Node left the swarm.");
        }
        SwarmCommand::Ca { host } => {
            let swarm: Swarm = host.client().get("/swarm").await?;
            let root = swarm.cluster.tls_info.trust_root.trim();
            anyhow::ensure!(!root.is_empty(), "No CA information available");
            println!("{root}");
        }
        SwarmCommand::Update { host, cert_expiry, dispatcher_heartbeat, autolock } => {
            anyhow::ensure!(
                cert_expiry.is_some() || dispatcher_heartbeat.is_some() || autolock.is_some(),
                "nothing to update: give --cert-expiry, --dispatcher-heartbeat or --autolock"
            );
            let client = host.client();
            let mut swarm: Swarm = client.get("/swarm").await?;
            let was_locked = swarm.cluster.spec.encryption_config.auto_lock_managers;
            apply_durations(&mut swarm.cluster.spec, cert_expiry.as_deref(), dispatcher_heartbeat.as_deref())?;
            if let Some(autolock) = autolock {
                swarm.cluster.spec.encryption_config.auto_lock_managers = autolock;
            }
            update(&client, &swarm, "").await?;
            println!("Swarm updated.");
            if autolock == Some(true) && !was_locked {
                print_unlock_key(&fetch_unlock_key(&client).await?, false);
            }
        }
        SwarmCommand::Unlock { host } => unlock(&host.client()).await?,
        SwarmCommand::UnlockKey { host, quiet, rotate } => {
            let client = host.client();
            if rotate {
                let swarm: Swarm = client.get("/swarm").await?;
                anyhow::ensure!(swarm.cluster.spec.encryption_config.auto_lock_managers, "cannot rotate because autolock is not turned on");
                update(&client, &swarm, "&rotateManagerUnlockKey=true").await?;
                if !quiet {
                    println!("Successfully rotated manager unlock key.\n");
                }
            }
            print_unlock_key(&fetch_unlock_key(&client).await?, quiet);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn apply_durations(spec: &mut SwarmSpec, cert_expiry: Option<&str>, heartbeat: Option<&str>) -> anyhow::Result<()> {
    if let Some(text) = cert_expiry {
        spec.ca_config.node_cert_expiry = Some(duration::nanos(duration::parse(text).map_err(anyhow::Error::msg)?));
    }
    if let Some(text) = heartbeat {
        spec.dispatcher.heartbeat_period = Some(duration::nanos(duration::parse(text).map_err(anyhow::Error::msg)?));
    }
    Ok(())
}

/// `GET /swarm/unlockkey`, refusing an empty key as docker does.
async fn fetch_unlock_key(client: &Client) -> anyhow::Result<Zeroizing<String>> {
    let response: UnlockKeyResponse = client.get("/swarm/unlockkey").await.map_err(|e| anyhow::anyhow!("could not fetch unlock key: {e}"))?;
    let key = Zeroizing::new(response.unlock_key);
    anyhow::ensure!(!key.is_empty(), "no unlock key is set");
    Ok(key)
}

fn print_unlock_key(key: &str, quiet: bool) {
    if quiet {
        println!("{key}");
        return;
    }
    println!("To unlock a swarm manager after it restarts, run the `palisade swarm unlock`\ncommand and provide the following key:\n");
    println!("    {key}\n");
    println!("Remember to store this key in a password manager, since without it you\nwill not be able to restart the manager.");
}

/// `docker swarm unlock`: only a locked node is asked; the key comes from a prompt on a
/// terminal, else from the first line of stdin.
async fn unlock(client: &Client) -> anyhow::Result<()> {
    let info: Info = client.get("/info").await?;
    match info.swarm.local_node_state.as_str() {
        "inactive" => anyhow::bail!("This node is not part of a swarm"),
        "locked" => {}
        _ => anyhow::bail!("swarm is not locked"),
    }
    let key = read_unlock_key()?;
    client.post_empty("/swarm/unlock", Some(&UnlockRequest { unlock_key: key })).await?;
    Ok(())
}

fn read_unlock_key() -> anyhow::Result<SecretString> {
    use std::io::IsTerminal as _;
    let line = if std::io::stdin().is_terminal() {
        Zeroizing::new(rpassword::prompt_password("Enter unlock key: ")?)
    } else {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin().read_line(&mut line)?;
        line
    };
    Ok(SecretString::from(line.trim()))
}

/// `POST /swarm/update` with the spec read in `swarm` and `rotate` query flags.
async fn update(client: &Client, swarm: &Swarm, rotate: &str) -> anyhow::Result<()> {
    let path = format!("/swarm/update?version={}{rotate}", swarm.cluster.version.index);
    client.post_empty(&path, Some(&json!(swarm.cluster.spec))).await?;
    Ok(())
}

async fn join_token(client: &Client, quiet: bool, rotate: bool, role: &str) -> anyhow::Result<()> {
    anyhow::ensure!(matches!(role, "worker" | "manager"), "unknown role {role}");
    if rotate {
        let swarm: Swarm = client.get("/swarm").await?;
        let flag = if role == "worker" { "&rotateWorkerToken=true" } else { "&rotateManagerToken=true" };
        update(client, &swarm, flag).await?;
        if !quiet {
            println!("Successfully rotated {role} join token.\n");
        }
    }
    let swarm: Swarm = client.get("/swarm").await?;
    let token = if role == "worker" { &swarm.join_tokens.worker } else { &swarm.join_tokens.manager };
    if quiet {
        println!("{token}");
        return Ok(());
    }
    let info: Info = client.get("/info").await?;
    let node: Node = client.get(&format!("/nodes/{}", info.swarm.node_id)).await?;
    let addr = node.manager_status.map(|s| s.addr).unwrap_or_default();
    println!("To add a {role} to this swarm, run the following command:\n");
    println!("    palisade swarm join --token {token} {addr}\n");
    Ok(())
}
