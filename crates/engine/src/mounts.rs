//! The mounts a create request asks for (`-v`, `--mount`, anonymous volumes) and the
//! anonymous volumes its image's `VOLUME`s add, checked and resolved into the runtime's
//! [`ExtraMount`]s and [`TmpfsMount`]s, with the volumes to fill from the image (copy-up).
//!
//! Refused by default, each with its reason in the error:
//! * a bind whose source is, contains or lies inside a protected path — the daemon's data
//!   root, its runtime state and its API socket: a container that can reach them can drive
//!   the daemon, and so owns the host (`--allow-daemon-binds` lifts this);
//! * a bind of a host path that does not exist (dockerd would create it as root);
//! * mount propagation other than private (a shared mount lets the container's mounts
//!   reach the host);
//! * SELinux relabelling (`:z`, `:Z`), volume drivers and driver options, sub-paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use palisade_engine_api::containers::types::{ContainerCreateRequest, Mount};
use palisade_runtime::{ExtraMount, TmpfsMount};

use crate::error::{Error, Result};
use crate::volumes::{valid_volume_name, CopyUp, Volumes};

/// Host paths no container may bind, and whether the daemon was told to allow it anyway.
#[derive(Clone, Debug, Default)]
pub struct ProtectedPaths {
    paths: Vec<PathBuf>,
    allow: bool,
}

impl ProtectedPaths {
    /// `paths` (the data root, the API socket, …); `allow` turns the check off.
    pub fn new(paths: Vec<PathBuf>, allow: bool) -> Self {
        Self { paths, allow }
    }

    /// Adds a path.
    pub(crate) fn add(&mut self, path: PathBuf) {
        self.paths.push(path);
    }

    /// Refuses `source` (canonical) if it is, holds or lies inside a protected path.
    fn check(&self, source: &Path) -> Result<()> {
        if self.allow {
            return Ok(());
        }
        for protected in &self.paths {
            let protected = canonical_or_self(protected);
            if source.starts_with(&protected) || protected.starts_with(source) {
                return Err(Error::InvalidArgument(format!(
                    "bind source {} would expose the daemon's {} to the container, which could then control the daemon \
                     and the host: refused (start the daemon with --allow-daemon-binds to permit it)",
                    source.display(),
                    protected.display()
                )));
            }
        }
        Ok(())
    }
}

/// `path` with symlinks resolved, as far as it exists (a socket may not exist yet).
fn canonical_or_self(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => canonical_or_self(parent).join(name),
        _ => path.to_owned(),
    }
}

/// A volume a container uses, and whether it was made for it (`-v /path`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct UsedVolume {
    pub(crate) name: String,
    pub(crate) anonymous: bool,
}

/// What [`resolve`] gives the runtime, and the volumes the container holds.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    pub(crate) mounts: Vec<ExtraMount>,
    pub(crate) tmpfs: Vec<TmpfsMount>,
    pub(crate) volumes: Vec<UsedVolume>,
    /// `Mounts` of `docker inspect`.
    pub(crate) views: Vec<serde_json::Value>,
    /// The volumes mounted without `nocopy`, to fill from the image when they are empty.
    pub(crate) copy_up: Vec<CopyUp>,
}

/// One entry of inspect's `Mounts`.
fn view(kind: &str, name: Option<&str>, source: &str, target: &str, read_only: bool) -> serde_json::Value {
    let mut v = serde_json::json!({
        "Type": kind,
        "Source": source,
        "Destination": target,
        "Mode": if read_only { "ro" } else { "" },
        "RW": !read_only,
        "Propagation": if kind == "bind" { "rprivate" } else { "" },
    });
    if let Some(name) = name {
        v["Name"] = name.into();
        v["Driver"] = "local".into();
    }
    v
}

/// One mount request before volumes are looked up.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    Bind { source: PathBuf, target: String, read_only: bool },
    /// `copy`: filled from the image when empty (not `nocopy`).
    Volume { name: Option<String>, target: String, read_only: bool, labels: BTreeMap<String, String>, copy: bool },
    Tmpfs { target: String, options: Vec<String> },
}

impl Wanted {
    fn target(&self) -> &str {
        match self {
            Self::Bind { target, .. } | Self::Volume { target, .. } | Self::Tmpfs { target, .. } => target,
        }
    }
}

/// Checks the request's mounts and makes the volumes it names (creating those that do not
/// exist, as dockerd does), and an anonymous volume for each of `image_volumes` (the image
/// config's `Volumes`) that no mount of the request has as its target. Nothing is created
/// unless every mount is valid.
/// `previous`, for a container restored after a daemon restart, lists the volumes it had:
/// its anonymous volumes are those, in order, not new ones.
pub(crate) fn resolve(
    request: &ContainerCreateRequest,
    image_volumes: &[String],
    volumes: &Volumes,
    protected: &ProtectedPaths,
    previous: Option<&[UsedVolume]>,
) -> Result<Resolved> {
    let mut wanted = Vec::new();
    for bind in &request.host_config.binds {
        wanted.push(parse_bind(bind)?);
    }
    for mount in &request.host_config.mounts {
        wanted.push(parse_mount(mount)?);
    }
    for target in request.config.volumes.keys() {
        wanted.push(anonymous(target.clone()));
    }
    let mut targets = BTreeSet::new();
    for w in &wanted {
        check_target(w.target())?;
        if !targets.insert(w.target().to_owned()) {
            return Err(Error::InvalidArgument(format!("Duplicate mount point: {}", w.target())));
        }
        if let Wanted::Bind { source, .. } = w {
            protected.check(source)?;
        }
    }
    for target in image_volumes {
        // dockerd cleans the image's paths (`VOLUME /data/` is `/data`).
        let target = format!("/{}", target.split('/').filter(|c| !c.is_empty()).collect::<Vec<_>>().join("/"));
        check_target(&target)?;
        if targets.insert(target.clone()) {
            wanted.push(anonymous(target));
        }
    }
    let mut earlier_anonymous = previous.unwrap_or_default().iter().filter(|v| v.anonymous).map(|v| v.name.clone());
    let mut out = Resolved::default();
    for w in wanted {
        match w {
            Wanted::Bind { source, target, read_only } => {
                out.views.push(view("bind", None, &source.display().to_string(), &target, read_only));
                out.mounts.push(ExtraMount::Bind { source, destination: target, read_only });
            }
            Wanted::Volume { name, target, read_only, labels, copy } => {
                let anonymous = name.is_none();
                // Only an anonymous volume takes the next earlier one.
                let earlier = if anonymous { earlier_anonymous.next() } else { None };
                let volume = match (name, earlier) {
                    (None, Some(earlier)) => volumes.read(&earlier)?,
                    (name, _) => volumes.create(name.as_deref(), labels)?,
                };
                let source = volumes.data_path(&volume.name);
                out.views.push(view("volume", Some(&volume.name), &source.display().to_string(), &target, read_only));
                if copy {
                    out.copy_up.push(CopyUp { target: target.clone(), data: source.clone() });
                }
                out.mounts.push(ExtraMount::Bind { source, destination: target, read_only });
                out.volumes.push(UsedVolume { name: volume.name, anonymous });
            }
            Wanted::Tmpfs { target, options } => {
                out.views.push(view("tmpfs", None, "", &target, options.iter().any(|o| o == "ro")));
                out.tmpfs.push(TmpfsMount { destination: target, options });
            }
        }
    }
    Ok(out)
}

/// The image config's `Volumes` (`VOLUME /data`).
pub(crate) fn image_volumes(image: &palisade_runtime::Image) -> Vec<String> {
    image.config.config().as_ref().and_then(|c| c.volumes().clone()).unwrap_or_default()
}

/// An anonymous volume at `target` (`-v /path`, an image's `VOLUME`), filled from the image.
fn anonymous(target: String) -> Wanted {
    Wanted::Volume { name: None, target, read_only: false, labels: BTreeMap::new(), copy: true }
}

fn invalid<T>(message: String) -> Result<T> {
    Err(Error::InvalidArgument(message))
}

/// An absolute, normalised path other than `/`.
fn check_target(target: &str) -> Result<()> {
    let path = Path::new(target);
    let normal = path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !path.is_absolute() || !normal || path.parent().is_none() {
        return invalid(format!("invalid mount config: mount destination {target:?} must be an absolute path other than / without . or .."));
    }
    Ok(())
}

/// An existing host path, canonical (symlinks resolved, so the protection check sees the
/// real place).
fn bind_source(source: &str) -> Result<PathBuf> {
    if !Path::new(source).is_absolute() {
        return invalid(format!("invalid mount config: bind source path {source:?} must be absolute"));
    }
    Path::new(source)
        .canonicalize()
        .map_err(|_| Error::InvalidArgument(format!("invalid mount config for type \"bind\": bind source path does not exist: {source}")))
}

/// `-v SOURCE:TARGET[:OPTIONS]`, SOURCE a host path or a volume name.
fn parse_bind(spec: &str) -> Result<Wanted> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [source, target] => (*source, *target, ""),
        [source, target, options] => (*source, *target, *options),
        _ => return invalid(format!("invalid volume specification: '{spec}'")),
    };
    let (mut read_only, mut copy) = (false, true);
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "nocopy" => copy = false,
            "rw" | "private" | "rprivate" => {}
            "z" | "Z" => return invalid(format!("invalid volume specification: '{spec}': SELinux relabelling (:{option}) is not supported")),
            "shared" | "rshared" | "slave" | "rslave" => {
                return invalid(format!("invalid volume specification: '{spec}': {option} propagation would let the container's mounts reach the host; only private is allowed"))
            }
            _ => return invalid(format!("invalid volume specification: '{spec}': unknown option {option:?}")),
        }
    }
    if source.starts_with('/') {
        Ok(Wanted::Bind { source: bind_source(source)?, target: target.to_owned(), read_only })
    } else if valid_volume_name(source) {
        Ok(Wanted::Volume { name: Some(source.to_owned()), target: target.to_owned(), read_only, labels: BTreeMap::new(), copy })
    } else {
        invalid(format!(
            "invalid volume specification: '{spec}': \"{source}\" includes invalid characters for a local volume name, only \
             \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ))
    }
}

/// Whether every value of `other` is unset (see `palisade_engine_api::types::is_unset`).
fn all_unset(other: &BTreeMap<String, serde_json::Value>) -> Option<&str> {
    other.iter().find(|(_, v)| !palisade_engine_api::types::is_unset(v)).map(|(k, _)| k.as_str())
}

/// `--mount type=bind|volume|tmpfs,…`.
fn parse_mount(mount: &Mount) -> Result<Wanted> {
    let unsupported = |what: &str| invalid(format!("invalid mount config for type {:?}: {what} is not supported by Palisade", mount.r#type));
    if let Some(key) = all_unset(&mount.other) {
        return unsupported(key);
    }
    let target = mount.target.clone();
    let options_other = [
        mount.bind_options.as_ref().map(|o| &o.other),
        mount.volume_options.as_ref().map(|o| &o.other),
        mount.tmpfs_options.as_ref().map(|o| &o.other),
    ];
    if let Some(key) = options_other.into_iter().flatten().find_map(all_unset) {
        return unsupported(key);
    }
    match mount.r#type.as_str() {
        "bind" => {
            if mount.volume_options.is_some() || mount.tmpfs_options.is_some() {
                return invalid("invalid mount config for type \"bind\": only bind options apply".into());
            }
            let propagation = mount.bind_options.as_ref().map_or("", |o| o.propagation.as_str());
            if !matches!(propagation, "" | "private" | "rprivate") {
                return invalid(format!(
                    "invalid mount config for type \"bind\": {propagation} propagation would let the container's mounts reach the host; only private is allowed"
                ));
            }
            Ok(Wanted::Bind { source: bind_source(&mount.source)?, target, read_only: mount.read_only })
        }
        "volume" => {
            if mount.bind_options.is_some() || mount.tmpfs_options.is_some() {
                return invalid("invalid mount config for type \"volume\": only volume options apply".into());
            }
            let name = Some(mount.source.clone()).filter(|s| !s.is_empty());
            if let Some(n) = &name {
                if !valid_volume_name(n) {
                    return invalid(format!("invalid mount config for type \"volume\": invalid volume name {n:?}"));
                }
            }
            let labels = mount.volume_options.as_ref().map(|o| o.labels.clone()).unwrap_or_default();
            let copy = !mount.volume_options.as_ref().is_some_and(|o| o.no_copy);
            Ok(Wanted::Volume { name, target, read_only: mount.read_only, labels, copy })
        }
        "tmpfs" => {
            if !mount.source.is_empty() {
                return invalid("invalid mount config for type \"tmpfs\": source must be empty".into());
            }
            if mount.bind_options.is_some() || mount.volume_options.is_some() {
                return invalid("invalid mount config for type \"tmpfs\": only tmpfs options apply".into());
            }
            let mut options = Vec::new();
            if let Some(t) = &mount.tmpfs_options {
                if t.size_bytes < 0 {
                    return invalid("invalid mount config for type \"tmpfs\": negative size".into());
                }
                if t.size_bytes > 0 {
                    options.push(format!("size={}", t.size_bytes));
                }
                if t.mode != 0 {
                    options.push(format!("mode={:o}", t.mode & 0o7777));
                }
            }
            if mount.read_only {
                options.push("ro".to_owned());
            }
            Ok(Wanted::Tmpfs { target, options })
        }
        other => invalid(format!("invalid mount config: mount type {other:?} is not supported (bind, volume or tmpfs)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(binds: &[&str]) -> ContainerCreateRequest {
        let mut r = ContainerCreateRequest::default();
        r.host_config.binds = binds.iter().map(|b| (*b).to_owned()).collect();
        r
    }

    #[test]
    fn binds_volumes_and_anonymous_volumes_resolve() {
        let tmp = tempfile::tempdir().unwrap();
        let volumes = Volumes::open(&tmp.path().join("root")).unwrap();
        let host = tmp.path().join("host");
        std::fs::create_dir(&host).unwrap();
        let mut r = request(&[&format!("{}:/h:ro", host.display()), "named:/n"]);
        r.config.volumes.insert("/anon".into(), serde_json::json!({}));
        let resolved = resolve(&r, &[], &volumes, &ProtectedPaths::default(), None).unwrap();
        assert_eq!(
            resolved.mounts[0],
            ExtraMount::Bind { source: host.canonicalize().unwrap(), destination: "/h".into(), read_only: true }
        );
        assert_eq!(resolved.volumes[0], UsedVolume { name: "named".into(), anonymous: false });
        assert!(resolved.volumes[1].anonymous);
        assert_eq!(volumes.list().unwrap().len(), 2);
    }

    #[test]
    fn image_volumes_not_mounted_by_the_request_get_anonymous_volumes() {
        let tmp = tempfile::tempdir().unwrap();
        let volumes = Volumes::open(tmp.path()).unwrap();
        let r = request(&["named:/data:nocopy"]);
        let image = ["/data/".to_owned(), "/cache".to_owned(), "/cache".to_owned()];
        let resolved = resolve(&r, &image, &volumes, &ProtectedPaths::default(), None).unwrap();
        assert_eq!(resolved.volumes.len(), 2, "/data is the request's, /cache once: {:?}", resolved.volumes);
        assert_eq!(resolved.volumes[0], UsedVolume { name: "named".into(), anonymous: false });
        assert!(resolved.volumes[1].anonymous);
        let cache = volumes.data_path(&resolved.volumes[1].name);
        assert_eq!(resolved.copy_up, [CopyUp { target: "/cache".into(), data: cache }], "nocopy leaves /data out");
        assert_eq!(resolved.views[1]["Destination"], "/cache");

        // Restored: the same anonymous volume, not a new one.
        let again = resolve(&r, &image, &volumes, &ProtectedPaths::default(), Some(&resolved.volumes)).unwrap();
        assert_eq!(again.volumes, resolved.volumes);
        assert_eq!(volumes.list().unwrap().len(), 2);
        assert!(resolve(&request(&[]), &["/".to_owned()], &volumes, &ProtectedPaths::default(), None).is_err());
    }

    #[test]
    fn protected_paths_their_parents_and_children_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        std::fs::create_dir_all(root.join("inside")).unwrap();
        let volumes = Volumes::open(&tmp.path().join("vols")).unwrap();
        let protected = ProtectedPaths::new(vec![root.clone(), tmp.path().join("api.sock")], false);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&root, &link).unwrap();
        for source in [root.clone(), root.join("inside"), tmp.path().to_owned(), link, PathBuf::from("/")] {
            let err = resolve(&request(&[&format!("{}:/x", source.display())]), &[], &volumes, &protected, None).unwrap_err();
            assert!(err.to_string().contains("--allow-daemon-binds"), "{source:?}: {err}");
        }
        let allowed = ProtectedPaths::new(vec![root.clone()], true);
        assert!(resolve(&request(&[&format!("{}:/x", root.display())]), &[], &volumes, &allowed, None).is_ok());
    }

    #[test]
    fn bad_specs_are_refused_and_create_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let volumes = Volumes::open(tmp.path()).unwrap();
        let none = ProtectedPaths::default();
        for spec in ["v1:/a:rshared", "v1:/a:Z", "v1:relative", "v1:/", "v1:/a/../b", "/does/not/exist:/a", "bad name:/a", "a:b:c:d"] {
            assert!(resolve(&request(&["ok-volume:/ok", spec]), &[], &volumes, &none, None).is_err(), "{spec}");
        }
        assert!(resolve(&request(&["v1:/a", "v2:/a"]), &[], &volumes, &none, None).unwrap_err().to_string().contains("Duplicate"));
        assert!(volumes.list().unwrap().is_empty(), "nothing is created unless every mount is valid");
    }
}
