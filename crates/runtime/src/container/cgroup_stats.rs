//! `docker stats` and `docker top`: what a container's cgroup says of it, on cgroup v1
//! (memory, cpuacct, pids controllers at `/sys/fs/cgroup/<controller>/palisade/<id>`) and v2
//! (`/sys/fs/cgroup/palisade/<id>`), and its processes from `/proc`.

use std::path::PathBuf;

use crate::bundle::cgroup_path;
use crate::ids::ContainerId;

/// Jiffies per second of `/proc/<pid>/stat` and `/proc/stat` (`USER_HZ`, 100 on Linux).
const USER_HZ: u64 = 100;

/// One sample of a container's cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupSample {
    /// Memory in use, in bytes, page cache included.
    pub memory_usage: u64,
    /// The memory limit in bytes (`None`: unlimited).
    pub memory_limit: Option<u64>,
    /// Reclaimable page cache in `memory_usage` (`cache`/`inactive_file` as docker names it).
    pub memory_stats: Vec<(String, u64)>,
    /// CPU time used, in nanoseconds.
    pub cpu_total_ns: u64,
    /// Tasks in the cgroup.
    pub pids: u64,
    /// The pids limit (`None`: unlimited).
    pub pids_limit: Option<u64>,
}

/// One process of a container, as `ps -ef` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessRow {
    /// Real uid.
    pub uid: u32,
    /// Host pid.
    pub pid: i32,
    /// Parent's host pid.
    pub ppid: i32,
    /// Start time, seconds since the epoch.
    pub start: u64,
    /// Controlling terminal (`?` for none, else `pts/N`).
    pub tty: String,
    /// User plus system CPU time in seconds.
    pub cpu_seconds: u64,
    /// The command line (`[comm]` for kernel-like processes without one).
    pub cmd: String,
}

fn v1(controller: &str, id: &ContainerId, file: &str) -> PathBuf {
    PathBuf::from("/sys/fs/cgroup").join(controller).join(cgroup_path(id).trim_start_matches('/')).join(file)
}

fn v2(id: &ContainerId, file: &str) -> PathBuf {
    PathBuf::from("/sys/fs/cgroup").join(cgroup_path(id).trim_start_matches('/')).join(file)
}

fn read(path: PathBuf) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn number(path: PathBuf) -> Option<u64> {
    read(path)?.parse().ok()
}

/// A v1 limit as large as this is "unlimited" (the page-rounded `i64::MAX`).
const V1_UNLIMITED: u64 = 1 << 62;

/// The container's cgroup now, `None` if it has none (not running).
pub fn cgroup_sample(id: &ContainerId) -> Option<CgroupSample> {
    if let Some(usage) = number(v1("memory", id, "memory.usage_in_bytes")) {
        let stats = read(v1("memory", id, "memory.stat")).unwrap_or_default();
        return Some(CgroupSample {
            memory_usage: usage,
            memory_limit: number(v1("memory", id, "memory.limit_in_bytes")).filter(|l| *l < V1_UNLIMITED),
            memory_stats: key_values(&stats),
            cpu_total_ns: number(v1("cpuacct", id, "cpuacct.usage")).unwrap_or(0),
            pids: number(v1("pids", id, "pids.current")).unwrap_or(0),
            pids_limit: number(v1("pids", id, "pids.max")),
        });
    }
    let usage = number(v2(id, "memory.current"))?;
    let cpu = key_values(&read(v2(id, "cpu.stat")).unwrap_or_default());
    let usage_usec = cpu.iter().find(|(k, _)| k == "usage_usec").map_or(0, |(_, v)| *v);
    Some(CgroupSample {
        memory_usage: usage,
        memory_limit: number(v2(id, "memory.max")),
        memory_stats: key_values(&read(v2(id, "memory.stat")).unwrap_or_default()),
        cpu_total_ns: usage_usec.saturating_mul(1000),
        pids: number(v2(id, "pids.current")).unwrap_or(0),
        pids_limit: number(v2(id, "pids.max")),
    })
}

fn key_values(text: &str) -> Vec<(String, u64)> {
    text.lines().filter_map(|l| l.split_once(' ')).filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?))).collect()
}

/// The host's CPU time in nanoseconds (all CPUs, `/proc/stat`) and its online CPUs.
pub fn system_cpu() -> (u64, u32) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let total = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map_or(0, |l| l.split_whitespace().filter_map(|v| v.parse::<u64>().ok()).sum::<u64>());
    let cpus = stat.lines().filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
    (total.saturating_mul(1_000_000_000 / USER_HZ), u32::try_from(cpus).unwrap_or(1).max(1))
}

/// The host's memory in bytes (`MemTotal`).
pub fn host_memory() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The processes in the container's cgroup, by pid.
pub fn cgroup_processes(id: &ContainerId) -> Vec<ProcessRow> {
    let procs = read(v1("pids", id, "cgroup.procs")).or_else(|| read(v1("memory", id, "cgroup.procs"))).or_else(|| read(v2(id, "cgroup.procs")));
    let boot = boot_time();
    let mut rows: Vec<ProcessRow> = procs.unwrap_or_default().lines().filter_map(|p| p.trim().parse().ok()).filter_map(|pid| process_row(pid, boot)).collect();
    rows.sort_by_key(|r| r.pid);
    rows
}

fn boot_time() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn process_row(pid: i32, boot: u64) -> Option<ProcessRow> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(').map(|(_, c)| c).unwrap_or_default();
    // Fields after "pid (comm)": state(0) ppid(1) pgrp session tty_nr(4) … utime(11) stime(12) … starttime(19).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ");
    let tty_nr = field(4);
    // Pseudo-terminals have majors 136-143; the minor is spread over two bit ranges.
    let tty = match (tty_nr >> 8) & 0xfff {
        0 => "?".to_owned(),
        major @ 136..=143 => format!("pts/{}", (major - 136) * 256 + ((tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00))),
        _ => "?".to_owned(),
    };
    Some(ProcessRow {
        uid,
        pid,
        ppid: i32::try_from(field(1)).unwrap_or(0),
        start: boot + field(19) / USER_HZ,
        tty,
        cpu_seconds: (field(11) + field(12)) / USER_HZ,
        cmd: if cmd.is_empty() { format!("[{comm}]") } else { cmd },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_row() {
        let row = process_row(i32::try_from(std::process::id()).unwrap(), boot_time()).unwrap();
        assert_eq!(row.pid, i32::try_from(std::process::id()).unwrap());
        assert!(!row.cmd.is_empty());
        assert!(system_cpu().0 > 0);
        assert!(host_memory() > 0);
    }
}
