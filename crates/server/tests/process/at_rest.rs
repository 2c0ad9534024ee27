//! Encryption at rest: after records with a distinctive plaintext were
//! appended to streams with a cipher and the server shut down, no file
//! under `--local-root` contains that plaintext; the same kind of plaintext
//! appended to a stream without a cipher is found there (so the search
//! would see a leak). After a restart the records read back with the key.

use std::path::Path;

use s2_sdk::{
    types::{
        AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, CreateBasinInput, EncryptionAlgorithm,
        EncryptionKey, Header,
    },
    S2,
};

use crate::harness::{read_all, Process};

const KEY: [u8; 32] = [0x5a; 32];

fn marker(tag: &str) -> String {
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("distinctive-{tag}-plaintext-{nonce:x}")
}

async fn basin_with_cipher(s2: &S2, name: &str, cipher: Option<EncryptionAlgorithm>) {
    let mut config = BasinConfig::new().with_create_stream_on_append(true);
    if let Some(cipher) = cipher {
        config = config.with_stream_cipher(cipher);
    }
    s2.create_basin(CreateBasinInput::new(name.parse().unwrap()).with_config(config)).await.unwrap();
}

/// Appends `text` as a body and as a header value.
async fn append_marker(s2: &S2, basin: &str, key: Option<[u8; 32]>, text: &str) {
    let mut stream = s2.basin(basin.parse().unwrap()).stream("s".parse().unwrap());
    if let Some(key) = key {
        stream = stream.with_encryption_key(EncryptionKey::new(key));
    }
    let record = AppendRecord::new(text.to_owned()).unwrap().with_headers([Header::new("h", format!("hdr-{text}"))]);
    let batch = AppendRecordBatch::try_from_iter([record.unwrap()]).unwrap();
    stream.append(AppendInput::new(batch)).await.unwrap();
}

/// Whether any file under `dir` contains `needle`.
fn found_under(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found_under(&path, needle)
        } else {
            std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle)
        }
    })
}

#[tokio::test]
async fn encrypted_records_leave_no_plaintext_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    let process = Process::start(&["--local-root", &root], &[]).await;
    let s2 = process.client();
    let aegis = marker("aegis");
    let aes = marker("aes");
    let clear = marker("clear");
    basin_with_cipher(&s2, "at-rest-aegis", Some(EncryptionAlgorithm::Aegis256)).await;
    basin_with_cipher(&s2, "at-rest-aes", Some(EncryptionAlgorithm::Aes256Gcm)).await;
    basin_with_cipher(&s2, "at-rest-clear", None).await;
    append_marker(&s2, "at-rest-aegis", Some(KEY), &aegis).await;
    append_marker(&s2, "at-rest-aes", Some(KEY), &aes).await;
    append_marker(&s2, "at-rest-clear", None, &clear).await;
    process.stop().await;

    assert!(found_under(dir.path(), clear.as_bytes()), "the unencrypted record is on disk in plaintext");
    for text in [&aegis, &aes] {
        assert!(!found_under(dir.path(), text.as_bytes()), "{text} is on disk in plaintext");
    }

    let process = Process::start(&["--local-root", &root], &[]).await;
    let s2 = process.client();
    for (basin, text) in [("at-rest-aegis", &aegis), ("at-rest-aes", &aes)] {
        let stream =
            s2.basin(basin.parse().unwrap()).stream("s".parse().unwrap()).with_encryption_key(EncryptionKey::new(KEY));
        assert_eq!(read_all(&stream).await, vec![(0, text.as_bytes().to_vec())], "{basin} after a restart");
    }
    process.stop().await;
}
