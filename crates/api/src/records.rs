//! `/v1/streams/{stream}/records` handlers: append and read (unary, or as an
//! SSE or S2S session), and check-tail.

use axum::{
    body::Body,
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
    Json,
};
use http::{header, HeaderMap};
use lite_domain::{
    read::{ReadEnd, ReadRequest, ReadStart},
    service::Service,
};
use lite_protocol::{
    format::MediaType,
    proto,
    records::{
        append_input_from_json, append_input_from_proto, read_batch_json, read_batch_proto, AppendAckJson, TailJson,
    },
};
use prost::Message;
use serde::Deserialize;

use crate::{
    auth::Authority,
    error::{ApiError, ApiResult},
    extract::{self, StreamPath},
    s2s, sse,
};

/// Unary request bodies are buffered up to this size.
const UNARY_BODY_BYTES_MAX: usize = 2 * 1024 * 1024;

#[derive(Debug, Deserialize)]
struct ReadQuery {
    seq_num: Option<u64>,
    timestamp: Option<u64>,
    tail_offset: Option<u64>,
    clamp: Option<bool>,
    count: Option<u64>,
    bytes: Option<u64>,
    until: Option<u64>,
    wait: Option<u32>,
}

fn read_request(q: ReadQuery) -> ApiResult<ReadRequest> {
    let start = ReadStart::from_selectors(q.seq_num, q.timestamp, q.tail_offset)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let end = ReadEnd { count: q.count, bytes: q.bytes, until: q.until, wait_secs: q.wait.map(u64::from) };
    Ok(ReadRequest { start, clamp: q.clamp.unwrap_or(false), end })
}

fn protobuf(message: impl Message) -> Response {
    ([(header::CONTENT_TYPE, MediaType::PROTOBUF)], message.encode_to_vec()).into_response()
}

pub async fn append(
    State(service): State<Service>,
    authority: Authority,
    StreamPath(stream_path): StreamPath,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let basin = extract::basin_header(&headers)?;
    let stream = stream_path?;
    let on_create = extract::stream_config(&headers)?;
    let input = match extract::content_type(&headers) {
        MediaType::S2s => {
            return s2s::append_session(service, basin, stream, on_create, &headers, body, authority).await;
        }
        MediaType::Protobuf => {
            let bytes = axum::body::to_bytes(body, UNARY_BODY_BYTES_MAX)
                .await
                .map_err(|e| ApiError::new(lite_protocol::codes::ErrorCode::BadProto, e.to_string()))?;
            append_input_from_proto(bytes)?
        }
        _ => {
            let content_type = extract::header_str(&headers, header::CONTENT_TYPE.as_str())?.unwrap_or("");
            if !MediaType::is_json_content_type(content_type) {
                return Err(ApiError::bad_json("expected Content-Type: application/json or application/protobuf"));
            }
            let format = extract::record_format(&headers)?;
            let bytes = axum::body::to_bytes(body, UNARY_BODY_BYTES_MAX)
                .await
                .map_err(|e| ApiError::bad_json(e.to_string()))?;
            append_input_from_json(&bytes, format)?
        }
    };
    let key = extract::encryption_key(&headers)?;
    let ack = service.append(&basin, &stream, input, on_create, key.as_ref(), &authority.0).await?;
    Ok(match extract::accept(&headers) {
        MediaType::Protobuf => protobuf(proto::AppendAck::from(ack)),
        _ => Json(AppendAckJson::from(ack)).into_response(),
    })
}

pub async fn read(
    State(service): State<Service>,
    StreamPath(stream_path): StreamPath,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let basin = extract::basin_header(&headers)?;
    let stream = stream_path?;
    let request = read_request(extract::query(raw.as_deref())?)?;
    let on_create = extract::stream_config(&headers)?;
    if extract::content_type(&headers) == MediaType::S2s {
        return s2s::read_session(service, basin, stream, request, on_create, &headers).await;
    }
    match extract::accept(&headers) {
        MediaType::EventStream => sse::read_session(service, basin, stream, request, on_create, &headers).await,
        MediaType::Protobuf => {
            let key = extract::encryption_key(&headers)?;
            let (records, tail) = service.read_unary(&basin, &stream, request, on_create, key.as_ref()).await?;
            Ok(protobuf(read_batch_proto(&records, tail)))
        }
        _ => {
            let format = extract::record_format(&headers)?;
            let key = extract::encryption_key(&headers)?;
            let (records, tail) = service.read_unary(&basin, &stream, request, on_create, key.as_ref()).await?;
            Ok(Json(read_batch_json(&records, tail, format)).into_response())
        }
    }
}

pub async fn check_tail(
    State(service): State<Service>,
    StreamPath(stream_path): StreamPath,
    headers: HeaderMap,
) -> ApiResult<Json<TailJson>> {
    let basin = extract::basin_header(&headers)?;
    let stream = stream_path?;
    let tail = service.check_tail(&basin, &stream).await?;
    Ok(Json(TailJson { tail: tail.into() }))
}
