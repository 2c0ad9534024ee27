//! Read sessions as server-sent events.

use axum::{body::Body, response::Response};
use futures::StreamExt;
use http::{header, HeaderMap};
use lite_domain::{
    clock::{Clock, SystemClock},
    config::StreamConfigOverrides,
    names::{BasinName, StreamName},
    read::ReadRequest,
    record::SequencedRecord,
    service::{ReadOutput, Service},
};
use lite_protocol::{
    error::WireError,
    records::read_batch_json,
    sse::{batch_event, done_event, error_event, ping_event, EventId},
};

use crate::{
    error::{ApiError, ApiResult},
    extract,
};

const LAST_EVENT_ID: &str = "last-event-id";

enum Event {
    Data(bytes::Bytes),
    Error(bytes::Bytes),
}

pub async fn read_session(
    service: Service,
    basin: BasinName,
    stream: StreamName,
    mut request: ReadRequest,
    on_create: StreamConfigOverrides,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let format = extract::record_format(headers)?;
    // Running totals of what the read delivered, for event ids. They carry on
    // from a resumed read's last event, so that resuming again is exact.
    let mut count = 0u64;
    let mut bytes = 0u64;
    if let Some(id) = extract::header_str(headers, LAST_EVENT_ID)? {
        let id = EventId::parse(id).map_err(|e| ApiError::bad_header(e.to_string()))?;
        request = request.resumed(id.seq_num, id.count, id.bytes);
        (count, bytes) = (id.count, id.bytes);
    }
    let key = extract::encryption_key(headers)?;
    let session = service.read(&basin, &stream, request, on_create, key.as_ref()).await?;

    let events = session
        .into_stream()
        .map(move |output| match output {
            Ok(ReadOutput::Batch { records, tail }) => {
                count = count.saturating_add(records.len() as u64);
                bytes = bytes.saturating_add(records.iter().map(SequencedRecord::metered_bytes).sum::<u64>());
                let seq_num = records.last().map_or(0, |r| r.seq_num);
                let data = serde_json::to_string(&read_batch_json(&records, tail, format)).unwrap_or_default();
                Event::Data(batch_event(&data, EventId { seq_num, count, bytes }))
            }
            Ok(ReadOutput::Heartbeat(tail)) => Event::Data(ping_event(SystemClock.now_ms(), tail)),
            Err(e) => Event::Error(error_event(&String::from_utf8_lossy(&WireError::from(e).body_bytes()))),
        })
        .chain(futures::stream::once(async { Event::Data(done_event()) }))
        .scan(false, |ended, event| {
            // Nothing follows an error event, not even [DONE].
            let out = match event {
                _ if *ended => None,
                Event::Data(bytes) => Some(bytes),
                Event::Error(bytes) => {
                    *ended = true;
                    Some(bytes)
                }
            };
            futures::future::ready(out.map(Ok::<_, std::convert::Infallible>))
        });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, lite_protocol::format::MediaType::EVENT_STREAM)
        .header(header::CACHE_CONTROL, "no-cache, no-transform")
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(events))
        .unwrap_or_default())
}
