use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::config::StreamConfig;

fn key_text(bytes: &[u8; KEY_BYTES]) -> KeyText {
    KeyText::new(&STANDARD.encode(bytes))
}

fn crypt(cipher: Cipher, key: &[u8; KEY_BYTES], basin: &str, stream: &str, id: u64) -> RecordCrypt {
    RecordCrypt::new(
        cipher,
        &key_text(key),
        &BasinName::new(basin).unwrap(),
        &StreamName::new(stream).unwrap(),
        StreamId(id),
    )
    .unwrap()
}

fn stream_meta(cipher: Option<Cipher>) -> StreamMeta {
    StreamMeta {
        basin: BasinName::new("my-basin").unwrap(),
        name: StreamName::new("s").unwrap(),
        id: StreamId(1),
        config: StreamConfig::default(),
        cipher,
        created_at_secs: 0,
        deleted_at_secs: None,
        creation: None,
    }
}

fn arb_cipher() -> impl Strategy<Value = Cipher> {
    prop_oneof![Just(Cipher::Aegis256), Just(Cipher::Aes256Gcm)]
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

/// An envelope record: named headers only (never a command record).
fn arb_envelope() -> impl Strategy<Value = SequencedRecord> {
    let name = proptest::collection::vec(any::<u8>(), 1..8).prop_map(Bytes::from);
    (0u64..=u64::from(u32::MAX), any::<u64>(), proptest::collection::vec((name, arb_bytes(16)), 0..4), arb_bytes(64))
        .prop_map(|(seq_num, timestamp, headers, body)| SequencedRecord {
            seq_num,
            timestamp,
            headers: headers.into_iter().map(|(name, value)| Header { name, value }).collect(),
            body,
            sealed: None,
        })
}

fn command(op: &'static [u8], body: &'static [u8]) -> SequencedRecord {
    SequencedRecord {
        seq_num: 3,
        timestamp: 4,
        headers: vec![Header { name: Bytes::new(), value: Bytes::from_static(op) }],
        body: Bytes::from_static(body),
        sealed: None,
    }
}

proptest! {
    #[test]
    fn sealed_records_open_to_the_same_record(
        cipher in arb_cipher(), key in any::<[u8; 32]>(), record in arb_envelope()
    ) {
        let crypt = crypt(cipher, &key, "my-basin", "a/stream", 7);
        let sealed = crypt.seal(record.clone()).unwrap();
        prop_assert!(sealed.headers.is_empty());
        prop_assert_eq!(sealed.sealed, Some(Sealed { metered_bytes: record.metered_bytes() }));
        prop_assert_eq!(sealed.metered_bytes(), record.metered_bytes());
        prop_assert_eq!(sealed.body.len(), cipher.nonce_bytes() + encode_plaintext(&record.headers, &record.body).len() + TAG_BYTES);
        prop_assert_eq!(crypt.open(sealed).unwrap(), record);
    }

    #[test]
    fn each_seal_draws_a_fresh_nonce(cipher in arb_cipher(), key in any::<[u8; 32]>(), record in arb_envelope()) {
        let crypt = crypt(cipher, &key, "my-basin", "s", 1);
        let a = crypt.seal(record.clone()).unwrap();
        let b = crypt.seal(record).unwrap();
        prop_assert_ne!(&a.body[..cipher.nonce_bytes()], &b.body[..cipher.nonce_bytes()]);
    }

    #[test]
    fn tampering_with_any_byte_fails_to_open(
        cipher in arb_cipher(), key in any::<[u8; 32]>(), record in arb_envelope(),
        index in any::<prop::sample::Index>(), flip in 1u8..=255,
    ) {
        let crypt = crypt(cipher, &key, "my-basin", "s", 1);
        let sealed = crypt.seal(record).unwrap();
        let mut body = sealed.body.to_vec();
        let i = index.index(body.len());
        body[i] ^= flip;
        let tampered = SequencedRecord { body: body.into(), ..sealed };
        prop_assert_eq!(crypt.open(tampered), Err(EncryptionError::DecryptionFailed));
    }

    #[test]
    fn truncated_or_extended_ciphertexts_fail_to_open(
        cipher in arb_cipher(), key in any::<[u8; 32]>(), record in arb_envelope(), cut in 1usize..80, extra in arb_bytes(8),
    ) {
        let crypt = crypt(cipher, &key, "my-basin", "s", 1);
        let sealed = crypt.seal(record).unwrap();
        let short = sealed.body.slice(..sealed.body.len().saturating_sub(cut));
        prop_assert_eq!(
            crypt.open(SequencedRecord { body: short, ..sealed.clone() }),
            Err(EncryptionError::DecryptionFailed)
        );
        if !extra.is_empty() {
            let long = [&sealed.body[..], &extra[..]].concat();
            prop_assert_eq!(
                crypt.open(SequencedRecord { body: long.into(), ..sealed }),
                Err(EncryptionError::DecryptionFailed)
            );
        }
    }

    #[test]
    fn a_record_moved_elsewhere_fails_to_open(
        cipher in arb_cipher(), key in any::<[u8; 32]>(), record in arb_envelope(), shift in 1u64..1000, target in 0usize..6,
    ) {
        let home = crypt(cipher, &key, "my-basin", "s", 1);
        let sealed = home.seal(record).unwrap();
        let (elsewhere, moved) = match target {
            0 => (crypt(cipher, &key, "my-basin", "t", 1), sealed.clone()),
            1 => (crypt(cipher, &key, "other-basin", "s", 1), sealed.clone()),
            // The same name, re-created: a new storage id.
            2 => (crypt(cipher, &key, "my-basin", "s", 1 + shift), sealed.clone()),
            3 => (home, SequencedRecord { seq_num: sealed.seq_num.wrapping_add(shift), ..sealed.clone() }),
            4 => (home, SequencedRecord { timestamp: sealed.timestamp.wrapping_add(shift), ..sealed.clone() }),
            _ => (home, SequencedRecord { sealed: Some(Sealed { metered_bytes: sealed.metered_bytes() + shift }), ..sealed.clone() }),
        };
        prop_assert_eq!(elsewhere.open(moved), Err(EncryptionError::DecryptionFailed));
    }

    #[test]
    fn another_key_or_cipher_fails_to_open(
        cipher in arb_cipher(), key in any::<[u8; 32]>(), other in any::<[u8; 32]>(), record in arb_envelope(),
    ) {
        prop_assume!(key != other);
        let sealed = crypt(cipher, &key, "my-basin", "s", 1).seal(record).unwrap();
        prop_assert_eq!(
            crypt(cipher, &other, "my-basin", "s", 1).open(sealed.clone()),
            Err(EncryptionError::DecryptionFailed)
        );
        let swapped = match cipher {
            Cipher::Aegis256 => Cipher::Aes256Gcm,
            Cipher::Aes256Gcm => Cipher::Aegis256,
        };
        prop_assert_eq!(crypt(swapped, &key, "my-basin", "s", 1).open(sealed), Err(EncryptionError::DecryptionFailed));
    }

    #[test]
    fn garbage_never_panics(cipher in arb_cipher(), body in arb_bytes(96), metered in any::<u64>(), headers in 0usize..3) {
        let crypt = crypt(cipher, &[9; 32], "my-basin", "s", 1);
        let record = SequencedRecord {
            seq_num: 0,
            timestamp: 0,
            headers: vec![Header { name: Bytes::from_static(b"h"), value: Bytes::new() }; headers],
            body,
            sealed: Some(Sealed { metered_bytes: metered }),
        };
        prop_assert_eq!(crypt.open(record), Err(EncryptionError::DecryptionFailed));
    }

    #[test]
    fn plaintext_encoding_round_trips(record in arb_envelope()) {
        let encoded = encode_plaintext(&record.headers, &record.body);
        let decoded = decode_plaintext(Bytes::from(encoded.to_vec()));
        prop_assert_eq!(decoded, Some((record.headers, record.body)));
    }

    #[test]
    fn plaintext_decoding_never_panics(bytes in arb_bytes(64)) {
        let _ = decode_plaintext(bytes);
    }
}

#[test]
fn command_records_stay_plaintext() {
    let crypt = crypt(Cipher::Aegis256, &[1; 32], "my-basin", "s", 1);
    let trim = command(b"trim", &[0, 0, 0, 0, 0, 0, 0, 1]);
    let fence = command(b"fence", b"token");
    assert_eq!(crypt.seal(trim.clone()), Ok(trim.clone()));
    assert_eq!(crypt.seal_batch(vec![fence.clone()]), Ok(vec![fence.clone()]));
    assert_eq!(crypt.open(trim.clone()), Ok(trim));
    assert_eq!(open_records(None, vec![fence.clone()]), Ok(vec![fence]));
}

#[test]
fn an_envelope_record_that_is_not_sealed_does_not_pass_on_a_stream_with_a_cipher() {
    let crypt = crypt(Cipher::Aes256Gcm, &[1; 32], "my-basin", "s", 1);
    let plain = SequencedRecord { seq_num: 0, timestamp: 0, headers: vec![], body: "x".into(), sealed: None };
    assert_eq!(crypt.open(plain.clone()), Err(EncryptionError::DecryptionFailed));
    // ...and a sealed one does not pass on a stream without a cipher.
    let sealed = crypt.seal(plain.clone()).unwrap();
    assert_eq!(open_records(None, vec![plain.clone(), sealed]), Err(EncryptionError::DecryptionFailed));
    assert_eq!(open_records(None, vec![plain.clone()]), Ok(vec![plain]));
}

#[test]
fn aes_gcm_streams_stop_at_seq_num_two_to_the_32_minus_one() {
    let record = |seq_num| SequencedRecord { seq_num, timestamp: 0, headers: vec![], body: "x".into(), sealed: None };
    let max = u64::from(u32::MAX);
    let aes = crypt(Cipher::Aes256Gcm, &[2; 32], "my-basin", "s", 1);
    assert!(aes.seal_batch(vec![record(max - 1), record(max)]).is_ok());
    assert_eq!(
        aes.seal_batch(vec![record(max), record(max + 1)]),
        Err(EncryptionError::SeqNumLimit { seq_num: max + 1, max, cipher: Cipher::Aes256Gcm })
    );
    let aegis = crypt(Cipher::Aegis256, &[2; 32], "my-basin", "s", 1);
    assert!(aegis.seal_batch(vec![record(max + 1), record(u64::MAX - 1)]).is_ok());
}

#[test]
fn keys_are_needed_only_on_streams_with_a_cipher() {
    let good = key_text(&[5; 32]);
    let bad = KeyText::new("not base64!");
    assert!(RecordCrypt::for_stream(&stream_meta(None), Some(&bad)).unwrap().is_none());
    assert!(RecordCrypt::for_stream(&stream_meta(None), None).unwrap().is_none());
    let aegis = stream_meta(Some(Cipher::Aegis256));
    assert_eq!(RecordCrypt::for_stream(&aegis, None).unwrap_err(), EncryptionError::MissingKey(Cipher::Aegis256));
    assert_eq!(
        RecordCrypt::for_stream(&aegis, Some(&bad)).unwrap_err(),
        EncryptionError::KeyNotBase64(Cipher::Aegis256)
    );
    let short = KeyText::new(&STANDARD.encode([0u8; 16]));
    assert_eq!(
        RecordCrypt::for_stream(&aegis, Some(&short)).unwrap_err(),
        EncryptionError::KeyLength(Cipher::Aegis256, 16)
    );
    let unpadded = KeyText::new(STANDARD.encode([5u8; 32]).trim_end_matches('='));
    assert_eq!(
        RecordCrypt::for_stream(&aegis, Some(&unpadded)).unwrap_err(),
        EncryptionError::KeyNotBase64(Cipher::Aegis256)
    );
    assert_eq!(RecordCrypt::for_stream(&aegis, Some(&good)).unwrap().map(|c| c.cipher()), Some(Cipher::Aegis256));
    // Surrounding whitespace is trimmed.
    let spaced = KeyText::new(&format!("  {}\t", STANDARD.encode([5u8; 32])));
    let record = SequencedRecord { seq_num: 0, timestamp: 0, headers: vec![], body: "x".into(), sealed: None };
    let sealed = RecordCrypt::for_stream(&aegis, Some(&good)).unwrap().unwrap().seal(record.clone()).unwrap();
    assert_eq!(RecordCrypt::for_stream(&aegis, Some(&spaced)).unwrap().unwrap().open(sealed), Ok(record));
}

#[test]
fn keys_do_not_show_in_debug_output() {
    let text = STANDARD.encode([7u8; 32]);
    let key = KeyText::new(&text);
    assert!(!format!("{key:?}").contains(&text));
    let crypt = RecordCrypt::new(
        Cipher::Aegis256,
        &key,
        &BasinName::new("my-basin").unwrap(),
        &StreamName::new("s").unwrap(),
        StreamId(1),
    )
    .unwrap();
    assert!(!format!("{crypt:?}").contains("7, 7"));
}

#[test]
fn cipher_names_round_trip() {
    for cipher in [Cipher::Aegis256, Cipher::Aes256Gcm] {
        assert_eq!(Cipher::parse(cipher.as_str()), Some(cipher));
    }
    assert_eq!(Cipher::parse("aes-128-gcm"), None);
}
