//! Hostile JSON: valid seed documents with mutated fields, plus byte-level damage.
//!
//! A mutation picks a node of the seed by a random walk and replaces it, removes or adds a
//! member, repeats it, or buries it under deep nesting; then the text may be truncated or have
//! a byte changed. Documents stay close enough to valid that parsers get past their first
//! checks, which is where the interesting code is.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Number, Value};

/// Longest string a generator makes (long enough to hit length limits, short enough for
/// thousands of cases a minute).
const LONG: usize = 70_000;
/// Most bytes one `Repeat` mutation adds.
const MAX_GROWTH: usize = 1 << 20;

/// Strings that break naive parsers of names, paths and references, mixed with arbitrary text.
pub fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "", ".", "..", "../../../etc/passwd", "/etc/passwd", "a/../../b", "./a", "a//b", "\0", "a\0b",
            "\u{202e}evil", "é", "-", ":", "@", "a:b@c", "%2e%2e/", "sha256:", "sha256:zz", "sha512:",
            "SWMTKN-1-", "swarm-manager", "swarm-worker", "-----BEGIN CERTIFICATE-----", "null", "{}", "[]",
            " ", "\n", "\\", "\"", "~", "*", "0", "-1", "1e400", "18446744073709551616",
        ])
        .prop_map(str::to_owned),
        3 => "[a-z0-9._/:@-]{0,80}",
        2 => any::<String>(),
        1 => (1usize..LONG).prop_map(|n| "a".repeat(n)),
        1 => (1usize..2_000).prop_map(|n| "../".repeat(n)),
    ]
}

/// Scalars at the edges of their types.
fn hostile_scalar() -> impl Strategy<Value = Value> {
    let float = |f: f64| Number::from_f64(f).map_or(Value::Null, Value::Number);
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        proptest::sample::select(vec![i64::MIN, -1, 0, 1, 2, i64::from(u32::MAX) + 1, i64::MAX]).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<i64>().prop_map(Value::from),
        proptest::sample::select(vec![1.5, -0.0, 1e308, -1e308, 2f64.powi(53) + 2.0]).prop_map(float),
        hostile_string().prop_map(Value::String),
    ]
}

/// Any JSON value, scalars and small nested arrays and objects with hostile members.
pub fn hostile_value() -> impl Strategy<Value = Value> {
    hostile_scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(hostile_string(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One change to a document.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the node.
    Replace(Value),
    /// Remove one member (object field or array element, by index) of the node.
    RemoveMember(usize),
    /// Add a field (objects) or element (arrays).
    AddMember(String, Value),
    /// Repeat the node's first element (arrays) or text (strings) this many times.
    Repeat(usize),
    /// Nest the node inside this many single-element arrays.
    Bury(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => hostile_value().prop_map(Mutation::Replace),
        2 => any::<usize>().prop_map(Mutation::RemoveMember),
        2 => (hostile_string(), hostile_value()).prop_map(|(k, v)| Mutation::AddMember(k, v)),
        1 => (2usize..2_000).prop_map(Mutation::Repeat),
        1 => (1usize..400).prop_map(Mutation::Bury),
    ]
}

/// Damage to the serialised text.
#[derive(Debug, Clone)]
enum ByteDamage {
    None,
    /// Cut the text at this fraction (per mille) of its length.
    Truncate(u16),
    /// XOR the byte at this fraction (per mille) of the length with a non-zero mask.
    Flip(u16, u8),
}

fn byte_damage() -> impl Strategy<Value = ByteDamage> {
    prop_oneof![
        6 => Just(ByteDamage::None),
        1 => (0u16..1000).prop_map(ByteDamage::Truncate),
        1 => (0u16..1000, 1u8..=255).prop_map(|(at, mask)| ByteDamage::Flip(at, mask)),
    ]
}

/// The JSON pointer of the node a random walk reaches: at each level, the step's value picks a
/// member, or (one time in four) stops there.
fn walk(doc: &Value, steps: &[usize]) -> String {
    let mut pointer = String::new();
    let mut node = doc;
    for &step in steps {
        if step % 4 == 0 {
            break;
        }
        let next = match node {
            Value::Object(m) if !m.is_empty() => m.iter().nth(step % m.len()).map(|(k, v)| (k.replace('~', "~0").replace('/', "~1"), v)),
            Value::Array(a) if !a.is_empty() => a.get(step % a.len()).map(|v| ((step % a.len()).to_string(), v)),
            _ => None,
        };
        let Some((key, child)) = next else { break };
        pointer.push('/');
        pointer.push_str(&key);
        node = child;
    }
    pointer
}

fn apply(doc: &mut Value, steps: &[usize], mutation: Mutation) {
    let pointer = walk(doc, steps);
    let Some(node) = doc.pointer_mut(&pointer) else { return };
    match mutation {
        Mutation::Replace(v) => *node = v,
        Mutation::RemoveMember(i) => match node {
            Value::Object(m) if !m.is_empty() => {
                if let Some(key) = m.keys().nth(i % m.len()).cloned() {
                    m.remove(&key);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(i % a.len());
            }
            _ => {}
        },
        Mutation::AddMember(k, v) => match node {
            Value::Object(m) => {
                m.insert(k, v);
            }
            Value::Array(a) => a.push(v),
            _ => {}
        },
        Mutation::Repeat(n) => match node {
            Value::Array(a) => {
                if let Some(first) = a.first().cloned() {
                    // Capped so a document stays around a megabyte: a long string repeated
                    // 2000 times would make every later case of the run crawl.
                    let each = serde_json::to_vec(&first).map_or(1, |b| b.len().max(1));
                    a.extend(std::iter::repeat_n(first, n.min(MAX_GROWTH / each)));
                }
            }
            Value::String(s) => *s = s.repeat(n.min(LONG / s.len().max(1))),
            _ => {}
        },
        Mutation::Bury(depth) => {
            let mut v = node.take();
            for _ in 0..depth {
                v = Value::Array(vec![v]);
            }
            *node = v;
        }
    }
}

fn damage(mut bytes: Vec<u8>, damage: ByteDamage) -> Vec<u8> {
    let at = |per_mille: u16, len: usize| len * usize::from(per_mille) / 1000;
    match damage {
        ByteDamage::None => {}
        ByteDamage::Truncate(p) => bytes.truncate(at(p, bytes.len())),
        ByteDamage::Flip(p, mask) => {
            let i = at(p, bytes.len());
            if let Some(b) = bytes.get_mut(i) {
                *b ^= mask;
            }
        }
    }
    bytes
}

/// A near-valid document: one of `seeds` with 1–4 [`Mutation`]s (sometimes none) and maybe
/// byte damage, serialised.
pub fn mutated(seeds: Vec<Value>) -> impl Strategy<Value = Vec<u8>> {
    let edits = vec((vec(any::<usize>(), 0..8), mutation()), 0..4);
    (proptest::sample::select(seeds), edits, byte_damage()).prop_map(|(mut doc, edits, dmg)| {
        for (steps, m) in edits {
            apply(&mut doc, &steps, m);
        }
        damage(serde_json::to_vec(&doc).unwrap_or_default(), dmg)
    })
}

/// Arbitrary bytes, sometimes starting like JSON.
pub fn raw_bytes() -> impl Strategy<Value = Vec<u8>> {
    (proptest::option::of(proptest::sample::select(vec![b'{', b'[', b'"'])), vec(any::<u8>(), 0..4096)).prop_map(|(open, rest)| {
        open.into_iter().chain(rest).collect()
    })
}

/// [`mutated`] seeds most of the time, [`raw_bytes`] sometimes.
pub fn documents(seeds: Vec<Value>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![9 => mutated(seeds), 1 => raw_bytes()]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_walk_names_the_node_it_reaches() {
        let doc: Value = serde_json::json!({"a": [1, {"b/c": 2}], "d": 3});
        // Step 2 picks "a" (2 % 2 keys, sorted: a, d), 5 picks element 1, 1 picks "b/c".
        let pointer = walk(&doc, &[2, 5, 1]);
        assert_eq!(pointer, "/a/1/b~1c");
        assert_eq!(doc.pointer(&pointer), Some(&Value::from(2)));
        assert_eq!(walk(&doc, &[4, 1]), "", "a step divisible by 4 stops at the root");
    }

    #[test]
    fn burying_nests_the_node() {
        let mut doc: Value = serde_json::json!({"a": 1});
        apply(&mut doc, &[1], Mutation::Bury(2));
        assert_eq!(doc, serde_json::json!({"a": [[1]]}));
    }
}
