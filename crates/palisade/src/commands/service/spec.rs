//! The spec `service create` sends and the changes `service update` makes to one, from docker's
//! flags and with docker's defaults (restart and update settings start from swarmkit's defaults
//! when any of theirs is given; secrets and configs as [`super::files`] reads them).

use std::time::Duration;

use palisade_engine_api::client::Client;
use palisade_engine_api::types::{
    ContainerSpec, Placement, ReplicatedService, RestartPolicy, ServiceMode, ServiceSpec, TaskSpec, UpdateConfig,
};

use super::super::duration::{self, nanos};
use super::super::collection::parse_labels;
use super::super::HostArg;
use super::files::{config_refs, parse_config, parse_secret, secret_refs, FileRef};

#[derive(clap::Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    pub(super) host: HostArg,
    /// Service name.
    #[arg(long)]
    name: String,
    /// Number of tasks (replicated mode).
    #[arg(long)]
    replicas: Option<u64>,
    /// `replicated` (a number of tasks) or `global` (one task per node).
    #[arg(long, default_value = "replicated", value_parser = ["replicated", "global"])]
    mode: String,
    /// A secret for the tasks: NAME, or source=NAME[,target=FILE][,uid=N][,gid=N][,mode=0444].
    #[arg(long = "secret", value_parser = parse_secret)]
    secrets: Vec<FileRef>,
    /// A config for the tasks: NAME, or source=NAME[,target=/PATH][,uid=N][,gid=N][,mode=0444].
    #[arg(long = "config", value_parser = parse_config)]
    configs: Vec<FileRef>,
    /// Environment variables (KEY=VALUE, or KEY to pass this one's value).
    #[arg(short, long = "env", value_parser = parse_env)]
    env: Vec<String>,
    /// Placement constraints (node.role==worker, node.labels.KEY!=VALUE, …).
    #[arg(long = "constraint")]
    constraints: Vec<String>,
    /// Service labels (KEY=VALUE).
    #[arg(short, long = "label")]
    labels: Vec<String>,
    #[command(flatten)]
    restart: RestartArgs,
    #[command(flatten)]
    policy: UpdatePolicyArgs,
    /// Image the tasks run.
    image: String,
    /// Command and arguments (replace the image's CMD).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(clap::Args)]
struct RestartArgs {
    /// Restart tasks when they end: `any` (the default), `on-failure` or `none`.
    #[arg(long, value_parser = ["any", "on-failure", "none"])]
    restart_condition: Option<String>,
    /// Restarts per task before giving up (0: no limit).
    #[arg(long)]
    restart_max_attempts: Option<u64>,
    /// Wait between restarts (5s, 1m30s, …).
    #[arg(long, value_parser = duration::parse)]
    restart_delay: Option<Duration>,
    /// Window in which restarts are counted.
    #[arg(long, value_parser = duration::parse)]
    restart_window: Option<Duration>,
}

#[derive(clap::Args)]
struct UpdatePolicyArgs {
    /// Tasks updated at a time (0: all at once).
    #[arg(long)]
    update_parallelism: Option<u64>,
    /// Wait between updates of batches (10s, 1m, …).
    #[arg(long, value_parser = duration::parse)]
    update_delay: Option<Duration>,
}

#[derive(clap::Args)]
pub(crate) struct UpdateArgs {
    #[command(flatten)]
    pub(super) host: HostArg,
    /// New image.
    #[arg(long)]
    image: Option<String>,
    /// Grant a secret (as `service create --secret`).
    #[arg(long = "secret-add", value_parser = parse_secret)]
    secret_add: Vec<FileRef>,
    /// Withdraw a secret, by name.
    #[arg(long = "secret-rm")]
    secret_rm: Vec<String>,
    /// Grant a config (as `service create --config`).
    #[arg(long = "config-add", value_parser = parse_config)]
    config_add: Vec<FileRef>,
    /// Withdraw a config, by name.
    #[arg(long = "config-rm")]
    config_rm: Vec<String>,
    /// Add or change environment variables (KEY=VALUE).
    #[arg(long = "env-add", value_parser = parse_env)]
    env_add: Vec<String>,
    /// Remove environment variables, by key.
    #[arg(long = "env-rm")]
    env_rm: Vec<String>,
    /// Number of tasks (replicated services).
    #[arg(long)]
    replicas: Option<u64>,
    #[command(flatten)]
    policy: UpdatePolicyArgs,
    /// Replace the tasks even if nothing changed.
    #[arg(long)]
    force: bool,
    /// Return to the spec before the last update.
    #[arg(long)]
    pub(super) rollback: bool,
    pub(super) service: String,
}

/// docker's `--env`: `KEY=VALUE` as given; a bare `KEY` takes this process's value if it has one.
fn parse_env(value: &str) -> Result<String, String> {
    match value.split_once('=') {
        Some(("", _)) => Err(format!("invalid environment variable: {value}")),
        Some(_) => Ok(value.to_owned()),
        None if value.is_empty() => Err(format!("invalid environment variable: {value}")),
        None => Ok(std::env::var(value).map_or_else(|_| value.to_owned(), |v| format!("{value}={v}"))),
    }
}

impl CreateArgs {
    /// The spec to create, with the secrets' and configs' IDs looked up.
    pub(super) async fn spec(&self, client: &Client) -> anyhow::Result<ServiceSpec> {
        let mode = match (self.mode.as_str(), self.replicas) {
            ("global", Some(_)) => anyhow::bail!("replicas can only be used with replicated or replicated-job mode"),
            ("global", None) => ServiceMode { global: Some(serde_json::json!({})), ..ServiceMode::default() },
            (_, replicas) => ServiceMode { replicated: Some(ReplicatedService { replicas }), ..ServiceMode::default() },
        };
        let container = ContainerSpec {
            image: self.image.clone(),
            args: self.command.clone(),
            env: self.env.clone(),
            secrets: secret_refs(client, &self.secrets).await?,
            configs: config_refs(client, &self.configs).await?,
            ..ContainerSpec::default()
        };
        let placement = (!self.constraints.is_empty()).then(|| Placement { constraints: self.constraints.clone(), ..Placement::default() });
        Ok(ServiceSpec {
            name: self.name.clone(),
            labels: parse_labels(&self.labels),
            task_template: TaskSpec { container_spec: Some(container), restart_policy: self.restart.policy(), placement, ..TaskSpec::default() },
            mode,
            update_config: self.policy.apply(None),
            ..ServiceSpec::default()
        })
    }
}

impl RestartArgs {
    /// None when no restart flag is given (the daemon's defaults apply), else swarmkit's defaults
    /// (any, 5s, unlimited, no window) with the flags over them.
    fn policy(&self) -> Option<RestartPolicy> {
        if self.restart_condition.is_none() && self.restart_max_attempts.is_none() && self.restart_delay.is_none() && self.restart_window.is_none() {
            return None;
        }
        Some(RestartPolicy {
            condition: self.restart_condition.clone().unwrap_or_else(|| "any".into()),
            delay: Some(nanos(self.restart_delay.unwrap_or(Duration::from_secs(5)))),
            max_attempts: Some(self.restart_max_attempts.unwrap_or(0)),
            window: Some(self.restart_window.map_or(0, nanos)),
        })
    }
}

impl UpdatePolicyArgs {
    /// `current` with the flags over it (swarmkit's defaults when there is none yet).
    fn apply(&self, current: Option<UpdateConfig>) -> Option<UpdateConfig> {
        if self.update_parallelism.is_none() && self.update_delay.is_none() {
            return current;
        }
        let mut config = current.unwrap_or_else(|| UpdateConfig {
            parallelism: 1,
            failure_action: "pause".into(),
            monitor: nanos(Duration::from_secs(5)),
            order: "stop-first".into(),
            ..UpdateConfig::default()
        });
        if let Some(parallelism) = self.update_parallelism {
            config.parallelism = parallelism;
        }
        if let Some(delay) = self.update_delay {
            config.delay = nanos(delay);
        }
        Some(config)
    }
}

impl UpdateArgs {
    /// `spec` with the flags' changes; with `--rollback`, unchanged (the daemon returns to the
    /// previous spec), and any other change is refused as docker refuses it.
    pub(super) async fn apply(&self, client: &Client, mut spec: ServiceSpec) -> anyhow::Result<ServiceSpec> {
        if self.rollback {
            let other = self.image.is_some()
                || !(self.secret_add.is_empty() && self.secret_rm.is_empty() && self.config_add.is_empty() && self.config_rm.is_empty())
                || !(self.env_add.is_empty() && self.env_rm.is_empty())
                || self.replicas.is_some()
                || self.policy.update_parallelism.is_some()
                || self.policy.update_delay.is_some()
                || self.force;
            anyhow::ensure!(!other, "other flags may not be combined with --rollback");
            return Ok(spec);
        }
        if let Some(replicas) = self.replicas {
            let replicated = spec.mode.replicated.as_mut().ok_or_else(|| anyhow::anyhow!("replicas can only be used with replicated or replicated-job mode"))?;
            replicated.replicas = Some(replicas);
        }
        spec.update_config = self.policy.apply(spec.update_config.take());
        let template = &mut spec.task_template;
        if self.force {
            template.force_update += 1;
        }
        let container = template.container_spec.get_or_insert_with(ContainerSpec::default);
        if let Some(image) = &self.image {
            container.image.clone_from(image);
        }
        container.secrets.retain(|s| !self.secret_rm.contains(&s.secret_name));
        container.secrets.extend(secret_refs(client, &self.secret_add).await?);
        container.configs.retain(|c| !self.config_rm.contains(&c.config_name));
        container.configs.extend(config_refs(client, &self.config_add).await?);
        update_env(&mut container.env, &self.env_add, &self.env_rm);
        Ok(spec)
    }
}

/// docker's `--env-rm` (by key) then `--env-add` (replacing a variable of the same key).
fn update_env(env: &mut Vec<String>, add: &[String], remove: &[String]) {
    let key = |var: &str| var.split_once('=').map_or(var, |(k, _)| k).to_owned();
    env.retain(|var| !remove.contains(&key(var)));
    for var in add {
        match env.iter_mut().find(|v| key(v) == key(var)) {
            Some(existing) => existing.clone_from(var),
            None => env.push(var.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_changes_follow_docker() {
        let mut env = vec!["A=1".to_owned(), "B=2".to_owned(), "C".to_owned()];
        update_env(&mut env, &["B=3".into(), "D=4".into()], &["A".into(), "C".into()]);
        assert_eq!(env, ["B=3", "D=4"]);
        assert_eq!(parse_env("K=V=W").unwrap(), "K=V=W");
        assert!(parse_env("=V").is_err());
        assert_eq!(parse_env("PALISADE_SURELY_UNSET_VARIABLE").unwrap(), "PALISADE_SURELY_UNSET_VARIABLE");
    }

    #[test]
    fn update_settings_start_from_swarmkit_defaults() {
        let flags = UpdatePolicyArgs { update_parallelism: None, update_delay: Some(Duration::from_secs(10)) };
        let config = flags.apply(None).unwrap();
        assert_eq!((config.parallelism, config.delay, config.failure_action.as_str()), (1, 10_000_000_000, "pause"));
        let kept = UpdateConfig { parallelism: 3, ..UpdateConfig::default() };
        assert_eq!(UpdatePolicyArgs { update_parallelism: None, update_delay: None }.apply(Some(kept.clone())), Some(kept));
        let restart = RestartArgs { restart_condition: Some("on-failure".into()), restart_max_attempts: None, restart_delay: None, restart_window: None };
        let policy = restart.policy().unwrap();
        assert_eq!((policy.condition.as_str(), policy.delay, policy.max_attempts), ("on-failure", Some(5_000_000_000), Some(0)));
    }
}
