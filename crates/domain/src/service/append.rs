//! The append path: validate the batch, open the stream (creating it if the
//! basin says so), queue the batch on the stream's sequencer, and wait for
//! the durable ack.

use std::sync::Arc;

use super::{
    admission::{Admitted, AppendBudget, SESSION_INFLIGHT_BYTES_MAX},
    registry::LiveStream,
    sequencer::{AckReceiver, AppendAck, Poison},
    AutoCreate, Service,
};
use crate::{
    access::Grant,
    append::{AppendBatch, AppendInput},
    config::StreamConfigOverrides,
    encryption::{KeyText, RecordCrypt},
    error::Error,
    names::{BasinName, StreamName},
};

const SEQUENCER_STOPPED: &str = "the stream's sequencer stopped; retry";

impl Service {
    /// Appends one batch and waits until it is durable. `on_create` applies
    /// over the basin's defaults if this creates the stream; `key` is needed
    /// (and used) only on a stream with a cipher; `grant` is the authority of
    /// the request, for the batch's command records.
    pub async fn append(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        input: AppendInput,
        on_create: StreamConfigOverrides,
        key: Option<&KeyText>,
        grant: &Grant,
    ) -> Result<AppendAck, Error> {
        let batch = AppendBatch::new(input)?;
        check_commands(grant, &batch, basin, stream)?;
        // Before the stream is opened (or created): a refused append has
        // no side effect.
        let admitted = self.append_budget.admit_unary(batch.metered_bytes()).await?;
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
        PendingAck { ack, _admitted: admitted, _session_admitted: None }.durable().await
    }

    /// Opens a session of pipelined appends on one stream, with the
    /// authority of the request that opened it. A missing or malformed key
    /// for a stream with a cipher fails here, before any batch. `on_create`
    /// applies over the basin's defaults if this creates the stream.
    pub async fn append_session(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        on_create: StreamConfigOverrides,
        key: Option<&KeyText>,
        grant: Grant,
    ) -> Result<AppendSession, Error> {
        let live = self.open_stream(basin, stream, AutoCreate::OnAppend(on_create)).await?;
        let crypt = RecordCrypt::for_stream(&live.meta, key)?.map(Arc::new);
        let target = (basin.clone(), stream.clone());
        let budget = self.append_budget.clone();
        // Sessions wait for room and never hit the unary wait.
        let own_budget = AppendBudget::new(SESSION_INFLIGHT_BYTES_MAX, std::time::Duration::ZERO);
        Ok(AppendSession { live, poison: Poison::default(), crypt, grant, target, budget, own_budget })
    }
}

/// Trim and fence records are operations of their own inside an append,
/// which the request's route alone does not show.
fn check_commands(grant: &Grant, batch: &AppendBatch, basin: &BasinName, stream: &StreamName) -> Result<(), Error> {
    match grant.refused_command(batch, basin.as_str(), stream.as_str()) {
        Some(op) => {
            Err(Error::PermissionDenied(format!("this access token does not allow `{op}` on stream `{stream}`")))
        }
        None => Ok(()),
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
    grant: Grant,
    target: (BasinName, StreamName),
    /// The server's append budget, shared with every append.
    budget: AppendBudget,
    /// This session's own limit ([`SESSION_INFLIGHT_BYTES_MAX`]).
    own_budget: AppendBudget,
}

impl AppendSession {
    /// Queues a batch behind every batch submitted before it, once the
    /// session's and the server's append budgets have room for it (which
    /// may take a while).
    pub async fn submit(&self, batch: AppendBatch) -> Result<PendingAck, Error> {
        check_commands(&self.grant, &batch, &self.target.0, &self.target.1)?;
        let session_admitted = self.own_budget.admit(batch.metered_bytes()).await;
        let admitted = self.budget.admit(batch.metered_bytes()).await;
        let ack = self
            .live
            .sequencer
            .submit(batch, Some(self.poison.clone()), self.crypt.clone())
            .await
            .map_err(|_| Error::Unavailable(SEQUENCER_STOPPED))?;
        Ok(PendingAck { ack, _admitted: admitted, _session_admitted: Some(session_admitted) })
    }
}

/// An ack that resolves once its batch is durable (or failed), holding the
/// batch's share of the append budgets until then.
pub struct PendingAck {
    ack: AckReceiver,
    _admitted: Admitted,
    /// Within its session's own budget (session appends only).
    _session_admitted: Option<Admitted>,
}

impl PendingAck {
    pub async fn durable(self) -> Result<AppendAck, Error> {
        self.ack.await.unwrap_or(Err(Error::Unavailable(SEQUENCER_STOPPED)))
    }
}
