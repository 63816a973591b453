//! `palisade secret …`: Engine-API client verbs, with docker's output.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::ExitCode;

use palisade_engine_api::client::Client;
use palisade_engine_api::types::{Secret, SecretCreateResponse, SecretData, SecretSpec};
use zeroize::Zeroizing;

use super::HostArg;

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum SecretCommand {
    /// Create a secret from a file or from stdin (`-`).
    Create {
        #[command(flatten)]
        host: HostArg,
        /// Secret labels (KEY=VALUE).
        #[arg(short, long = "label")]
        labels: Vec<String>,
        /// The secret's name.
        name: String,
        /// File holding the secret, or `-` for stdin.
        file: String,
    },
    /// List secrets.
    #[command(alias = "list")]
    Ls {
        #[command(flatten)]
        host: HostArg,
        /// Only IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show secrets (never their data).
    Inspect {
        #[command(flatten)]
        host: HostArg,
        #[arg(required = true)]
        secrets: Vec<String>,
    },
    /// Remove secrets.
    #[command(alias = "remove")]
    Rm {
        #[command(flatten)]
        host: HostArg,
        #[arg(required = true)]
        secrets: Vec<String>,
    },
}

pub(crate) async fn run(command: SecretCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretCommand::Create { host, labels, name, file } => {
            let data = read_data(&file)?;
            let spec = SecretSpec { name, labels: parse_labels(&labels), data: Some(data), ..SecretSpec::default() };
            let created: SecretCreateResponse = host.client().post("/secrets/create", &spec).await?;
            println!("{}", created.id);
        }
        SecretCommand::Ls { host, quiet } => list(&host.client(), quiet).await?,
        SecretCommand::Inspect { host, secrets } => {
            let client = host.client();
            let mut found = Vec::new();
            for reference in &secrets {
                found.push(client.get::<Secret>(&format!("/secrets/{}", path_segment(reference))).await?);
            }
            println!("{}", serde_json::to_string_pretty(&found)?);
        }
        SecretCommand::Rm { host, secrets } => {
            let client = host.client();
            let mut errors = Vec::new();
            for reference in &secrets {
                match client.delete(&format!("/secrets/{}", path_segment(reference))).await {
                    Ok(()) => println!("{reference}"),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            if !errors.is_empty() {
                anyhow::bail!("{}", errors.join("\n"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The secret bytes from FILE or stdin (`-`), held in zeroing memory; empty is refused as docker
/// does.
fn read_data(file: &str) -> anyhow::Result<SecretData> {
    let mut bytes = Zeroizing::new(Vec::new());
    let (shown, result) = if file == "-" {
        ("STDIN", std::io::stdin().lock().read_to_end(&mut bytes))
    } else {
        (file, std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut bytes)))
    };
    result.map_err(|e| anyhow::anyhow!("error reading from {shown}: {e}"))?;
    anyhow::ensure!(!bytes.is_empty(), "error reading from {shown}: data is empty");
    Ok(SecretData::new(std::mem::take(&mut *bytes)))
}

/// `KEY=VALUE` (or `KEY`, an empty value) as docker's `--label`.
fn parse_labels(labels: &[String]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|label| match label.split_once('=') {
            Some((key, value)) => (key.to_owned(), value.to_owned()),
            None => (label.clone(), String::new()),
        })
        .collect()
}

/// A secret reference as one URL path segment (names are `[a-zA-Z0-9-_.]`, IDs alphanumeric;
/// anything else is percent-encoded so it cannot change the path).
fn path_segment(reference: &str) -> String {
    reference
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn list(client: &Client, quiet: bool) -> anyhow::Result<()> {
    let mut secrets: Vec<Secret> = client.get("/secrets").await?;
    secrets.sort_by(|a, b| a.spec.name.cmp(&b.spec.name).then(a.id.cmp(&b.id)));
    if quiet {
        secrets.iter().for_each(|s| println!("{}", s.id));
        return Ok(());
    }
    let now = time::OffsetDateTime::now_utc();
    let rows: Vec<[String; 5]> = secrets
        .iter()
        .map(|s| {
            let driver = s.spec.driver.as_ref().map(|d| d.name.clone()).unwrap_or_default();
            [s.id.clone(), s.spec.name.clone(), driver, ago(&s.created_at, now), ago(&s.updated_at, now)]
        })
        .collect();
    print_table(["ID", "NAME", "DRIVER", "CREATED", "UPDATED"], &rows);
    Ok(())
}

/// Columns as docker's tabwriter lays them out (min width 10, padding 3).
fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let widths = widths.map(|w| (w + 3).max(10));
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}", width = widths[i]));
            }
        }
        println!("{out}");
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `17 months ago`, as go-units' HumanDuration words it.
fn ago(timestamp: &str, now: time::OffsetDateTime) -> String {
    let Ok(at) = time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339) else { return String::new() };
    format!("{} ago", human_duration((now - at).whole_seconds().max(0)))
}

fn human_duration(seconds: i64) -> String {
    let hours = seconds as f64 / 3600.0;
    match seconds {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s / 60 == 1 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        _ if hours.round() as i64 == 1 => "About an hour".into(),
        _ if hours < 48.0 => format!("{} hours", hours.round() as i64),
        _ if hours < 24.0 * 7.0 * 2.0 => format!("{} days", (hours / 24.0).round() as i64),
        _ if hours < 24.0 * 30.0 * 2.0 => format!("{} weeks", (hours / 24.0 / 7.0).round() as i64),
        _ if hours < 24.0 * 365.0 * 2.0 => format!("{} months", (hours / 24.0 / 30.0).round() as i64),
        _ => format!("{} years", (hours / 24.0 / 365.0).round() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_worded_as_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(17 * 30 * 86400), "17 months");
    }

    #[test]
    fn labels_and_references_are_taken_as_docker_does() {
        let labels = parse_labels(&["a=b=c".into(), "flag".into()]);
        assert_eq!(labels.get("a").map(String::as_str), Some("b=c"));
        assert_eq!(labels.get("flag").map(String::as_str), Some(""));
        assert_eq!(path_segment("db_pw.v-1"), "db_pw.v-1");
        assert_eq!(path_segment("../x y"), "..%2Fx%20y");
    }

    #[test]
    fn empty_input_is_refused() {
        let err = read_data("/dev/null").unwrap_err();
        assert_eq!(err.to_string(), "error reading from /dev/null: data is empty");
    }
}
