//! Every backend, run through the kit.
//!
//! SlateDB over S3 runs only when `LITE_TEST_S3_BUCKET` names an existing
//! bucket; the endpoint and credentials come from the usual `AWS_*`
//! variables, e.g. an S3 API served on loopback:
//! `AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=test
//! AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 LITE_TEST_S3_BUCKET=kit`.

use std::sync::Arc;

use async_trait::async_trait;
use lite_domain::storage::Storage;
use object_store::{memory::InMemory, ObjectStore};
use tempfile::TempDir;

use super::{conformance_tests, persistence_tests, Backend, Persistent};
use crate::{
    slate::{default_settings, SlateStorage, StoreKind},
    MemoryStorage,
};

/// Where the SlateDB backends keep their database inside the store.
const PATH_PREFIX: &str = "kit";

mod memory {
    use super::*;

    pub struct Memory(Arc<MemoryStorage>);

    #[async_trait]
    impl Backend for Memory {
        async fn open() -> Self {
            Self(Arc::new(MemoryStorage::new()))
        }

        fn storage(&self) -> Arc<dyn Storage> {
            self.0.clone()
        }
    }

    conformance_tests!(Memory);
}

mod slate_in_memory {
    use super::*;

    /// SlateDB over an in-memory object store that outlives the database,
    /// so that a restart replays what the old instance wrote.
    pub struct SlateInMemory {
        store: Arc<InMemory>,
        storage: Arc<SlateStorage>,
    }

    impl SlateInMemory {
        async fn open_on(store: Arc<InMemory>) -> Self {
            let settings = default_settings(&StoreKind::Memory);
            let object_store: Arc<dyn ObjectStore> = store.clone();
            let storage = SlateStorage::open_on(object_store, PATH_PREFIX, settings).await.expect("open SlateDB");
            Self { store, storage: Arc::new(storage) }
        }
    }

    #[async_trait]
    impl Backend for SlateInMemory {
        async fn open() -> Self {
            Self::open_on(Arc::new(InMemory::new())).await
        }

        fn storage(&self) -> Arc<dyn Storage> {
            self.storage.clone()
        }
    }

    #[async_trait]
    impl Persistent for SlateInMemory {
        async fn restart(self) -> Self {
            self.storage.close().await.expect("close SlateDB");
            Self::open_on(self.store).await
        }

        async fn crash(self) -> Self {
            let Self { store, storage } = self;
            drop(storage);
            Self::open_on(store).await
        }
    }

    conformance_tests!(SlateInMemory);
    persistence_tests!(SlateInMemory);
}

mod slate_local {
    use super::*;

    /// SlateDB over files in a temporary directory.
    pub struct SlateLocal {
        dir: TempDir,
        storage: Arc<SlateStorage>,
    }

    impl SlateLocal {
        async fn open_in(dir: TempDir) -> Self {
            let kind = StoreKind::Local(dir.path().join("root"));
            let settings = default_settings(&kind);
            let storage = SlateStorage::open(kind, PATH_PREFIX, None, settings).await.expect("open SlateDB");
            Self { dir, storage: Arc::new(storage) }
        }
    }

    #[async_trait]
    impl Backend for SlateLocal {
        async fn open() -> Self {
            Self::open_in(tempfile::tempdir().expect("temporary directory")).await
        }

        fn storage(&self) -> Arc<dyn Storage> {
            self.storage.clone()
        }
    }

    #[async_trait]
    impl Persistent for SlateLocal {
        async fn restart(self) -> Self {
            self.storage.close().await.expect("close SlateDB");
            Self::open_in(self.dir).await
        }

        async fn crash(self) -> Self {
            let Self { dir, storage } = self;
            drop(storage);
            Self::open_in(dir).await
        }
    }

    conformance_tests!(SlateLocal);
    persistence_tests!(SlateLocal);
}

mod slate_s3 {
    use std::{
        sync::atomic::{AtomicU32, Ordering},
        time::{SystemTime, UNIX_EPOCH},
    };

    use super::*;

    const BUCKET_VAR: &str = "LITE_TEST_S3_BUCKET";

    fn configured() -> bool {
        std::env::var_os(BUCKET_VAR).is_some()
    }

    /// SlateDB over S3, each instance under its own prefix of the bucket.
    pub struct SlateS3 {
        prefix: String,
        storage: Arc<SlateStorage>,
    }

    impl SlateS3 {
        async fn open_at(prefix: String) -> Self {
            let bucket = std::env::var(BUCKET_VAR).expect("LITE_TEST_S3_BUCKET is set");
            let kind = StoreKind::S3 { bucket };
            let settings = default_settings(&kind);
            let storage = SlateStorage::open(kind, &prefix, None, settings).await.expect("open SlateDB on S3");
            Self { prefix, storage: Arc::new(storage) }
        }
    }

    #[async_trait]
    impl Backend for SlateS3 {
        async fn open() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            Self::open_at(format!("{PATH_PREFIX}/{nanos}-{}", NEXT.fetch_add(1, Ordering::Relaxed))).await
        }

        fn storage(&self) -> Arc<dyn Storage> {
            self.storage.clone()
        }
    }

    #[async_trait]
    impl Persistent for SlateS3 {
        async fn restart(self) -> Self {
            self.storage.close().await.expect("close SlateDB");
            Self::open_at(self.prefix).await
        }

        async fn crash(self) -> Self {
            let Self { prefix, storage } = self;
            drop(storage);
            Self::open_at(prefix).await
        }
    }

    conformance_tests!(SlateS3 if configured());
    persistence_tests!(SlateS3 if configured());
}
