//! `service logs`: the daemon's multiplexed stream, asked with `details=1` so that each line
//! starts with `com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,com.docker.swarm.task.id=… `;
//! those name the line as docker does: `web.1.<task>@<node hostname>    | line`.

use std::collections::BTreeMap;

use palisade_engine_api::client::{Client, ClientError, Method};
use palisade_engine_api::containers::types::unframe;
use palisade_engine_api::types::{Node, Service, Task};

use super::super::output::{short_id, write_stream};
use super::super::collection::url_component;
use super::super::HostArg;
use super::inspect;

#[derive(clap::Args)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    host: HostArg,
    /// Keep streaming new output.
    #[arg(short, long)]
    follow: bool,
    /// Only this many lines from the end of each task's output (`all`: everything).
    #[arg(short = 'n', long)]
    tail: Option<String>,
    /// Name lines by service and slot only, without task IDs.
    #[arg(long)]
    no_task_ids: bool,
    /// Whole task IDs.
    #[arg(long)]
    no_trunc: bool,
    /// A service, or one task's ID.
    #[arg(value_name = "SERVICE|TASK")]
    service: String,
}

pub(super) async fn run(args: LogsArgs) -> anyhow::Result<()> {
    let client = args.host.client();
    // A service, or else (as docker) one task of one.
    let (source, padding) = match inspect(&client, &args.service).await {
        Ok(service) => (format!("services/{}", service.id), digits(service.spec.replicas().unwrap_or(1))),
        Err(e) if not_found(&e) => {
            let task: Task = client.get(&format!("/tasks/{}", url_component(&args.service))).await.map_err(|_| e)?;
            (format!("tasks/{}", task.id), 1)
        }
        Err(e) => return Err(e),
    };
    let mut path = format!("/{source}/logs?stdout=1&stderr=1&details=1");
    if args.follow {
        path.push_str("&follow=1");
    }
    if let Some(tail) = &args.tail {
        path.push_str(&format!("&tail={}", url_component(tail)));
    }
    // The body is read into a channel while the lines are named (which needs more requests).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reading = async {
        client.stream(Method::GET, &path, move |chunk| drop(tx.send(chunk))).await?;
        anyhow::Ok(())
    };
    let writing = async {
        let mut names = Names { client: &client, args: &args, padding, known: BTreeMap::new() };
        let mut buffer = Vec::new();
        while let Some(chunk) = rx.recv().await {
            buffer.extend_from_slice(&chunk);
            for (stream, data) in unframe(&mut buffer) {
                write_stream(stream, &names.line(&data).await?);
            }
        }
        anyhow::Ok(())
    };
    tokio::try_join!(reading, writing)?;
    Ok(())
}

/// Names lines by the task, service and node their details give, asking the daemon once each.
struct Names<'a> {
    client: &'a Client,
    args: &'a LogsArgs,
    /// Digits of the largest slot (the replica count), for alignment.
    padding: usize,
    known: BTreeMap<String, String>,
}

impl Names<'_> {
    /// `web.1.<task>@<node>    | message` for a `details message` line; a line without details
    /// as it is.
    async fn line(&mut self, data: &[u8]) -> anyhow::Result<Vec<u8>> {
        let text = String::from_utf8_lossy(data);
        let Some(([node, service, task], message)) = split_details(&text) else { return Ok(data.to_vec()) };
        let context = format!("{node},{service},{task}");
        if !self.known.contains_key(&context) {
            let name = self.name(node, service, task).await?;
            self.known.insert(context.clone(), name);
        }
        let name = self.known.get(&context).map(String::as_str).unwrap_or_default();
        Ok(format!("{name}    | {message}").into_bytes())
    }

    async fn name(&self, node: &str, service: &str, task: &str) -> anyhow::Result<String> {
        let node: Node = self.client.get(&format!("/nodes/{}", url_component(node))).await?;
        let service: Service = self.client.get(&format!("/services/{}", url_component(service))).await?;
        let task: Task = self.client.get(&format!("/tasks/{}", url_component(task))).await?;
        let mut name = format!("{}.{}", service.spec.name, task.slot);
        if !self.args.no_task_ids {
            name = format!("{name}.{}", if self.args.no_trunc { task.id.as_str() } else { short_id(&task.id) });
        }
        let padding = " ".repeat(self.padding.saturating_sub(digits(task.slot)));
        Ok(format!("{name}@{}{padding}", node.description.hostname))
    }
}

/// `([node, service, task], message)` of a `com.docker.swarm.node.id=…,… message` line.
fn split_details(text: &str) -> Option<([&str; 3], &str)> {
    let (details, message) = text.split_once(' ')?;
    let details: BTreeMap<&str, &str> = details.split(',').filter_map(|kv| kv.split_once('=')).collect();
    let field = |key: &str| details.get(format!("com.docker.swarm.{key}.id").as_str()).copied();
    Some(([field("node")?, field("service")?, field("task")?], message))
}

fn not_found(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<ClientError>(), Some(ClientError::Api { status, .. }) if status.as_u16() == 404)
}

fn digits(n: u64) -> usize {
    n.to_string().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_name_the_line_and_slots_align() {
        let line = "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1 hello world\n";
        assert_eq!(split_details(line), Some((["n1", "s1", "t1"], "hello world\n")));
        assert_eq!(split_details("hello world"), None);
        assert_eq!(split_details("no-details"), None);
        assert_eq!((digits(7), digits(12)), (1, 2));
    }
}
