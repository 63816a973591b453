//! `palisade scan IMAGE | --input ARCHIVE | --rootfs DIR`: package inventory and known
//! vulnerabilities, matched offline against the advisory database; `palisade scan db
//! import PATH…` / `db info` manage that database.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use palisade_registry::client::{ImageRef, LocalImage};
use palisade_scan::{assess, AdvisoryDb, BlobDir, Filter, Format, IgnoreFile, Inventory, Report, Scanner, Severity};

use super::push::TransferArgs;
use super::DEFAULT_DATA_ROOT;

/// `palisade scan` arguments.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ScanArgs {
    #[command(subcommand)]
    db: Option<ScanCommand>,
    /// Image in the daemon's store (NAME[:TAG] or id), or HOST[:PORT]/REPO[:TAG|@DIGEST] in a registry.
    #[arg(conflicts_with_all = ["input", "rootfs"], required_unless_present_any = ["input", "rootfs"])]
    image: Option<String>,
    /// A docker-archive or OCI archive tarball.
    #[arg(long, value_name = "ARCHIVE.tar", conflicts_with = "rootfs")]
    input: Option<PathBuf>,
    /// A root filesystem directory.
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Output format: table, json, sarif, cyclonedx, spdx.
    #[arg(long, short, default_value = "table")]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only these severities (comma-separated: UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL).
    #[arg(long, value_delimiter = ',')]
    severity: Vec<Severity>,
    /// Leave out vulnerabilities that have no fixed version yet.
    #[arg(long)]
    ignore_unfixed: bool,
    /// Exit with this code when anything is reported.
    #[arg(long, default_value_t = 0)]
    exit_code: u8,
    /// TOML file of accepted advisories ([[ignore]] id, reason, expires, package).
    #[arg(long, value_name = "FILE")]
    ignore_file: Option<PathBuf>,
    #[command(flatten)]
    db_args: DbArgs,
    #[command(flatten)]
    transfer: TransferArgs,
}

#[derive(clap::Args)]
struct DbArgs {
    /// The daemon's data root (its image store and, by default, the advisory database).
    #[arg(long, global = true, env = "PALISADE_DATA_ROOT", default_value = DEFAULT_DATA_ROOT)]
    data_root: PathBuf,
    /// Advisory database file (default: DATA_ROOT/scan/advisories.redb).
    #[arg(long, global = true, value_name = "FILE")]
    db: Option<PathBuf>,
}

impl DbArgs {
    fn path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(|| self.data_root.join("scan").join("advisories.redb"))
    }
}

#[derive(clap::Subcommand)]
enum ScanCommand {
    /// Manage the offline advisory database.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(clap::Subcommand)]
enum DbCommand {
    /// Import OSV records: .json files, directories of them, or OSV's per-ecosystem .zip files.
    Import {
        /// Files and directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Show what the database holds.
    Info,
}

/// A bar over the stored bytes of all layers, drawn only on a terminal.
struct Bar(ProgressBar);

impl palisade_scan::Progress for Bar {
    fn layer(&self, index: usize, count: usize, digest: &str, size: Option<u64>) {
        if let Some(s) = size {
            self.0.inc_length(s);
        }
        let short: String = digest.split_once(':').map_or(digest, |(_, h)| h).chars().take(12).collect();
        self.0.set_message(format!("layer {}/{count} {short}", index + 1));
    }

    fn bytes(&self, n: u64) {
        self.0.inc(n);
    }
}

pub(crate) async fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    if let Some(ScanCommand::Db(cmd)) = args.db {
        return db(cmd, &args.db_args);
    }
    let bar = ProgressBar::with_draw_target(Some(0), if args.transfer.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let scanner = Scanner::new().with_progress(Arc::new(Bar(bar.clone())));
    let inventory = inventory(&args, &scanner).await?;
    bar.finish_and_clear();

    let today = time::OffsetDateTime::now_utc();
    let ignore = match &args.ignore_file {
        Some(p) => IgnoreFile::load(p)?,
        None => IgnoreFile::default(),
    };
    let filter = Filter {
        severities: args.severity.clone(),
        ignore_unfixed: args.ignore_unfixed,
        ignore,
        today: format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day()),
    };
    let db_path = args.db_args.path();
    let report = match AdvisoryDb::open(&db_path) {
        Ok(db) => assess(inventory, &db, &filter)?,
        // An SBOM needs no advisories.
        Err(palisade_scan::Error::NoDatabase(_)) if matches!(args.format, Format::CycloneDx | Format::Spdx) => {
            Report { inventory, ..Report::default() }
        }
        Err(e) => return Err(e.into()),
    };
    let now = today.replace_nanosecond(0).unwrap_or(today).format(&time::format_description::well_known::Rfc3339)?;
    let uuid = random_uuid();
    let text = report.render(args.format, &now, &uuid)?;
    match &args.output {
        Some(p) => std::fs::write(p, text.as_bytes()).with_context(|| format!("writing {}", p.display()))?,
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let nl = if text.ends_with('\n') { "" } else { "\n" };
            match out.write_all(text.as_bytes()).and_then(|()| out.write_all(nl.as_bytes())).and_then(|()| out.flush()) {
                // A reader that stopped early (`| head`) is not an error of the scan.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                r => r.context("writing the report")?,
            }
        }
    }
    if args.output.is_some() || args.format != Format::Table {
        for w in &report.inventory.warnings {
            eprintln!("warning: {w}");
        }
    }
    if args.exit_code != 0 && !report.findings.is_empty() {
        return Ok(ExitCode::from(args.exit_code));
    }
    Ok(ExitCode::SUCCESS)
}

async fn inventory(args: &ScanArgs, scanner: &Scanner) -> anyhow::Result<Inventory> {
    if let Some(dir) = &args.rootfs {
        return Ok(scanner.rootfs(dir)?);
    }
    if let Some(archive) = &args.input {
        return Ok(scanner.archive(archive)?);
    }
    let name = args.image.as_deref().context("name an image, --input ARCHIVE or --rootfs DIR")?;
    if let Ok(remote) = name.parse::<ImageRef>() {
        // Through the registry client into a scratch OCI layout, then read from there.
        let scratch = tempfile::tempdir()?;
        let dir = scratch.path().join("layout");
        let dest = LocalImage::Oci { dir: dir.clone(), tag: None };
        let quiet = Arc::new(super::pull::Bars::new(true));
        palisade_registry::client::pull(&remote, &dest, &args.transfer.options()?, quiet).await?;
        let mut inv = scanner.oci_layout(&dir)?;
        inv.target = name.to_owned();
        return Ok(inv);
    }
    // The daemon keeps its image store under <data-root>/runtime (see `palisade daemon`).
    let runtime_root = args.db_args.data_root.join("runtime");
    let store = palisade_runtime::ImageStore::open_existing(&runtime_root)
        .with_context(|| format!("no image store under {} (set --data-root)", args.db_args.data_root.display()))?;
    let image = store.inspect(name)?;
    let layers: Vec<(String, Option<u64>)> = image.manifest.layers().iter().map(|l| (l.digest().to_string(), Some(l.size()))).collect();
    Ok(scanner.layers(name, &layers, &BlobDir(runtime_root.join("images")))?)
}

fn db(cmd: DbCommand, db: &DbArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        DbCommand::Import { paths } => {
            let path = db.path();
            let start = std::time::Instant::now();
            let stats = AdvisoryDb::create(&path)?.import(&paths)?;
            let secs = start.elapsed().as_secs_f64();
            for w in &stats.warnings {
                eprintln!("warning: {w}");
            }
            let read = stats.imported + stats.unchanged + stats.withdrawn + stats.skipped;
            println!(
                "imported {} advisories into {} ({} unchanged, {} withdrawn, {} for other ecosystems, {} malformed) in {secs:.2}s ({:.0}/s)",
                stats.imported,
                path.display(),
                stats.unchanged,
                stats.withdrawn,
                stats.skipped,
                stats.malformed,
                read as f64 / secs.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Info => {
            let info = AdvisoryDb::open(&db.path())?.info()?;
            println!("database:    {}", info.path.display());
            println!("advisories:  {}", info.records);
            println!("generation:  {}", info.generation);
            let when = time::OffsetDateTime::from_unix_timestamp(i64::try_from(info.imported_at).unwrap_or(0))
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default();
            println!("imported at: {when}");
            for (eco, n) in &info.ecosystems {
                println!("  {eco:<16} {n} package entries");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn random_uuid() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

