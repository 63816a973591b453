//! Random identifiers in swarmkit's format: random bits rendered in base 36, 25 characters.

use std::fmt;
use std::str::FromStr;

use rand::{CryptoRng, RngCore};

/// Length of a generated identifier.
const ID_LEN: usize = 25;

/// swarmkit's `identity.NewID`: 17 random bytes with the top bit set (so the base-36 rendering
/// always has 27 digits and needs no padding), rendered in base 36; digits 2 to 26 are the ID
/// (the leading digit is biased by the fixed top bit, so it is dropped).
fn random_id(rng: &mut (impl RngCore + CryptoRng)) -> String {
    let mut bytes = [0u8; 17];
    rng.fill_bytes(&mut bytes);
    bytes[0] |= 0x80;
    let text = num_bigint::BigUint::from_bytes_be(&bytes).to_str_radix(36);
    bytes.fill(0);
    text[1..=ID_LEN].to_owned()
}

fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

macro_rules! random_identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// Invariant: exactly 25 characters of `[0-9a-z]`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh random identifier.
            pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
                Self(random_id(rng))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if is_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(format!("invalid {} {s:?}: expected 25 characters of [0-9a-z]", $what))
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

random_identifier!(
    /// A node's identity: the `CN` of its certificate.
    NodeId,
    "node ID"
);
random_identifier!(
    /// A cluster's identity: the `O` of every node certificate it issues.
    ClusterId,
    "cluster ID"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_swarmkit_shape_and_differ() {
        let mut rng = rand::thread_rng();
        let a = NodeId::generate(&mut rng);
        let b = NodeId::generate(&mut rng);
        assert_eq!(a.as_str().len(), 25);
        assert!(is_id(a.as_str()));
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<NodeId>().unwrap(), a);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "ABCDEFGHIJKLMNOPQRSTUVWXY", "../../etc/passwd/abcdefgh", "abc"] {
            assert!(bad.parse::<NodeId>().is_err(), "{bad}");
        }
    }
}
