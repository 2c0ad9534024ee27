//! An object store wrapper for tests: it records every write, and can refuse
//! all writes from a moment on, as the storage of a crashed process sees
//! nothing more from it. A test that "crashes" a SlateDB instance makes the
//! wrapper refuse writes, drops the instance, and opens a new one on the same
//! inner store: the new one sees only what was written before the crash.

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use async_trait::async_trait;
use futures::{stream::BoxStream, StreamExt};
use object_store::{
    path::Path, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

#[derive(Debug)]
pub struct TestStore {
    inner: Arc<dyn ObjectStore>,
    refusing: Arc<AtomicBool>,
    /// Writes refused so far (SlateDB retries a refused write).
    refused: Arc<AtomicUsize>,
    puts: Mutex<Vec<Path>>,
}

impl TestStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            refusing: Arc::new(AtomicBool::new(false)),
            refused: Arc::new(AtomicUsize::new(0)),
            puts: Mutex::new(Vec::new()),
        }
    }

    /// The store under the wrapper, for a new instance after a crash.
    pub fn inner(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    /// From now on every write fails (and writes nothing).
    pub fn refuse_writes(&self, refuse: bool) {
        self.refusing.store(refuse, Ordering::SeqCst);
    }

    /// How many objects were put (whole or multipart) at a path containing
    /// `part`, e.g. `/wal/`.
    pub fn puts_containing(&self, part: &str) -> usize {
        self.puts.lock().expect("puts lock").iter().filter(|p| p.as_ref().contains(part)).count()
    }

    /// How many writes were refused so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    fn check(&self) -> object_store::Result<()> {
        let result = refused(&self.refusing);
        if result.is_err() {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    fn record(&self, location: &Path) {
        self.puts.lock().expect("puts lock").push(location.clone());
    }
}

fn refused(refusing: &AtomicBool) -> object_store::Result<()> {
    if refusing.load(Ordering::SeqCst) {
        return Err(object_store::Error::Generic { store: "test", source: "writes are refused (crashed)".into() });
    }
    Ok(())
}

impl fmt::Display for TestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TestStore({})", self.inner)
    }
}

/// A multipart upload that cannot complete once the store refuses writes.
#[derive(Debug)]
struct Upload {
    inner: Box<dyn MultipartUpload>,
    refusing: Arc<AtomicBool>,
}

#[async_trait]
impl MultipartUpload for Upload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        refused(&self.refusing)?;
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for TestStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check()?;
        self.record(location);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check()?;
        self.record(location);
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(Upload { inner, refusing: self.refusing.clone() }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        if let Err(e) = self.check() {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.check()?;
        self.inner.copy_opts(from, to, options).await
    }
}
