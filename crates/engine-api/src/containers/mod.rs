//! The container and image half of the Engine API: typed bodies ([`types`]), the
//! [`ContainerBackend`] a node's engine implements, and its axum routes.

mod routes;
pub mod types;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

pub use routes::container_routes;
pub(crate) use routes::{stream_body, MULTIPLEXED};
use types::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerInspect, ContainerSummary, ImageDeleteItem, ImageInspect,
    ImageSummary, OutputOptions, RegistryAuth, WaitCondition, WaitResponse,
};

use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// Already-framed chunks of a multiplexed output stream (see [`types::frame`]); the stream
/// ends when the sender is dropped.
pub type OutputStream = tokio::sync::mpsc::Receiver<Bytes>;

/// A wait that has been accepted (the container exists) and resolves when its condition holds.
pub type PendingWait = Pin<Box<dyn Future<Output = WaitResponse> + Send>>;

/// What the container and image endpoints need from a node's engine. References are what the
/// user typed: a full id, a name, or a unique id prefix.
pub trait ContainerBackend:
    crate::volumes::VolumeBackend + crate::exec::ExecBackend + crate::archive::ArchiveBackend + crate::events::EventBackend + crate::stats::StatsBackend + Send + Sync + 'static {
    /// `POST /containers/create?name=`.
    fn container_create(
        &self,
        name: Option<String>,
        request: ContainerCreateRequest,
    ) -> impl Future<Output = ApiResult<ContainerCreateResponse>> + Send;
    /// `POST /containers/{ref}/start`: `false` when it was already started (304).
    fn container_start(&self, reference: String) -> impl Future<Output = ApiResult<bool>> + Send;
    /// `POST /containers/{ref}/wait`.
    fn container_wait(&self, reference: String, condition: WaitCondition) -> impl Future<Output = ApiResult<PendingWait>> + Send;
    /// `POST /containers/{ref}/restart`: stops it as `stop` does (if it runs), then starts it.
    fn container_restart(&self, reference: String, timeout_seconds: Option<i64>, signal: Option<String>) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /containers/{ref}/stop`: `false` when it was not running (304).
    fn container_stop(&self, reference: String, timeout_seconds: Option<i64>, signal: Option<String>) -> impl Future<Output = ApiResult<bool>> + Send;
    /// `POST /containers/{ref}/kill`.
    fn container_kill(&self, reference: String, signal: String) -> impl Future<Output = ApiResult<()>> + Send;
    /// `DELETE /containers/{ref}?force=&v=`: with `volumes`, its anonymous volumes go too.
    fn container_remove(&self, reference: String, force: bool, volumes: bool) -> impl Future<Output = ApiResult<()>> + Send;
    /// `GET /containers/json`.
    fn container_list(&self, all: bool) -> impl Future<Output = ApiResult<Vec<ContainerSummary>>> + Send;
    /// `GET /containers/{ref}/json`.
    fn container_inspect(&self, reference: String) -> impl Future<Output = ApiResult<ContainerInspect>> + Send;
    /// `GET /containers/{ref}/logs` and `POST /containers/{ref}/attach`.
    fn container_output(&self, reference: String, options: OutputOptions) -> impl Future<Output = ApiResult<OutputStream>> + Send;
    /// `POST /images/load`: the tar archive; returns the `Loaded image: …` lines.
    fn image_load(&self, archive: Bytes) -> impl Future<Output = ApiResult<Vec<String>>> + Send;
    /// `POST /images/create?fromImage=&tag=` (`docker pull`): `image` is `fromImage`, `tag`
    /// the tag or digest (may be empty). The stream carries newline-terminated
    /// [`types::JsonMessage`] lines and ends with an error line if the pull fails.
    fn image_pull(&self, image: String, tag: String, auth: Option<RegistryAuth>) -> impl Future<Output = ApiResult<OutputStream>> + Send;
    /// `POST /images/{name}/push?tag=` (`docker push`): `tag` empty for every tag of the
    /// repository `name`. The stream carries [`types::JsonMessage`] lines, with the pushed
    /// manifest's `aux` before the end, and ends with an error line if the push fails.
    fn image_push(&self, name: String, tag: String, auth: Option<RegistryAuth>) -> impl Future<Output = ApiResult<OutputStream>> + Send;
    /// `GET /distribution/{name}/json`: asks `name`'s registry (as `auth`) what the name's
    /// tag or digest holds, pulling nothing.
    fn distribution_inspect(&self, name: String, auth: Option<RegistryAuth>) -> impl Future<Output = ApiResult<types::DistributionInspect>> + Send;
    /// `POST /auth` (`docker login`): checks the credentials against the registry.
    fn auth_login(&self, request: types::AuthRequest) -> impl Future<Output = ApiResult<types::AuthResponse>> + Send;
    /// `GET /images/get?names=` and `GET /images/{name}/get` (`docker save`): a docker-archive
    /// tar of the named images, streamed.
    fn image_save(&self, names: Vec<String>) -> impl Future<Output = ApiResult<OutputStream>> + Send;
    /// `GET /images/json`.
    fn image_list(&self) -> impl Future<Output = ApiResult<Vec<ImageSummary>>> + Send;
    /// `GET /images/{name}/json`.
    fn image_inspect(&self, name: String) -> impl Future<Output = ApiResult<ImageInspect>> + Send;
    /// `POST /images/{name}/tag?repo=&tag=` (`docker tag`).
    fn image_tag(&self, source: String, repo: String, tag: String) -> impl Future<Output = ApiResult<()>> + Send;
    /// `DELETE /images/{name}`.
    fn image_remove(&self, name: String, force: bool) -> impl Future<Output = ApiResult<Vec<ImageDeleteItem>>> + Send;
}
