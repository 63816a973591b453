//! `palisade service …`: Engine-API client verbs for swarm services, with docker's flags and
//! output. Creating and changing a spec is in [`spec`] (`--secret`/`--config` in [`files`]),
//! listings in [`show`], task tables (shared with `node ps`) in [`tasks`], the log stream in
//! [`logs`].

mod files;
mod logs;
mod show;
mod spec;
pub(super) mod tasks;

use std::process::ExitCode;

use futures::future::try_join_all;
use palisade_engine_api::client::Client;
use palisade_engine_api::types::{Service, ServiceCreateResponse, ServiceSpec, ServiceUpdateResponse};

use super::collection::{self, url_component};
use super::{HostArg, ListArgs, ReferencesArgs};

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum ServiceCommand {
    /// Create a service.
    Create(Box<spec::CreateArgs>),
    /// List services.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// List the tasks of services.
    Ps {
        #[command(flatten)]
        host: HostArg,
        #[command(flatten)]
        table: tasks::TableArgs,
        #[arg(required = true)]
        services: Vec<String>,
    },
    /// Show services.
    Inspect {
        #[command(flatten)]
        host: HostArg,
        /// Human-readable output.
        #[arg(long)]
        pretty: bool,
        #[arg(required = true)]
        services: Vec<String>,
    },
    /// Show the output of a service's tasks (or of one task).
    Logs(logs::LogsArgs),
    /// Set the number of replicas (SERVICE=REPLICAS).
    Scale {
        #[command(flatten)]
        host: HostArg,
        #[arg(required = true, value_parser = parse_scale, value_name = "SERVICE=REPLICAS")]
        scales: Vec<(String, u64)>,
    },
    /// Change a service.
    Update(Box<spec::UpdateArgs>),
    /// Remove services.
    #[command(alias = "remove")]
    Rm(ReferencesArgs),
}

pub(crate) async fn run(command: ServiceCommand) -> anyhow::Result<ExitCode> {
    match command {
        ServiceCommand::Create(args) => {
            let client = args.host.client();
            let spec = args.spec(&client).await?;
            let created: ServiceCreateResponse = client.post("/services/create", &spec).await?;
            warn(created.warnings);
            println!("{}", created.id);
        }
        ServiceCommand::Ls(ListArgs { host, quiet }) => show::list(&host.client(), quiet).await?,
        ServiceCommand::Ps { host, table, services } => {
            let client = host.client();
            let services = try_join_all(services.iter().map(|reference| inspect(&client, reference))).await?;
            tasks::print(&client, "service", &services.into_iter().map(|s| s.id).collect::<Vec<_>>(), &table).await?;
        }
        ServiceCommand::Inspect { host, pretty: false, services } => collection::inspect::<Service>(&host.client(), "services", &services).await?,
        ServiceCommand::Inspect { host, pretty: true, services } => show::pretty(&host.client(), &services).await?,
        ServiceCommand::Logs(args) => logs::run(args).await?,
        ServiceCommand::Scale { host, scales } => scale(&host.client(), &scales).await?,
        ServiceCommand::Update(args) => {
            let client = args.host.client();
            let service = inspect(&client, &args.service).await?;
            let spec = args.apply(&client, service.spec.clone()).await?;
            update(&client, &service, &spec, args.rollback).await?;
            println!("{}", args.service);
        }
        ServiceCommand::Rm(ReferencesArgs { host, references: services }) => collection::remove(&host.client(), "services", &services).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /services/{ref}` (an ID, a name or a unique ID prefix).
async fn inspect(client: &Client, reference: &str) -> anyhow::Result<Service> {
    Ok(client.get(&format!("/services/{}", url_component(reference))).await?)
}

/// `POST /services/{id}/update?version=` with `spec` (`rollback=previous`: back to the previous
/// spec, which the daemon keeps); warnings go to stderr.
async fn update(client: &Client, service: &Service, spec: &ServiceSpec, rollback: bool) -> anyhow::Result<()> {
    let rollback = if rollback { "&rollback=previous" } else { "" };
    let path = format!("/services/{}/update?version={}{rollback}", service.id, service.version.index);
    let response: ServiceUpdateResponse = client.post(&path, spec).await?;
    warn(response.warnings);
    Ok(())
}

fn warn(warnings: Option<Vec<String>>) {
    warnings.into_iter().flatten().for_each(|w| eprintln!("{w}"));
}

/// `SERVICE=REPLICAS`.
fn parse_scale(value: &str) -> Result<(String, u64), String> {
    let (service, replicas) = value.split_once('=').ok_or_else(|| format!("invalid scale specifier '{value}'"))?;
    let replicas = replicas.parse().map_err(|_| format!("invalid replicas value {replicas}"))?;
    Ok((service.to_owned(), replicas))
}

/// docker's `service scale`: each service in turn, the errors together at the end.
async fn scale(client: &Client, scales: &[(String, u64)]) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for (reference, replicas) in scales {
        let scaled = async {
            let service = inspect(client, reference).await?;
            let mut spec = service.spec.clone();
            let Some(replicated) = spec.mode.replicated.as_mut() else {
                anyhow::bail!("scale can only be used with replicated or replicated-job mode");
            };
            replicated.replicas = Some(*replicas);
            update(client, &service, &spec, false).await
        };
        match scaled.await {
            Ok(()) => println!("{reference} scaled to {replicas}"),
            Err(e) => errors.push(format!("{reference}: {e}")),
        }
    }
    anyhow::ensure!(errors.is_empty(), "{}", errors.join("\n"));
    Ok(())
}

/// An image as listings show it, as docker's: a tagged reference in its familiar form without
/// its digest; anything else as it is.
fn display_image(image: &str) -> String {
    match palisade_reference::ImageReference::parse(image) {
        Ok(r) if r.tag().is_some() => format!("{}:{}", r.familiar_name(), r.tag_or_latest()),
        _ => image.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_arguments_and_images_are_read_as_docker_does() {
        assert_eq!(parse_scale("web=3"), Ok(("web".to_owned(), 3)));
        assert_eq!(parse_scale("web").unwrap_err(), "invalid scale specifier 'web'");
        assert_eq!(parse_scale("web=x").unwrap_err(), "invalid replicas value x");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(display_image(&format!("busybox:1.36@{d}")), "busybox:1.36");
        assert_eq!(display_image(&format!("docker.io/library/busybox:1.36@{d}")), "busybox:1.36");
        assert_eq!(display_image(&format!("busybox@{d}")), format!("busybox@{d}"));
        assert_eq!(display_image("localhost:5000/app"), "localhost:5000/app");
    }
}
