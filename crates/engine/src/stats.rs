//! `docker top` and `docker stats` from the container's cgroup and `/proc` (see
//! [`palisade_runtime::cgroup_sample`]).

use std::time::Duration;

use bytes::Bytes;
use palisade_engine_api::containers::OutputStream;
use palisade_engine_api::stats::{CpuStats, CpuUsage, MemoryStats, PidsStats, StatsResponse, TopResponse};
use palisade_engine_api::types::timestamp;
use palisade_runtime::{cgroup_processes, cgroup_sample, host_memory, system_cpu, ProcessRow};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::state::{Engine, Entry, Phase};

/// Between the two samples of a `docker stats` row (dockerd collects every second).
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

fn cpu_now(entry: &Entry) -> (CpuStats, Option<palisade_runtime::CgroupSample>) {
    let sample = cgroup_sample(&entry.id);
    let (system, cpus) = system_cpu();
    let cpu = CpuStats {
        cpu_usage: CpuUsage { total_usage: sample.as_ref().map_or(0, |s| s.cpu_total_ns) },
        system_cpu_usage: Some(system),
        online_cpus: Some(cpus),
    };
    (cpu, sample)
}

fn line(stats: &StatsResponse) -> Bytes {
    let mut json = serde_json::to_vec(stats).unwrap_or_default();
    json.push(b'\n');
    Bytes::from(json)
}

/// A sample of `entry`, with `pre` (and when it was read) as its `precpu_stats`.
fn sample(entry: &Entry, pre: Option<(CpuStats, OffsetDateTime)>) -> (StatsResponse, CpuStats, OffsetDateTime) {
    let read = OffsetDateTime::now_utc();
    let (cpu, sample) = cpu_now(entry);
    let sample = sample.unwrap_or_default();
    let limit = sample.memory_limit.unwrap_or(u64::MAX).min(host_memory());
    let (precpu, preread) = pre.map_or((CpuStats::default(), "0001-01-01T00:00:00Z".to_owned()), |(c, t)| (c, timestamp(t)));
    let stats = StatsResponse {
        name: format!("/{}", entry.name),
        id: entry.id.to_string(),
        read: timestamp(read),
        preread,
        pids_stats: PidsStats { current: sample.pids, limit: sample.pids_limit },
        cpu_stats: cpu.clone(),
        precpu_stats: precpu,
        memory_stats: MemoryStats { usage: sample.memory_usage, limit, stats: sample.memory_stats.into_iter().collect() },
        blkio_stats: serde_json::json!({}),
    };
    (stats, cpu, read)
}

/// Host user names by uid (`ps` shows those).
fn user_names() -> std::collections::HashMap<u32, String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            Some((f.nth(1)?.parse().ok()?, name.to_owned()))
        })
        .collect()
}

fn top_row(p: &ProcessRow, names: &std::collections::HashMap<u32, String>) -> Vec<String> {
    let start = OffsetDateTime::from_unix_timestamp(i64::try_from(p.start).unwrap_or(0)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let t = p.cpu_seconds;
    vec![
        names.get(&p.uid).cloned().unwrap_or_else(|| p.uid.to_string()),
        p.pid.to_string(),
        p.ppid.to_string(),
        "0".to_owned(),
        format!("{:02}:{:02}", start.hour(), start.minute()),
        p.tty.clone(),
        format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60),
        p.cmd.clone(),
    ]
}

impl Engine {
    /// `docker top`: `ps -ef`'s columns for the processes in the container's cgroup.
    pub(crate) async fn top(&self, reference: &str) -> Result<TopResponse> {
        let entry = self.resolve(reference)?;
        if entry.life().phase != Phase::Running {
            return Err(Error::Conflict(format!("container {} is not running", entry.id)));
        }
        let id = entry.id.clone();
        let rows = crate::state::blocking(move || Ok(cgroup_processes(&id))).await?;
        let names = user_names();
        Ok(TopResponse {
            titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"].map(str::to_owned).to_vec(),
            processes: rows.iter().map(|p| top_row(p, &names)).collect(),
        })
    }

    /// `docker stats`: a row per second while `stream`, else one (after a second, for its
    /// CPU delta, unless `one_shot`).
    pub(crate) fn stats(&self, reference: &str, stream: bool, one_shot: bool) -> Result<OutputStream> {
        let entry = self.resolve(reference)?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut pre = None;
            if stream || !one_shot {
                let (_, cpu, read) = sample(&entry, None);
                pre = Some((cpu, read));
                tokio::time::sleep(SAMPLE_INTERVAL).await;
            }
            loop {
                let (stats, cpu, read) = sample(&entry, pre.take());
                if tx.send(line(&stats)).await.is_err() || !stream || entry.life().removed {
                    return;
                }
                pre = Some((cpu, read));
                tokio::time::sleep(SAMPLE_INTERVAL).await;
            }
        });
        Ok(rx)
    }
}
