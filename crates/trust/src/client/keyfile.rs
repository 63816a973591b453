//! Private key files as notary and docker write them (notary `tuf/utils/pkcs8.go`,
//! `trustmanager/keystore.go`): PEM `ENCRYPTED PRIVATE KEY` holding PKCS#8 encrypted with
//! PBES2 (PBKDF2-HMAC-SHA1, 8-byte salt, 2048 iterations, AES-256-CBC), with the PEM headers
//! `role: <role>` and, for repository keys, `gun: <gun>`. Go's `pem.Encode` writes headers
//! sorted, so `gun` comes before `role`.
//!
//! PBKDF2-HMAC-SHA1 is what notary reads (it ignores the PRF field and always uses SHA-1), so
//! writing anything else would make our keys unreadable by `docker trust` and `notary`.

use pkcs8::der::Decode as _;
use pkcs8::{EncodePrivateKey as _, PrivateKeyInfo};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use super::error::{ClientError, ClientResult};
use crate::key::{Key, KeyType, PrivateKey};

/// PEM label notary uses.
const LABEL: &str = "ENCRYPTED PRIVATE KEY";
/// PBKDF2 iterations notary uses.
const PBKDF2_ITERATIONS: u32 = 2048;
/// Salt length notary uses.
const SALT_LEN: usize = 8;
/// OID of id-ecPublicKey.
const EC_PUBLIC_KEY: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// OID of Ed25519.
const ED25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");

/// The PEM headers of a key file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyHeaders {
    /// `role:` (`root`, `targets`, `snapshot`, `targets/x`, or a signer name).
    pub role: String,
    /// `gun:` for repository keys.
    pub gun: Option<String>,
}

fn bad_file(what: impl std::fmt::Display) -> ClientError {
    ClientError::Invalid(format!("not a supported private key file: {what}"))
}

/// Encrypts `key` under `passphrase` as notary does and returns the PEM text.
pub(crate) fn encrypt(key: &PrivateKey, headers: &KeyHeaders, passphrase: &SecretString) -> ClientResult<Zeroizing<String>> {
    let der = match key {
        PrivateKey::Ecdsa(k) => k.to_pkcs8_der(),
        PrivateKey::Ed25519(k) => k.to_pkcs8_der(),
    }
    .map_err(|e| ClientError::Tuf(crate::Error::Crypto(format!("encoding a private key: {e}"))))?;
    let info = PrivateKeyInfo::from_der(der.as_bytes())
        .map_err(|e| ClientError::Tuf(crate::Error::Crypto(format!("encoding a private key: {e}"))))?;
    let mut salt = [0u8; SALT_LEN];
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let params = pkcs5::pbes2::Parameters {
        kdf: pkcs5::pbes2::Pbkdf2Params {
            salt: &salt,
            iteration_count: PBKDF2_ITERATIONS,
            key_length: None,
            prf: pkcs5::pbes2::Pbkdf2Prf::HmacWithSha1,
        }
        .into(),
        encryption: pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv: &iv },
    };
    let encrypted = info
        .encrypt_with_params(params, passphrase.expose_secret().as_bytes())
        .map_err(|e| ClientError::Tuf(crate::Error::Crypto(format!("encrypting a private key: {e}"))))?;
    let block = pem::Pem::new(LABEL, encrypted.as_bytes().to_vec());
    with_headers(&block, headers)
}

/// PEM-encodes `block` with `gun:`/`role:` headers, as Go's `pem.Encode` writes them.
///
/// The pem crate refuses ':' in header values, but GUNs carry one (`host:port/repo`) and Go
/// writes them as they are; so the RFC 1421 header block is spliced in after the BEGIN line.
/// The parser (`pem::parse`) reads such headers fine.
fn with_headers(block: &pem::Pem, headers: &KeyHeaders) -> ClientResult<Zeroizing<String>> {
    let plain = Zeroizing::new(pem::encode_config(block, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF)));
    let mut header_block = String::new();
    for (name, value) in [("gun", headers.gun.as_deref()), ("role", Some(headers.role.as_str()))] {
        let Some(value) = value else { continue };
        if value.is_empty() || value.contains(['\n', '\r']) {
            return Err(ClientError::Invalid(format!("invalid key {name} {value:?}")));
        }
        header_block.push_str(&format!("{name}: {value}\n"));
    }
    let (begin, body) = plain.split_once('\n').ok_or_else(|| bad_file("PEM encoding"))?;
    let text = format!("{begin}\n{header_block}\n{body}");
    Ok(Zeroizing::new(text))
}

/// A public key file as `docker trust key generate` writes it: `PUBLIC KEY` (DER SPKI) with a
/// `role:` header.
pub fn public_key_pem(role: &str, key: &Key) -> ClientResult<String> {
    if key.keytype() != KeyType::Ecdsa {
        return Err(ClientError::Invalid("only bare ECDSA keys are written as public key files".into()));
    }
    let block = pem::Pem::new("PUBLIC KEY", key.public().to_vec());
    let headers = KeyHeaders { role: role.to_owned(), gun: None };
    Ok(with_headers(&block, &headers)?.to_string())
}

/// Reads a signer's public key file: `PUBLIC KEY` (P-256 or RSA SPKI) or `CERTIFICATE`
/// (notary `ParsePEMPublicKey`).
pub fn parse_public_key_pem(text: &str) -> ClientResult<Key> {
    let block = pem::parse(text).map_err(|e| ClientError::Invalid(format!("could not parse public key: {e}")))?;
    let key = match block.tag() {
        "PUBLIC KEY" => Key::new(KeyType::Ecdsa, block.contents().to_vec())
            .or_else(|_| Key::new(KeyType::Rsa, block.contents().to_vec())),
        "CERTIFICATE" => {
            let pem_text = pem::encode_config(&pem::Pem::new("CERTIFICATE", block.contents().to_vec()), pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF));
            Key::new(KeyType::EcdsaX509, pem_text.clone().into_bytes()).or_else(|_| Key::new(KeyType::RsaX509, pem_text.into_bytes()))
        }
        other => return Err(ClientError::Invalid(format!("could not parse public key: unsupported PEM type {other}"))),
    };
    key.map_err(|e| ClientError::Invalid(format!("could not parse public key: {e}")))
}

/// Parses a key file's PEM envelope: its headers and the DER inside.
fn envelope(text: &str) -> ClientResult<(KeyHeaders, pem::Pem)> {
    let block = pem::parse(text).map_err(bad_file)?;
    let role = block.headers().get("role").unwrap_or_default().to_owned();
    let gun = block.headers().get("gun").map(str::to_owned);
    Ok((KeyHeaders { role, gun }, block))
}

/// The headers of a key file, without decrypting it.
pub(crate) fn headers(text: &str) -> ClientResult<KeyHeaders> {
    envelope(text).map(|(h, _)| h)
}

/// Decrypts a key file (or reads an unencrypted `PRIVATE KEY`/`EC PRIVATE KEY`, which
/// `key load` accepts). `key_id` names the key in errors.
pub(crate) fn decrypt(text: &str, passphrase: Option<&SecretString>, key_id: &str) -> ClientResult<PrivateKey> {
    let (_, block) = envelope(text)?;
    match block.tag() {
        LABEL => {
            let pass = passphrase.ok_or_else(|| ClientError::WrongPassphrase { key_id: key_id.to_owned() })?;
            let info = pkcs8::EncryptedPrivateKeyInfo::try_from(block.contents()).map_err(bad_file)?;
            let doc = info
                .decrypt(pass.expose_secret().as_bytes())
                .map_err(|_| ClientError::WrongPassphrase { key_id: key_id.to_owned() })?;
            from_pkcs8(doc.as_bytes()).map_err(|_| ClientError::WrongPassphrase { key_id: key_id.to_owned() })
        }
        "PRIVATE KEY" => from_pkcs8(block.contents()),
        "EC PRIVATE KEY" => {
            p256::SecretKey::from_sec1_der(block.contents()).map(|k| PrivateKey::Ecdsa(k.into())).map_err(bad_file)
        }
        other => Err(bad_file(format!("PEM type {other}"))),
    }
}

/// Whether a PEM text is an encrypted key file.
pub(crate) fn is_encrypted(text: &str) -> bool {
    envelope(text).is_ok_and(|(_, b)| b.tag() == LABEL)
}

/// Reads PKCS#8 as notary writes it: for ECDSA, notary sets version 1 (v2) without the outer
/// public key that v2 requires, which strict parsers refuse; so the structure is read field by
/// field and the SEC1 key inside decoded.
fn from_pkcs8(der: &[u8]) -> ClientResult<PrivateKey> {
    use pkcs8::der::asn1::OctetStringRef;
    use pkcs8::der::{Reader as _, SliceReader};
    let mut reader = SliceReader::new(der).map_err(bad_file)?;
    let (oid, key) = reader
        .sequence(|seq| {
            let _version: u8 = seq.decode()?;
            let alg: pkcs8::AlgorithmIdentifierRef<'_> = seq.decode()?;
            let key: OctetStringRef<'_> = seq.decode()?;
            let rest = seq.remaining_len();
            seq.read_slice(rest)?;
            Ok((alg.oid, key.as_bytes()))
        })
        .map_err(bad_file)?;
    if oid == EC_PUBLIC_KEY {
        return p256::SecretKey::from_sec1_der(key).map(|k| PrivateKey::Ecdsa(k.into())).map_err(bad_file);
    }
    if oid == ED25519 {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        return ed25519_dalek::SigningKey::from_pkcs8_der(der).map(PrivateKey::Ed25519).map_err(bad_file);
    }
    Err(bad_file(format!("unsupported key algorithm {oid}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DOCKER_BOB_ID: &str = "77fb6f863274feb9baa2b67680dcf095aaf1282dd23d770cad8899b3b7d9c38d";

    #[test]
    fn roundtrip_and_wrong_passphrase() {
        let key = PrivateKey::generate_ecdsa();
        let id = key.public().unwrap().id().to_owned();
        let h = KeyHeaders { role: "targets".into(), gun: Some("127.0.0.1:5000/app".into()) };
        let pass = SecretString::from("correct horse".to_owned());
        let text = encrypt(&key, &h, &pass).unwrap();
        assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\ngun: 127.0.0.1:5000/app\nrole: targets\n\n"), "{}", *text);
        assert_eq!(headers(&text).unwrap(), h);
        let back = decrypt(&text, Some(&pass), &id).unwrap();
        assert_eq!(back.public().unwrap().id(), id);
        let wrong = SecretString::from("wrong".to_owned());
        assert!(matches!(decrypt(&text, Some(&wrong), &id), Err(ClientError::WrongPassphrase { .. })));
        // PBKDF2 with the default (SHA-1) PRF, 2048 iterations, 8-byte salt, AES-256-CBC
        let block = pem::parse(text.as_bytes()).unwrap();
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(block.contents()).unwrap();
        let pbes2 = info.encryption_algorithm.pbes2().unwrap();
        let kdf = pbes2.kdf.pbkdf2().unwrap();
        assert_eq!((kdf.iteration_count, kdf.salt.len(), kdf.prf), (2048, 8, pkcs5::pbes2::Pbkdf2Prf::HmacWithSha1));
    }

    /// A key file written by `docker trust key generate` (notary's PKCS#8: version 1 without
    /// the outer public key), passphrase `repo-pass`.
    #[test]
    fn reads_docker_written_key() {
        let text = include_str!("testdata/docker-bob.key");
        assert_eq!(headers(text).unwrap().role, "bob");
        let pass = SecretString::from("repo-pass".to_owned());
        let key = decrypt(text, Some(&pass), "bob").unwrap();
        assert_eq!(key.public().unwrap().id(), DOCKER_BOB_ID);
    }
}
