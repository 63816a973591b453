//! `swarm leave`: a manager leaves raft first. As dockerd, a manager needs `--force`, and the
//! refusal says whether leaving would remove the last manager or lose quorum.

use palisade_pki::NodeRole;

use super::{Daemon, NodeState};
use crate::error::{Error, Result};
use crate::rpc::{ControlCall, ControlReply, NodeCall};

impl Daemon {
    pub(crate) async fn leave(&self, force: bool) -> Result<()> {
        let mut state = self.state.lock().await;
        let node = match &*state {
            NodeState::Inactive => return Err(Error::NotInSwarm),
            NodeState::Locked(_) if !force => return Err(Error::Locked),
            NodeState::Locked(_) => None,
            NodeState::Active(node) => Some(node.clone()),
        };
        if let Some(node) = node {
            if node.role() == NodeRole::Manager {
                let (reachable, unreachable) = manager_counts(&node).await;
                if !force {
                    // dockerd's wording: the last manager, a loss of quorum, or neither.
                    return Err(if reachable <= 1 && unreachable == 0 {
                        Error::LastManagerLeave
                    } else if reachable.saturating_sub(2) <= unreachable {
                        Error::LeaveLosesQuorum {
                            remaining: reachable.saturating_sub(1),
                            total: reachable + unreachable,
                        }
                    } else {
                        Error::ManagerLeaveNeedsForce
                    });
                }
                if reachable + unreachable > 1 {
                    if let Err(e) = node.node_call(NodeCall::RaftLeave).await {
                        tracing::warn!("leaving raft: {e}");
                    }
                }
            }
            node.stop().await;
        }
        self.enter(&mut state, NodeState::Inactive);
        self.config.data_root.wipe_swarm_state()?;
        tracing::info!("left the swarm");
        Ok(())
    }
}

/// Reachable and unreachable managers, as the leader sees them; `(1, 0)` when it cannot say.
async fn manager_counts(node: &crate::node::ActiveNode) -> (usize, usize) {
    match node.control(ControlCall::NodeList).await {
        Ok(ControlReply::Nodes(nodes)) => {
            let managers: Vec<bool> = nodes.iter().filter_map(|n| n.manager.as_ref().map(|m| m.reachable)).collect();
            let reachable = managers.iter().filter(|r| **r).count();
            (reachable, managers.len() - reachable)
        }
        _ => (1, 0),
    }
}
