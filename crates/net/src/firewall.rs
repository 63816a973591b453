//! Palisade's own nftables table, `ip palisade`, built by `nft` from the `nftables` crate's
//! JSON schema in one `nft -j -f -` transaction, the published ports' map elements included:
//!
//! ```text
//! table ip palisade
//!   map published_at_addr   ipv4_addr . inet_proto . inet_service : ipv4_addr
//!   map published_at_port   ipv4_addr . inet_proto . inet_service : inet_service
//!   map published_any_addr  inet_proto . inet_service : ipv4_addr
//!   map published_any_port  inet_proto . inet_service : inet_service
//!   chain forward      (filter, forward)   traffic between two bridges, and into or out of
//!                                          an internal network, is dropped
//!   chain prerouting   (nat, dstnat)       published ports: DNAT through the maps,
//!   chain output       (nat, dstnat)       for other hosts' and the host's own traffic
//!   chain postrouting  (nat, srcnat)       masquerade out of non-internal networks, of
//!                                          published traffic from 127.0.0.0/8 and of hairpin
//! ```
//! Invariants: the table is rebuilt whole (delete and add in one transaction) whenever the set
//! of bridge networks changes, with the elements of every port then published; in between, a
//! container start or stop only adds or deletes its own map elements, in-process
//! ([`crate::port_maps`]). A port bound to one host
//! address is in both `published_at_*` maps (it answers on that address only); one bound to
//! every address is in both `published_any_*` maps. (Address and port are two maps, not one
//! map to a concatenation: nft 1.0.6, Debian 12's, cannot read that from JSON.) Rebuilding at daemon start drops whatever a crashed daemon left.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;

use nftables::batch::Batch;
use nftables::expr::{Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, CT};
use nftables::schema::{Chain, Element, Map, NfListObject, Rule, SetTypeValue, SetType, Table};
use nftables::stmt::{Match, Operator, NATFamily, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::error::{Error, Result};
use crate::network::Network;
use crate::ports::PortBinding;

pub(crate) const TABLE: &str = "palisade";
/// The maps of ports bound to one host address: to the container's address, and to its port.
const AT: [&str; 2] = ["published_at_addr", "published_at_port"];
/// The maps of ports bound to every host address.
const ANY: [&str; 2] = ["published_any_addr", "published_any_port"];

/// One published port in effect: a binding and the container address it leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Published {
    pub(crate) binding: PortBinding,
    pub(crate) container_ip: Ipv4Addr,
}

fn s(v: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(v.to_owned()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField { protocol: protocol.into(), field: field.into() })))
}

fn matches(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn prefix(net: ipnet::Ipv4Net) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix { addr: Box::new(s(&net.network().to_string())), len: u32::from(net.prefix_len()) }))
}

fn concat(items: Vec<Expression<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(items))
}

fn rule(chain: &'static str, expr: Vec<Statement<'static>>) -> NfListObject<'static> {
    NfListObject::Rule(Rule { family: NfFamily::IP, table: TABLE.into(), chain: chain.into(), expr: expr.into(), ..Rule::default() })
}

fn chain(name: &'static str, kind: NfChainType, hook: NfHook, prio: i32) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: TABLE.into(),
        name: name.into(),
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    })
}

/// The address and port maps `names` keyed by `key`.
fn maps(names: [&'static str; 2], key: &[SetType]) -> [NfListObject<'static>; 2] {
    let map = |name: &'static str, value: SetType| {
        NfListObject::Map(Box::new(Map {
            family: NfFamily::IP,
            table: TABLE.into(),
            name: name.into(),
            set_type: SetTypeValue::Concatenated(key.to_vec().into()),
            map: SetTypeValue::Single(value),
            ..Map::default()
        }))
    };
    [map(names[0], SetType::Ipv4Addr), map(names[1], SetType::InetService)]
}

fn table() -> NfListObject<'static> {
    NfListObject::Table(Table { family: NfFamily::IP, name: TABLE.into(), ..Table::default() })
}

/// `fib daddr type local dnat to KEY map @ADDR : KEY map @PORT`.
fn dnat_rule(chain: &'static str, key: Vec<Expression<'static>>, maps: [&'static str; 2]) -> NfListObject<'static> {
    let local = matches(Expression::Named(NamedExpression::Fib(Fib { result: FibResult::Type, flags: HashSet::from([FibFlag::Daddr]) })), Operator::EQ, s("local"));
    let lookup = |map: &str| Expression::Named(NamedExpression::Map(Box::new(nftables::expr::Map { key: concat(key.clone()), data: s(&format!("@{map}")) })));
    let nat = NAT { addr: Some(lookup(maps[0])), family: Some(NATFamily::IP), port: Some(lookup(maps[1])), flags: None };
    rule(chain, vec![local, Statement::DNAT(Some(nat))])
}

fn dnat_rules(chain: &'static str) -> [NfListObject<'static>; 2] {
    let (l4proto, dport) = (meta(MetaKey::L4proto), payload("th", "dport"));
    [
        dnat_rule(chain, vec![payload("ip", "daddr"), l4proto.clone(), dport.clone()], AT),
        dnat_rule(chain, vec![l4proto, dport], ANY),
    ]
}

/// The address and port maps a published port's elements go to.
pub(crate) fn map_names(p: &Published) -> [&'static str; 2] {
    if p.binding.host_ip.is_some() { AT } else { ANY }
}

/// The maps and elements (`[key, address]`, `[key, port]`) of one published port.
fn element(p: &Published) -> ([&'static str; 2], [Expression<'static>; 2]) {
    let b = &p.binding;
    let proto = s(b.container.protocol.name());
    let port = Expression::Number(u32::from(b.host_port));
    let key = match b.host_ip {
        Some(ip) => concat(vec![s(&ip.to_string()), proto, port]),
        None => concat(vec![proto, port]),
    };
    let names = map_names(p);
    let addr = Expression::List(vec![key.clone(), s(&p.container_ip.to_string())]);
    let port = Expression::List(vec![key, Expression::Number(u32::from(b.container.port))]);
    (names, [addr, port])
}

fn elements(ports: &[Published]) -> Vec<NfListObject<'static>> {
    let mut out = Vec::new();
    for names in [AT, ANY] {
        for (i, name) in names.into_iter().enumerate() {
            let elem: Vec<Expression<'static>> =
                ports.iter().map(element).filter(|(n, _)| *n == names).map(|(_, [addr, port])| if i == 0 { addr } else { port }).collect();
            if !elem.is_empty() {
                out.push(NfListObject::Element(Element { family: NfFamily::IP, table: TABLE.into(), name: name.into(), elem: elem.into() }));
            }
        }
    }
    out
}

/// The whole table for `networks` (bridge networks) with `ports` published.
fn ruleset(networks: &[&Network], ports: &[Published]) -> Vec<NfListObject<'static>> {
    let bridges: Vec<(&str, &Network)> = networks.iter().filter_map(|n| n.bridge.as_deref().map(|b| (b, *n))).collect();
    let mut out = vec![table()];
    out.extend(maps(AT, &[SetType::Ipv4Addr, SetType::InetProto, SetType::InetService]));
    out.extend(maps(ANY, &[SetType::InetProto, SetType::InetService]));
    out.extend([
        chain("forward", NfChainType::Filter, NfHook::Forward, 0),
        chain("prerouting", NfChainType::NAT, NfHook::Prerouting, -100),
        chain("output", NfChainType::NAT, NfHook::Output, -100),
        chain("postrouting", NfChainType::NAT, NfHook::Postrouting, 100),
    ]);
    let (iif, oif) = (|| meta(MetaKey::Iifname), || meta(MetaKey::Oifname));
    for (a, n) in &bridges {
        if n.internal {
            out.push(rule("forward", vec![matches(iif(), Operator::EQ, s(a)), matches(oif(), Operator::NEQ, s(a)), Statement::Drop(None)]));
            out.push(rule("forward", vec![matches(oif(), Operator::EQ, s(a)), matches(iif(), Operator::NEQ, s(a)), Statement::Drop(None)]));
        }
        for (b, _) in &bridges {
            if a != b {
                out.push(rule("forward", vec![matches(iif(), Operator::EQ, s(a)), matches(oif(), Operator::EQ, s(b)), Statement::Drop(None)]));
            }
        }
    }
    out.extend(dnat_rules("prerouting"));
    out.extend(dnat_rules("output"));
    let dnatted = || matches(Expression::Named(NamedExpression::CT(CT { key: "status".into(), ..CT::default() })), Operator::IN, s("dnat"));
    let loopback = ipnet::Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).unwrap_or_default().trunc();
    out.push(rule("postrouting", vec![dnatted(), matches(payload("ip", "saddr"), Operator::EQ, prefix(loopback)), Statement::Masquerade(None)]));
    for (b, n) in &bridges {
        let Some(subnet) = n.subnet.as_ref().map(|s| s.subnet) else { continue };
        if !n.internal {
            out.push(rule("postrouting", vec![matches(payload("ip", "saddr"), Operator::EQ, prefix(subnet)), matches(oif(), Operator::NEQ, s(b)), Statement::Masquerade(None)]));
        }
        // Hairpin: a container reaching a published port that leads back into its own bridge.
        out.push(rule("postrouting", vec![dnatted(), matches(payload("ip", "saddr"), Operator::EQ, prefix(subnet)), matches(oif(), Operator::EQ, s(b)), Statement::Masquerade(None)]));
    }
    out.extend(elements(ports));
    out
}

fn run(batch: Batch<'_>) -> Result<()> {
    nftables::helper::apply_ruleset(&batch.to_nftables()).map_err(|e| {
        let message = match e {
            nftables::helper::NftablesError::NftFailed { stderr, stdout, .. } => format!("{} {}", stderr.trim(), stdout.trim()).trim().to_owned(),
            nftables::helper::NftablesError::NftExecution { inner, .. } => format!("{inner} (install nftables)"),
            other => other.to_string(),
        };
        Error::Tool { program: "nft".into(), message }
    })
}

/// Replaces the table with the one for `networks` and `ports`, in one transaction, with
/// packet forwarding on. With no bridge network at all (`--bridge none` and no user network)
/// the table is removed and the host's forwarding setting is left as it is.
pub(crate) fn apply(networks: &[&Network], ports: &[Published]) -> Result<()> {
    let mut batch = Batch::new();
    // `add` then `delete`: deleting a table that is not there would fail the transaction.
    batch.add(table());
    batch.delete(table());
    if !networks.is_empty() {
        enable_forwarding()?;
        for object in ruleset(networks, ports) {
            batch.add(object);
        }
    }
    run(batch)
}

/// Turns packet forwarding on (masquerading and published ports need it).
fn enable_forwarding() -> Result<()> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    std::fs::write(path, "1").map_err(Error::io("writing", path))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::network::{Driver, Subnet};
    use crate::ports::ContainerPort;

    pub(crate) fn net(bridge: &str, subnet: &str, internal: bool) -> Network {
        Network {
            id: bridge.into(),
            name: bridge.into(),
            driver: Driver::Bridge,
            created: String::new(),
            bridge: Some(bridge.into()),
            subnet: Some(Subnet::new(subnet, None, None).unwrap()),
            internal,
            labels: Default::default(),
            options: Default::default(),
            default_bridge: false,
        }
    }

    /// Every object of the batch as nft's JSON, one line each.
    fn json(objects: &[NfListObject<'_>]) -> Vec<String> {
        objects.iter().map(|o| serde_json::to_string(o).unwrap()).collect()
    }

    #[test]
    fn bridges_are_cut_from_each_other_and_internal_ones_from_everything() {
        let (a, b) = (net("pa", "10.1.0.0/24", false), net("pb", "10.2.0.0/24", true));
        let rules = json(&ruleset(&[&a, &b], &[]));
        let has = |needle: &str| rules.iter().any(|r| r.contains(needle));
        assert!(has(r#"{"match":{"left":{"meta":{"key":"iifname"}},"right":"pa","op":"=="}},{"match":{"left":{"meta":{"key":"oifname"}},"right":"pb","op":"=="}},{"drop":null}"#), "{rules:#?}");
        assert!(has(r#"{"match":{"left":{"meta":{"key":"iifname"}},"right":"pb","op":"=="}},{"match":{"left":{"meta":{"key":"oifname"}},"right":"pb","op":"!="}},{"drop":null}"#), "{rules:#?}");
        // Masquerade out of the open network only.
        let masq: Vec<&String> = rules.iter().filter(|r| r.contains("masquerade") && r.contains(r#""op":"!=""#)).collect();
        assert_eq!(masq.len(), 1, "{masq:#?}");
        assert!(masq[0].contains("10.1.0.0"), "{masq:#?}");
    }

    #[test]
    fn nft_accepts_the_table_and_its_elements() {
        // `nft --check` validates the transaction against the kernel without committing it.
        let (a, b) = (net("pa", "10.1.0.0/24", false), net("pb", "10.2.0.0/24", true));
        let c = ContainerPort::parse("53/udp").unwrap();
        let ports = [
            Published { binding: PortBinding::parse(c, "127.0.0.1", "5353").unwrap(), container_ip: Ipv4Addr::new(10, 1, 0, 2) },
            Published { binding: PortBinding::parse(c, "", "5354").unwrap(), container_ip: Ipv4Addr::new(10, 1, 0, 3) },
        ];
        let mut batch = Batch::new();
        for o in ruleset(&[&a, &b], &ports) {
            batch.add(o);
        }
        let checked = nftables::helper::apply_ruleset_with_args(&batch.to_nftables(), nftables::helper::DEFAULT_NFT, ["--check"]);
        checked.expect("nft (Debian nftables) accepts the table");
    }

    #[test]
    fn a_port_bound_to_one_address_goes_to_the_map_keyed_by_address() {
        let c = ContainerPort::parse("80/tcp").unwrap();
        let at = Published { binding: PortBinding::parse(c, "127.0.0.1", "8080").unwrap(), container_ip: Ipv4Addr::new(10, 1, 0, 2) };
        let any = Published { binding: PortBinding::parse(c, "", "8081").unwrap(), container_ip: Ipv4Addr::new(10, 1, 0, 3) };
        let e = json(&elements(&[at, any]));
        assert_eq!(e.len(), 4);
        assert!(e[0].contains(r#""name":"published_at_addr","elem":[[{"concat":["127.0.0.1","tcp",8080]},"10.1.0.2"]]"#), "{e:#?}");
        assert!(e[1].contains(r#""name":"published_at_port","elem":[[{"concat":["127.0.0.1","tcp",8080]},80]]"#), "{e:#?}");
        assert!(e[3].contains(r#""name":"published_any_port","elem":[[{"concat":["tcp",8081]},80]]"#), "{e:#?}");
    }
}
