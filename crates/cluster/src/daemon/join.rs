//! `swarm join`: authenticate the manager's root CA against the token, get a certificate for
//! a key made here, and — with a manager token — take on the manager role and join raft.

use palisade_pki::{JoinToken, NodeKey, NodeRole, RootCa, RootDigest};
use tokio::net::TcpListener;

use super::{Daemon, NodeState, DEFAULT_CLUSTER_PORT};
use crate::describe::local_description;
use crate::error::{Error, Result};
use crate::identity::{Membership, NodeIdentity, MEMBERSHIP_FORMAT};
use crate::node::ActiveNode;
use crate::role::ManagerKeys;
use crate::rpc::{JoinCertRequest, ManagerClient};

/// `swarm join` as the cluster model sees it.
pub(crate) struct JoinOptions {
    pub(crate) listen_addr: String,
    pub(crate) advertise_addr: String,
    pub(crate) remote_addrs: Vec<String>,
    pub(crate) join_token: String,
    pub(crate) availability: String,
}

impl Daemon {
    pub(crate) async fn join(&self, options: JoinOptions) -> Result<()> {
        let mut state = self.state.lock().await;
        if !matches!(*state, NodeState::Inactive) {
            return Err(Error::AlreadyInSwarm);
        }
        let token: JoinToken = options.join_token.parse().map_err(|_| Error::InvalidJoinToken)?;
        crate::model::Availability::parse(&options.availability)?;
        let listen = self.listen_addr(&options.listen_addr)?;
        let advertise = self.advertise_ip(&options.advertise_addr, listen)?;
        let remote =
            options.remote_addrs.first().ok_or_else(|| Error::invalid("at least 1 RemoteAddr is required to join"))?;
        let remote = if remote.contains(':') { remote.clone() } else { format!("{remote}:{DEFAULT_CLUSTER_PORT}") };

        // Authenticate the manager's root CA against the token before trusting or sending anything.
        let root_pem = ManagerClient::bootstrap(&remote).await?.root_ca().await?;
        if RootDigest::of_pem(&root_pem) != token.digest() {
            return Err(Error::invalid(format!(
                "remote CA does not match fingerprint. Expected: {}",
                token.digest().hex()
            )));
        }
        let root = RootCa::from_pem(&root_pem, None)
            .map_err(|e| Error::invalid(format!("the manager sent an invalid root CA: {e}")))?;

        // The key is made here and never leaves this node; only its CSR is sent.
        let key = NodeKey::generate().map_err(|e| Error::internal("generate node key", e))?;
        let csr_pem = key.csr_pem().map_err(|e| Error::internal("make CSR", e))?;
        let client = ManagerClient::new(&remote, &root, None, self.config.clock.clone()).await?;
        let response = client
            .join(&JoinCertRequest {
                token: token.expose(),
                csr_pem,
                description: local_description(&root_pem, None),
                advertise_addr: advertise.map(|ip| ip.to_string()).unwrap_or_default(),
                listen_port: listen.port(),
                availability: options.availability,
            })
            .await?;
        let identity = NodeIdentity::new(key, response.cert_pem, &root_pem)?;
        if identity.cert.node_id != response.node_id
            || identity.cert.cluster_id != response.cluster_id
            || identity.cert.issuer_common_name.is_empty()
        {
            return Err(Error::internal("join", "the issued certificate does not match the join response"));
        }
        let mut managers = response.managers;
        if managers.is_empty() {
            managers.push(remote.clone());
        }
        let membership = Membership {
            format: MEMBERSHIP_FORMAT,
            cluster_id: response.cluster_id,
            node_id: response.node_id,
            listen_addr: Some(listen),
            advertise_addr: response.addr,
            managers,
            raft_id: response.raft_id,
        };
        let data = self.config.data_root.clone();
        let joined = async {
            identity.save(&data)?;
            membership.save(&data)?;
            let node = ActiveNode::new(data.clone(), identity, membership, &self.config);
            if let (NodeRole::Manager, Some(raft_id)) = (node.role(), response.raft_id) {
                // Only managers serve the cluster port.
                let listener = TcpListener::bind(listen)
                    .await
                    .map_err(|e| Error::invalid(format!("cannot listen on {listen}: {e}")))?;
                let keys = ManagerKeys::create(&data, None)?;
                node.start_manager_role(raft_id, keys, Some(listener)).await?;
            }
            Ok::<_, Error>(node)
        }
        .await;
        let node = match joined {
            Ok(node) => node,
            Err(e) => {
                let _ = data.wipe_swarm_state();
                return Err(e);
            }
        };
        if node.role() == NodeRole::Manager {
            // Returns once this manager is a voter; if that fails now, the agent asks again.
            if let Err(e) = crate::agent::join_raft(&node).await {
                tracing::warn!("joining raft: {e}; will retry");
            }
        }
        node.start_agent();
        tracing::info!(node = %node.identity().cert.node_id, role = %node.role(), "joined swarm");
        self.enter(&mut state, NodeState::Active(node));
        Ok(())
    }
}
