//! The seam for scan results: the repository page asks a [`ScanLookup`] (when the registry
//! scans what is pushed) for each tag's summary, and shows no scan column otherwise.

/// Findings of a finished scan, counted by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Findings {
    /// Critical.
    pub critical: usize,
    /// High.
    pub high: usize,
    /// Medium.
    pub medium: usize,
    /// Low.
    pub low: usize,
    /// No severity given.
    pub unknown: usize,
    /// How many of them have a fixed version.
    pub fixable: usize,
}

impl Findings {
    /// Every finding.
    pub fn total(&self) -> usize {
        self.critical + self.high + self.medium + self.low + self.unknown
    }

    /// `(count, severity)` for the severities found, highest first.
    pub fn nonzero(&self) -> Vec<(usize, &'static str)> {
        [(self.critical, "critical"), (self.high, "high"), (self.medium, "medium"), (self.low, "low"), (self.unknown, "unknown")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .collect()
    }
}

/// Where one manifest's scan stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanSummary {
    /// No result: pushed before scanning was on, or dropped from a full queue.
    NotScanned,
    /// Queued or being scanned.
    Pending,
    /// The scan failed, and why.
    Failed(String),
    /// Scanned.
    Done {
        /// What was found.
        findings: Findings,
        /// Packages in the inventory.
        packages: usize,
        /// Whether an advisory database was matched against (without one, nothing can be
        /// found, and the page says so rather than showing a clean result).
        advisories: bool,
    },
}

/// Scan results of pushed manifests.
pub trait ScanLookup: Send + Sync {
    /// The summary for manifest `digest` (`sha256:…`) of `repository`. Called from a
    /// blocking thread: it may read files.
    fn summary(&self, repository: &str, digest: &str) -> ScanSummary;
}
