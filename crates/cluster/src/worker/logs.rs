//! A node's side of `service logs`: reads a task container's output and publishes it to the
//! leader's subscription, a line per entry, until the output ends or the subscription is gone.

use std::sync::Arc;
use std::time::Duration;

use crate::exec::TaskExecutor;
use crate::node::ActiveNode;
use crate::rpc::{ControlReply, LogRequest, NodeCall};

/// Lines sent per call at most, and the longest a line waits to be sent.
const BATCH: usize = 256;
const FLUSH: Duration = Duration::from_millis(100);

/// Publishes the output `request` asks for (in the background).
pub(super) fn spawn(node: Arc<ActiveNode>, executor: Arc<dyn TaskExecutor>, request: LogRequest) {
    tokio::spawn(async move {
        if let Err(e) = publish(&node, executor.as_ref(), &request).await {
            tracing::debug!(task = %request.task_id, "log subscription: {e}");
        }
    });
}

async fn publish(node: &ActiveNode, executor: &dyn TaskExecutor, request: &LogRequest) -> crate::Result<()> {
    let mut output = match executor.logs(request.container_id.clone(), request.follow).await {
        Ok(output) => output,
        // Its container is gone: nothing to read.
        Err(_) => return send(node, request, Vec::new(), true).await,
    };
    let mut frames = FrameReader::default();
    let mut pending: Vec<(u8, String)> = Vec::new();
    let mut all: Vec<(u8, String)> = Vec::new();
    let tail = request.tail.filter(|_| !request.follow).and_then(|n| usize::try_from(n).ok());
    loop {
        let chunk = tokio::select! {
            chunk = output.recv() => chunk,
            () = tokio::time::sleep(FLUSH), if !pending.is_empty() => {
                send(node, request, std::mem::take(&mut pending), false).await?;
                continue;
            }
        };
        let Some(chunk) = chunk else { break };
        for line in frames.push(&chunk) {
            if tail.is_some() {
                all.push(line);
            } else {
                pending.push(line);
            }
        }
        if pending.len() >= BATCH {
            send(node, request, std::mem::take(&mut pending), false).await?;
        }
    }
    pending.extend(frames.finish());
    if let Some(n) = tail {
        all.append(&mut pending);
        pending = all.split_off(all.len().saturating_sub(n));
    }
    for batch in pending.chunks(BATCH) {
        send(node, request, batch.to_vec(), false).await?;
    }
    send(node, request, Vec::new(), true).await
}

async fn send(node: &ActiveNode, request: &LogRequest, lines: Vec<(u8, String)>, ended: bool) -> crate::Result<()> {
    let call = NodeCall::LogPublish { subscription: request.subscription.clone(), task_id: request.task_id.clone(), lines, ended };
    match node.node_call(call).await? {
        ControlReply::Done => Ok(()),
        other => Err(crate::Error::internal("log publish", format!("unexpected reply {other:?}"))),
    }
}

/// Splits a multiplexed stream (8-byte headers: stream, 0, 0, 0, big-endian length) into
/// `(stream, line)`s, each line with its `\n`.
#[derive(Default)]
struct FrameReader {
    buffer: Vec<u8>,
    /// Per stream, a line not yet ended.
    partial: [Vec<u8>; 3],
}

impl FrameReader {
    fn push(&mut self, chunk: &[u8]) -> Vec<(u8, String)> {
        self.buffer.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while self.buffer.len() >= 8 {
            let len = u32::from_be_bytes([self.buffer[4], self.buffer[5], self.buffer[6], self.buffer[7]]) as usize;
            if self.buffer.len() < 8 + len {
                break;
            }
            let stream = self.buffer[0].min(2);
            let payload: Vec<u8> = self.buffer.drain(..8 + len).skip(8).collect();
            let partial = &mut self.partial[usize::from(stream)];
            for byte in payload {
                partial.push(byte);
                if byte == b'\n' {
                    lines.push((stream, String::from_utf8_lossy(&std::mem::take(partial)).into_owned()));
                }
            }
        }
        lines
    }

    /// Unterminated lines at the end, given their `\n`.
    fn finish(&mut self) -> Vec<(u8, String)> {
        let mut lines = Vec::new();
        for (stream, partial) in self.partial.iter_mut().enumerate() {
            if !partial.is_empty() {
                partial.push(b'\n');
                lines.push((stream as u8, String::from_utf8_lossy(&std::mem::take(partial)).into_owned()));
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
        let mut out = vec![stream, 0, 0, 0];
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn frames_split_into_lines_across_chunks() {
        let mut reader = FrameReader::default();
        let mut bytes = frame(1, b"one\ntw");
        bytes.extend(frame(2, b"err\n"));
        bytes.extend(frame(1, b"o\nthree"));
        let (a, b) = bytes.split_at(5);
        let mut lines = reader.push(a);
        lines.extend(reader.push(b));
        lines.extend(reader.finish());
        let expected: Vec<(u8, String)> =
            vec![(1, "one\n".into()), (2, "err\n".into()), (1, "two\n".into()), (1, "three\n".into())];
        assert_eq!(lines, expected);
    }
}
