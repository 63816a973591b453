//! `palisade audit ls|verify`: read and check a tamper-evident audit log (see `palisade-audit`):
//! the daemon's at `<data-root>/audit`, a trusted registry's beside its accounts database.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use palisade_audit::{HeadReport, SignedBy, Trust, VerifyError};
use palisade_cluster::DataRoot;
use palisade_pki::RootCa;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::output::print_table;

/// `palisade audit` subcommands.
#[derive(clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// List entries, oldest first.
    Ls(LsArgs),
    /// Check the whole log: every entry's hash and link, every signed head and who signed it.
    /// Exit 1, naming the entry or head, when anything was changed, removed or reordered, or a
    /// head was not signed by a node of the trusted cluster.
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
        self.dir.clone().unwrap_or_else(|| DataRoot::new(&self.data_root).audit_dir())
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
    /// The public key (PEM) heads signed with the log's own key are checked with, kept
    /// elsewhere than the log; default: the log's `head-key.pub.pem`.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Cluster root CA certificates (PEM) that heads signed by nodes must chain to; repeat it
    /// to trust several (after a root rotation, the earlier root for the earlier heads).
    /// Default: the node's trust bundle, `<data-root>/node/root-ca.crt`, and the roots it
    /// retired in rotations, `<data-root>/node/retired-roots.pem`.
    #[arg(long = "ca", value_name = "FILE")]
    cas: Vec<PathBuf>,
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
    let roots = roots(&args)?;
    match palisade_audit::verify(&dir, &Trust { log_key: key.as_ref(), roots: roots.as_ref() }) {
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
                for line in signers(&report.heads) {
                    println!("  {line}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("audit log {}: NOT INTACT: {e}", dir.display());
            match e {
                VerifyError::HeadUntrusted { .. } => eprintln!(
                    "hint: if the cluster's root CA was rotated since that head was signed, give the earlier root as well (--ca old.crt --ca new.crt)"
                ),
                VerifyError::NoRoots { .. } => {
                    eprintln!("hint: give the cluster's root CA with --ca FILE, or --data-root of a node in the swarm")
                }
                _ => {}
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The root CAs node-signed heads must chain to: every `--ca` file, else the node's trust
/// bundle and the roots it retired, when it has them.
fn roots(args: &VerifyArgs) -> anyhow::Result<Option<RootCa>> {
    let data = DataRoot::new(&args.log.data_root);
    let (bundle, retired) = (data.root_ca(), data.retired_roots());
    let files: Vec<&Path> = match args.cas.as_slice() {
        [] => [&bundle, &retired].into_iter().filter(|f| f.exists()).map(PathBuf::as_path).collect(),
        given => given.iter().map(PathBuf::as_path).collect(),
    };
    if files.is_empty() {
        return Ok(None);
    }
    let mut bundle = String::new();
    for file in &files {
        bundle += &std::fs::read_to_string(file).with_context(|| format!("reading the root CA file {}", file.display()))?;
        bundle.push('\n');
    }
    let names = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ");
    RootCa::from_pem(&bundle, None).map(Some).with_context(|| format!("reading the root CAs in {names}"))
}

/// Who signed the heads, one line per run of heads signed by the same node (or the log's key):
/// `heads 2–5 (entries 200–500): signed by node <id>`.
fn signers(heads: &[HeadReport]) -> Vec<String> {
    let signer = |head: &HeadReport| match &head.signed_by {
        SignedBy::Node { node_id, .. } => Some(node_id.clone()),
        SignedBy::LogKey => None,
    };
    let span = |what: &str, plural: &str, first: u64, last: u64| {
        if first == last {
            format!("{what} {first}")
        } else {
            format!("{plural} {first}–{last}")
        }
    };
    heads
        .chunk_by(|a, b| signer(a) == signer(b))
        .filter_map(|run| {
            let (first, last) = (run.first()?, run.last()?);
            let who = signer(first).map_or_else(|| "signed with the log's own key".to_owned(), |node| format!("signed by node {node}"));
            Some(format!("{} ({}): {who}", span("head", "heads", first.line, last.line), span("entry", "entries", first.seq, last.seq)))
        })
        .collect()
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
