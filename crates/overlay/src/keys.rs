//! Keys the data plane is given: the node's static WireGuard key, the peers' public keys and
//! the network key the managers issue (WireGuard's preshared key). None of them is ever
//! printed: `Debug` shows public parts only.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use boringtun::x25519::{PublicKey as X25519Public, StaticSecret};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox};

use crate::error::{Error, Result};

/// A node's WireGuard identity: its static X25519 private key (zeroized on drop by
/// x25519-dalek). One per node, shared by all its encrypted networks; its public half is
/// what the other nodes are given in [`crate::Peer::Encrypted`].
#[derive(Clone)]
pub struct NodeKey(StaticSecret);

impl NodeKey {
    /// A new random key from the OS's entropy.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let key = Self(StaticSecret::from(bytes));
        zeroize::Zeroize::zeroize(&mut bytes);
        key
    }

    /// The key from its 32 raw bytes (as stored by the node's key store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(StaticSecret::from(bytes))
    }

    /// Its 32 raw bytes, for the node's key store to seal and write (zeroized on drop).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// Its public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(X25519Public::from(&self.0).to_bytes())
    }

    pub(crate) fn secret(&self) -> StaticSecret {
        self.0.clone()
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NodeKey").field(&self.public_key()).finish()
    }
}

/// A node's public X25519 key; base64 in text, as WireGuard writes keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Its 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn x25519(&self) -> X25519Public {
        X25519Public::from(self.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bytes = BASE64.decode(s.trim()).map_err(|e| Error::InvalidArgument(format!("public key: {e}")))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| Error::InvalidArgument(format!("public key: {} bytes, expected 32", b.len())))?;
        Ok(Self(bytes))
    }
}

/// A network's key as the managers issue it: 32 secret bytes and the generation they belong
/// to (a number that grows with each rotation, the same on every node for the same key).
///
/// The secret is WireGuard's preshared key between every two nodes of the network. The
/// generation's low byte ([`NetworkKey::tag`]) goes into the WireGuard session indices so
/// that, during a rotation, a node tells which key a peer's handshake was made with (see
/// `tunnel::peer`); the key itself never leaves the node.
pub struct NetworkKey {
    generation: u64,
    secret: SecretBox<[u8; 32]>,
}

impl NetworkKey {
    /// The key of `generation`.
    pub fn new(generation: u64, secret: [u8; 32]) -> Self {
        Self { generation, secret: SecretBox::new(Box::new(secret)) }
    }

    /// A new random key (for managers and tests).
    pub fn generate(generation: u64) -> Self {
        let mut secret = SecretBox::new(Box::new([0u8; 32]));
        rand::rngs::OsRng.fill_bytes(secrecy::ExposeSecretMut::expose_secret_mut(&mut secret));
        Self { generation, secret }
    }

    /// Which generation this key is.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The generation's low byte, which WireGuard session indices carry.
    pub(crate) fn tag(&self) -> u8 {
        (self.generation & 0xff) as u8
    }

    /// The preshared key for boringtun (which keeps its own copy for the tunnel's life).
    pub(crate) fn preshared(&self) -> [u8; 32] {
        *self.secret.expose_secret()
    }
}

impl fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkKey").field("generation", &self.generation).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_round_trips_through_base64() {
        let key = NodeKey::generate().public_key();
        assert_eq!(key.to_string().parse::<PublicKey>().unwrap(), key);
        assert!("AAAA".parse::<PublicKey>().is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let key = NetworkKey::new(7, [0x41; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains('7') && !shown.contains("65") && !shown.contains("AAAA"), "{shown}");
        let node = NodeKey::from_bytes([0x41; 32]);
        assert!(format!("{node:?}").contains(&node.public_key().to_string()));
        assert_eq!(NodeKey::from_bytes(*node.to_bytes()).public_key(), node.public_key());
    }
}
