//! The file ports: `Files` keeps and removes finished exports (the export job), `Downloads` says
//! where one is fetched (the API). On AWS an S3 bucket, fetched through presigned URLs; locally a
//! folder of the data directory, served by the API itself. Two ports, so the API links no S3
//! client: it only signs links.

pub mod presigned;
pub mod s3;

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::error::{Error, Result};

/// Where a stored file is fetched from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Download {
    /// A URL that works without credentials until it expires (S3's presigned GET).
    Url(String),
    /// A file on this machine, for the API to send.
    Local(PathBuf),
}

/// The kept files, as the export job writes and removes them.
#[async_trait]
pub trait Files: Send + Sync {
    /// Keeps the file at `path` as `name` (`{tenant}/{id}.csv`).
    async fn put(&self, name: &str, path: &Path, content_type: &str) -> Result<()>;
    /// Removes every file named `{folder}/…` and returns how many there were.
    async fn remove_folder(&self, folder: &str) -> Result<usize>;
}

/// The kept files, as the API hands them out.
#[async_trait]
pub trait Downloads: Send + Sync {
    /// How to fetch `name` for the next `seconds`.
    async fn download(&self, name: &str, seconds: u64) -> Result<Download>;
}

/// The folder of kept files beside the embedded store.
pub const FOLDER: &str = "exports";

/// Files in a folder (the local stack's data directory).
pub struct LocalFiles {
    dir: PathBuf,
}

impl LocalFiles {
    pub fn new(dir: PathBuf) -> LocalFiles {
        LocalFiles { dir }
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        // Names are made here from ids; anything else names no file.
        if name
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
            || name.contains('\\')
        {
            return Err(Error::NotFound("export"));
        }
        Ok(self.dir.join(name))
    }
}

impl LocalFiles {
    /// Removes files kept longer than a week (S3's lifecycle rule does this on AWS).
    fn remove_expired(&self) {
        let Ok(tenants) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for file in tenants
            .flatten()
            .filter_map(|t| std::fs::read_dir(t.path()).ok())
            .flatten()
            .flatten()
        {
            let expired = file
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|at| at.elapsed().is_ok_and(|age| age.as_secs() > KEPT_SECONDS));
            if expired {
                let _ = std::fs::remove_file(file.path());
            }
        }
    }
}

/// How long a kept file stays (the job's item says the same).
const KEPT_SECONDS: u64 = 7 * 86_400;

#[async_trait]
impl Files for LocalFiles {
    async fn put(&self, name: &str, path: &Path, _content_type: &str) -> Result<()> {
        self.remove_expired();
        let target = self.path(name)?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(Error::internal)?;
        }
        // A copy, then a rename: a reader never sees half a file.
        let partial = target.with_extension("partial");
        std::fs::copy(path, &partial).map_err(Error::internal)?;
        std::fs::rename(&partial, &target).map_err(Error::internal)
    }

    async fn remove_folder(&self, folder: &str) -> Result<usize> {
        let dir = self.path(folder)?;
        let count = match std::fs::read_dir(&dir) {
            Ok(files) => files.count(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::internal(e)),
        };
        std::fs::remove_dir_all(&dir).map_err(Error::internal)?;
        Ok(count)
    }
}

#[async_trait]
impl Downloads for LocalFiles {
    async fn download(&self, name: &str, _seconds: u64) -> Result<Download> {
        let path = self.path(name)?;
        if !path.is_file() {
            return Err(Error::NotFound("export"));
        }
        Ok(Download::Local(path))
    }
}
