//! `palisade secret …` and `palisade config …`: Engine-API client verbs, with docker's output.
//! Secrets and configs share a shape (a config is a secret whose data the daemon shows), so
//! one set of verbs serves both, told apart by [`Kind`].

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::ExitCode;

use palisade_engine_api::client::Client;
use palisade_engine_api::types::{Secret, SecretCreateResponse, SecretData, SecretSpec};
use zeroize::Zeroizing;

use super::collection::{inspect, parse_labels, remove, url_component};
use super::output::{ago, print_table};
use super::{HostArg, ListArgs, ReferencesArgs};

/// Which objects the verbs manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `/secrets`: data never shown.
    Secret,
    /// `/configs`: data shown by inspect.
    Config,
}

impl Kind {
    /// The collection in the Engine API's paths.
    pub(crate) fn collection(self) -> &'static str {
        match self {
            Self::Secret => "secrets",
            Self::Config => "configs",
        }
    }

    /// The word docker's messages use.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Config => "config",
        }
    }
}

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum SecretCommand {
    /// Create one from a file or from stdin (`-`).
    Create {
        #[command(flatten)]
        host: HostArg,
        /// Labels (KEY=VALUE).
        #[arg(short, long = "label")]
        labels: Vec<String>,
        /// Its name.
        name: String,
        /// File holding the data, or `-` for stdin.
        file: String,
    },
    /// List them.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Show them as JSON (a secret's data never; a config's data in base64).
    Inspect(ReferencesArgs),
    /// Remove them.
    #[command(alias = "remove")]
    Rm(ReferencesArgs),
}

pub(crate) async fn run(command: SecretCommand, kind: Kind) -> anyhow::Result<ExitCode> {
    let collection = kind.collection();
    match command {
        SecretCommand::Create { host, labels, name, file } => {
            let data = read_data(&file)?;
            let spec = SecretSpec { name, labels: parse_labels(&labels), data: Some(data), ..SecretSpec::default() };
            let created: SecretCreateResponse = host.client().post(&format!("/{collection}/create"), &spec).await?;
            println!("{}", created.id);
        }
        SecretCommand::Ls(ListArgs { host, quiet }) => list(&host.client(), kind, quiet).await?,
        SecretCommand::Inspect(ReferencesArgs { host, references }) => inspect::<Secret>(&host.client(), collection, &references).await?,
        SecretCommand::Rm(ReferencesArgs { host, references }) => remove(&host.client(), collection, &references).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The IDs of the secrets or configs named `names` (`GET /<collection>?filters={"name":…}`,
/// exact names kept, as docker resolves `--secret`/`--config`); a name not found is an error.
pub(crate) async fn ids_by_name(client: &Client, kind: Kind, names: &[&str]) -> anyhow::Result<BTreeMap<String, String>> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let wanted: BTreeMap<&str, bool> = names.iter().map(|n| (*n, true)).collect();
    let filters = serde_json::json!({ "name": wanted }).to_string();
    let found: Vec<Secret> = client.get(&format!("/{}?filters={}", kind.collection(), url_component(&filters))).await?;
    let ids: BTreeMap<String, String> = found.into_iter().map(|s| (s.spec.name, s.id)).collect();
    if let Some(missing) = names.iter().find(|n| !ids.contains_key(**n)) {
        anyhow::bail!("{} not found: {missing}", kind.noun());
    }
    Ok(ids)
}

/// The bytes from FILE or stdin (`-`), held in zeroing memory; empty is refused as docker
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

async fn list(client: &Client, kind: Kind, quiet: bool) -> anyhow::Result<()> {
    let mut found: Vec<Secret> = client.get(&format!("/{}", kind.collection())).await?;
    found.sort_by(|a, b| a.spec.name.cmp(&b.spec.name).then(a.id.cmp(&b.id)));
    if quiet {
        found.iter().for_each(|s| println!("{}", s.id));
        return Ok(());
    }
    let now = time::OffsetDateTime::now_utc();
    let row = |s: &Secret| [s.id.clone(), s.spec.name.clone(), ago(&s.created_at, now), ago(&s.updated_at, now)];
    match kind {
        Kind::Secret => {
            let rows: Vec<[String; 5]> = found
                .iter()
                .map(|s| {
                    let [id, name, created, updated] = row(s);
                    [id, name, s.spec.driver.as_ref().map(|d| d.name.clone()).unwrap_or_default(), created, updated]
                })
                .collect();
            print_table(["ID", "NAME", "DRIVER", "CREATED", "UPDATED"], &rows);
        }
        Kind::Config => print_table(["ID", "NAME", "CREATED", "UPDATED"], &found.iter().map(row).collect::<Vec<_>>()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_references_are_taken_as_docker_does() {
        let labels = parse_labels(&["a=b=c".into(), "flag".into()]);
        assert_eq!(labels.get("a").map(String::as_str), Some("b=c"));
        assert_eq!(labels.get("flag").map(String::as_str), Some(""));
        assert_eq!(url_component("db_pw.v-1"), "db_pw.v-1");
        assert_eq!(url_component("../x y"), "..%2Fx%20y");
    }

    #[test]
    fn empty_input_is_refused() {
        let err = read_data("/dev/null").unwrap_err();
        assert_eq!(err.to_string(), "error reading from /dev/null: data is empty");
    }
}
