//! One module per subcommand.

use std::process::ExitCode;

mod audit;
mod collection;
mod content_trust;
mod cp;
mod daemon;
mod duration;
mod exec;
mod image_gate;
mod images;
mod load;
mod logs;
mod metrics;
mod network;
mod node;
mod output;
mod policy;
mod ps;
mod pull;
mod push;
mod registry;
mod rm;
mod rmi;
mod run;
mod scan;
mod secret;
mod service;
mod start;
mod stop;
mod swarm;
mod swarm_networks;
mod tasks;
mod top;
mod trust;
mod trust_server;
mod trusted_registry;
mod up;
mod volume;

/// Where a fresh install keeps its state.
pub(crate) const DEFAULT_DATA_ROOT: &str = "/var/lib/palisade";

// The daemon socket: `-H unix:///path.sock`, `PALISADE_HOST`, or the default data root's. Not a
// doc comment: clap would make it the help text of every verb that flattens it.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct HostArg {
    /// Daemon socket to connect to (unix:///path.sock).
    #[arg(short = 'H', long = "host", env = "PALISADE_HOST", default_value = "unix:///var/lib/palisade/palisade.sock")]
    pub(crate) host: String,
}

impl HostArg {
    pub(crate) fn client(&self) -> palisade_engine_api::client::Client {
        palisade_engine_api::client::Client::new(&self.host)
    }
}

/// `ls [-q]` of a kind of object.
#[derive(clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) host: HostArg,
    /// Only the IDs (of volumes: the names).
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// Objects named on the command line (`inspect`, `rm`).
#[derive(clap::Args)]
pub(crate) struct ReferencesArgs {
    #[command(flatten)]
    pub(crate) host: HostArg,
    /// Names or IDs.
    #[arg(required = true)]
    pub(crate) references: Vec<String>,
}

/// Every `palisade` subcommand.
#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum Command {
    /// Run a node daemon (Engine API on a unix socket, cluster port after init/join).
    Daemon(daemon::DaemonArgs),
    /// All-in-one: a daemon that initialises a one-node swarm if it has none.
    Up(up::UpArgs),
    /// Manage the swarm (init, join, join-token, leave, ca).
    #[command(subcommand)]
    Swarm(swarm::SwarmCommand),
    /// Manage swarm nodes.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Manage swarm secrets.
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// Manage swarm configs.
    #[command(subcommand)]
    Config(secret::SecretCommand),
    /// Manage swarm services.
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Read and verify a tamper-evident audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Manage the cluster's image policy (set, show, test, log).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Run a standalone OCI registry.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Manage trust on images (docker trust: keys, signers, sign, inspect, revoke).
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Run a standalone Notary-compatible trust server.
    #[command(subcommand)]
    TrustServer(trust_server::TrustServerCommand),
    /// Run a container.
    Run(run::RunArgs),
    /// List containers.
    Ps(ps::PsArgs),
    /// Show a container's output.
    Logs(logs::LogsArgs),
    /// Show a container's processes.
    Top(top::TopArgs),
    /// Run a command in a running container.
    Exec(exec::ExecArgs),
    /// Start stopped containers.
    Start(start::StartArgs),
    /// Restart containers.
    Restart(start::RestartArgs),
    /// Stop containers.
    Stop(stop::StopArgs),
    /// Remove containers.
    Rm(rm::RmArgs),
    /// Copy files between a container and the host.
    Cp(cp::CpArgs),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage networks.
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// List images.
    Images(images::ImagesArgs),
    /// Load an image archive.
    Load(load::LoadArgs),
    /// Remove images.
    Rmi(rmi::RmiArgs),
    /// Upload a local image (oci:DIR[:TAG] or docker-archive:FILE) to a registry.
    Push(push::PushArgs),
    /// Download an image from a registry into oci:DIR[:TAG] or docker-archive:FILE.
    Pull(pull::PullArgs),
    /// Scan an image for packages with known vulnerabilities (offline advisory database).
    Scan(scan::ScanArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// Whether this command runs a container engine (a node daemon).
    pub(crate) fn runs_containers(&self) -> bool {
        matches!(self, Self::Daemon(_) | Self::Up(_))
    }

    /// Whether this command serves (daemon, registry, trust server) rather than being a client
    /// that makes a few requests and exits.
    pub(crate) fn is_server(&self) -> bool {
        matches!(self, Self::Daemon(_) | Self::Up(_) | Self::Registry(_) | Self::TrustServer(_))
    }
}

pub(crate) async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Daemon(args) => daemon::run(args).await,
        Command::Up(args) => up::run(args).await,
        Command::Swarm(cmd) => swarm::run(cmd).await,
        Command::Node(cmd) => node::run(cmd).await,
        Command::Secret(cmd) => secret::run(cmd, secret::Kind::Secret).await,
        Command::Config(cmd) => secret::run(cmd, secret::Kind::Config).await,
        Command::Service(cmd) => service::run(cmd).await,
        Command::Policy(cmd) => policy::run(cmd).await,
        Command::Audit(cmd) => audit::run(cmd),
        Command::Registry(cmd) => registry::run(cmd).await,
        Command::Trust(cmd) => trust::run(cmd).await,
        Command::TrustServer(cmd) => trust_server::run(cmd).await,
        Command::Run(args) => run::run(args).await,
        Command::Ps(args) => ps::run(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::Top(args) => top::run(args).await,
        Command::Exec(args) => exec::run(args).await,
        Command::Start(args) => start::start(args).await,
        Command::Restart(args) => start::restart(args).await,
        Command::Stop(args) => stop::run(args).await,
        Command::Rm(args) => rm::run(args).await,
        Command::Cp(args) => cp::run(args).await,
        Command::Volume(cmd) => volume::run(cmd).await,
        Command::Network(cmd) => network::run(cmd).await,
        Command::Images(args) => images::run(args).await,
        Command::Load(args) => load::run(args).await,
        Command::Rmi(args) => rmi::run(args).await,
        Command::Push(args) => push::run(args).await,
        Command::Pull(args) => pull::run(args).await,
        Command::Scan(args) => scan::run(args).await,
        // Printed by `main`, which holds the whole command line's definition.
        Command::Completion { .. } => Ok(ExitCode::SUCCESS),
    }
}
