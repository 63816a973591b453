//! `palisade audit ls|verify`: read and check a tamper-evident audit log (see `palisade-audit`):
//! the daemon's at `<data-root>/audit`, a trusted registry's beside its accounts database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::output::print_table;

/// `palisade audit` subcommands.
#[derive(clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// List entries, oldest first.
    Ls(LsArgs),
    /// Check the whole log: every entry's hash and link, every signed head. Exit 1, naming the
    /// entry, when anything was changed, removed or reordered.
    Verify(VerifyArgs),
}

/// Which log.
#[derive(clap::Args)]
pub(crate) struct LogDir {
    /// The log's directory (default: the daemon's, `<data-root>/audit`).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The daemon's data root, when --dir is not given.
    #[arg(long, default_value = super::DEFAULT_DATA_ROOT)]
    data_root: PathBuf,
}

impl LogDir {
    fn path(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| self.data_root.join("audit"))
    }
}

/// `palisade audit ls` flags.
#[derive(clap::Args)]
pub(crate) struct LsArgs {
    #[command(flatten)]
    log: LogDir,
    /// Only entries at or after this time (RFC 3339, e.g. 2026-12-03T10:00:00Z) or this long
    /// ago (a Go duration, e.g. 30m, 2h, 168h).
    #[arg(long)]
    since: Option<String>,
    /// One JSON object per line, as stored.
    #[arg(long)]
    json: bool,
}

/// `palisade audit verify` flags.
#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    log: LogDir,
    /// The public key the heads are checked with (PEM), kept elsewhere than the log; default:
    /// the log's own `head-key.pub.pem`.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Ls(args) => ls(args),
        AuditCommand::Verify(args) => verify(args),
    }
}

/// `--since`: an RFC 3339 time or a duration before now.
fn since(text: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let ago = super::duration::parse(text).map_err(|e| anyhow::anyhow!("--since: {e}: expected an RFC 3339 time or a duration such as 30m"))?;
    Ok(OffsetDateTime::now_utc() - ago)
}

fn ls(args: LsArgs) -> anyhow::Result<ExitCode> {
    let since = args.since.as_deref().map(since).transpose()?;
    let dir = args.log.path();
    let entries = palisade_audit::read_entries(&dir, since).with_context(|| format!("reading the audit log in {}", dir.display()))?;
    if args.json {
        for e in &entries {
            println!("{}", serde_json::to_string(e)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 7]> = entries
        .into_iter()
        .map(|e| {
            let time = e.time.format(&Rfc3339).unwrap_or_default();
            let outcome = match e.outcome {
                palisade_audit::Outcome::Success => "success",
                palisade_audit::Outcome::Failure => "failure",
            };
            [e.seq.to_string(), time, e.actor, e.action, e.target, outcome.to_owned(), e.source.unwrap_or_default()]
        })
        .collect();
    print_table(["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "SOURCE"], &rows);
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let dir = args.log.path();
    let key = args.key.as_deref().map(palisade_audit::public_key).transpose()?;
    match palisade_audit::verify(&dir, key.as_ref()) {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let last = report.last_signed_seq.map_or_else(|| "none yet".to_owned(), |seq| format!("last at entry {seq}"));
                println!(
                    "audit log {}: {} entries intact, {} signed heads ({last}); {} entries after the last signed head",
                    dir.display(),
                    report.entries,
                    report.signed_heads,
                    report.unsigned_entries()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("audit log {}: NOT INTACT: {e}", dir.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Signs the audit log's head every ten minutes when entries were added, so that at most ten
/// minutes of entries are ever unprotected by a signature (the log signs every 100 itself):
/// for every process that keeps one (daemon, registry, trust server).
pub(crate) fn spawn_head_signing(log: std::sync::Arc<palisade_audit::AuditLog>) {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(600);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            let log = log.clone();
            match tokio::task::spawn_blocking(move || log.sign_head_if_older(EVERY)).await {
                Ok(Err(e)) => tracing::error!("signing the audit log's head: {e}"),
                Err(e) => tracing::error!("signing the audit log's head: {e}"),
                Ok(Ok(_)) => {}
            }
        }
    });
}
