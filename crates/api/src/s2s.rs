//! S2S sessions: pipelined appends and live reads over length-prefixed
//! frames (see `lite_protocol::s2s`).
//!
//! Response headers go out at once; errors before that are plain HTTP
//! errors, errors after it are a terminal frame, after which the session
//! ends.
use axum::{body::Body, response::Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{header, HeaderMap};
use lite_domain::{
    append::AppendBatch,
    config::StreamConfigOverrides,
    names::{BasinName, StreamName},
    read::ReadRequest,
    service::{AppendSession, PendingAck, ReadOutput, Service},
};
use lite_protocol::{
    codes::ErrorCode,
    error::WireError,
    proto,
    records::{append_input_from_message, read_batch_proto},
    s2s::{encode_message, encode_terminal, Compression, Frame, FrameDecoder},
};
use prost::Message;
use tokio::sync::mpsc;

use crate::{auth::Authority, error::ApiResult, extract};

/// Frames buffered towards the client.
const OUTBOUND_FRAMES: usize = 16;

fn compression(headers: &HeaderMap) -> Compression {
    Compression::from_accept_encoding(headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()))
}

fn session_response(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, lite_protocol::format::MediaType::S2S)
        .header(header::CACHE_CONTROL, "no-cache, no-transform")
        .header("x-accel-buffering", "no")
        .body(body)
        .unwrap_or_default()
}

fn terminal(error: WireError) -> Bytes {
    encode_terminal(error.status, &error.body_bytes())
}

pub async fn read_session(
    service: Service,
    basin: BasinName,
    stream: StreamName,
    request: ReadRequest,
    on_create: StreamConfigOverrides,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let compression = compression(headers);
    let key = extract::encryption_key(headers)?;
    let session = service.read(&basin, &stream, request, on_create, key.as_ref()).await?;
    // Frames are encoded as the body is polled, on the connection's task:
    // no task and channel per session between the reader and the socket.
    // The session ends after an error, so its terminal frame is the last.
    let frames = session.into_stream().map(move |output| {
        Ok::<_, std::convert::Infallible>(match output {
            Ok(ReadOutput::Batch { records, tail }) => {
                encode_message(&read_batch_proto(&records, tail).encode_to_vec(), compression)
            }
            Ok(ReadOutput::Heartbeat(tail)) => {
                let heartbeat = proto::ReadBatch { records: Vec::new(), tail: Some(tail.into()) };
                encode_message(&heartbeat.encode_to_vec(), compression)
            }
            Err(e) => terminal(e.into()),
        })
    });
    Ok(session_response(Body::from_stream(frames)))
}

pub async fn append_session(
    service: Service,
    basin: BasinName,
    stream: StreamName,
    on_create: StreamConfigOverrides,
    headers: &HeaderMap,
    body: Body,
    authority: Authority,
) -> ApiResult<Response> {
    let compression = compression(headers);
    let key = extract::encryption_key(headers)?;
    let session = service.append_session(&basin, &stream, on_create, key.as_ref(), (*authority.0).clone()).await?;
    let (tx, rx) = mpsc::channel(OUTBOUND_FRAMES);
    tokio::spawn(run_append_session(session, body, tx, compression));
    let frames = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (Ok::<_, std::convert::Infallible>(frame), rx))
    });
    Ok(session_response(Body::from_stream(frames)))
}

/// A submitted batch waiting for its ack (which holds its share of the
/// append budgets).
type Inflight = Result<PendingAck, WireError>;

async fn run_append_session(session: AppendSession, body: Body, tx: mpsc::Sender<Bytes>, compression: Compression) {
    let (pending_tx, mut pending_rx) = mpsc::unbounded_channel::<Inflight>();
    let inputs = submit_inputs(session, body, pending_tx);
    let acks = async {
        while let Some(pending) = pending_rx.recv().await {
            let result = match pending {
                Ok(ack) => ack.durable().await.map_err(WireError::from),
                Err(e) => Err(e),
            };
            let frame = match result {
                Ok(ack) => encode_message(&proto::AppendAck::from(ack).encode_to_vec(), compression),
                Err(e) => {
                    let _ = tx.send(terminal(e)).await;
                    return;
                }
            };
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    };
    // When the acks end (error, or client gone), stop taking inputs too.
    tokio::select! {
        () = acks => {}
        () = async { inputs.await; futures::future::pending::<()>().await } => {}
    }
}

/// Reads input frames and submits their batches in order; a bad frame or
/// batch is queued as the session's error, after which nothing is read.
async fn submit_inputs(session: AppendSession, body: Body, pending: mpsc::UnboundedSender<Inflight>) {
    let mut chunks = body.into_data_stream();
    let mut decoder = FrameDecoder::default();
    loop {
        let frame = match decoder.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => match chunks.next().await {
                Some(Ok(chunk)) => {
                    decoder.push(&chunk);
                    continue;
                }
                // The client hung up or finished: what was sent gets acked.
                Some(Err(_)) => return,
                None => {
                    if let Err(e) = decoder.finish() {
                        let _ = pending.send(Err(WireError::new(ErrorCode::BadFrame, e.to_string())));
                    }
                    return;
                }
            },
            Err(e) => {
                let _ = pending.send(Err(WireError::new(ErrorCode::BadFrame, e.to_string())));
                return;
            }
        };
        let submitted = match frame {
            Frame::Message(payload) => submit_one(&session, payload).await,
            Frame::Terminal { .. } => Err(WireError::new(ErrorCode::BadFrame, "clients may not send terminal frames")),
        };
        let failed = submitted.is_err();
        if pending.send(submitted).is_err() || failed {
            return;
        }
    }
}

async fn submit_one(session: &AppendSession, payload: Bytes) -> Inflight {
    let message =
        proto::AppendInput::decode(payload).map_err(|e| WireError::new(ErrorCode::BadFrame, e.to_string()))?;
    let input = append_input_from_message(message).map_err(|e| WireError::new(ErrorCode::Invalid, e.to_string()))?;
    let batch = AppendBatch::new(input).map_err(|e| WireError::from(lite_domain::Error::from(e)))?;
    session.submit(batch).await.map_err(WireError::from)
}
