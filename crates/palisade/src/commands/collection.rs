//! What several client verbs send alike: a reference as a URL component, docker's `--label`
//! pairs, and `inspect` / `rm` of a collection of the Engine API (`/secrets`, `/configs`,
//! `/services`, `/networks`, `/volumes`).

use std::collections::BTreeMap;

use palisade_engine_api::client::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::output::each;

/// `GET /<collection>/<ref>` of each, printed as one JSON array.
pub(crate) async fn inspect<T: DeserializeOwned + Serialize>(client: &Client, collection: &str, references: &[String]) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for reference in references {
        found.push(client.get::<T>(&format!("/{collection}/{}", url_component(reference))).await?);
    }
    println!("{}", serde_json::to_string_pretty(&found)?);
    Ok(())
}

/// `DELETE /<collection>/<ref>` of each, printing those removed; the errors together at the end,
/// as docker.
pub(crate) async fn remove(client: &Client, collection: &str, references: &[String]) -> anyhow::Result<()> {
    each(references, |reference| async move { client.delete(&format!("/{collection}/{}", url_component(&reference))).await }).await
}

/// `KEY=VALUE` (or `KEY`, an empty value) as docker's `--label`.
pub(crate) fn parse_labels(labels: &[String]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|label| match label.split_once('=') {
            Some((key, value)) => (key.to_owned(), value.to_owned()),
            None => (label.clone(), String::new()),
        })
        .collect()
}

/// A reference as one URL path segment or query value (names are `[a-zA-Z0-9-_.]`, IDs
/// alphanumeric; anything else is percent-encoded so it cannot change the path or query).
pub(crate) fn url_component(reference: &str) -> String {
    reference
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
