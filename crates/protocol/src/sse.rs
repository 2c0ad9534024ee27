//! Server-sent events of a read session: `batch`, `ping`, `error`, and the
//! final `[DONE]`.

use bytes::Bytes;
use lite_domain::position::StreamPosition;
use serde::Serialize;

use crate::records::PositionJson;

/// What a `batch` event's id says: the last seq num of the batch, and the
/// records and metered bytes delivered so far on this response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId {
    pub seq_num: u64,
    pub count: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Last-Event-ID must be three comma-separated integers: seq_num,count,bytes")]
pub struct BadEventId;

impl EventId {
    pub fn parse(s: &str) -> Result<Self, BadEventId> {
        let mut parts = s.trim().split(',').map(|p| p.trim().parse::<u64>());
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(seq_num)), Some(Ok(count)), Some(Ok(bytes)), None) => Ok(Self { seq_num, count, bytes }),
            _ => Err(BadEventId),
        }
    }
}

pub fn batch_event(data_json: &str, id: EventId) -> Bytes {
    Bytes::from(format!("event: batch\nid: {},{},{}\ndata: {data_json}\n\n", id.seq_num, id.count, id.bytes))
}

#[derive(Serialize)]
struct Ping {
    timestamp: u64,
    tail: PositionJson,
}

pub fn ping_event(now_ms: u64, tail: StreamPosition) -> Bytes {
    let data = serde_json::to_string(&Ping { timestamp: now_ms, tail: tail.into() }).unwrap_or_default();
    Bytes::from(format!("event: ping\ndata: {data}\n\n"))
}

pub fn error_event(error_json: &str) -> Bytes {
    Bytes::from(format!("event: error\ndata: {error_json}\n\n"))
}

pub fn done_event() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_parse_strictly() {
        assert_eq!(EventId::parse("5,2,30"), Ok(EventId { seq_num: 5, count: 2, bytes: 30 }));
        assert_eq!(EventId::parse("5,2"), Err(BadEventId));
        assert_eq!(EventId::parse("5,2,x"), Err(BadEventId));
        assert_eq!(EventId::parse("1,2,3,4"), Err(BadEventId));
    }

    #[test]
    fn events_are_framed() {
        let e = batch_event("{}", EventId { seq_num: 9, count: 10, bytes: 80 });
        assert_eq!(&e[..], b"event: batch\nid: 9,10,80\ndata: {}\n\n");
        assert_eq!(
            &ping_event(7, StreamPosition::new(1, 2))[..],
            b"event: ping\ndata: {\"timestamp\":7,\"tail\":{\"seq_num\":1,\"timestamp\":2}}\n\n"
        );
        assert_eq!(&done_event()[..], b"data: [DONE]\n\n");
    }
}
