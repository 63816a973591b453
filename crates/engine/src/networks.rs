//! The engine's side of networking: a container's `NetworkMode`, `NetworkingConfig` and
//! ports become a [`palisade_net::ContainerRequest`]; the lifecycle hooks state.rs calls
//! (prepare at create, attach at start, detach at exit, forget at remove); inspect views; and
//! the [`NetworkBackend`] of the `/networks` endpoints.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use palisade_engine_api::containers::types::ContainerCreateRequest;
use palisade_engine_api::networks::NetworkBackend;
use palisade_engine_api::types::{
    is_unset, EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest, NetworkContainer, NetworkCreateRequest,
    NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse, NetworkResource, NetworkSettings, Port,
    PortBinding as ApiPortBinding,
};
use palisade_engine_api::ApiError;
use palisade_net::{
    ContainerPort, ContainerRequest, ContainerView, Driver, EndpointRequest, NetConfig, NetworkCreate, NetworkView, Networks,
    PortBinding, ServiceNames,
};
use palisade_runtime::{ExtraMount, NetworkMode, RunOptions};

use crate::error::{Error, Result};
use crate::records::RecordedEndpoint;
use crate::state::{blocking, Engine};

type ApiResult<T> = std::result::Result<T, ApiError>;

/// How a palisade-net error reaches the API.
pub(crate) fn api_error(e: &palisade_net::Error) -> ApiError {
    match e {
        palisade_net::Error::InvalidArgument(m) => ApiError::bad_request(m.clone()),
        palisade_net::Error::NotFound(m) => ApiError::not_found(m.clone()),
        palisade_net::Error::Conflict(m) => ApiError::conflict(m.clone()),
        palisade_net::Error::Forbidden(m) => ApiError::forbidden(m.clone()),
        other => {
            tracing::warn!("network error: {other}");
            ApiError::internal(other.to_string())
        }
    }
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidArgument(m.into())
}

/// Endpoint settings a client may set: aliases and an IPv4 address; anything else set is
/// refused, not dropped.
fn endpoint_request(network: &str, s: &EndpointSettings) -> Result<EndpointRequest> {
    if !s.links.is_empty() {
        return Err(invalid("--link is not supported by Palisade: containers on a user network find each other by name"));
    }
    if !s.mac_address.is_empty() {
        return Err(invalid("--mac-address is not supported by Palisade"));
    }
    if !s.driver_opts.is_empty() {
        return Err(invalid("--driver-opt is not supported by Palisade"));
    }
    if let Some((k, _)) = s.other.iter().find(|(k, v)| !is_unset(v) && !matches!(k.as_str(), "NetworkID" | "EndpointID")) {
        return Err(invalid(format!("NetworkingConfig.EndpointsConfig.{network}.{k} is not supported by Palisade yet")));
    }
    let ipam = s.ipam_config.clone().unwrap_or_default();
    if !ipam.ipv6_address.is_empty() || !ipam.link_local_ips.is_empty() {
        return Err(invalid("IPv6 and link-local addresses (--ip6, --link-local-ip) are not supported by Palisade"));
    }
    let ipv4 = match ipam.ipv4_address.as_str() {
        "" => None,
        a => Some(a.parse::<Ipv4Addr>().map_err(|_| invalid(format!("invalid IPv4 address: {a}")))?),
    };
    Ok(EndpointRequest { aliases: s.aliases.clone(), ipv4 })
}

/// The request a restored container's networking is prepared from: its create request, with
/// the networks its record keeps when it keeps them (connects and disconnects since the create
/// included; `none` when it was disconnected from all, its ports then unpublished).
pub(crate) fn wired_request<'a>(request: &'a ContainerCreateRequest, recorded: Option<&[RecordedEndpoint]>) -> Cow<'a, ContainerCreateRequest> {
    let Some(recorded) = recorded else { return Cow::Borrowed(request) };
    let mut wired = request.clone();
    let settings = |e: &RecordedEndpoint| EndpointSettings {
        aliases: e.aliases.clone(),
        ipam_config: e.ipv4.map(|ip| EndpointIpamConfig { ipv4_address: ip.to_string(), ..EndpointIpamConfig::default() }),
        ..EndpointSettings::default()
    };
    wired.networking_config.endpoints_config = recorded.iter().map(|e| (e.network.clone(), settings(e))).collect();
    match recorded.first() {
        Some(first) => wired.host_config.network_mode.clone_from(&first.network),
        None => {
            wired.host_config.network_mode = "none".into();
            wired.host_config.port_bindings.clear();
            wired.host_config.publish_all_ports = false;
        }
    }
    Cow::Owned(wired)
}

/// `-p`/`-P`/`--expose` of a request.
fn ports_of(request: &ContainerCreateRequest) -> Result<(Vec<PortBinding>, Vec<ContainerPort>)> {
    let mut exposed = Vec::new();
    for key in request.config.exposed_ports.keys().chain(request.host_config.port_bindings.keys()) {
        let p = ContainerPort::parse(key)?;
        if !exposed.contains(&p) {
            exposed.push(p);
        }
    }
    let mut ports = Vec::new();
    for (key, bindings) in &request.host_config.port_bindings {
        let c = ContainerPort::parse(key)?;
        for b in bindings.iter().flatten() {
            ports.push(PortBinding::parse(c, &b.host_ip, &b.host_port)?);
        }
    }
    if request.host_config.publish_all_ports {
        for c in &exposed {
            if !ports.iter().any(|p| p.container == *c) {
                ports.push(PortBinding { container: *c, host_ip: None, host_port: 0 });
            }
        }
    }
    Ok((ports, exposed))
}

impl Engine {
    fn networks(&self) -> Option<&Networks> {
        self.inner.net.get()
    }

    fn require_networks(&self) -> Result<&Networks> {
        self.networks().ok_or_else(|| invalid("networks are not enabled on this daemon"))
    }

    /// Sets up networking (the default bridge, the isolation rules; endpoints a crashed
    /// daemon left are undone), before [`Engine::open`] brings containers back. Without it
    /// containers have `none` or `host` only.
    pub(crate) fn enable_networks(&self, config: NetConfig) -> Result<()> {
        let networks = Networks::open(config, tokio::runtime::Handle::current())?;
        self.inner.net.set(networks).map_err(|_| Error::Internal("networks are already enabled".into()))
    }

    /// The mode a container shows: `default` is `bridge` with a default bridge, else `none`.
    pub(crate) fn shown_network_mode(&self, mode: &str) -> String {
        match mode {
            "" | "default" if self.networks().is_some_and(Networks::has_default_bridge) => "bridge".into(),
            "" | "default" => "none".into(),
            other => other.into(),
        }
    }

    /// Create hook: for a container on networks, checks the request, makes its namespace and
    /// resolv.conf, and points `options` at them. Host and none containers are left alone.
    ///
    /// A swarm task's container (`service_names` given) always gets a namespace and the
    /// embedded DNS server, with no network here when the node has no default bridge: its
    /// overlay interfaces are added by the node's data plane.
    pub(crate) fn prepare_network(
        &self,
        id: &str,
        name: &str,
        request: &ContainerCreateRequest,
        service_names: Option<Arc<dyn ServiceNames>>,
        options: &mut RunOptions,
    ) -> Result<()> {
        let mode = self.shown_network_mode(&request.host_config.network_mode);
        let endpoints = &request.networking_config.endpoints_config;
        let (ports, exposed) = ports_of(request)?;
        let task_without_network = mode == "none" && service_names.is_some() && endpoints.is_empty() && ports.is_empty();
        if (mode == "host" || mode == "none") && !task_without_network {
            if !ports.is_empty() {
                return Err(invalid(format!("port publishing (-p/-P) needs a bridge network: --network {mode} has none")));
            }
            let extra = endpoints.iter().find(|(k, v)| k.as_str() != mode && k.as_str() != "default" || endpoint_request(k, v).is_ok_and(|e| !e.aliases.is_empty() || e.ipv4.is_some()));
            if let Some((k, _)) = extra {
                return Err(invalid(format!("container cannot be connected to network {k}: it uses --network {mode}")));
            }
            return Ok(());
        }
        if mode.starts_with("container:") {
            return Err(invalid("--network container:NAME is not supported by Palisade"));
        }
        // Not a 404: on a 404 the docker CLI takes the image to be missing and pulls it.
        let networks = self.networks().ok_or_else(|| invalid(format!("network {mode} not found")))?;
        let mut list = Vec::new();
        if !task_without_network {
            list.extend(Self::endpoint_list(&mode, request)?);
        }
        let request = ContainerRequest { networks: list, ports, exposed, service_names };
        let sandbox = networks.prepare(id, name, request).map_err(|e| match e {
            palisade_net::Error::NotFound(m) => invalid(m),
            e => Error::Net(e),
        })?;
        options.network = NetworkMode::Path(sandbox.netns);
        options.mounts.push(ExtraMount::Bind { source: sandbox.resolv_conf, destination: "/etc/resolv.conf".into(), read_only: true });
        Ok(())
    }

    /// The networks a container asks for, by reference with what it asks of each, the first
    /// being `mode`'s.
    pub(crate) fn endpoint_list(mode: &str, request: &ContainerCreateRequest) -> Result<Vec<(String, EndpointRequest)>> {
        let endpoints = &request.networking_config.endpoints_config;
        let first = endpoints.get(mode).or_else(|| endpoints.get(&request.host_config.network_mode)).map(|s| endpoint_request(mode, s)).transpose()?.unwrap_or_default();
        let mut list = vec![(mode.to_owned(), first)];
        for (k, v) in endpoints {
            if k != mode && k != &request.host_config.network_mode {
                list.push((k.clone(), endpoint_request(k, v)?));
            }
        }
        Ok(list)
    }

    /// What a container's record keeps of its networks: each one it is on now, by name, with
    /// its aliases and requested address; `None` for a host or none container.
    pub(crate) fn recorded_networks(&self, id: &str) -> Option<Vec<RecordedEndpoint>> {
        let view = self.networks()?.container(id)?;
        let recorded = view.endpoints.iter().map(|e| RecordedEndpoint { network: e.network_name.clone(), aliases: e.aliases.clone(), ipv4: e.requested_ip });
        Some(recorded.collect())
    }

    /// The network namespace file of a container on networks (or of a swarm task's), with
    /// how many interfaces it has here (`eth0`, …); `None` for a host or none container.
    pub fn sandbox(&self, id: &str) -> Option<(std::path::PathBuf, usize)> {
        let id = self.resolve(id).ok()?.id.clone();
        let view = self.networks()?.container(id.as_str())?;
        Some((view.sandbox_key.into(), view.endpoints.len()))
    }

    /// A container's address on its first network while attached (what its `/etc/hosts` names
    /// it by); `None` for host and none containers.
    pub(crate) fn network_address(&self, id: &str) -> Option<Ipv4Addr> {
        self.networks()?.container(id)?.endpoints.first()?.ip
    }

    /// Start hook: endpoints attached, ports published, DNS served; then the container's
    /// swarm networks joined.
    pub(crate) async fn attach_network(&self, entry: &crate::state::Entry) -> Result<()> {
        let Some(networks) = self.networks().cloned() else { return Ok(()) };
        let id = entry.id.to_string();
        blocking(move || Ok(networks.attach(&id)?)).await?;
        if let Err(e) = self.attach_cluster(entry).await {
            self.detach_network(entry.id.as_str()).await;
            return Err(e);
        }
        Ok(())
    }

    /// Exit hook: swarm networks left, endpoints detached, ports released.
    pub(crate) async fn detach_network(&self, id: &str) {
        self.detach_cluster(id).await;
        let Some(networks) = self.networks().cloned() else { return };
        let id = id.to_owned();
        let _ = blocking(move || {
            networks.detach(&id);
            Ok(())
        })
        .await;
    }

    /// Remove hook: the namespace and resolv.conf go.
    pub(crate) async fn forget_network(&self, id: &str) {
        self.forget_cluster(id);
        let Some(networks) = self.networks().cloned() else { return };
        let id = id.to_owned();
        let _ = blocking(move || {
            networks.forget(&id);
            Ok(())
        })
        .await;
    }

    /// `NetworkSettings` of a container inspect.
    pub(crate) fn network_settings(&self, id: &str) -> NetworkSettings {
        let Some(view) = self.networks().and_then(|n| n.container(id)) else {
            return NetworkSettings::default();
        };
        let mut s = NetworkSettings { sandbox_key: view.sandbox_key.clone(), ports: port_map(&view), ..NetworkSettings::default() };
        for e in &view.endpoints {
            let settings = endpoint_settings(e);
            if e.network_name == "bridge" {
                s.ip_address = settings.ip_address.clone();
                s.gateway = settings.gateway.clone();
                s.ip_prefix_len = settings.ip_prefix_len;
                s.mac_address = settings.mac_address.clone();
            }
            s.networks.insert(e.network_name.clone(), settings);
        }
        s.networks.extend(self.cluster_endpoint_settings(id));
        s
    }

    /// `Ports` of a container list row.
    pub(crate) fn list_ports(&self, id: &str) -> Vec<Port> {
        let Some(view) = self.networks().and_then(|n| n.container(id)) else { return Vec::new() };
        let mut out: Vec<Port> = Vec::new();
        for c in &view.exposed {
            let published: Vec<&PortBinding> = view.ports.iter().filter(|p| p.container == *c && view.running).collect();
            if published.is_empty() {
                out.push(Port { private_port: c.port, typ: c.protocol.name().into(), ..Port::default() });
            }
            for p in published {
                out.push(Port {
                    ip: p.host_ip.map_or_else(|| "0.0.0.0".into(), |a| a.to_string()),
                    private_port: c.port,
                    public_port: Some(p.host_port),
                    typ: c.protocol.name().into(),
                });
            }
        }
        out
    }

    fn network_resource(&self, v: NetworkView) -> NetworkResource {
        let n = v.network;
        let config = n
            .subnet
            .as_ref()
            .map(|s| IpamConfig {
                subnet: s.subnet.to_string(),
                ip_range: s.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                gateway: s.gateway.to_string(),
                ..IpamConfig::default()
            })
            .into_iter()
            .collect();
        let mut options = n.options.clone();
        if n.default_bridge {
            options.insert("com.docker.network.bridge.default_bridge".into(), "true".into());
            options.insert("com.docker.network.bridge.enable_icc".into(), self.icc().to_string());
        }
        if let Some(b) = &n.bridge {
            options.insert("com.docker.network.bridge.name".into(), b.clone());
        }
        NetworkResource {
            name: n.name.clone(),
            id: n.id.clone(),
            created: n.created.clone(),
            scope: "local".into(),
            driver: n.driver.name().into(),
            enable_ipv4: n.driver == Driver::Bridge,
            ipam: Ipam { driver: "default".into(), options: BTreeMap::new(), config },
            internal: n.internal,
            containers: v
                .containers
                .into_iter()
                .map(|(cid, name, e)| {
                    let c = NetworkContainer {
                        name,
                        endpoint_id: e.endpoint_id.clone(),
                        mac_address: e.mac.clone(),
                        ipv4_address: e.ip.map(|ip| format!("{ip}/{}", e.prefix_len)).unwrap_or_default(),
                        ipv6_address: String::new(),
                    };
                    (cid, c)
                })
                .collect(),
            options,
            labels: n.labels,
            ..NetworkResource::default()
        }
    }

    fn icc(&self) -> bool {
        self.networks().is_some_and(Networks::icc)
    }
}

fn endpoint_settings(e: &palisade_net::EndpointView) -> EndpointSettings {
    EndpointSettings {
        ipam_config: e.requested_ip.map(|ip| palisade_engine_api::types::EndpointIpamConfig { ipv4_address: ip.to_string(), ..Default::default() }),
        aliases: e.aliases.clone(),
        mac_address: e.mac.clone(),
        network_id: e.network_id.clone(),
        endpoint_id: e.endpoint_id.clone(),
        gateway: e.gateway.map(|g| g.to_string()).unwrap_or_default(),
        ip_address: e.ip.map(|g| g.to_string()).unwrap_or_default(),
        ip_prefix_len: if e.ip.is_some() { e.prefix_len } else { 0 },
        ..EndpointSettings::default()
    }
}

fn port_map(view: &ContainerView) -> BTreeMap<String, Option<Vec<ApiPortBinding>>> {
    let mut map: BTreeMap<String, Option<Vec<ApiPortBinding>>> = view.exposed.iter().map(|c| (c.key(), None)).collect();
    if view.running {
        for p in &view.ports {
            let b = ApiPortBinding { host_ip: p.host_ip.map_or_else(|| "0.0.0.0".into(), |a| a.to_string()), host_port: p.host_port.to_string() };
            map.entry(p.container.key()).or_insert(None).get_or_insert_with(Vec::new).push(b);
        }
    }
    map
}

fn create_request(r: NetworkCreateRequest) -> Result<NetworkCreate> {
    if let Some((k, _)) = r.other.iter().find(|(k, v)| !is_unset(v) && !matches!(k.as_str(), "Scope" | "EnableIPv4")) {
        return Err(invalid(format!("network option {k} is not supported by Palisade")));
    }
    if r.other.get("EnableIPv4").is_some_and(|v| v.as_bool() == Some(false)) {
        return Err(invalid("networks without IPv4 are not supported by Palisade"));
    }
    let ipam = r.ipam.unwrap_or_default();
    if !matches!(ipam.driver.as_str(), "" | "default") || !ipam.options.is_empty() {
        return Err(invalid("IPAM drivers and options are not supported by Palisade"));
    }
    if ipam.config.len() > 1 {
        return Err(invalid("Palisade networks have one IPv4 subnet"));
    }
    let c = ipam.config.into_iter().next().unwrap_or_default();
    if !c.auxiliary_addresses.is_empty() {
        return Err(invalid("--aux-address is not supported by Palisade"));
    }
    let some = |s: String| (!s.is_empty()).then_some(s);
    Ok(NetworkCreate {
        name: r.name,
        driver: r.driver,
        internal: r.internal,
        labels: r.labels,
        options: r.options,
        subnet: some(c.subnet),
        gateway: some(c.gateway),
        ip_range: some(c.ip_range),
    })
}

impl Engine {
    /// A container joined or left `view`'s network.
    fn network_event(&self, view: &palisade_net::NetworkView, action: &str, entry: &crate::state::Entry) {
        let mut attributes = crate::events::named(&view.network.name);
        attributes.insert("container".into(), entry.id.to_string());
        attributes.insert("type".into(), "bridge".into());
        self.event("network", action, view.network.id.clone(), attributes);
    }
}

impl NetworkBackend for Engine {
    async fn network_list(&self) -> ApiResult<Vec<NetworkResource>> {
        let views = self.networks().map(Networks::list).unwrap_or_default();
        Ok(views.into_iter().map(|v| self.network_resource(v)).collect())
    }

    async fn network_inspect(&self, reference: String) -> ApiResult<NetworkResource> {
        let v = self.require_networks()?.inspect(&reference).map_err(Error::Net)?;
        Ok(self.network_resource(v))
    }

    async fn network_create(&self, request: NetworkCreateRequest) -> ApiResult<NetworkCreateResponse> {
        let request = create_request(request)?;
        let networks = self.require_networks()?.clone();
        let n = blocking(move || Ok(networks.create(request)?)).await?;
        self.event("network", "create", n.id.clone(), crate::events::named(&n.name));
        Ok(NetworkCreateResponse { id: n.id, warning: String::new() })
    }

    async fn network_remove(&self, reference: String) -> ApiResult<()> {
        let networks = self.require_networks()?.clone();
        let view = networks.inspect(&reference).map_err(Error::Net)?;
        blocking(move || Ok(networks.remove(&reference)?)).await?;
        self.event("network", "destroy", view.network.id.clone(), crate::events::named(&view.network.name));
        Ok(())
    }

    async fn network_connect(&self, reference: String, request: NetworkConnectRequest) -> ApiResult<()> {
        let networks = self.require_networks()?.clone();
        let entry = self.resolve(&request.container)?;
        let ep = endpoint_request(&reference, &request.endpoint_config.unwrap_or_default())?;
        let id = entry.id.to_string();
        let view = networks.inspect(&reference).map_err(Error::Net)?;
        blocking(move || Ok(networks.connect(&reference, &id, ep)?)).await?;
        self.persist(&entry);
        self.network_event(&view, "connect", &entry);
        Ok(())
    }

    async fn network_disconnect(&self, reference: String, request: NetworkDisconnectRequest) -> ApiResult<()> {
        let networks = self.require_networks()?.clone();
        let entry = self.resolve(&request.container)?;
        let id = entry.id.to_string();
        let view = networks.inspect(&reference).map_err(Error::Net)?;
        blocking(move || Ok(networks.disconnect(&reference, &id)?)).await?;
        self.persist(&entry);
        self.network_event(&view, "disconnect", &entry);
        Ok(())
    }

    async fn network_prune(&self) -> ApiResult<NetworkPruneResponse> {
        let networks = self.require_networks()?.clone();
        let deleted = blocking(move || Ok(networks.prune())).await?;
        Ok(NetworkPruneResponse { networks_deleted: deleted })
    }
}
