//! A real OpenLDAP server for the tests: `slapd` with an mdb database under a temp dir,
//! listening on `ldap://` (StartTLS enabled) and `ldaps://` on free loopback ports, with a test
//! CA and a server certificate for `127.0.0.1` and `localhost`. Killed when dropped.
//!
//! Needs the Debian packages `slapd` (slapd, slapadd, slappasswd) and `ldap-utils`
//! (ldapsearch, used to wait until the server answers). Without them the tests FAIL with a
//! message saying what to install; they never skip.
//!
//! The directory (`dc=palisade,dc=test`):
//! ```text
//! cn=reader                 service account, password READER_PASSWORD, reads everything
//! ou=people
//!   uid=alice               inetOrgPerson, ALICE_PASSWORD, alice@palisade.test, sn Tester
//!   uid=bob                 inetOrgPerson, BOB_PASSWORD, bob@palisade.test, sn Tester
//! ou=groups
//!   cn=devs                 groupOfNames, member uid=alice
//!   cn=ops                  posixGroup, memberUid bob
//! ```
//! Passwords are stored hashed ({SSHA}, by slappasswd); `userPassword` is readable by nobody
//! and usable for binds only.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use palisade_ldap::DirectoryConfig;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

pub(crate) const SUFFIX: &str = "dc=palisade,dc=test";
pub(crate) const READER_DN: &str = "cn=reader,dc=palisade,dc=test";
pub(crate) const READER_PASSWORD: &str = "reader-secret-7f3a";
pub(crate) const ALICE_PASSWORD: &str = "alice-secret-91c2";
pub(crate) const BOB_PASSWORD: &str = "bob-secret-44e0";
/// The directory manager (`cn=admin`), for tests that change the directory while it runs.
pub(crate) const ADMIN_DN: &str = "cn=admin,dc=palisade,dc=test";
const ADMIN_PASSWORD: &str = "admin-secret-0b5d";

/// How long slapd may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running slapd, killed on drop.
pub(crate) struct Slapd {
    child: Child,
    dir: TempDir,
    /// `ldap://127.0.0.1:PORT` (StartTLS available).
    pub(crate) ldap_port: u16,
    /// `ldaps://127.0.0.1:PORT`.
    pub(crate) ldaps_port: u16,
}

impl Slapd {
    /// Starts a fresh server with the data above.
    pub(crate) fn start() -> Self {
        let tools = Tools::find();
        let dir = tempfile::Builder::new()
            .prefix("palisade-slapd-")
            .tempdir()
            .unwrap();
        write_certificates(dir.path());
        let conf = write_config(dir.path(), &tools);
        write_data(dir.path(), &tools, &conf);
        // Free ports are found by binding port 0 and releasing it; another process may take
        // one in between, so a start that fails is retried on new ports.
        let mut last_log = String::new();
        for _ in 0..3 {
            let (ldap_port, ldaps_port) = (free_port(), free_port());
            let log = dir.path().join("slapd.log");
            let mut child = Command::new(&tools.slapd)
                .arg("-h")
                .arg(format!(
                    "ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/"
                ))
                .arg("-f")
                .arg(&conf)
                // Any debug level keeps slapd in the foreground; 0 logs only what is fatal.
                .arg("-d")
                .arg("0")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", tools.slapd.display()));
            if wait_until_ready(&tools, &mut child, ldap_port) {
                return Self {
                    child,
                    dir,
                    ldap_port,
                    ldaps_port,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("slapd did not start; its log:\n{last_log}");
    }

    /// `ldap://127.0.0.1:PORT`.
    pub(crate) fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    /// `ldaps://127.0.0.1:PORT`.
    pub(crate) fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// The CA that signed the server's certificate.
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA that did not sign it.
    pub(crate) fn other_ca_file(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }

    /// A configuration for this server: the service account, the bases, a 3 s timeout and
    /// `url`, then `extra` TOML lines.
    pub(crate) fn config(&self, url: &str, extra: &str) -> DirectoryConfig {
        self.config_with_password(url, READER_PASSWORD, extra)
    }

    /// [`Slapd::config`] with another service password.
    pub(crate) fn config_with_password(
        &self,
        url: &str,
        bind_password: &str,
        extra: &str,
    ) -> DirectoryConfig {
        parse(&format!(
            "{}group_base = \"ou=groups,{SUFFIX}\"\ntimeout_seconds = 3\n{extra}\n",
            minimal_toml(url, bind_password)
        ))
    }
}

/// The keys every configuration needs: `url`, the service account, `user_base`.
pub(crate) fn minimal_toml(url: &str, bind_password: &str) -> String {
    format!(
        "url = {url:?}\n\
         bind_dn = {READER_DN:?}\n\
         bind_password = {bind_password:?}\n\
         user_base = \"ou=people,{SUFFIX}\"\n"
    )
}

/// Parses an `[auth.ldap]` table.
pub(crate) fn parse(text: &str) -> DirectoryConfig {
    toml::from_str(text).unwrap_or_else(|e| panic!("config {text}: {e}"))
}

impl Slapd {
    /// Applies `ldif` (changetype records) as the directory manager, with `ldapmodify`.
    pub(crate) fn modify(&self, ldif: &str) {
        use std::io::Write as _;
        let mut child = Command::new(Tools::find().ldapmodify)
            .args(["-x", "-H", &self.ldap_url(), "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(ldif.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Takes `uid=USER` out of the groupOfNames `cn=GROUP` (which must keep a member: the
    /// service account stands in, as directories commonly do).
    pub(crate) fn remove_from_group(&self, group: &str, user: &str) {
        self.modify(&format!(
            "dn: cn={group},ou=groups,{SUFFIX}\nchangetype: modify\nadd: member\nmember: {READER_DN}\n-\n\
             delete: member\nmember: uid={user},ou=people,{SUFFIX}\n-\n"
        ));
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The OpenLDAP programs the fixture runs.
struct Tools {
    slapd: PathBuf,
    slapadd: PathBuf,
    slappasswd: PathBuf,
    ldapsearch: PathBuf,
    ldapmodify: PathBuf,
}

impl Tools {
    fn find() -> Self {
        let find = |name: &str, package: &str| -> PathBuf {
            let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default();
            dirs.extend(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from));
            dirs.into_iter()
                .map(|d| d.join(name))
                .find(|p| p.is_file())
                .unwrap_or_else(|| {
                    panic!(
                        "`{name}` not found: the LDAP tests need a real OpenLDAP server; \
                         install the Debian packages: \
                         DEBIAN_FRONTEND=noninteractive apt-get install -y \
                         --no-install-recommends slapd ldap-utils \
                         (`{name}` is in `{package}`)"
                    )
                })
        };
        Self {
            slapd: find("slapd", "slapd"),
            slapadd: find("slapadd", "slapd"),
            slappasswd: find("slappasswd", "slapd"),
            ldapsearch: find("ldapsearch", "ldap-utils"),
            ldapmodify: find("ldapmodify", "ldap-utils"),
        }
    }
}

/// ca.pem, server.pem, server-key.pem, and other-ca.pem (a CA that signed nothing here).
fn write_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params("Palisade LDAP test CA")
        .self_signed(&ca_key)
        .unwrap();
    let mut server =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server = server.signed_by(&server_key, &ca, &ca_key).unwrap();
    let other_key = KeyPair::generate().unwrap();
    let other = ca_params("Some other CA").self_signed(&other_key).unwrap();

    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("other-ca.pem"), other.pem()).unwrap();
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// slapd.conf: schemas, TLS, one mdb database, access rules. Returns its path.
fn write_config(dir: &Path, tools: &Tools) -> PathBuf {
    let out = Command::new(&tools.slappasswd).args(["-s", ADMIN_PASSWORD]).output().unwrap();
    assert!(out.status.success(), "slappasswd: {out:?}");
    let rootpw = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let db = dir.join("db");
    std::fs::create_dir(&db).unwrap();
    let d = dir.display();
    let conf = format!(
        "include /etc/ldap/schema/core.schema\n\
         include /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\n\
         include /etc/ldap/schema/nis.schema\n\
         pidfile {d}/slapd.pid\n\
         argsfile {d}/slapd.args\n\
         modulepath /usr/lib/ldap\n\
         moduleload back_mdb\n\
         TLSCACertificateFile {d}/ca.pem\n\
         TLSCertificateFile {d}/server.pem\n\
         TLSCertificateKeyFile {d}/server-key.pem\n\
         database mdb\n\
         maxsize 16777216\n\
         suffix \"{SUFFIX}\"\n\
         rootdn \"{ADMIN_DN}\"\n\
         rootpw {rootpw}\n\
         directory {db}\n\
         access to attrs=userPassword by anonymous auth by * none\n\
         access to * by dn.exact=\"{READER_DN}\" read by self read by * none\n",
        db = db.display(),
    );
    let path = dir.join("slapd.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

/// Loads the entries with slapadd (offline, before slapd starts).
fn write_data(dir: &Path, tools: &Tools, conf: &Path) {
    let hash = |password: &str| -> String {
        let out = Command::new(&tools.slappasswd)
            .args(["-s", password])
            .output()
            .unwrap();
        assert!(out.status.success(), "slappasswd: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (reader, alice, bob) = (
        hash(READER_PASSWORD),
        hash(ALICE_PASSWORD),
        hash(BOB_PASSWORD),
    );
    let ldif = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: palisade\no: Palisade\n\n\
         dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: reader\nuserPassword: {reader}\n\n\
         dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: uid=alice,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice\n\
         sn: Tester\nmail: alice@palisade.test\nuserPassword: {alice}\n\n\
         dn: uid=bob,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob\n\
         sn: Tester\nmail: bob@palisade.test\nuserPassword: {bob}\n\n\
         dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: cn=devs,ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: devs\n\
         member: uid=alice,ou=people,{SUFFIX}\n\n\
         dn: cn=ops,ou=groups,{SUFFIX}\nobjectClass: posixGroup\ncn: ops\ngidNumber: 1001\n\
         memberUid: bob\n"
    );
    let path = dir.join("data.ldif");
    std::fs::write(&path, ldif).unwrap();
    let out = Command::new(&tools.slapadd)
        .arg("-f")
        .arg(conf)
        .arg("-l")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "slapadd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls with ldapsearch until slapd answers; false if it exited or never answered.
fn wait_until_ready(tools: &Tools, child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let out = Command::new(&tools.ldapsearch)
                .args(["-x", "-LLL", "-o", "nettimeout=2", "-s", "base", "-b", ""])
                .arg("-H")
                .arg(format!("ldap://127.0.0.1:{port}"))
                .arg("namingContexts")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            if out.status.success() {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
