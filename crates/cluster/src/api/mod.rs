//! The Engine-API edge: [`Backend`] for [`Daemon`]. Requests are converted into the cluster
//! model here ([`convert`]), and cluster errors into dockerd's statuses and texts ([`errors`]);
//! nothing past this module sees an Engine-API type.

mod audit;
mod convert;
pub(crate) mod errors;
mod logs;
mod networks;
mod policy;
mod service_convert;
mod services;
mod system;

use palisade_engine_api::types::{
    Info, InitRequest, JoinRequest, Node, NodeSpec, Secret, SecretFilters, SecretSpec, Swarm, SwarmSpec,
    UnlockKeyResponse, UpdateSwarmQuery, Version,
};
use palisade_engine_api::{ApiError, Backend};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::daemon::{Daemon, InitOptions, JoinOptions, NodeState};
use crate::error::Error;
use crate::rpc::{ControlCall, ControlReply, NodeSpecUpdate, SecretCreate, SwarmUpdate, ValueUpdate};
use errors::to_api;

pub(super) type ApiResult<T> = Result<T, ApiError>;

/// A new secret or config, from its spec (validated by the route).
pub(super) fn value_create(spec: SecretSpec) -> SecretCreate {
    let data = spec.data.as_ref().map(|d| Zeroizing::new(d.expose().to_vec())).unwrap_or_default();
    SecretCreate { name: spec.name, labels: spec.labels, data }
}

/// An update of a secret or config to `spec` (only its labels may differ: the manager checks
/// the rest against what it stores, data included).
pub(super) fn value_update(reference: String, version: u64, spec: SecretSpec) -> ValueUpdate {
    let data = spec.data.as_ref().map(|d| Zeroizing::new(d.expose().to_vec()));
    ValueUpdate { reference, version, name: spec.name, labels: spec.labels, data }
}

pub(super) fn unexpected(reply: &ControlReply) -> ApiError {
    to_api(Error::internal("cluster call", format!("unexpected reply {reply:?}")))
}

impl Daemon {
    pub(super) async fn call(&self, call: ControlCall) -> ApiResult<ControlReply> {
        self.control(call).await.map_err(to_api)
    }

    pub(super) async fn done(&self, call: ControlCall) -> ApiResult<()> {
        match self.call(call).await? {
            ControlReply::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

impl Backend for Daemon {
    fn version(&self) -> Version {
        system::version()
    }

    fn swarm_status(&self) -> String {
        match self.state.try_lock().map(|s| s.clone()) {
            Ok(NodeState::Active(node)) => format!("active/{}", node.role()),
            Ok(NodeState::Locked(_)) => "locked".to_owned(),
            Ok(NodeState::Inactive) => "inactive".to_owned(),
            // Busy with init/join/leave.
            Err(_) => "pending".to_owned(),
        }
    }

    async fn info(&self) -> ApiResult<Info> {
        Ok(system::info(self).await)
    }

    async fn swarm_init(&self, request: InitRequest) -> ApiResult<String> {
        let mut spec = convert::cluster_spec(&request.spec).map_err(to_api)?;
        convert::check_address_pool(&request.default_addr_pool, request.subnet_size).map_err(to_api)?;
        spec.autolock |= request.auto_lock_managers;
        if !request.spec.ca_config.signing_ca_cert.is_empty() {
            return Err(to_api(Error::invalid(
                "a CA certificate cannot be given at init; rotate to it with `swarm ca --rotate`",
            )));
        }
        let options = InitOptions {
            listen_addr: request.listen_addr,
            advertise_addr: request.advertise_addr,
            force_new_cluster: request.force_new_cluster,
            spec,
            availability: request.availability,
        };
        self.init(options).await.map_err(to_api)
    }

    async fn swarm_join(&self, request: JoinRequest) -> ApiResult<()> {
        let options = JoinOptions {
            listen_addr: request.listen_addr,
            advertise_addr: request.advertise_addr,
            remote_addrs: request.remote_addrs,
            join_token: request.join_token,
            availability: request.availability,
        };
        let managers = options.remote_addrs.join(",");
        let result = self.join(options).await.map_err(to_api);
        self.record(palisade_audit::action::SWARM_JOIN, managers, &[], &result).await;
        result
    }

    async fn swarm_leave(&self, force: bool) -> ApiResult<()> {
        let result = self.leave(force).await.map_err(to_api);
        self.record(palisade_audit::action::SWARM_LEAVE, "swarm", &[("force", force.to_string())], &result).await;
        result
    }

    async fn swarm_inspect(&self) -> ApiResult<Swarm> {
        match self.call(ControlCall::SwarmInspect).await? {
            ControlReply::Swarm(view) => Ok(convert::swarm(&view)),
            other => Err(unexpected(&other)),
        }
    }

    async fn swarm_update(&self, spec: SwarmSpec, query: UpdateSwarmQuery) -> ApiResult<()> {
        let update = SwarmUpdate {
            version: query.version,
            spec: convert::cluster_spec(&spec).map_err(to_api)?,
            signing_ca_cert: spec.ca_config.signing_ca_cert.clone(),
            signing_ca_key: Zeroizing::new(spec.ca_config.signing_ca_key.clone()),
            rotate_worker_token: query.rotate_worker_token,
            rotate_manager_token: query.rotate_manager_token,
            rotate_unlock_key: query.rotate_manager_unlock_key,
        };
        // `docker swarm ca --rotate` raises ForceRotate, or gives a new signing CA.
        let before = self.swarm_inspect().await.map(|s| s.cluster.spec.ca_config.force_rotate).ok();
        let rotates = !spec.ca_config.signing_ca_cert.is_empty() || before.is_some_and(|b| spec.ca_config.force_rotate != b);
        let tokens = [("rotate_worker_token", query.rotate_worker_token), ("rotate_manager_token", query.rotate_manager_token), ("rotate_unlock_key", query.rotate_manager_unlock_key)];
        let result = self.done(ControlCall::SwarmUpdate(Box::new(update))).await;
        let action = if rotates { palisade_audit::action::SWARM_CA_ROTATE } else { "swarm.update" };
        let details: Vec<(&str, String)> = tokens.iter().filter(|(_, on)| *on).map(|(k, _)| (*k, "true".to_owned())).collect();
        self.record(action, "swarm", &details, &result).await;
        result
    }

    async fn swarm_unlock_key(&self) -> ApiResult<UnlockKeyResponse> {
        match self.call(ControlCall::UnlockKey).await? {
            ControlReply::UnlockKey(key) => {
                Ok(UnlockKeyResponse { unlock_key: key.map(|k| k.0.to_string()).unwrap_or_default() })
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn swarm_unlock(&self, key: SecretString) -> ApiResult<()> {
        let key =
            key.expose_secret().parse::<palisade_pki::UnlockKey>().map_err(|_| ApiError::malformed_unlock_key())?;
        self.unlock(key).await.map_err(to_api)
    }

    async fn node_list(&self) -> ApiResult<Vec<Node>> {
        match self.call(ControlCall::NodeList).await? {
            ControlReply::Nodes(nodes) => Ok(nodes.iter().map(convert::node).collect()),
            other => Err(unexpected(&other)),
        }
    }

    async fn node_inspect(&self, reference: String) -> ApiResult<Node> {
        match self.call(ControlCall::NodeInspect { reference }).await? {
            ControlReply::Node(node) => Ok(convert::node(&node)),
            other => Err(unexpected(&other)),
        }
    }

    async fn node_update(&self, reference: String, version: u64, spec: NodeSpec) -> ApiResult<()> {
        let spec =
            NodeSpecUpdate { name: spec.name, labels: spec.labels, role: spec.role, availability: spec.availability };
        self.done(ControlCall::NodeUpdate { reference, version, spec }).await
    }

    async fn node_remove(&self, reference: String, force: bool) -> ApiResult<()> {
        self.done(ControlCall::NodeRemove { reference, force }).await
    }

    async fn secret_create(&self, spec: SecretSpec) -> ApiResult<String> {
        let result = match self.call(ControlCall::SecretCreate(value_create(spec))).await {
            Ok(ControlReply::ObjectId(id)) => Ok(id),
            Ok(other) => Err(unexpected(&other)),
            Err(e) => Err(e),
        };
        // By ID: a secret's name, like its value, is kept encrypted at rest.
        let target = result.as_ref().map_or_else(|_| "a new secret".to_owned(), |id| format!("secret {id}"));
        self.record_outcome(palisade_audit::action::SECRET_CREATE, target, &result).await;
        result
    }

    async fn secret_list(&self, filters: SecretFilters) -> ApiResult<Vec<Secret>> {
        match self.call(ControlCall::SecretList).await? {
            ControlReply::Secrets(secrets) => {
                Ok(secrets.iter().map(convert::secret).filter(|s| filters.matches(s)).collect())
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn secret_inspect(&self, reference: String) -> ApiResult<Secret> {
        match self.call(ControlCall::SecretInspect { reference }).await? {
            ControlReply::Secret(secret) => Ok(convert::secret(&secret)),
            other => Err(unexpected(&other)),
        }
    }

    async fn secret_update(&self, reference: String, version: u64, spec: SecretSpec) -> ApiResult<()> {
        self.done(ControlCall::SecretUpdate(value_update(reference, version, spec))).await
    }

    async fn secret_remove(&self, reference: String) -> ApiResult<()> {
        // By ID, as at create (the reference may be the name, which stays encrypted at rest).
        let target = match self.secret_inspect(reference.clone()).await {
            Ok(secret) => format!("secret {}", secret.id),
            Err(_) => "an unknown secret".to_owned(),
        };
        let result = self.done(ControlCall::SecretRemove { reference }).await;
        self.record_outcome(palisade_audit::action::SECRET_REMOVE, target, &result).await;
        result
    }
}
