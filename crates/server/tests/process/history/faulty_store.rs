//! An object store under SlateDB that fails or stalls a given share of its
//! requests, by kind (writes, reads, listings), switchable at run time.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use futures::{stream::BoxStream, StreamExt};
use object_store::{
    path::Path, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// Shares in thousandths of requests; 0 everywhere means no faults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub write_fail: u32,
    pub read_fail: u32,
    pub list_fail: u32,
    /// Of every kind of request, this share waits `stall` first.
    pub stall: u32,
    pub stall_for: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Write,
    Read,
    List,
}

#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    write_fail: AtomicU32,
    read_fail: AtomicU32,
    list_fail: AtomicU32,
    stall: AtomicU32,
    stall_ms: AtomicU64,
    /// Drives which requests fail: a counter through a mixing function.
    draws: AtomicU64,
    failed: AtomicU64,
    requests: AtomicU64,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            write_fail: AtomicU32::new(0),
            read_fail: AtomicU32::new(0),
            list_fail: AtomicU32::new(0),
            stall: AtomicU32::new(0),
            stall_ms: AtomicU64::new(0),
            draws: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    pub fn set(&self, faults: Faults) {
        self.write_fail.store(faults.write_fail, Ordering::SeqCst);
        self.read_fail.store(faults.read_fail, Ordering::SeqCst);
        self.list_fail.store(faults.list_fail, Ordering::SeqCst);
        self.stall.store(faults.stall, Ordering::SeqCst);
        self.stall_ms.store(faults.stall_for.as_millis() as u64, Ordering::SeqCst);
    }

    /// Requests failed so far, and requests made.
    pub fn failed(&self) -> (u64, u64) {
        (self.failed.load(Ordering::SeqCst), self.requests.load(Ordering::SeqCst))
    }

    /// A number in 0..1000, different for each call.
    fn draw(&self) -> u32 {
        let mut x = self.draws.fetch_add(1, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((x ^ (x >> 31)) % 1000) as u32
    }

    /// Whether this request fails, after stalling it if it is one to stall.
    async fn fault(&self, kind: Kind) -> object_store::Result<()> {
        if self.draw() < self.stall.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(self.stall_ms.load(Ordering::SeqCst))).await;
        }
        self.fail_now(kind)
    }

    fn fail_now(&self, kind: Kind) -> object_store::Result<()> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let share = match kind {
            Kind::Write => &self.write_fail,
            Kind::Read => &self.read_fail,
            Kind::List => &self.list_fail,
        };
        if self.draw() < share.load(Ordering::SeqCst) {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(object_store::Error::Generic {
                store: "faulty",
                source: format!("injected {kind:?} fault").into(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.fault(Kind::Write).await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.fault(Kind::Write).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.fault(Kind::Read).await?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        if let Err(e) = self.fail_now(Kind::Write) {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if let Err(e) = self.fail_now(Kind::List) {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.fault(Kind::List).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.fault(Kind::Write).await?;
        self.inner.copy_opts(from, to, options).await
    }
}
