//! What a task's (or an attached container's) embedded DNS server resolves beyond the node's
//! own networks: the services and containers on its overlay networks, from the node's overlay
//! state as it is at each query.

use std::net::Ipv4Addr;

use tokio::sync::watch;

use crate::overlay::OverlayState;

/// The names a task resolves: on each of its networks, `NAME` (or an alias) to the service's
/// VIP (its running tasks in `dnsrr` mode), `tasks.NAME` to its running tasks, and, when no
/// service has the name, the name or an alias of a container attached there to its address.
/// A name on several of the task's networks resolves to its addresses on each.
#[derive(Debug)]
pub(crate) struct TaskNames {
    state: watch::Receiver<OverlayState>,
    networks: Vec<String>,
}

impl TaskNames {
    pub(crate) fn new(state: watch::Receiver<OverlayState>, networks: Vec<String>) -> Self {
        Self { state, networks }
    }
}

impl palisade_net::ServiceNames for TaskNames {
    fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let state = self.state.borrow();
        let networks = state.networks.iter().filter(|n| self.networks.contains(&n.id));
        let mut answers: Vec<Vec<Ipv4Addr>> = networks.clone().flat_map(|n| &n.services).filter_map(|s| s.resolve(name)).collect();
        // A service's names are its own: a container named like it does not answer for it.
        if answers.is_empty() {
            answers = networks.flat_map(|n| &n.containers).filter(|c| c.is_named(name)).map(|c| vec![c.addr]).collect();
        }
        (!answers.is_empty()).then(|| answers.concat())
    }
}

#[cfg(test)]
mod tests {
    use palisade_net::ServiceNames as _;

    use super::*;
    use crate::overlay::{OverlayContainer, OverlayNetwork, OverlayService};

    fn network(id: &str, services: Vec<OverlayService>) -> OverlayNetwork {
        OverlayNetwork {
            id: id.into(),
            name: id.into(),
            vni: 4097,
            subnet: "10.0.1.0/24".parse().unwrap(),
            gateway: "10.0.1.1".parse().unwrap(),
            keys: Vec::new(),
            peers: Vec::new(),
            attachments: Vec::new(),
            services,
            containers: vec![OverlayContainer { names: vec![format!("{id}-box"), "alias".into()], addr: "10.9.9.9".parse().unwrap() }],
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn names_resolve_on_the_task_s_networks_only() {
        let web = OverlayService { names: vec!["web".into(), "www".into()], vip: Some(ip("10.0.1.2")), tasks: vec![ip("10.0.1.3"), ip("10.0.1.4")] };
        let db = OverlayService { names: vec!["db".into()], vip: None, tasks: vec![ip("10.0.2.3")] };
        let state = OverlayState { networks: vec![network("front", vec![web]), network("back", vec![db])], ingress: None };
        let (_tx, rx) = watch::channel(state);
        let names = TaskNames::new(rx, vec!["front".into()]);
        assert_eq!(names.lookup("web"), Some(vec![ip("10.0.1.2")]), "the VIP");
        assert_eq!(names.lookup("WWW"), Some(vec![ip("10.0.1.2")]), "an alias, any case");
        assert_eq!(names.lookup("tasks.web"), Some(vec![ip("10.0.1.3"), ip("10.0.1.4")]));
        assert_eq!(names.lookup("db"), None, "not on a network the task is on");
        let both = TaskNames::new(names.state.clone(), vec!["front".into(), "back".into()]);
        assert_eq!(both.lookup("db"), Some(vec![ip("10.0.2.3")]), "dnsrr: the tasks");
        assert_eq!(both.lookup("tasks.nothing"), None);
        assert_eq!(names.lookup("FRONT-box"), Some(vec![ip("10.9.9.9")]), "a container, any case");
        assert_eq!(names.lookup("back-box"), None, "a container on a network the task is not on");
        assert_eq!(both.lookup("alias"), Some(vec![ip("10.9.9.9"), ip("10.9.9.9")]), "one answer per network");
        let mut state = names.state.borrow().clone();
        state.networks[0].containers[0].names.push("web".into());
        let (_tx, rx) = watch::channel(state);
        assert_eq!(TaskNames::new(rx, vec!["front".into()]).lookup("web"), Some(vec![ip("10.0.1.2")]), "a container never shadows a service");
        assert_eq!(both.lookup("tasks."), None);
    }
}
