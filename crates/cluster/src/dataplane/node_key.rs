//! The node's overlay key: WireGuard's static X25519 key, one per node for all its encrypted
//! networks, made once and kept in the node directory (mode 0600, written atomically). Its
//! public half is what the node reports; the secret never leaves this file and the data plane.

use std::path::Path;

use palisade_overlay::NodeKey;

use crate::error::{Error, Result};

/// The node's overlay key from `path`, made (0600) if there is none.
pub(super) fn load_or_make(path: &Path) -> Result<NodeKey> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes: [u8; 32] = zeroize::Zeroizing::new(bytes)
                .as_slice()
                .try_into()
                .map_err(|_| Error::internal(format!("reading {}", path.display()), "not a 32-byte key"))?;
            Ok(NodeKey::from_bytes(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = NodeKey::generate();
            palisade_pki::write_private_file(path, key.to_bytes().as_slice()).map_err(|e| Error::internal(format!("writing {}", path.display()), e))?;
            Ok(key)
        }
        Err(e) => Err(Error::internal(format!("reading {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_key_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overlay.key");
        let first = load_or_make(&path).unwrap().public_key();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_make(&path).unwrap().public_key(), first);
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_make(&path).is_err(), "a damaged key file is an error, not a new key");
    }
}
