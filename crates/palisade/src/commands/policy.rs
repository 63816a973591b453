//! `palisade policy …`: the cluster's image policy, kept by the managers (clients of the
//! daemon's `/palisade/policy` endpoints).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use palisade_engine_api::policy::{Decision, PolicyDocument, PolicyLogEntry, PolicySetRequest, PolicyTestRequest};

use super::output::print_table;
use super::HostArg;

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum PolicyCommand {
    /// Replace the cluster's image policy with a TOML document (validated whole first).
    Set {
        #[command(flatten)]
        host: HostArg,
        /// The policy document ("-": standard input).
        file: PathBuf,
    },
    /// Print the policy in force, as it was set.
    Show {
        #[command(flatten)]
        host: HostArg,
    },
    /// Explain, rule by rule, how the policy judges an image; exit status 1 when refused.
    Test {
        #[command(flatten)]
        host: HostArg,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
        /// The image reference.
        image: String,
    },
    /// List policy changes, refusals and audited decisions, oldest first.
    Log {
        #[command(flatten)]
        host: HostArg,
        /// Print the entries as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Set { host, file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading the policy from standard input")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let set: PolicyDocument = host.client().post("/palisade/policy", &PolicySetRequest { text }).await?;
            println!("policy version {} set", set.version);
        }
        PolicyCommand::Show { host } => {
            let shown: PolicyDocument = host.client().get("/palisade/policy").await?;
            println!("# policy version {}, set {}", shown.version, shown.updated_at);
            print!("{}", shown.text);
            if !shown.text.ends_with('\n') {
                println!();
            }
        }
        PolicyCommand::Test { host, json, image } => {
            let decision: Decision = host.client().post("/palisade/policy/test", &PolicyTestRequest { image }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&decision)?);
            } else {
                print!("{}", decision.explain());
            }
            if !decision.allowed() {
                return Ok(ExitCode::from(1));
            }
        }
        PolicyCommand::Log { host, json } => {
            let entries: Vec<PolicyLogEntry> = host.client().get("/palisade/policy/log").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                let rows: Vec<[String; 4]> =
                    entries.iter().map(|e| [e.time.clone(), e.kind.clone(), e.action.clone(), e.message.clone()]).collect();
                print_table(["TIME", "KIND", "ACTION", "MESSAGE"], &rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
