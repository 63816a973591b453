//! `palisade`: command-line wiring only. Each subcommand lives in `commands/<verb>.rs`, builds a
//! library object and calls it; no domain logic lives here.

mod commands;
mod global_options;

use clap::{CommandFactory as _, FromArgMatches as _};

#[derive(clap::Parser)]
#[command(name = "palisade", version, about = "A secure-by-default container platform")]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> std::process::ExitCode {
    let command = Cli::command();
    let argv = global_options::hoist(std::env::args_os().collect(), &command);
    let cli = match command.try_get_matches_from(argv).and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let commands::Command::Completion { shell } = cli.command {
        // Into memory first: clap_complete panics on a write error (a closed pipe).
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "palisade", &mut script);
        use std::io::Write as _;
        return match std::io::stdout().write_all(&script) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(_) => std::process::ExitCode::FAILURE,
        };
    }
    init_logging();
    if cli.command.runs_containers() {
        // In the host's mount namespace, so that container state outlives this process.
        if let Err(e) = palisade_runtime::prepare_run_dir() {
            tracing::warn!("preparing {}: {e}", palisade_runtime::RUN_DIR);
        }
        // While still single-threaded: see palisade_runtime::isolate_mount_namespace.
        match palisade_runtime::isolate_mount_namespace() {
            Ok(true) => tracing::info!("hybrid cgroup host: the daemon runs in its own mount namespace without the cgroup v2 mount, so crun runs directly"),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot set up a private mount namespace ({e}); crun is wrapped per container instead"),
        }
    }
    if cli.command.is_server() {
        // Servers hold keys and secrets: no core file, no same-user ptrace or /proc/<pid>/mem.
        if let Err(e) = palisade_runtime::forbid_core_dumps() {
            tracing::warn!("cannot forbid core dumps: {e}");
        }
    }
    // Servers get worker threads; a client verb makes a few requests and exits, so it runs on
    // this thread alone (no threads to start and stop on every `palisade run`).
    let mut builder =
        if cli.command.is_server() { tokio::runtime::Builder::new_multi_thread() } else { tokio::runtime::Builder::new_current_thread() };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("palisade: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = if cli.command.is_server() {
        // On a worker thread: the task a server spawns per accepted connection then starts on
        // that worker (its LIFO slot) rather than waking another thread for every request.
        runtime.block_on(async {
            match tokio::spawn(commands::run(cli.command)).await {
                Ok(outcome) => outcome,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(anyhow::anyhow!("the server task ended: {e}")),
            }
        })
    } else {
        runtime.block_on(commands::run(cli.command))
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn every_verb_and_flag_is_well_formed() {
        // The verbs' flags are built only when a verb is run (`defer`): check them all here.
        super::Cli::command().debug_assert();
    }
}
