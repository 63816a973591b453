//! Hardware keys over PKCS#11, against a real SoftHSM2 token: keys made on the token sign
//! metadata that verifies, cannot be read back out, survive reopening, can be removed; a wrong
//! PIN changes nothing; imported keys sign as their software twin; root certificates made on
//! the token satisfy openssl. Each test makes its own token in a temp dir (`SOFTHSM2_CONF`).
//! These tests fail, not skip, when SoftHSM2 is missing (`scripts/test` installs `softhsm2`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use palisade_pki::{Clock as _, FixedClock};
use palisade_trust::pkcs11::{HsmError, HsmKey, KeyInfo, Pkcs11Config, Token};
use palisade_trust::schema::{verify_role, Delegations, RoleKeys, Root, Signed, Targets, ROOT_EXPIRY, TARGETS_EXPIRY};
use palisade_trust::{Error, Gun, Key, KeyType, PrivateKey, TufSigner};
use secrecy::SecretString;
use time::macros::datetime;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "palisade-test";
const PIN: &str = "4711-user";
const SO_PIN: &str = "4711-so";
const GUN: &str = "example.com/app";

/// Serialises the tests of this binary: a PKCS#11 module is process-global state and
/// `SOFTHSM2_CONF` is read from the environment at `C_Initialize` (nextest runs each test in its
/// own process anyway; this keeps `cargo test` honest too).
static SOFTHSM: Mutex<()> = Mutex::new(());

/// A fresh SoftHSM2 token in a temp dir, initialised with `softhsm2-util`.
struct SoftHsm {
    dir: tempfile::TempDir,
    _lock: MutexGuard<'static, ()>,
}

impl SoftHsm {
    fn new() -> Self {
        let lock = SOFTHSM.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(Path::new(MODULE).exists(), "SoftHSM2 module {MODULE} is missing: install the Debian package softhsm2");
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
        )
        .unwrap();
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util (Debian package softhsm2) must be installed");
        assert!(out.status.success(), "softhsm2-util --init-token: {}", String::from_utf8_lossy(&out.stderr));
        Self { dir, _lock: lock }
    }

    fn config(&self, pin: &str) -> Pkcs11Config {
        Pkcs11Config { module: PathBuf::from(MODULE), token_label: TOKEN.into(), pin: SecretString::from(pin) }
    }

    fn open(&self) -> Token {
        Token::open(&self.config(PIN)).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn gun() -> Gun {
    Gun::new(GUN).unwrap()
}

fn role_keys(id: &str) -> RoleKeys {
    RoleKeys { keyids: vec![id.to_owned()], threshold: NonZeroU64::MIN, extra: Default::default() }
}

fn targets_meta() -> Targets {
    Targets {
        type_: "Targets".into(),
        delegations: Delegations::default(),
        expires: time::OffsetDateTime::now_utc() + TARGETS_EXPIRY,
        targets: BTreeMap::new(),
        version: NonZeroU64::MIN,
        extra: Default::default(),
    }
}

/// A root listing `root_cert` for root and `targets` for the other roles.
fn root_meta(root_cert: &Key, targets: &Key) -> Root {
    let mut keys = BTreeMap::new();
    keys.insert(root_cert.id().to_owned(), root_cert.clone());
    keys.insert(targets.id().to_owned(), targets.clone());
    let mut roles = BTreeMap::new();
    roles.insert("root".to_owned(), role_keys(root_cert.id()));
    for role in ["targets", "snapshot", "timestamp"] {
        roles.insert(role.to_owned(), role_keys(targets.id()));
    }
    Root {
        type_: "Root".into(),
        consistent_snapshot: false,
        expires: time::OffsetDateTime::now_utc() + ROOT_EXPIRY,
        keys,
        roles,
        version: NonZeroU64::MIN,
        extra: Default::default(),
    }
}

/// Signs root with the token root key (named by its certificate) and checks it as a client
/// would: `verify_role` against root's own keys.
fn sign_and_verify_root(root_key: &HsmKey, root_cert: &Key, targets_key: &Key) {
    let root = root_meta(root_cert, targets_key);
    let signed = Signed::sign_as(root, &[(root_cert, root_key as &dyn TufSigner)]).unwrap();
    let reparsed = Signed::<Root>::from_bytes("root", signed.bytes()).unwrap();
    let meta = reparsed.signed();
    verify_role("root", &reparsed, &meta.keys, &meta.roles["root"].keyids, 1).unwrap();
}

#[test]
fn key_generated_on_token_signs_root_and_targets_that_verify() {
    let hsm = SoftHsm::new();
    let token = hsm.open();
    let root_key = token.generate("root", None).unwrap();
    let targets_key = token.generate("targets", Some(&gun())).unwrap();
    assert_eq!(root_key.public().keytype(), KeyType::Ecdsa);
    assert_eq!(root_key.signature_method(), "ecdsa");
    let root_cert = root_key.self_signed_root_certificate(&gun(), &palisade_pki::SystemClock).unwrap();
    assert_eq!(root_cert.canonical_id(), root_key.key_id());
    sign_and_verify_root(&root_key, &root_cert, targets_key.public());

    let signed = Signed::sign_as(targets_meta(), &[(targets_key.public(), &targets_key as &dyn TufSigner)]).unwrap();
    assert_eq!(signed.signatures()[0].sig.len(), 64, "raw r||s");
    let reparsed = Signed::<Targets>::from_bytes("targets", signed.bytes()).unwrap();
    let keys = BTreeMap::from([(targets_key.key_id().to_owned(), targets_key.public().clone())]);
    verify_role("targets", &reparsed, &keys, &[targets_key.key_id().to_owned()], 1).unwrap();
    // The root key is not a targets key: its signature does not count for targets.
    let wrong = Signed::sign_as(targets_meta(), &[(root_key.public(), &root_key as &dyn TufSigner)]).unwrap();
    assert!(verify_role("targets", &wrong, &keys, &[targets_key.key_id().to_owned()], 1).is_err());
}

/// Attack: with the user logged in, try to read the private scalar or make the key readable.
fn assert_private_key_unreadable(key_id: &str, generated: bool) {
    let ctx = Pkcs11::new(MODULE).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == TOKEN)
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    session.login(UserType::User, Some(&SecretString::from(PIN))).unwrap();
    let id = hex::decode(key_id).unwrap();
    let found = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(id.clone()), Attribute::Token(true)])
        .unwrap();
    assert_eq!(found.len(), 1, "the private key is on the token");
    let private = found[0];

    let info = session.get_attribute_info(private, &[AttributeType::Value]).unwrap();
    assert!(matches!(info[0], AttributeInfo::Sensitive), "CKA_VALUE must be sensitive, got {info:?}");
    let values = session.get_attributes(private, &[AttributeType::Value]).unwrap();
    assert!(values.is_empty(), "the token returned the private key value");

    let flags = session
        .get_attributes(
            private,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Token,
                AttributeType::NeverExtractable,
            ],
        )
        .unwrap();
    assert!(flags.contains(&Attribute::Sensitive(true)), "{flags:?}");
    assert!(flags.contains(&Attribute::Extractable(false)), "{flags:?}");
    assert!(flags.contains(&Attribute::Token(true)), "{flags:?}");
    if generated {
        assert!(flags.contains(&Attribute::NeverExtractable(true)), "{flags:?}");
    }
    // Neither flag can be turned back (PKCS#11: sensitive and non-extractable are one-way).
    assert!(session.update_attributes(private, &[Attribute::Sensitive(false)]).is_err());
    assert!(session.update_attributes(private, &[Attribute::Extractable(true)]).is_err());
    let values = session.get_attributes(private, &[AttributeType::Value]).unwrap();
    assert!(values.is_empty(), "the private key became readable");
    drop(session);
    ctx.finalize().unwrap();
}

#[test]
fn private_key_cannot_be_read_from_token() {
    let hsm = SoftHsm::new();
    let token = hsm.open();
    let generated = token.generate("root", None).unwrap();
    let software = PrivateKey::generate_ecdsa();
    let imported = token.import(&software, "targets", Some(&gun())).unwrap();
    let ids = (generated.key_id().to_owned(), imported.key_id().to_owned());
    drop((token, generated, imported)); // closes the module so the attacker's context can init it
    assert_private_key_unreadable(&ids.0, true);
    assert_private_key_unreadable(&ids.1, false);
}

#[test]
fn wrong_pin_is_refused_and_creates_nothing() {
    let hsm = SoftHsm::new();
    let err = Token::open(&hsm.config("not-the-pin")).unwrap_err();
    assert!(matches!(err, Error::Hsm(HsmError::BadPin { ref token }) if token == TOKEN), "{err:?}");
    assert!(!err.to_string().contains("not-the-pin"), "{err}");
    let token = hsm.open();
    assert_eq!(token.list().unwrap(), vec![]);
}

#[test]
fn pin_is_checked_while_the_process_is_already_logged_in() {
    let hsm = SoftHsm::new();
    let first = hsm.open();
    let key = first.generate("root", None).unwrap();
    // PKCS#11 itself would answer CKR_USER_ALREADY_LOGGED_IN without looking at this PIN.
    let err = Token::open(&hsm.config("not-the-pin")).unwrap_err();
    assert!(matches!(err, Error::Hsm(HsmError::BadPin { .. })), "{err:?}");
    let second = hsm.open();
    assert_eq!(second.find(key.key_id()).unwrap().key_id(), key.key_id());
    drop(first);
    key.try_sign(b"the first token's key still signs").unwrap();
    assert_eq!(second.list().unwrap().len(), 1);
}

#[test]
fn unknown_token_and_missing_module_are_typed_errors() {
    let hsm = SoftHsm::new();
    let mut config = hsm.config(PIN);
    config.token_label = "no-such-token".into();
    let err = Token::open(&config).unwrap_err();
    assert!(matches!(err, Error::Hsm(HsmError::TokenNotFound { ref label }) if label == "no-such-token"), "{err:?}");

    let mut config = hsm.config(PIN);
    config.module = hsm.path("libmissing.so");
    let err = Token::open(&config).unwrap_err();
    assert!(matches!(err, Error::Hsm(HsmError::ModuleLoad { .. })), "{err:?}");
    assert!(err.to_string().contains("libmissing.so"), "{err}");
}

#[test]
fn key_survives_reopening_the_token() {
    let hsm = SoftHsm::new();
    let (key_id, public) = {
        let token = hsm.open();
        let key = token.generate("targets/releases", Some(&gun())).unwrap();
        (key.key_id().to_owned(), key.public().clone())
    };
    // Everything of the first open is dropped: the module was finalised and is loaded afresh.
    let token = hsm.open();
    assert_eq!(
        token.list().unwrap(),
        vec![KeyInfo { key_id: key_id.clone(), role: "targets/releases".into(), gun: Some(gun()) }]
    );
    let key = token.find(&key_id).unwrap();
    assert_eq!(key.public().id(), public.id());
    assert_eq!((key.role(), key.gun()), ("targets/releases", Some(&gun())));
    let sig = key.try_sign(b"canonical bytes").unwrap();
    public.verify("ecdsa", b"canonical bytes", &sig).unwrap();
}

#[test]
fn removed_key_is_gone() {
    let hsm = SoftHsm::new();
    let token = hsm.open();
    let kept = token.generate("root", None).unwrap();
    let removed = token.generate("targets", Some(&gun())).unwrap();
    token.remove(removed.key_id()).unwrap();
    let ids: Vec<String> = token.list().unwrap().into_iter().map(|k| k.key_id).collect();
    assert_eq!(ids, vec![kept.key_id().to_owned()]);
    let err = token.find(removed.key_id()).unwrap_err();
    assert!(matches!(err, Error::Hsm(HsmError::KeyNotFound { .. })), "{err:?}");
    assert!(matches!(removed.try_sign(b"x").unwrap_err(), Error::Hsm(HsmError::KeyNotFound { .. })));
    assert!(matches!(token.remove(removed.key_id()).unwrap_err(), Error::Hsm(HsmError::KeyNotFound { .. })));
    assert!(matches!(token.find("not-hex").unwrap_err(), Error::Hsm(HsmError::KeyNotFound { .. })));
    kept.try_sign(b"still here").unwrap();
}

#[test]
fn imported_key_signs_for_its_software_twin() {
    let hsm = SoftHsm::new();
    let token = hsm.open();
    let software = PrivateKey::generate_ecdsa();
    let twin = software.public().unwrap();
    let imported = token.import(&software, "root", None).unwrap();
    assert_eq!(imported.key_id(), twin.id());
    let sig = imported.try_sign(b"canonical bytes").unwrap();
    twin.verify("ecdsa", b"canonical bytes", &sig).unwrap();
    assert!(twin.verify("ecdsa", b"other bytes", &sig).is_err());

    // Found again by the same ID; a root certificate made by either signs for the other.
    let found = token.find(twin.id()).unwrap();
    let cert = found.self_signed_root_certificate(&gun(), &palisade_pki::SystemClock).unwrap();
    let root = root_meta(&cert, &twin);
    let signed = Signed::sign_as(root, &[(&cert, &software as &dyn TufSigner)]).unwrap();
    verify_role("root", &signed, &signed.signed().keys, &[cert.id().to_owned()], 1).unwrap();

    let err = token.import(&software, "root", None).unwrap_err();
    assert!(matches!(err, Error::Hsm(HsmError::AlreadyExists { .. })), "{err:?}");
    let err = token.import(&PrivateKey::generate_ed25519(), "root", None).unwrap_err();
    assert!(matches!(err, Error::Hsm(HsmError::UnsupportedKey(_))), "{err:?}");
    assert_eq!(token.list().unwrap().len(), 1);
}

#[test]
fn root_certificate_on_token_satisfies_openssl() {
    let hsm = SoftHsm::new();
    let token = hsm.open();
    let key = token.generate("root", None).unwrap();
    let clock = FixedClock::new(datetime!(2026-03-04 05:06:07 UTC));
    let cert = key.self_signed_root_certificate(&gun(), &clock).unwrap();
    assert_eq!(cert.keytype(), KeyType::EcdsaX509);
    let info = cert.cert().unwrap();
    assert_eq!(info.common_name.as_deref(), Some(GUN));
    assert_eq!((info.not_before, info.not_after), (clock.now(), clock.now() + ROOT_EXPIRY));
    sign_and_verify_root(&key, &cert, key.public());

    let pem = hsm.path("root.crt");
    std::fs::write(&pem, cert.public()).unwrap();
    let text = Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(&pem).output().unwrap();
    assert!(text.status.success(), "{}", String::from_utf8_lossy(&text.stderr));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains(&format!("Subject: CN = {GUN}")), "{text}");
    assert!(text.contains("Signature Algorithm: ecdsa-with-SHA256"), "{text}");
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
    assert!(text.contains("Code Signing"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("Not After : Mar  1 05:06:07 2036 GMT"), "{text}");

    // Self-signed: the certificate verifies as its own trust anchor (its signature was made on
    // the token), at a time inside its validity.
    let verify = Command::new("openssl")
        .args(["verify", "-attime", &clock.now().unix_timestamp().to_string(), "-CAfile"])
        .args([&pem, &pem])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && stdout.contains(": OK"), "{stdout}{}", String::from_utf8_lossy(&verify.stderr));
}
