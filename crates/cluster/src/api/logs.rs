//! `GET /services/{id}/logs` and `/tasks/{id}/logs`: opens a subscription on the leader's log
//! broker and streams what the nodes publish, each line framed as docker multiplexes it and,
//! with `details`, prefixed with the task's `com.docker.swarm.*` attributes (the docker CLI
//! reads them to name each line's task and node).

use palisade_engine_api::containers::types::frame;
use palisade_engine_api::containers::OutputStream;
use palisade_engine_api::types::ServiceLogsOptions;

use super::errors::to_api;
use super::{unexpected, ApiResult};
use crate::daemon::Daemon;
use crate::rpc::{ControlCall, ControlReply, LogLine, LogsOpen};

/// Chunks buffered towards a slow client.
const CHANNEL: usize = 64;

pub(super) async fn open(daemon: &Daemon, reference: String, task: bool, options: ServiceLogsOptions) -> ApiResult<OutputStream> {
    let open = LogsOpen { reference, task, follow: options.follow, tail: options.tail };
    let subscription = match daemon.call(ControlCall::LogsOpen(open)).await? {
        ControlReply::ObjectId(id) => id,
        other => return Err(unexpected(&other)),
    };
    let node = daemon.active().await.map_err(to_api)?;
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL);
    tokio::spawn(async move {
        let mut cursor = 0;
        loop {
            let batch = match node.control(ControlCall::LogsNext { subscription: subscription.clone(), cursor }).await {
                Ok(ControlReply::LogBatch(batch)) => batch,
                Ok(other) => {
                    tracing::warn!("service logs: {:?}", unexpected(&other));
                    return;
                }
                Err(e) => {
                    tracing::debug!("service logs: {e}");
                    return;
                }
            };
            cursor = batch.cursor;
            for line in batch.lines.iter().filter(|l| wanted(&options, l)) {
                if tx.send(render(&options, line).into()).await.is_err() {
                    return; // The client went away; the subscription expires unpolled.
                }
            }
            if batch.ended {
                return;
            }
        }
    });
    Ok(rx)
}

fn wanted(options: &ServiceLogsOptions, line: &LogLine) -> bool {
    match line.stream {
        2 => options.stderr,
        _ => options.stdout,
    }
}

fn render(options: &ServiceLogsOptions, line: &LogLine) -> Vec<u8> {
    let text = if options.details {
        format!(
            "com.docker.swarm.node.id={},com.docker.swarm.service.id={},com.docker.swarm.task.id={} {}",
            line.node_id, line.service_id, line.task_id, line.data
        )
    } else {
        line.data.clone()
    };
    frame(if line.stream == 2 { 2 } else { 1 }, text.as_bytes())
}
