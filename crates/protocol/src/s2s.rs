//! The S2S session framing: length-prefixed frames carrying protobuf
//! messages, optionally compressed, and a terminal frame carrying a status
//! and a JSON error body.
//!
//! ```text
//! +----------------+-------+------------------------------------------+
//! | length (3 B BE)| flags | payload (length - 1 bytes)               |
//! +----------------+-------+------------------------------------------+
//! flags: bit 7 terminal; bits 6-5 compression (00 none, 01 zstd,
//!        10 gzip, 11 invalid); bit 4 reconnect advised; bits 3-0 reserved
//! terminal payload: status (2 B BE) + JSON body, never compressed
//! ```

use std::io::Read;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest frame length (the flag byte included).
pub const FRAME_LENGTH_MAX: usize = 2 * 1024 * 1024;
/// Payloads smaller than this are sent uncompressed.
pub const COMPRESSION_THRESHOLD_BYTES: usize = 1024;

const TERMINAL_BIT: u8 = 0b1000_0000;
const COMPRESSION_MASK: u8 = 0b0110_0000;
const COMPRESSION_SHIFT: u8 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Zstd,
    Gzip,
}

impl Compression {
    /// The algorithm for frames to a client: zstd if it accepts it, else
    /// gzip, else none (q-values are ignored).
    pub fn from_accept_encoding(header: Option<&str>) -> Self {
        let accepts = |name: &str| {
            header
                .unwrap_or("")
                .split(',')
                .any(|entry| entry.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(name))
        };
        if accepts("zstd") {
            Self::Zstd
        } else if accepts("gzip") {
            Self::Gzip
        } else {
            Self::None
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Zstd => 1,
            Self::Gzip => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {0} is outside 1..={FRAME_LENGTH_MAX}")]
    BadLength(usize),
    #[error("frame uses the invalid compression bits 11")]
    BadCompression,
    #[error("frame payload could not be decompressed: {0}")]
    Decompression(String),
    #[error("decompressed frame payload exceeds {FRAME_LENGTH_MAX} bytes")]
    DecompressedTooLarge,
    #[error("terminal frame is shorter than its 2-byte status")]
    ShortTerminal,
    #[error("the stream ended inside a frame")]
    Truncated,
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A (decompressed) protobuf message.
    Message(Bytes),
    /// The last frame of a session.
    Terminal { status: u16, body: Bytes },
}

/// Encodes a message frame, compressing payloads of at least
/// [`COMPRESSION_THRESHOLD_BYTES`].
/// zstd's fastest level: session messages are compressed on the hot path.
const ZSTD_LEVEL: i32 = 1;

pub fn encode_message(payload: &[u8], compression: Compression) -> Bytes {
    let compression = if payload.len() < COMPRESSION_THRESHOLD_BYTES { Compression::None } else { compression };
    let compressed;
    let body: &[u8] = match compression {
        Compression::None => payload,
        Compression::Zstd => match zstd::bulk::compress(payload, ZSTD_LEVEL) {
            Ok(out) => {
                compressed = out;
                &compressed
            }
            Err(_) => return encode_message(payload, Compression::None),
        },
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            match std::io::Write::write_all(&mut encoder, payload).and_then(|()| encoder.finish()) {
                Ok(out) => {
                    compressed = out;
                    &compressed
                }
                Err(_) => return encode_message(payload, Compression::None),
            }
        }
    };
    frame(compression.bits() << COMPRESSION_SHIFT, body)
}

/// Encodes a terminal frame: a status and a JSON body.
pub fn encode_terminal(status: u16, json: &[u8]) -> Bytes {
    let mut payload = Vec::with_capacity(2 + json.len());
    payload.extend_from_slice(&status.to_be_bytes());
    payload.extend_from_slice(json);
    frame(TERMINAL_BIT, &payload)
}

fn frame(flags: u8, payload: &[u8]) -> Bytes {
    let length = payload.len() + 1;
    debug_assert!(length <= FRAME_LENGTH_MAX, "frames are bounded by message limits");
    let mut out = BytesMut::with_capacity(3 + length);
    out.put_uint(length as u64, 3);
    out.put_u8(flags);
    out.put_slice(payload);
    out.freeze()
}

/// Splits a byte stream into frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < 3 {
            return Ok(None);
        }
        let length = (usize::from(self.buf[0]) << 16) | (usize::from(self.buf[1]) << 8) | usize::from(self.buf[2]);
        if length == 0 || length > FRAME_LENGTH_MAX {
            return Err(FrameError::BadLength(length));
        }
        if self.buf.len() < 3 + length {
            return Ok(None);
        }
        self.buf.advance(3);
        let flags = self.buf[0];
        self.buf.advance(1);
        let payload = self.buf.split_to(length - 1).freeze();
        if flags & TERMINAL_BIT != 0 {
            if payload.len() < 2 {
                return Err(FrameError::ShortTerminal);
            }
            let status = u16::from_be_bytes([payload[0], payload[1]]);
            return Ok(Some(Frame::Terminal { status, body: payload.slice(2..) }));
        }
        let payload = match (flags & COMPRESSION_MASK) >> COMPRESSION_SHIFT {
            0 => payload,
            1 => decompress(zstd::stream::read::Decoder::new(&payload[..]))?,
            2 => decompress(Ok::<_, std::io::Error>(flate2::read::GzDecoder::new(&payload[..])))?,
            _ => return Err(FrameError::BadCompression),
        };
        Ok(Some(Frame::Message(payload)))
    }

    /// Call at the end of the byte stream: leftover bytes are a cut frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated)
        }
    }
}

fn decompress<R: Read>(reader: std::io::Result<R>) -> Result<Bytes, FrameError> {
    let reader = reader.map_err(|e| FrameError::Decompression(e.to_string()))?;
    let mut out = Vec::new();
    reader.take(FRAME_LENGTH_MAX as u64).read_to_end(&mut out).map_err(|e| FrameError::Decompression(e.to_string()))?;
    if out.len() >= FRAME_LENGTH_MAX {
        return Err(FrameError::DecompressedTooLarge);
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut decoder = FrameDecoder::default();
        decoder.push(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = decoder.next_frame()? {
            frames.push(frame);
        }
        decoder.finish()?;
        Ok(frames)
    }

    #[test]
    fn negotiation_prefers_zstd() {
        assert_eq!(Compression::from_accept_encoding(Some("gzip, zstd;q=0.5")), Compression::Zstd);
        assert_eq!(Compression::from_accept_encoding(Some("gzip")), Compression::Gzip);
        assert_eq!(Compression::from_accept_encoding(Some("br")), Compression::None);
        assert_eq!(Compression::from_accept_encoding(None), Compression::None);
    }

    #[test]
    fn small_payloads_are_not_compressed() {
        let frame = encode_message(b"tiny", Compression::Zstd);
        assert_eq!(frame[3], 0);
        assert_eq!(&frame[..3], &[0, 0, 5]);
    }

    #[test]
    fn terminal_frames_carry_status_and_json() {
        let frame = encode_terminal(412, br#"{"seq_num_mismatch":3}"#);
        assert_eq!(frame[3], 0x80);
        let frames = decode_all(&frame).unwrap();
        assert_eq!(
            frames,
            vec![Frame::Terminal { status: 412, body: Bytes::from_static(br#"{"seq_num_mismatch":3}"#) }]
        );
    }

    #[test]
    fn malformed_frames_are_rejected_without_panicking() {
        assert_eq!(decode_all(&[0, 0, 0]), Err(FrameError::BadLength(0)));
        assert_eq!(decode_all(&[0x20, 0, 1, 0]), Err(FrameError::BadLength(0x200001)));
        assert_eq!(decode_all(&[0, 0, 2, 0x60, 1]), Err(FrameError::BadCompression));
        assert_eq!(decode_all(&[0, 0, 3, 0x00, 1]), Err(FrameError::Truncated));
        assert_eq!(decode_all(&[0, 0, 2, 0x80, 1]), Err(FrameError::ShortTerminal));
        assert!(matches!(decode_all(&[0, 0, 3, 0x20, 1, 2]), Err(FrameError::Decompression(_))));
        assert!(matches!(decode_all(&[0, 0, 3, 0x40, 1, 2]), Err(FrameError::Decompression(_))));
    }

    fn arb_compression() -> impl Strategy<Value = Compression> {
        prop_oneof![Just(Compression::None), Just(Compression::Zstd), Just(Compression::Gzip)]
    }

    proptest! {
        #[test]
        fn message_frames_round_trip_in_any_chunking(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..5),
            compression in arb_compression(),
            split in 1usize..64,
        ) {
            let mut wire = Vec::new();
            for p in &payloads {
                wire.extend_from_slice(&encode_message(p, compression));
            }
            let mut decoder = FrameDecoder::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(split) {
                decoder.push(chunk);
                while let Some(Frame::Message(m)) = decoder.next_frame().unwrap() {
                    got.push(m.to_vec());
                }
            }
            decoder.finish().unwrap();
            prop_assert_eq!(got, payloads);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_all(&bytes);
        }
    }
}
