//! `palisade cp CONTAINER:SRC DEST` and `palisade cp SRC CONTAINER:DEST`: `GET` and `PUT
//! /containers/{ref}/archive`, with docker's rules for what the copy is named: into an
//! existing directory under the source's name, else as the destination path itself; `SRC/.`
//! copies a directory's contents. `-` as the host side is a tar on stdin or stdout.
//!
//! Host paths are never followed out of the destination: the archive from the container is
//! checked whole before anything is written ([`unpack`]). Not offered: `-L` (following a
//! symbolic link source), progress output, copies between two containers.

mod unpack;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use palisade_engine_api::archive::{PathStat, PATH_STAT_HEADER};
use palisade_engine_api::client::{read_chunks, Client, ClientError, Method};

use super::collection::url_component;
use super::HostArg;
use unpack::{unpack, Top};

#[derive(clap::Args)]
pub(crate) struct CpArgs {
    #[command(flatten)]
    host: HostArg,
    /// Keep the owners (uid:gid) of what is copied into the container (default: its root).
    #[arg(short, long)]
    archive: bool,
    /// `CONTAINER:PATH`, or a host path (`-`: a tar read from stdin).
    source: String,
    /// `CONTAINER:PATH`, or a host path (`-`: the tar written to stdout).
    destination: String,
}

/// One side of a copy, as docker's `splitCpArg` tells them apart: an absolute path, a path
/// starting with `.`, or one without `:` is on the host.
#[derive(Debug, PartialEq, Eq)]
enum Side<'a> {
    Host(&'a str),
    Container { container: &'a str, path: String },
}

impl<'a> Side<'a> {
    fn parse(arg: &'a str) -> anyhow::Result<Self> {
        anyhow::ensure!(!arg.is_empty(), "an empty path cannot be copied");
        if arg.starts_with('/') {
            return Ok(Self::Host(arg));
        }
        match arg.split_once(':') {
            Some((container, path)) if !container.starts_with('.') => {
                anyhow::ensure!(!container.is_empty(), "{arg:?}: no container before the ':'");
                anyhow::ensure!(!path.is_empty(), "{arg:?}: no path in the container after the ':'");
                // As dockerd: a relative container path is taken from the root.
                let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
                Ok(Self::Container { container, path })
            }
            _ => Ok(Self::Host(arg)),
        }
    }
}

/// What a copy's destination path is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Missing,
    Dir,
    Other,
}

pub(crate) async fn run(args: CpArgs) -> anyhow::Result<ExitCode> {
    let client = args.host.client();
    match (Side::parse(&args.source)?, Side::parse(&args.destination)?) {
        (Side::Container { container, path }, Side::Host(dest)) => copy_out(&client, container, &path, dest).await?,
        (Side::Host(source), Side::Container { container, path }) => copy_in(&client, source, container, &path, args.archive).await?,
        (Side::Container { .. }, Side::Container { .. }) => anyhow::bail!("copying between containers is not supported"),
        (Side::Host(_), Side::Host(_)) => anyhow::bail!("must specify at least one container source (CONTAINER:PATH)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a copy of `source` (a directory or not) to `dest` (found as `found`) goes, by
/// docker's rules (`PrepareArchiveCopy`): the directory to unpack in, and what the source
/// becomes there.
fn placement(source: &str, source_is_dir: bool, dest: &str, found: Found) -> anyhow::Result<(String, Top)> {
    let trimmed = source.trim_end_matches('/');
    let contents_only = source_is_dir && (trimmed == "." || trimmed.ends_with("/."));
    match found {
        Found::Dir if contents_only => Ok((dest.to_owned(), Top::Contents)),
        Found::Dir => Ok((dest.to_owned(), Top::Named(split(source)?.1))),
        Found::Other if source_is_dir => anyhow::bail!("cannot copy a directory to {dest}: it exists and is not a directory"),
        Found::Missing if !source_is_dir && (dest.ends_with('/') || dest.ends_with("/.")) => {
            anyhow::bail!("no such directory: {dest}")
        }
        Found::Other | Found::Missing => {
            let (parent, base) = split(dest)?;
            Ok((parent, Top::Named(base)))
        }
    }
}

/// `path`'s parent directory and last component (trailing `/` and `/.` ignored).
fn split(path: &str) -> anyhow::Result<(String, String)> {
    let trimmed = path.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/.").unwrap_or(trimmed).trim_end_matches('/');
    let p = Path::new(trimmed);
    let base = p.file_name().and_then(|b| b.to_str()).filter(|b| *b != "..").ok_or_else(|| anyhow::anyhow!("{path:?} names no file"))?;
    let parent = match p.parent().map(Path::to_string_lossy) {
        Some(parent) if !parent.is_empty() => parent.into_owned(),
        _ if path.starts_with('/') => "/".to_owned(),
        _ => ".".to_owned(),
    };
    Ok((parent, base.to_owned()))
}

fn archive_path(container: &str, path: &str) -> String {
    format!("/containers/{}/archive?path={}", url_component(container), url_component(path))
}

/// The stat of `path` in the container, `None` if it does not exist.
async fn container_stat(client: &Client, container: &str, path: &str) -> anyhow::Result<Option<PathStat>> {
    let response = match client.open(Method::HEAD, &archive_path(container, path)).await {
        Ok(response) => response,
        Err(ClientError::Api { status: http::StatusCode::NOT_FOUND, .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(stat_of(&response)?))
}

fn stat_of<B>(response: &http::Response<B>) -> anyhow::Result<PathStat> {
    let header = response.headers().get(PATH_STAT_HEADER).ok_or_else(|| anyhow::anyhow!("the daemon sent no {PATH_STAT_HEADER}"))?;
    PathStat::from_header(header.as_bytes()).map_err(anyhow::Error::msg)
}

/// Host → container: a tar of `source` (named as [`placement`] says) extracted by the daemon.
async fn copy_in(client: &Client, source: &str, container: &str, dest: &str, keep_owners: bool) -> anyhow::Result<()> {
    // Followed once if a symbolic link, as docker does.
    let mut dest = dest.to_owned();
    let mut stat = container_stat(client, container, &dest).await?;
    if let Some(link) = stat.as_ref().filter(|s| s.is_symlink()) {
        dest = link.link_target.clone();
        stat = container_stat(client, container, &dest).await?;
    }
    let found = match &stat {
        None => Found::Missing,
        Some(s) if s.is_dir() => Found::Dir,
        Some(_) => Found::Other,
    };
    let (dir, archive) = if source == "-" {
        anyhow::ensure!(found == Found::Dir, "destination {container}:{dest} must be a directory to extract a tar into");
        let mut archive = Vec::new();
        std::io::stdin().lock().read_to_end(&mut archive).context("reading the tar from stdin")?;
        (dest, archive)
    } else {
        let metadata = std::fs::symlink_metadata(source).with_context(|| format!("cannot copy {source}"))?;
        let (dir, top) = placement(source, metadata.is_dir(), &dest, found)?;
        (dir, tar_of(Path::new(source), metadata.is_dir(), &top).with_context(|| format!("archiving {source}"))?)
    };
    let owners = if keep_owners { "&copyUIDGID=1" } else { "" };
    let path = format!("{}&noOverwriteDirNonDir=1{owners}", archive_path(container, &dir));
    client.put_raw(&path, "application/x-tar", archive).await?;
    Ok(())
}

/// A tar of `source` as `top` names it; symbolic links are archived as links, never followed.
fn tar_of(source: &Path, is_dir: bool, top: &Top) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    match top {
        Top::Contents => tar.append_dir_all("", source)?,
        Top::Named(name) if is_dir => tar.append_dir_all(name, source)?,
        Top::Named(name) => tar.append_path_with_name(source, name)?,
    }
    tar.into_inner()
}

/// Container → host: the daemon's tar of `source`, unpacked as [`placement`] says.
async fn copy_out(client: &Client, container: &str, source: &str, dest: &str) -> anyhow::Result<()> {
    let response = client.open(Method::GET, &archive_path(container, source)).await?;
    let stat = stat_of(&response)?;
    let mut archive = Vec::new();
    read_chunks(response, |chunk| archive.extend_from_slice(&chunk)).await?;
    if dest == "-" {
        let mut out = std::io::stdout().lock();
        return Ok(out.write_all(&archive).and_then(|()| out.flush())?);
    }
    // A destination that is a symbolic link is followed, as docker does.
    let followed = std::fs::canonicalize(dest).ok().filter(|_| std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_symlink()));
    let dest = followed.as_deref().map_or(dest.to_owned(), |p| p.to_string_lossy().into_owned());
    let found = match std::fs::metadata(&dest) {
        Ok(m) if m.is_dir() => Found::Dir,
        Ok(_) => Found::Other,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Missing,
        Err(e) => return Err(e).with_context(|| format!("destination {dest}")),
    };
    let (dir, top) = placement(source, stat.is_dir(), &dest, found)?;
    unpack(&archive, Path::new(&dir), &top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_told_apart_as_docker_does() {
        assert_eq!(Side::parse("box:/etc/hosts").unwrap(), Side::Container { container: "box", path: "/etc/hosts".into() });
        assert_eq!(Side::parse("box:etc").unwrap(), Side::Container { container: "box", path: "/etc".into() });
        assert_eq!(Side::parse("/tmp/a:b").unwrap(), Side::Host("/tmp/a:b"));
        assert_eq!(Side::parse("./a:b").unwrap(), Side::Host("./a:b"));
        assert_eq!(Side::parse("out").unwrap(), Side::Host("out"));
        assert!(Side::parse("box:").is_err());
        assert!(Side::parse(":/x").is_err());
        assert!(Side::parse("").is_err());
    }

    #[test]
    fn copies_are_placed_by_dockers_rules() {
        let named = |dir: &str, name: &str| (dir.to_owned(), Top::Named(name.to_owned()));
        // Into an existing directory, under the source's name.
        assert_eq!(placement("/etc/hosts", false, "/tmp", Found::Dir).unwrap(), named("/tmp", "hosts"));
        assert_eq!(placement("/srv/site/", true, "out", Found::Dir).unwrap(), named("out", "site"));
        assert_eq!(placement("/etc/hosts", false, ".", Found::Dir).unwrap(), named(".", "hosts"));
        assert_eq!(placement("notes.txt", false, "/", Found::Dir).unwrap(), named("/", "notes.txt"));
        // A directory's contents.
        assert_eq!(placement("/srv/site/.", true, "out", Found::Dir).unwrap(), ("out".to_owned(), Top::Contents));
        assert_eq!(placement("./", true, "/srv", Found::Dir).unwrap(), ("/srv".to_owned(), Top::Contents));
        assert_eq!(placement("/srv/site/.", true, "/new", Found::Missing).unwrap(), named("/", "new"));
        // As the destination itself.
        assert_eq!(placement("/etc/hosts", false, "copy.txt", Found::Missing).unwrap(), named(".", "copy.txt"));
        assert_eq!(placement("/etc/hosts", false, "/tmp/old.txt", Found::Other).unwrap(), named("/tmp", "old.txt"));
        assert_eq!(placement("/srv/site", true, "/tmp/new/", Found::Missing).unwrap(), named("/tmp", "new"));
        // Refused.
        assert!(placement("/srv/site", true, "/tmp/file", Found::Other).unwrap_err().to_string().contains("cannot copy a directory"));
        assert!(placement("/etc/hosts", false, "/tmp/nodir/", Found::Missing).unwrap_err().to_string().contains("no such directory"));
        assert!(split("..").is_err());
    }
}
