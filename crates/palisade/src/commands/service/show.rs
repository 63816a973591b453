//! `service ls` and `service inspect --pretty`, as docker prints them.

use palisade_engine_api::client::Client;
use palisade_engine_api::types::{Service, UpdateConfig};

use super::super::duration::go_string;
use super::super::output::{ago, print_table, short_id};
use super::{display_image, inspect};

/// `GET /services?status=true`: ID, NAME, MODE, REPLICAS (running/desired), IMAGE.
pub(super) async fn list(client: &Client, quiet: bool) -> anyhow::Result<()> {
    let mut services: Vec<Service> = client.get("/services?status=true").await?;
    services.sort_by(|a, b| a.spec.name.cmp(&b.spec.name).then(a.id.cmp(&b.id)));
    if quiet {
        services.iter().for_each(|s| println!("{}", s.id));
        return Ok(());
    }
    let rows: Vec<[String; 5]> = services
        .iter()
        .map(|s| {
            let mode = if s.spec.mode.global.is_some() { "global" } else { "replicated" };
            let replicas = match (s.service_status, s.spec.replicas()) {
                (Some(status), _) => format!("{}/{}", status.running_tasks, status.desired_tasks),
                (None, desired) => format!("?/{}", desired.map_or_else(|| "?".to_owned(), |d| d.to_string())),
            };
            let image = s.spec.task_template.container_spec.as_ref().map(|c| display_image(&c.image)).unwrap_or_default();
            [short_id(&s.id).to_owned(), s.spec.name.clone(), mode.to_owned(), replicas, image]
        })
        .collect();
    print_table(["ID", "NAME", "MODE", "REPLICAS", "IMAGE"], &rows);
    Ok(())
}

/// `service inspect --pretty`: docker's template, for the fields Palisade has.
pub(super) async fn pretty(client: &Client, references: &[String]) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    for (i, reference) in references.iter().enumerate() {
        let service = inspect(client, reference).await?;
        if i > 0 {
            println!();
        }
        let spec = &service.spec;
        println!("\nID:\t\t{}\nName:\t\t{}", service.id, spec.name);
        if !spec.labels.is_empty() {
            println!("Labels:");
            spec.labels.iter().for_each(|(k, v)| println!(" {k}{}", if v.is_empty() { String::new() } else { format!("={v}") }));
        }
        match spec.replicas() {
            Some(replicas) => println!("Service Mode:\tReplicated\n Replicas:\t{replicas}"),
            None => println!("Service Mode:\tGlobal"),
        }
        if let Some(status) = &service.update_status {
            println!("UpdateStatus:\n State:\t\t{}", status.state);
            if !status.started_at.is_empty() {
                println!(" Started:\t{}", ago(&status.started_at, now));
            }
            if !status.completed_at.is_empty() {
                println!(" Completed:\t{}", ago(&status.completed_at, now));
            }
            println!(" Message:\t{}", status.message);
        }
        println!("Placement:");
        if let Some(placement) = spec.task_template.placement.as_ref().filter(|p| !p.constraints.is_empty()) {
            println!(" Constraints:\t[{}]", placement.constraints.join(" "));
        }
        print_update_config("UpdateConfig", spec.update_config.as_ref());
        print_update_config("RollbackConfig", spec.rollback_config.as_ref());
        let container = spec.task_template.container_spec.clone().unwrap_or_default();
        println!("ContainerSpec:\n Image:\t\t{}", container.image);
        for (label, values) in [("Args", &container.args), ("Env", &container.env)] {
            if !values.is_empty() {
                println!(" {label}:\t\t{}", values.iter().map(|v| format!("{v} ")).collect::<String>());
            }
        }
        if !container.dir.is_empty() {
            println!(" Dir:\t\t{}", container.dir);
        }
        if !container.user.is_empty() {
            println!(" User: {}", container.user);
        }
        let files = |title: &str, refs: Vec<(String, String)>| {
            if !refs.is_empty() {
                println!("{title}:");
                refs.iter().for_each(|(target, source)| println!(" Target:\t{target}\n  Source:\t{source}"));
            }
        };
        let target = |file: &Option<palisade_engine_api::types::FileTarget>| file.as_ref().map(|f| f.name.clone()).unwrap_or_default();
        files("Configs", container.configs.iter().map(|c| (target(&c.file), c.config_name.clone())).collect());
        files("Secrets", container.secrets.iter().map(|s| (target(&s.file), s.secret_name.clone())).collect());
        let endpoint = spec.endpoint_spec.as_ref().map(|e| e.mode.as_str()).filter(|m| !m.is_empty()).unwrap_or("vip");
        println!("Endpoint Mode:\t{endpoint}");
    }
    Ok(())
}

fn print_update_config(title: &str, config: Option<&UpdateConfig>) {
    let Some(config) = config else { return };
    println!("{title}:\n Parallelism:\t{}", config.parallelism);
    if config.delay > 0 {
        println!(" Delay:\t\t{}", go_string(config.delay));
    }
    println!(" On failure:\t{}", config.failure_action);
    if config.monitor > 0 {
        println!(" Monitoring Period: {}", go_string(config.monitor));
    }
    println!(" Max failure ratio: {}\n Update order:      {}", config.max_failure_ratio, config.order);
}
