//! The append path: validate the batch, open the stream (creating it if the
//! basin says so), queue the batch on the stream's sequencer, and wait for
//! the durable ack.

use std::sync::Arc;

use super::{
    registry::LiveStream,
    sequencer::{AckReceiver, AppendAck, Poison},
    AutoCreate, Service,
};
use crate::{
    append::{AppendBatch, AppendInput},
    config::StreamConfigOverrides,
    encryption::{KeyText, RecordCrypt},
    error::Error,
    names::{BasinName, StreamName},
};

const SEQUENCER_STOPPED: &str = "the stream's sequencer stopped; retry";

impl Service {
    /// Appends one batch and waits until it is durable. `key` is needed
    /// (and used) only on a stream with a cipher.
    /// `on_create` applies over the basin's defaults if this creates the stream.
    pub async fn append(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        input: AppendInput,
        on_create: StreamConfigOverrides,
        key: Option<&KeyText>,
    ) -> Result<AppendAck, Error> {
        let batch = AppendBatch::new(input)?;
        let live = self.open_stream(basin, stream, AutoCreate::OnAppend(on_create)).await?;
        let crypt = RecordCrypt::for_stream(&live.meta, key)?.map(Arc::new);
        let ack = match live.sequencer.submit(batch, None, crypt).await {
            Ok(ack) => ack,
            // Stopped before it saw the batch: whoever owns the stream now
            // (or the reason there is none) decides.
            Err((_gone, batch)) => {
                let live = self.open_stream(basin, stream, AutoCreate::OnAppend(on_create)).await?;
                let crypt = RecordCrypt::for_stream(&live.meta, key)?.map(Arc::new);
                live.sequencer.submit(batch, None, crypt).await.map_err(|_| Error::Unavailable(SEQUENCER_STOPPED))?
            }
        };
        PendingAck(ack).durable().await
    }

    /// Opens a session of pipelined appends on one stream. A missing or
    /// malformed key for a stream with a cipher fails here, before any
    /// batch.
    /// `on_create` applies over the basin's defaults if this creates the stream.
    pub async fn append_session(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        on_create: StreamConfigOverrides,
        key: Option<&KeyText>,
    ) -> Result<AppendSession, Error> {
        let live = self.open_stream(basin, stream, AutoCreate::OnAppend(on_create)).await?;
        let crypt = RecordCrypt::for_stream(&live.meta, key)?.map(Arc::new);
        Ok(AppendSession { live, poison: Poison::default(), crypt })
    }
}

/// Pipelined appends to one stream: batches are sequenced in submission
/// order, and their acks resolve in the same order. Once one fails, every
/// later one is refused. Holding a session keeps the stream's sequencer
/// running.
pub struct AppendSession {
    live: LiveStream,
    poison: Poison,
    crypt: Option<Arc<RecordCrypt>>,
}

impl AppendSession {
    /// Queues a batch behind every batch submitted before it.
    pub async fn submit(&self, batch: AppendBatch) -> Result<PendingAck, Error> {
        self.live
            .sequencer
            .submit(batch, Some(self.poison.clone()), self.crypt.clone())
            .await
            .map(PendingAck)
            .map_err(|_| Error::Unavailable(SEQUENCER_STOPPED))
    }
}

/// An ack that resolves once its batch is durable (or failed).
pub struct PendingAck(AckReceiver);

impl PendingAck {
    pub async fn durable(self) -> Result<AppendAck, Error> {
        self.0.await.unwrap_or(Err(Error::Unavailable(SEQUENCER_STOPPED)))
    }
}
