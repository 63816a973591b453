//! [`ContainerBackend`] for [`Engine`]: lifecycle calls plus the list and inspect views.

use bytes::Bytes;
use palisade_engine_api::containers::types::{
    AuthRequest, AuthResponse, ContainerCreateRequest, ContainerCreateResponse, ContainerInspect, ContainerState, ContainerSummary, DistributionInspect, HostConfig,
    ImageDeleteItem, ImageInspect, ImageSummary, OutputOptions, RegistryAuth, SummaryHostConfig, WaitCondition, WaitResponse,
};
use palisade_engine_api::containers::{ContainerBackend, OutputStream, PendingWait};
use palisade_engine_api::volumes::types::{Volume, VolumeCreateRequest, VolumeFilters, VolumePruneResponse};
use palisade_engine_api::volumes::VolumeBackend;
use palisade_engine_api::archive::{ArchiveBackend, ExtractRequest, InputStream, PathStat};
use palisade_engine_api::events::{EventBackend, EventsRequest};
use palisade_engine_api::stats::{StatsBackend, TopResponse};
use palisade_engine_api::exec::{AttachOptions, ExecBackend, ExecCreateRequest, ExecInspect, ExecStartRequest, Session};
use palisade_engine_api::types::timestamp;
use palisade_engine_api::ApiError;
use time::OffsetDateTime;

use crate::human::human_duration;
use crate::state::{Engine, Entry, Phase};
use crate::volumes::is_anonymous;

type ApiResult<T> = Result<T, ApiError>;

/// Go's zero time, as dockerd reports "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Attributes of a volume event (dockerd names the driver).
fn volume_attributes() -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([("driver".to_owned(), "local".to_owned())])
}

fn network_mode(host: &HostConfig) -> String {
    match host.network_mode.as_str() {
        "" | "default" => "none".to_owned(),
        other => other.to_owned(),
    }
}

fn summary(entry: &Entry) -> ContainerSummary {
    let life = entry.life();
    let now = OffsetDateTime::now_utc();
    let status = match life.phase {
        Phase::Created => "Created".to_owned(),
        Phase::Running => format!("Up {}", human_duration(now - life.started_at.unwrap_or(now))),
        Phase::Exited => format!("Exited ({}) {} ago", life.exit_code, human_duration(now - life.finished_at.unwrap_or(now))),
        Phase::Restarting => {
            format!("Restarting ({}) {} ago", life.exit_code, human_duration(now - life.finished_at.unwrap_or(now)))
        }
    };
    ContainerSummary {
        id: entry.id.to_string(),
        names: vec![format!("/{}", entry.name)],
        image: entry.request.config.image.clone(),
        image_id: entry.image_id.clone(),
        command: std::iter::once(&entry.path).chain(&entry.args).cloned().collect::<Vec<_>>().join(" "),
        created: entry.created.unix_timestamp(),
        state: life.phase.name().to_owned(),
        status,
        labels: entry.request.config.labels.clone(),
        host_config: SummaryHostConfig { network_mode: network_mode(&entry.request.host_config) },
        ..ContainerSummary::default()
    }
}

fn inspect(entry: &Entry) -> ContainerInspect {
    let life = entry.life();
    let mut host_config = entry.request.host_config.clone();
    host_config.network_mode = network_mode(&host_config);
    if host_config.runtime.is_empty() {
        host_config.runtime = entry.kind.binary().to_owned();
    }
    ContainerInspect {
        id: entry.id.to_string(),
        created: timestamp(entry.created),
        path: entry.path.clone(),
        args: entry.args.clone(),
        state: ContainerState {
            status: life.phase.name().to_owned(),
            running: life.phase == Phase::Running,
            restarting: life.phase == Phase::Restarting,
            oom_killed: life.oom_killed,
            pid: life.pid,
            exit_code: life.exit_code,
            error: life.error.clone(),
            started_at: life.started_at.map_or_else(|| ZERO_TIME.to_owned(), timestamp),
            finished_at: life.finished_at.map_or_else(|| ZERO_TIME.to_owned(), timestamp),
            ..ContainerState::default()
        },
        image: entry.image_id.clone(),
        name: format!("/{}", entry.name),
        driver: "overlay".to_owned(),
        platform: "linux".to_owned(),
        host_config,
        config: entry.request.config.clone(),
        restart_count: i64::from(life.restart_count),
        mounts: entry.mounts.clone(),
        network_settings: Default::default(),
    }
}

impl ContainerBackend for Engine {
    async fn container_create(&self, name: Option<String>, request: ContainerCreateRequest) -> ApiResult<ContainerCreateResponse> {
        let (id, warnings) = self.create(name, request, Vec::new(), None, true).await?;
        Ok(ContainerCreateResponse { id, warnings })
    }

    async fn container_start(&self, reference: String) -> ApiResult<bool> {
        Ok(self.start(&reference).await?)
    }

    async fn container_wait(&self, reference: String, condition: WaitCondition) -> ApiResult<PendingWait> {
        let entry = self.resolve(&reference)?;
        Ok(Box::pin(async move { WaitResponse { status_code: Engine::wait(entry, condition).await, error: None } }))
    }

    async fn container_stop(&self, reference: String, timeout_seconds: Option<i64>, signal: Option<String>) -> ApiResult<bool> {
        Ok(self.stop(&reference, timeout_seconds, signal).await?)
    }

    async fn container_kill(&self, reference: String, signal: String) -> ApiResult<()> {
        Ok(self.kill(&reference, signal).await?)
    }

    async fn container_restart(&self, reference: String, timeout_seconds: Option<i64>, signal: Option<String>) -> ApiResult<()> {
        Ok(self.restart(&reference, timeout_seconds, signal).await?)
    }

    async fn container_remove(&self, reference: String, force: bool, volumes: bool) -> ApiResult<()> {
        Ok(self.remove(&reference, force, volumes).await?)
    }

    async fn container_list(&self, all: bool) -> ApiResult<Vec<ContainerSummary>> {
        let mut entries = self.entries();
        entries.retain(|e| all || e.life().phase == Phase::Running);
        entries.sort_by_key(|e| std::cmp::Reverse(e.created));
        Ok(entries
            .iter()
            .map(|e| {
                let mut s = summary(e);
                s.ports = self.list_ports(e.id.as_str());
                s.host_config.network_mode = self.shown_network_mode(&e.request.host_config.network_mode);
                s
            })
            .collect())
    }

    async fn container_inspect(&self, reference: String) -> ApiResult<ContainerInspect> {
        let entry = self.resolve(&reference)?;
        let mut view = inspect(&entry);
        view.network_settings = self.network_settings(entry.id.as_str());
        view.host_config.network_mode = self.shown_network_mode(&entry.request.host_config.network_mode);
        Ok(view)
    }

    async fn container_output(&self, reference: String, options: OutputOptions) -> ApiResult<OutputStream> {
        let entry = self.resolve(&reference)?;
        Ok(self.output(entry, options, true)?)
    }

    async fn image_load(&self, archive: Bytes) -> ApiResult<Vec<String>> {
        Ok(Engine::image_load(self, archive).await?)
    }

    async fn image_pull(&self, image: String, tag: String, auth: Option<RegistryAuth>) -> ApiResult<OutputStream> {
        Ok(Engine::image_pull(self, image, tag, auth).await?)
    }

    async fn image_push(&self, name: String, tag: String, auth: Option<RegistryAuth>) -> ApiResult<OutputStream> {
        Ok(Engine::image_push(self, name, tag, auth).await?)
    }

    async fn distribution_inspect(&self, name: String, auth: Option<RegistryAuth>) -> ApiResult<DistributionInspect> {
        Ok(Engine::distribution_inspect(self, &name, auth).await?)
    }

    async fn auth_login(&self, request: AuthRequest) -> ApiResult<AuthResponse> {
        Ok(self.login(request).await?)
    }

    async fn image_save(&self, names: Vec<String>) -> ApiResult<OutputStream> {
        Ok(Engine::image_save(self, names).await?)
    }

    async fn image_list(&self) -> ApiResult<Vec<ImageSummary>> {
        Ok(Engine::image_list(self).await?)
    }

    async fn image_inspect(&self, name: String) -> ApiResult<ImageInspect> {
        Ok(Engine::image_inspect(self, name).await?)
    }

    async fn image_tag(&self, source: String, repo: String, tag: String) -> ApiResult<()> {
        Ok(Engine::image_tag(self, source, repo, tag).await?)
    }

    async fn image_remove(&self, name: String, _force: bool) -> ApiResult<Vec<ImageDeleteItem>> {
        Ok(Engine::image_remove(self, name).await?)
    }
}

impl VolumeBackend for Engine {
    async fn volume_create(&self, request: VolumeCreateRequest) -> ApiResult<Volume> {
        if !matches!(request.driver.as_str(), "" | "local") {
            return Err(ApiError::not_found(format!("error looking up volume plugin {}: plugin \"{}\" not found", request.driver, request.driver)));
        }
        if !request.driver_opts.is_empty() {
            return Err(ApiError::bad_request(
                "volume driver options (-o) are not supported by Palisade: they mount devices and file systems as root",
            ));
        }
        if let Some((key, _)) = request.other.iter().find(|(_, v)| !palisade_engine_api::types::is_unset(v)) {
            return Err(ApiError::bad_request(format!("{key} is not supported by Palisade")));
        }
        let name = Some(request.name.as_str()).filter(|n| !n.is_empty());
        let volume = self.inner.volumes.create(name, request.labels)?;
        self.event("volume", "create", volume.name.clone(), volume_attributes());
        Ok(volume)
    }

    async fn volume_list(&self, filters: VolumeFilters) -> ApiResult<Vec<Volume>> {
        let volumes = self.inner.volumes.list()?;
        Ok(volumes.into_iter().filter(|v| filters.matches(v, !self.volume_users(&v.name).is_empty())).collect())
    }

    async fn volume_inspect(&self, name: String) -> ApiResult<Volume> {
        Ok(self.inner.volumes.read(&name)?)
    }

    async fn volume_remove(&self, name: String, force: bool) -> ApiResult<()> {
        let users = self.volume_users(&name);
        if !users.is_empty() {
            return Err(crate::Error::VolumeInUse { name, containers: users }.into());
        }
        match self.inner.volumes.remove(&name) {
            Err(crate::Error::NoSuchVolume(_)) if force => Ok(()),
            Err(e) => Err(e.into()),
            Ok(_) => {
                self.event("volume", "destroy", name, volume_attributes());
                Ok(())
            }
        }
    }

    async fn volume_prune(&self, filters: VolumeFilters) -> ApiResult<VolumePruneResponse> {
        let mut pruned = VolumePruneResponse::default();
        for volume in self.inner.volumes.list()? {
            let wanted = (filters.all || is_anonymous(&volume)) && filters.matches(&volume, false);
            if wanted && self.volume_users(&volume.name).is_empty() {
                pruned.space_reclaimed += self.inner.volumes.remove(&volume.name)?;
                self.event("volume", "destroy", volume.name.clone(), volume_attributes());
                pruned.volumes_deleted.push(volume.name);
            }
        }
        Ok(pruned)

    }
}

impl ExecBackend for Engine {
    async fn exec_create(&self, reference: String, request: ExecCreateRequest) -> ApiResult<String> {
        Ok(Engine::exec_create(self, &reference, request).await?)
    }

    async fn exec_start(&self, id: String, request: ExecStartRequest) -> ApiResult<Option<Session>> {
        Ok(Engine::exec_start(self, &id, request).await?)
    }

    async fn exec_inspect(&self, id: String) -> ApiResult<ExecInspect> {
        Ok(Engine::exec_inspect(self, &id)?)
    }

    async fn exec_resize(&self, id: String, rows: u16, columns: u16) -> ApiResult<()> {
        Ok(Engine::exec_resize(self, &id, rows, columns)?)
    }

    async fn container_attach(&self, reference: String, options: AttachOptions) -> ApiResult<Session> {
        Ok(self.attach(&reference, options).await?)
    }

    async fn container_resize(&self, reference: String, rows: u16, columns: u16) -> ApiResult<()> {
        Ok(self.resize(&reference, rows, columns).await?)
    }
}

impl ArchiveBackend for Engine {
    async fn archive_stat(&self, reference: String, path: String) -> ApiResult<PathStat> {
        Ok(Engine::archive_stat(self, &reference, path).await?)
    }

    async fn archive_get(&self, reference: String, path: String) -> ApiResult<(PathStat, OutputStream)> {
        Ok(Engine::archive_get(self, &reference, path).await?)
    }

    async fn archive_put(&self, reference: String, path: String, request: ExtractRequest, archive: InputStream) -> ApiResult<()> {
        Ok(Engine::archive_put(self, &reference, path, request, archive).await?)
    }
}

impl EventBackend for Engine {
    async fn events(&self, request: EventsRequest) -> ApiResult<OutputStream> {
        Ok(Engine::events(self, request))
    }
}

impl StatsBackend for Engine {
    async fn container_top(&self, reference: String) -> ApiResult<TopResponse> {
        Ok(self.top(&reference).await?)
    }

    async fn container_stats(&self, reference: String, stream: bool, one_shot: bool) -> ApiResult<OutputStream> {
        Ok(self.stats(&reference, stream, one_shot)?)
    }
}
