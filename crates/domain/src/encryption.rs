//! Record encryption with keys that clients supply per request.
//!
//! A stream's [`Cipher`] is stamped from its basin at creation and never
//! changes. Appends and reads on a stream with a cipher must carry the key
//! (as base64 text, [`KeyText`]); a stream without one ignores it. The key
//! lives only as long as the request: it is never stored or logged, and the
//! bytes holding it are wiped when dropped.
//!
//! What is sealed: each envelope record, its headers and body encoded as one
//! plaintext. Command records stay plaintext, because sequencing and
//! trimming read them without a key. Seq nums, timestamps and the plaintext
//! metered size stay readable, so limits and metering are the same with or
//! without encryption. Storage sees a sealed record as opaque bytes plus
//! [`Sealed`].
//!
//! A sealed body is `nonce ‖ ciphertext ‖ tag`: a fresh random nonce per
//! record (32 bytes for AEGIS-256, 12 for AES-256-GCM) and a 16-byte tag.
//! The associated data binds the record to its place: a format tag, the
//! cipher, the basin and stream names, the stream's storage id (a stream
//! re-created under the same name gets a new one), the seq num and the
//! timestamp. Records are sealed by the sequencer right after sequencing,
//! where seq num and timestamp are known, so a ciphertext copied to another
//! stream, another incarnation of the stream or another position does not
//! open.
//!
//! AES-256-GCM with random 96-bit nonces stays within its safety margin for
//! about 2^32 records per key; as in the reference server, streams with
//! that cipher assign seq nums only up to 2^32 − 1.

use std::fmt;

use aegis::aegis256::Aegis256;
use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::{
    names::{BasinName, StreamName},
    record::{is_command, metered_bytes, Header, Sealed, SequencedRecord},
    storage::{StreamId, StreamMeta},
};

/// Key length of both ciphers.
pub const KEY_BYTES: usize = 32;
const TAG_BYTES: usize = 16;
/// Versions the associated-data layout.
const AD_FORMAT: &[u8] = b"s2-lite/record/v1";

/// A stream cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cipher {
    Aegis256,
    Aes256Gcm,
}

impl Cipher {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aegis256 => "aegis-256",
            Self::Aes256Gcm => "aes-256-gcm",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "aegis-256" => Some(Self::Aegis256),
            "aes-256-gcm" => Some(Self::Aes256Gcm),
            _ => None,
        }
    }

    /// The last seq num a stream with this cipher may assign.
    pub fn seq_num_max(self) -> u64 {
        match self {
            Self::Aegis256 => u64::MAX,
            Self::Aes256Gcm => u64::from(u32::MAX),
        }
    }

    fn nonce_bytes(self) -> usize {
        match self {
            Self::Aegis256 => 32,
            Self::Aes256Gcm => 12,
        }
    }

    /// Names the cipher in the associated data.
    fn ad_id(self) -> u8 {
        match self {
            Self::Aegis256 => 1,
            Self::Aes256Gcm => 2,
        }
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An encryption key as a request carries it: base64 text, trimmed. Only
/// decoded once a stream with a cipher needs it; wiped when dropped.
pub struct KeyText(Zeroizing<String>);

impl KeyText {
    pub fn new(text: &str) -> Self {
        Self(Zeroizing::new(text.trim().to_owned()))
    }

    fn decode(&self, cipher: Cipher) -> Result<Zeroizing<[u8; KEY_BYTES]>, EncryptionError> {
        let bytes =
            Zeroizing::new(STANDARD.decode(self.0.as_bytes()).map_err(|_| EncryptionError::KeyNotBase64(cipher))?);
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        if bytes.len() != KEY_BYTES {
            return Err(EncryptionError::KeyLength(cipher, bytes.len()));
        }
        key.copy_from_slice(&bytes);
        Ok(key)
    }
}

impl fmt::Debug for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyText(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncryptionError {
    #[error("missing encryption key for stream cipher '{0}'")]
    MissingKey(Cipher),
    #[error("invalid encryption key for stream cipher '{0}': invalid base64")]
    KeyNotBase64(Cipher),
    #[error("invalid encryption key length for stream cipher '{0}': {1}")]
    KeyLength(Cipher, usize),
    #[error("record decryption failed")]
    DecryptionFailed,
    #[error("seq num {seq_num} is beyond {max}, the last seq num of a stream with cipher '{cipher}'")]
    SeqNumLimit { seq_num: u64, max: u64, cipher: Cipher },
    #[error("could not draw a random nonce")]
    NoRandomness,
}

enum Engine {
    Aegis(Zeroizing<[u8; KEY_BYTES]>),
    AesGcm(Box<Aes256Gcm>),
}

/// Seals and opens the records of one stream with one request's key.
pub struct RecordCrypt {
    cipher: Cipher,
    engine: Engine,
    /// The associated data up to the record's position.
    binding: Vec<u8>,
}

impl fmt::Debug for RecordCrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordCrypt").field("cipher", &self.cipher).finish_non_exhaustive()
    }
}

impl RecordCrypt {
    /// What a request on `stream` works with: nothing for a stream without a
    /// cipher (any key is ignored), else the key, which must be present and
    /// well-formed.
    pub fn for_stream(stream: &StreamMeta, key: Option<&KeyText>) -> Result<Option<Self>, EncryptionError> {
        let Some(cipher) = stream.cipher else {
            return Ok(None);
        };
        let key = key.ok_or(EncryptionError::MissingKey(cipher))?;
        Self::new(cipher, key, &stream.basin, &stream.name, stream.id).map(Some)
    }

    pub fn new(
        cipher: Cipher,
        key: &KeyText,
        basin: &BasinName,
        stream: &StreamName,
        id: StreamId,
    ) -> Result<Self, EncryptionError> {
        let key = key.decode(cipher)?;
        let engine = match cipher {
            Cipher::Aegis256 => Engine::Aegis(key),
            Cipher::Aes256Gcm => Engine::AesGcm(Box::new(Aes256Gcm::new(&(*key).into()))),
        };
        let mut binding =
            Vec::with_capacity(AD_FORMAT.len() + 1 + 8 + basin.as_str().len() + stream.as_str().len() + 8);
        binding.extend_from_slice(AD_FORMAT);
        binding.push(cipher.ad_id());
        for name in [basin.as_str(), stream.as_str()] {
            binding.extend_from_slice(&(name.len() as u32).to_be_bytes());
            binding.extend_from_slice(name.as_bytes());
        }
        binding.extend_from_slice(&id.0.to_be_bytes());
        Ok(Self { cipher, engine, binding })
    }

    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    fn associated_data(&self, seq_num: u64, timestamp: u64) -> Vec<u8> {
        let mut ad = Vec::with_capacity(self.binding.len() + 16);
        ad.extend_from_slice(&self.binding);
        ad.extend_from_slice(&seq_num.to_be_bytes());
        ad.extend_from_slice(&timestamp.to_be_bytes());
        ad
    }

    /// Seals a sequenced batch, or refuses it whole when a seq num is beyond
    /// what the cipher allows.
    pub fn seal_batch(&self, records: Vec<SequencedRecord>) -> Result<Vec<SequencedRecord>, EncryptionError> {
        let max = self.cipher.seq_num_max();
        if let Some(last) = records.last().filter(|last| last.seq_num > max) {
            return Err(EncryptionError::SeqNumLimit { seq_num: last.seq_num, max, cipher: self.cipher });
        }
        records.into_iter().map(|record| self.seal(record)).collect()
    }

    /// Seals an envelope record; a command record stays as it is.
    pub fn seal(&self, record: SequencedRecord) -> Result<SequencedRecord, EncryptionError> {
        if is_command(&record.headers) || record.sealed.is_some() {
            return Ok(record);
        }
        let plaintext = encode_plaintext(&record.headers, &record.body);
        let ad = self.associated_data(record.seq_num, record.timestamp);
        let nonce_bytes = self.cipher.nonce_bytes();
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce[..nonce_bytes]).map_err(|_| EncryptionError::NoRandomness)?;
        let mut sealed = Vec::with_capacity(nonce_bytes + plaintext.len() + TAG_BYTES);
        sealed.extend_from_slice(&nonce[..nonce_bytes]);
        match &self.engine {
            Engine::Aegis(key) => {
                let (ciphertext, tag) = Aegis256::<TAG_BYTES>::new(key, &nonce).encrypt(&plaintext, &ad);
                sealed.extend_from_slice(&ciphertext);
                sealed.extend_from_slice(&tag);
            }
            Engine::AesGcm(aes) => {
                let nonce: [u8; 12] = nonce[..12].try_into().expect("12 of 32 bytes");
                let ciphertext = aes
                    .encrypt(&nonce.into(), Payload { msg: &plaintext, aad: &ad })
                    // Fails only past 64 GiB; records are at most 1 MiB.
                    .expect("a record is within AES-GCM's plaintext limit");
                sealed.extend_from_slice(&ciphertext);
            }
        }
        Ok(SequencedRecord {
            seq_num: record.seq_num,
            timestamp: record.timestamp,
            sealed: Some(Sealed { metered_bytes: record.metered_bytes() }),
            headers: Vec::new(),
            body: sealed.into(),
        })
    }

    /// Opens a sealed record. A command record passes as it is; anything
    /// else that is not sealed, or does not open under this key at this
    /// place, is [`EncryptionError::DecryptionFailed`].
    pub fn open(&self, record: SequencedRecord) -> Result<SequencedRecord, EncryptionError> {
        let Some(sealed) = record.sealed else {
            return if is_command(&record.headers) { Ok(record) } else { Err(EncryptionError::DecryptionFailed) };
        };
        let nonce_bytes = self.cipher.nonce_bytes();
        if !record.headers.is_empty() || record.body.len() < nonce_bytes + TAG_BYTES {
            return Err(EncryptionError::DecryptionFailed);
        }
        let (nonce, sealed_text) = record.body.split_at(nonce_bytes);
        let ad = self.associated_data(record.seq_num, record.timestamp);
        let plaintext = match &self.engine {
            Engine::Aegis(key) => {
                let (ciphertext, tag) = sealed_text.split_at(sealed_text.len() - TAG_BYTES);
                let nonce: [u8; 32] = nonce.try_into().map_err(|_| EncryptionError::DecryptionFailed)?;
                let tag: [u8; TAG_BYTES] = tag.try_into().map_err(|_| EncryptionError::DecryptionFailed)?;
                Aegis256::<TAG_BYTES>::new(key, &nonce).decrypt(ciphertext, &tag, &ad)
            }
            .map_err(|_| EncryptionError::DecryptionFailed)?,
            Engine::AesGcm(aes) => {
                let nonce: [u8; 12] = nonce.try_into().map_err(|_| EncryptionError::DecryptionFailed)?;
                aes.decrypt(&nonce.into(), Payload { msg: sealed_text, aad: &ad })
                    .map_err(|_| EncryptionError::DecryptionFailed)?
            }
        };
        let (headers, body) = decode_plaintext(Bytes::from(plaintext)).ok_or(EncryptionError::DecryptionFailed)?;
        if metered_bytes(&headers, &body) != sealed.metered_bytes {
            return Err(EncryptionError::DecryptionFailed);
        }
        Ok(SequencedRecord { seq_num: record.seq_num, timestamp: record.timestamp, headers, body, sealed: None })
    }
}

/// Records as a reader may see them: opened with `crypt` on a stream with a
/// cipher; on a stream without one, a sealed record cannot be opened.
pub fn open_records(
    crypt: Option<&RecordCrypt>,
    records: Vec<SequencedRecord>,
) -> Result<Vec<SequencedRecord>, EncryptionError> {
    match crypt {
        Some(crypt) => records.into_iter().map(|record| crypt.open(record)).collect(),
        None if records.iter().any(|record| record.sealed.is_some()) => Err(EncryptionError::DecryptionFailed),
        None => Ok(records),
    }
}

/// `count ‖ (len ‖ name ‖ len ‖ value)* ‖ body`, lengths and count u32
/// big-endian (records are at most 1 MiB).
fn encode_plaintext(headers: &[Header], body: &[u8]) -> Zeroizing<Vec<u8>> {
    let header_bytes: usize = headers.iter().map(|h| 8 + h.name.len() + h.value.len()).sum();
    let mut out = BytesMut::with_capacity(4 + header_bytes + body.len());
    out.put_u32(headers.len() as u32);
    for header in headers {
        for part in [&header.name, &header.value] {
            out.put_u32(part.len() as u32);
            out.put_slice(part);
        }
    }
    out.put_slice(body);
    Zeroizing::new(out.to_vec())
}

fn decode_plaintext(mut buf: Bytes) -> Option<(Vec<Header>, Bytes)> {
    fn part(buf: &mut Bytes) -> Option<Bytes> {
        let len = buf.try_get_u32().ok()? as usize;
        (buf.len() >= len).then(|| buf.split_to(len))
    }
    let count = buf.try_get_u32().ok()? as usize;
    // Each header takes at least 8 bytes: a wrong count must not allocate.
    let mut headers = Vec::with_capacity(count.min(buf.len() / 8));
    for _ in 0..count {
        headers.push(Header { name: part(&mut buf)?, value: part(&mut buf)? });
    }
    Some((headers, buf))
}

#[cfg(test)]
mod tests;
