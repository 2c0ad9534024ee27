//! The append path: validate the batch, open the stream (creating it if the
//! basin says so), queue the batch on the stream's sequencer, and wait for
//! the durable ack.

use std::sync::Arc;

use tokio::time::Instant;

use super::{
    admission::{Admitted, AppendBudget, SESSION_INFLIGHT_BYTES_MAX},
    registry::LiveStream,
    sequencer::{AckReceiver, AppendAck, Poison},
    usage::{BasinUsage, OpenSession, SessionKind, Usage},
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
        let metered_bytes = batch.metered_bytes();
        let asked_at = Instant::now();
        let admitted = self.append_budget.admit_unary(metered_bytes).await?;
        self.usage.observer().admitted(asked_at.elapsed());
        let mut live = self.open_stream(basin, stream, AutoCreate::OnAppend(on_create)).await?;
        let crypt = RecordCrypt::for_stream(&live.meta, key)?.map(Arc::new);
        let submitted_at = Instant::now();
        let ack = match live.sequencer.submit(batch, None, crypt).await {
            Ok(ack) => ack,
            // Stopped before it saw the batch: whoever owns the stream now
            // (or the reason there is none) decides.
            Err((_gone, batch)) => {
                live = self.open_stream(basin, stream, AutoCreate::OnAppend(on_create)).await?;
                let crypt = RecordCrypt::for_stream(&live.meta, key)?.map(Arc::new);
                live.sequencer.submit(batch, None, crypt).await.map_err(|_| Error::Unavailable(SEQUENCER_STOPPED))?
            }
        };
        let counted = Counted { usage: self.usage.clone(), basin: live.usage, submitted_at, metered_bytes };
        PendingAck { ack, counted, _admitted: admitted, _session_admitted: None }.durable().await
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
        let usage = self.usage.clone();
        let _open = usage.session_opened(SessionKind::Append);
        Ok(AppendSession { live, poison: Poison::default(), crypt, grant, target, budget, own_budget, usage, _open })
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
    usage: Arc<Usage>,
    _open: OpenSession,
}

impl AppendSession {
    /// Queues a batch behind every batch submitted before it, once the
    /// session's and the server's append budgets have room for it (which
    /// may take a while).
    pub async fn submit(&self, batch: AppendBatch) -> Result<PendingAck, Error> {
        check_commands(&self.grant, &batch, &self.target.0, &self.target.1)?;
        let metered_bytes = batch.metered_bytes();
        let asked_at = Instant::now();
        let session_admitted = self.own_budget.admit(metered_bytes).await;
        let admitted = self.budget.admit(metered_bytes).await;
        self.usage.observer().admitted(asked_at.elapsed());
        let submitted_at = Instant::now();
        let ack = self
            .live
            .sequencer
            .submit(batch, Some(self.poison.clone()), self.crypt.clone())
            .await
            .map_err(|_| Error::Unavailable(SEQUENCER_STOPPED))?;
        let counted =
            Counted { usage: self.usage.clone(), basin: self.live.usage.clone(), submitted_at, metered_bytes };
        Ok(PendingAck { ack, counted, _admitted: admitted, _session_admitted: Some(session_admitted) })
    }
}

/// What an acknowledged append adds to the counts.
struct Counted {
    usage: Arc<Usage>,
    basin: Arc<BasinUsage>,
    submitted_at: Instant,
    metered_bytes: u64,
}

/// An ack that resolves once its batch is durable (or failed), holding the
/// batch's share of the append budgets until then.
pub struct PendingAck {
    ack: AckReceiver,
    counted: Counted,
    _admitted: Admitted,
    /// Within its session's own budget (session appends only).
    _session_admitted: Option<Admitted>,
}

impl PendingAck {
    pub async fn durable(self) -> Result<AppendAck, Error> {
        let ack = self.ack.await.unwrap_or(Err(Error::Unavailable(SEQUENCER_STOPPED)))?;
        let Counted { usage, basin, submitted_at, metered_bytes } = self.counted;
        let records = ack.end.seq_num - ack.start.seq_num;
        usage.observer().acknowledged(submitted_at.elapsed(), records, metered_bytes);
        basin.appended(records, metered_bytes);
        Ok(ack)
    }
}
