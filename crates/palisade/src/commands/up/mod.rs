//! `palisade up`: the all-in-one node on embedded defaults — a daemon that initialises a
//! one-node swarm if it has none, plus the trusted registry (with its web console) and the
//! trust server (TLS from the cluster CA, token auth).

mod scan;
mod services;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use palisade_engine_api::types::{InitRequest, Swarm};
use palisade_engine_api::{Backend, PolicyBackend};

use super::daemon::{bind_socket, serve, DaemonArgs};
use services::{RegistryOptions, ServicePaths, ADMIN_USER};

#[derive(clap::Args, Debug)]
pub(crate) struct UpArgs {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Registry address (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:5000")]
    registry_addr: SocketAddr,
    /// Trust server address (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:4443")]
    trust_addr: SocketAddr,
    /// registry.toml with limits, storage or token settings (auth is always token auth, and
    /// users and permissions live in the cluster store: the console or `/api/v1/`).
    #[arg(long)]
    registry_config: Option<PathBuf>,
    /// Users not kept in the registry's accounts log in against this LDAP / Active Directory
    /// (a TOML file: url, bind_dn, bind_password, user_base, group_base, filters, ca_file).
    #[arg(long)]
    registry_ldap: Option<PathBuf>,
    /// How often every directory user's groups are read again (minutes).
    #[arg(long, default_value_t = 15, requires = "registry_ldap")]
    registry_ldap_sync_minutes: u64,
}

pub(crate) async fn run(mut args: UpArgs) -> anyhow::Result<ExitCode> {
    // Secure by default: unless told otherwise, the cluster port listens on loopback only.
    args.daemon.listen_addr.get_or_insert(([127, 0, 0, 1], 2377).into());
    let (daemon, engine, socket) = args.daemon.start().await?;
    let metrics = palisade_metrics::Metrics::new();
    super::metrics::node_gauges(&metrics, &daemon);
    let api_err = |e: palisade_engine_api::ApiError| anyhow::anyhow!(e.message);
    let fresh = daemon.info().await.map_err(api_err)?.swarm.local_node_state == "inactive";
    if fresh {
        let request = InitRequest { advertise_addr: String::new(), listen_addr: String::new(), ..InitRequest::default() };
        daemon.swarm_init(request).await.map_err(api_err)?;
    }
    let paths = ServicePaths::under(&args.daemon.data_root);
    let (accounts, first_users) = services::open_accounts(&daemon, &paths).await?;
    let registry = RegistryOptions {
        addr: args.registry_addr,
        config: args.registry_config.as_deref(),
        ldap: args.registry_ldap.as_deref().map(|file| super::trusted_registry::DirectoryOptions {
            file,
            sync_every: std::time::Duration::from_secs(args.registry_ldap_sync_minutes.max(1) * 60),
        }),
    };
    let services = services::start(daemon.clone(), &paths, accounts, registry, args.trust_addr, &metrics).await?;
    let metrics_at = args.daemon.metrics.serve(&metrics).await?;

    services::trust_own_registry(&args.daemon.data_root, services.registry_addr)?;
    let policy = match daemon.policy_inspect().await.map_err(api_err)? {
        Some(policy) => policy,
        None => daemon.policy_set(audit_policy(services.registry_addr)).await.map_err(api_err)?,
    };
    let listener = bind_socket(&socket, args.daemon.socket_group()?)?;

    let swarm: Swarm = daemon.swarm_inspect().await.map_err(api_err)?;
    let ca_file = args.daemon.data_root.join("node").join("root-ca.crt");
    let info = daemon.info().await.map_err(api_err)?;
    let manager = info.swarm.remote_managers.as_ref().and_then(|m| m.first()).map(|m| m.addr.clone()).unwrap_or_default();
    let mut banner = vec![
        format!("Palisade is up{}.", if fresh { " (new one-node swarm)" } else { "" }),
        format!("  Engine API:    unix://{}   (docker -H unix://{} …)", socket.display(), socket.display()),
        format!("  Cluster port:  {manager} (mutual TLS)"),
        format!("  Root CA:       {}", ca_file.display()),
        format!("  Join as worker:   palisade swarm join --token {} {manager}", swarm.join_tokens.worker),
        format!("  Join as manager:  palisade swarm join --token {} {manager}", swarm.join_tokens.manager),
        format!("  Registry:      {} (TLS from the root CA above, token auth)", services.registry_addr),
        format!("  Web console:   https://{}/console/   (repositories, teams, settings, audit log; API under /api/v1/)", services.registry_addr),
        format!("  Trust server:  https://{} (notary -s https://{} --tlscacert {})", services.trust_addr, services.trust_addr, ca_file.display()),
    ];
    match &first_users {
        Some(first) if !first.imported.is_empty() => banner.push(format!(
            "  Registry users: imported {} from the earlier htpasswd file, passwords unchanged ({}); it is not read again",
            first.imported.len(),
            first.imported.join(", ")
        )),
        Some(_) => {}
        None => banner.push("  Registry users: in the cluster store (manage them in the web console or /api/v1/users)".to_owned()),
    }
    if let Some(password) = first_users.as_ref().and_then(|f| f.admin_password.as_ref()) {
        banner.push(format!(
            "  Registry user: {ADMIN_USER} / {password}   (an administrator; shown only now: the cluster store keeps only its bcrypt hash)"
        ));
    }
    banner.push(format!(
        "  Scan on push:  https://{}/scan/v1/REPO/manifests/DIGEST   (advisories: palisade scan db import --data-root {} PATH…)",
        services.registry_addr,
        args.daemon.data_root.display()
    ));
    if let Some(at) = metrics_at {
        banner.push(format!("  Metrics:       http://{at}/metrics   (Prometheus; engine, registry and trust server)"));
    }
    banner.push(format!(
        "  Image policy:  version {} (palisade policy show); as shipped it only audits: what it would refuse runs and is \
         recorded (palisade policy log). To enforce, pin your repositories' root keys (docker trust inspect IMAGE), set \
         mode = \"enforce\" and run palisade policy set FILE",
        policy.version
    ));
    // The node keeps running whether or not anyone reads this (a closed stdout is no reason
    // to stop serving), so write errors are ignored rather than turned into a panic.
    {
        let mut out = std::io::stdout().lock();
        for line in banner {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
    serve(daemon, engine, listener, &socket, &metrics).await?;
    drop(services);
    Ok(ExitCode::SUCCESS)
}

/// The image policy a new `palisade up` starts with: audit mode only.
fn audit_policy(registry: SocketAddr) -> String {
    format!(
        r#"# The image policy `palisade up` starts with. Its rule only audits: an image it would refuse
# still runs, and the decision is recorded (`palisade policy log`).
#
# To enforce: require signatures with your repositories' root keys pinned (`docker trust
# inspect IMAGE` lists them under AdministrativeKeys, Root), set mode = "enforce", and
# `palisade policy set FILE`. `palisade policy test IMAGE` explains any decision.
#
# [rule.signatures]
# root_keys = ["<root key ID>"]
# signers = ["releases"]

[[rule]]
name = "scanned-images"
images = ["{registry}/**"]
mode = "audit"

[rule.vulnerabilities]
refuse = "critical"
max_age = "7d"
"#
    )
}
