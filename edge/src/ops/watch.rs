//! Reloads when the config file or a file it names changes (`edge
//! --watch`). Kubernetes updates a mounted ConfigMap or Secret in place (a
//! symlink swap inside the volume) and sends no signal, so a cluster's
//! edge would otherwise run its old config until restarted.
//!
//! Polling a handful of `stat`s every two seconds costs nothing measurable
//! and works on every filesystem and mount kind (inotify misses the
//! swap of a ConfigMap's `..data` link when watching the file itself).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::reload::Reloader;

/// How often the files are looked at.
const EVERY: Duration = Duration::from_secs(2);

/// What identifies a file's content without reading it: a replaced file
/// (new inode) or a rewritten one (new mtime or length) differs.
type Fingerprint = Vec<Option<(u64, u64, SystemTime, u64)>>;

fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    use std::os::unix::fs::MetadataExt;
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.dev(), m.ino(), m.modified().ok()?, m.len()))
        })
        .collect()
}

/// Calls `reload` each time a file of `files()` changes, until `shutdown`
/// flips; `files()` is asked again after each reload (a reload may name
/// other certificate files). A change reloads once, whether or not the new
/// files are valid: the reloader logs and counts an invalid set and the old
/// config keeps serving until the files change again.
pub async fn watch<F, R, Fut>(files: F, mut reload: R, every: Duration, mut shutdown: ShutdownWatch)
where
    F: Fn() -> Vec<PathBuf>,
    R: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut watched = files();
    let mut seen = fingerprint(&watched);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if fingerprint(&watched) == seen {
            continue;
        }
        tracing::info!("configuration files changed; reloading");
        reload().await;
        watched = files();
        seen = fingerprint(&watched);
    }
}

/// `edge --watch` as a Pingora background service.
pub struct WatchReload(pub Arc<Reloader>);

#[async_trait]
impl BackgroundService for WatchReload {
    async fn start(&self, shutdown: ShutdownWatch) {
        let reloader = &self.0;
        // The outcome is logged and counted by the reloader.
        let reload = || async {
            let _ = reloader.reload().await;
        };
        watch(|| reloader.files(), reload, EVERY, shutdown).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A file rewritten in place, and a ConfigMap-style update (a new
    /// directory swapped in under a symlink the file path goes through),
    /// each reload once; quiet rounds reload nothing.
    #[tokio::test]
    async fn a_changed_or_swapped_file_reloads_once() {
        let dir = std::env::temp_dir().join(format!("meridian-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("v1")).unwrap();
        std::fs::create_dir_all(dir.join("v2")).unwrap();
        std::fs::write(dir.join("v1/edge.toml"), "a").unwrap();
        std::fs::write(dir.join("v2/edge.toml"), "b").unwrap();
        std::os::unix::fs::symlink("v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/edge.toml", dir.join("edge.toml")).unwrap();
        std::fs::write(dir.join("cert.pem"), "one").unwrap();

        let reloads = Arc::new(AtomicUsize::new(0));
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let files = {
            let dir = dir.clone();
            move || vec![dir.join("edge.toml"), dir.join("cert.pem")]
        };
        let counter = reloads.clone();
        let reload = move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        };
        let every = Duration::from_millis(20);
        let task = tokio::spawn(watch(files, reload, every, shutdown));
        let settle = || tokio::time::sleep(every * 8);

        settle().await;
        assert_eq!(reloads.load(Ordering::SeqCst), 0, "nothing changed");
        std::fs::write(dir.join("cert.pem"), "two, longer").unwrap();
        settle().await;
        assert_eq!(reloads.load(Ordering::SeqCst), 1, "a rewritten certificate");
        // Kubernetes' update: a new ..data link renamed over the old one.
        std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        settle().await;
        assert_eq!(reloads.load(Ordering::SeqCst), 2, "a swapped ConfigMap");
        settle().await;
        assert_eq!(reloads.load(Ordering::SeqCst), 2, "quiet again");

        stop.send(true).unwrap();
        task.await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
