//! The task table of `service ps` and `node ps`, as docker prints it: tasks by name, the most
//! recent first within a slot and the older ones indented under it.

use std::collections::BTreeMap;

use palisade_engine_api::client::Client;
use palisade_engine_api::types::{Node, Service, Task};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::super::output::{ago, capitalize, print_table, short_id};
use super::super::collection::url_component;
use super::display_image;

/// Longest error shown without `--no-trunc` (docker's).
const MAX_ERROR: usize = 30;

#[derive(clap::Args)]
pub(crate) struct TableArgs {
    /// Whole IDs and errors.
    #[arg(long)]
    no_trunc: bool,
    /// Only task IDs.
    #[arg(short, long)]
    quiet: bool,
}

/// The tasks whose `filter` (`service` or `node`) is one of `ids`.
pub(crate) async fn print(client: &Client, filter: &str, ids: &[String], table: &TableArgs) -> anyhow::Result<()> {
    let wanted: BTreeMap<&str, bool> = ids.iter().map(|id| (id.as_str(), true)).collect();
    let filters = serde_json::json!({ filter: wanted }).to_string();
    let tasks: Vec<Task> = client.get(&format!("/tasks?filters={}", url_component(&filters))).await?;
    let services: Vec<Service> = client.get("/services").await?;
    let nodes: Vec<Node> = client.get("/nodes").await?;
    let service_names: BTreeMap<&str, &str> = services.iter().map(|s| (s.id.as_str(), s.spec.name.as_str())).collect();
    let hostnames: BTreeMap<&str, &str> = nodes.iter().map(|n| (n.id.as_str(), n.description.hostname.as_str())).collect();

    let created = |t: &Task| OffsetDateTime::parse(&t.created_at, &Rfc3339).ok();
    let mut named: Vec<(String, &Task)> = tasks.iter().map(|t| (task_name(t, &service_names), t)).collect();
    named.sort_by(|(a_name, a), (b_name, b)| a_name.cmp(b_name).then_with(|| created(b).cmp(&created(a))));
    if table.quiet {
        named.iter().for_each(|(_, t)| println!("{}", t.id));
        return Ok(());
    }
    let now = OffsetDateTime::now_utc();
    let mut previous = "";
    let mut rows = Vec::new();
    for (name, task) in &named {
        let shown_name = if name == previous { format!(" \\_ {name}") } else { name.clone() };
        previous = name;
        let image = task.spec.container_spec.as_ref().map(|c| if table.no_trunc { c.image.clone() } else { display_image(&c.image) });
        let current = format!("{} {}", capitalize(&task.status.state), ago(&task.status.timestamp, now).to_lowercase());
        rows.push([
            if table.no_trunc { task.id.clone() } else { short_id(&task.id).to_owned() },
            shown_name,
            image.unwrap_or_default(),
            hostnames.get(task.node_id.as_str()).copied().unwrap_or_default().to_owned(),
            capitalize(&task.desired_state),
            current,
            error(&task.status.err, table.no_trunc),
        ]);
    }
    print_table(["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"], &rows);
    Ok(())
}

/// `web.1`, or `web.<node ID>` for a global service's task.
fn task_name(task: &Task, services: &BTreeMap<&str, &str>) -> String {
    let service = services.get(task.service_id.as_str()).copied().unwrap_or(&task.service_id);
    if task.slot > 0 {
        format!("{service}.{}", task.slot)
    } else {
        format!("{service}.{}", task.node_id)
    }
}

/// A task's error quoted, cut to [`MAX_ERROR`] characters with `…` unless `whole`.
fn error(err: &str, whole: bool) -> String {
    if err.is_empty() {
        return String::new();
    }
    if whole || err.chars().count() <= MAX_ERROR {
        return format!("\"{err}\"");
    }
    format!("\"{}…\"", err.chars().take(MAX_ERROR - 1).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_errors_are_shown_as_docker_shows_them() {
        let services = BTreeMap::from([("s1", "web")]);
        let task = |slot, node: &str| Task { service_id: "s1".into(), slot, node_id: node.into(), ..Task::default() };
        assert_eq!(task_name(&task(2, "n1"), &services), "web.2");
        assert_eq!(task_name(&task(0, "n1"), &services), "web.n1");
        assert_eq!(error("", false), "");
        assert_eq!(error("no such image", false), "\"no such image\"");
        let long = "x".repeat(40);
        assert_eq!(error(&long, false).chars().count(), MAX_ERROR + 2);
        assert_eq!(error(&long, true), format!("\"{long}\""));
    }
}
