//! `service logs`: placeholder until the log broker lands.

use palisade_engine_api::containers::OutputStream;
use palisade_engine_api::types::ServiceLogsOptions;
use palisade_engine_api::ApiError;

use crate::daemon::Daemon;

pub(super) async fn open(_daemon: &Daemon, reference: String, _task: bool, _options: ServiceLogsOptions) -> Result<OutputStream, ApiError> {
    Err(ApiError::new(http::StatusCode::NOT_IMPLEMENTED, format!("service logs of {reference} are not available yet")))
}
