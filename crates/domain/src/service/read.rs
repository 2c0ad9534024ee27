//! The read path: check-tail, and read sessions that catch up from storage
//! and then follow the sequencer's broadcast of durable batches.
//!
//! A session is a task that feeds a small bounded channel, so a slow client
//! holds back only its own task; the broadcast it follows is bounded too, and
//! a follower that falls behind it catches up from storage instead.

use std::time::Duration;

use tokio::{
    sync::{broadcast, mpsc},
    time::Instant,
};

use super::{
    random_u64,
    registry::LiveStream,
    sequencer::LiveBatch,
    usage::{SessionKind, Usage},
    AutoCreate, Service,
};
use crate::{
    config::StreamConfigOverrides,
    encryption::{open_records, KeyText, RecordCrypt},
    error::Error,
    limits::{BATCH_METERED_BYTES_MAX, HEARTBEAT_SECS_MAX, HEARTBEAT_SECS_MIN, RECORDS_PER_BATCH_MAX},
    names::{BasinName, StreamName},
    position::StreamPosition,
    read::{decide_start, ReadBudget, ReadRequest, ReadStart, StartDecision},
    record::SequencedRecord,
    storage::{ReadChunk, Storage},
};

/// Outputs buffered between a session task and its client.
const SESSION_BUFFER_OUTPUTS: usize = 2;

/// What a read session delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutput {
    /// Records; `tail` is set when they were delivered live at the tail.
    Batch { records: Vec<SequencedRecord>, tail: Option<StreamPosition> },
    /// Nothing new; the session is following at this tail.
    Heartbeat(StreamPosition),
}

/// The outputs of a read; it ends after the last one or after an error.
pub struct ReadSession {
    rx: mpsc::Receiver<Result<ReadOutput, Error>>,
}

impl ReadSession {
    pub async fn next(&mut self) -> Option<Result<ReadOutput, Error>> {
        self.rx.recv().await
    }

    pub fn into_stream(self) -> impl futures::Stream<Item = Result<ReadOutput, Error>> + Send + 'static {
        futures::stream::unfold(self.rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
    }
}

impl Service {
    /// The durable tail of a stream.
    pub async fn check_tail(&self, basin: &BasinName, stream: &StreamName) -> Result<StreamPosition, Error> {
        let live = self.open_stream(basin, stream, AutoCreate::OnRead(StreamConfigOverrides::default())).await?;
        match live.sequencer.tail().await {
            Ok(tail) => Ok(tail),
            Err(_gone) => {
                let live =
                    self.open_stream(basin, stream, AutoCreate::OnRead(StreamConfigOverrides::default())).await?;
                live.sequencer.tail().await.map_err(|_| Error::Unavailable("the stream's sequencer stopped; retry"))
            }
        }
    }

    /// Starts a read. Errors that precede any output (unknown stream, a
    /// missing key, start beyond the tail, invalid request) are returned
    /// here; a record that does not open under `key` ends the session with
    /// [`Error::DecryptionFailed`].
    pub async fn read(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        request: ReadRequest,
        on_create: StreamConfigOverrides,
        key: Option<&KeyText>,
    ) -> Result<ReadSession, Error> {
        if let (ReadStart::Timestamp(ts), Some(until)) = (request.start, request.end.until) {
            if ts >= until {
                return Err(Error::Invalid("start timestamp must be earlier than until".into()));
            }
        }
        let mut live = self.open_stream(basin, stream, AutoCreate::OnRead(on_create)).await?;
        let mut crypt = RecordCrypt::for_stream(&live.meta, key)?;
        let snapshot = match live.sequencer.follow().await {
            Ok(snapshot) => snapshot,
            Err(_gone) => {
                live = self.open_stream(basin, stream, AutoCreate::OnRead(on_create)).await?;
                crypt = RecordCrypt::for_stream(&live.meta, key)?;
                live.sequencer
                    .follow()
                    .await
                    .map_err(|_| Error::Unavailable("the stream's sequencer stopped; retry"))?
            }
        };
        live.usage.read_started();
        let tail = snapshot.tail;
        let start = match decide_start(&request, tail) {
            StartDecision::BeyondTail => return Err(Error::BeyondTail(tail)),
            // The reader ends before reading anything.
            StartDecision::Exhausted => tail.seq_num,
            StartDecision::At(seq_num) => seq_num,
            StartDecision::AtTimestamp(ts) => {
                self.storage.seq_num_for_timestamp(live.meta.id, ts, tail.seq_num).await?.unwrap_or(tail.seq_num)
            }
        };
        let reader = Reader {
            storage: self.storage.clone(),
            pos: start.max(snapshot.trim_point),
            tail,
            budget: ReadBudget::new(&request.end),
            wait: request.end.wait(),
            waits_at_tail: request.end.waits_at_tail(),
            live_rx: snapshot.live,
            live,
            crypt,
            usage: self.usage.clone(),
        };
        let (tx, rx) = mpsc::channel(SESSION_BUFFER_OUTPUTS);
        tokio::spawn(reader.run(tx));
        Ok(ReadSession { rx })
    }

    /// A unary read: at most one batch, within the unary caps; waits up to
    /// `wait` for records when there are none.
    pub async fn read_unary(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        mut request: ReadRequest,
        on_create: StreamConfigOverrides,
        key: Option<&KeyText>,
    ) -> Result<(Vec<SequencedRecord>, Option<StreamPosition>), Error> {
        request.end = request.end.unary();
        let mut session = self.read(basin, stream, request, on_create, key).await?;
        while let Some(output) = session.next().await {
            if let ReadOutput::Batch { records, tail } = output? {
                return Ok((records, tail));
            }
        }
        Ok((Vec::new(), None))
    }
}

/// Whether a session goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Done,
}

struct Reader {
    storage: std::sync::Arc<dyn Storage>,
    live: LiveStream,
    /// Next seq num to deliver.
    pos: u64,
    /// The durable tail as last seen.
    tail: StreamPosition,
    budget: ReadBudget,
    wait: Option<Duration>,
    waits_at_tail: bool,
    live_rx: broadcast::Receiver<std::sync::Arc<LiveBatch>>,
    /// Opens the records of a stream with a cipher, with the reader's key.
    crypt: Option<RecordCrypt>,
    usage: std::sync::Arc<Usage>,
}

type Outputs = mpsc::Sender<Result<ReadOutput, Error>>;

fn heartbeat_delay() -> Duration {
    let spread_ms = (HEARTBEAT_SECS_MAX - HEARTBEAT_SECS_MIN) * 1000;
    Duration::from_millis(HEARTBEAT_SECS_MIN * 1000 + random_u64(0) % spread_ms)
}

impl Reader {
    async fn run(mut self, tx: Outputs) {
        if let Err(e) = self.drive(&tx).await {
            let _ = tx.send(Err(e)).await;
        }
    }

    async fn drive(&mut self, tx: &Outputs) -> Result<(), Error> {
        if self.budget.is_exhausted() || self.catch_up(tx).await? == Flow::Done || !self.waits_at_tail {
            return Ok(());
        }
        self.follow(tx).await
    }

    async fn emit(&self, tx: &Outputs, output: ReadOutput) -> Flow {
        if let ReadOutput::Batch { records, .. } = &output {
            let bytes = records.iter().map(SequencedRecord::metered_bytes).sum();
            self.live.usage.delivered(records.len() as u64, bytes);
        }
        match tx.send(Ok(output)).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Done,
        }
    }

    /// Reads from storage until the known tail.
    async fn catch_up(&mut self, tx: &Outputs) -> Result<Flow, Error> {
        let chunk = ReadChunk { records_max: RECORDS_PER_BATCH_MAX, metered_bytes_max: BATCH_METERED_BYTES_MAX };
        while self.pos < self.tail.seq_num {
            let records = self.storage.read_records(self.live.meta.id, self.pos, self.tail.seq_num, chunk).await?;
            if records.is_empty() {
                // The rest was trimmed away.
                self.pos = self.tail.seq_num;
                break;
            }
            let mut out = Vec::with_capacity(records.len());
            let done = self.budget.take_batch(records, &mut out);
            if let Some(last) = out.last() {
                self.pos = last.seq_num + 1;
                let records = open_records(self.crypt.as_ref(), out)?;
                if self.emit(tx, ReadOutput::Batch { records, tail: None }).await == Flow::Done {
                    return Ok(Flow::Done);
                }
            }
            if done {
                return Ok(Flow::Done);
            }
        }
        Ok(Flow::Continue)
    }

    /// Delivers durable batches as the sequencer broadcasts them.
    async fn follow(&mut self, tx: &Outputs) -> Result<(), Error> {
        let _following = self.usage.session_opened(SessionKind::Read);
        if self.emit(tx, ReadOutput::Heartbeat(self.tail)).await == Flow::Done {
            return Ok(());
        }
        let idle_deadline = |wait: Option<Duration>| wait.map(|w| Instant::now() + w);
        let mut give_up_at = idle_deadline(self.wait);
        let mut heartbeat_at = Instant::now() + heartbeat_delay();
        loop {
            tokio::select! {
                _ = tx.closed() => return Ok(()),
                received = self.live_rx.recv() => {
                    let flow = match received {
                        Ok(batch) => self.deliver_live(tx, &batch).await?,
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::debug!(stream_id = self.live.meta.id.0, missed, "follower lagged; catching up from storage");
                            self.refollow(tx).await?
                        }
                        Err(broadcast::error::RecvError::Closed) => return Err(Error::StreamDeletionPending(self.live.meta.basin.clone(), self.live.meta.name.clone())),
                    };
                    if flow == Flow::Done {
                        return Ok(());
                    }
                    give_up_at = idle_deadline(self.wait);
                    heartbeat_at = Instant::now() + heartbeat_delay();
                }
                _ = sleep_until_opt(give_up_at) => return Ok(()),
                _ = tokio::time::sleep_until(heartbeat_at) => {
                    if self.emit(tx, ReadOutput::Heartbeat(self.tail)).await == Flow::Done {
                        return Ok(());
                    }
                    heartbeat_at = Instant::now() + heartbeat_delay();
                }
            }
        }
    }

    async fn deliver_live(&mut self, tx: &Outputs, batch: &LiveBatch) -> Result<Flow, Error> {
        if batch.tail.seq_num <= self.pos {
            return Ok(Flow::Continue);
        }
        if batch.records.first().is_some_and(|first| first.seq_num > self.pos) {
            // Records between us and this batch are durable: read them.
            self.tail = batch.tail;
            return self.catch_up(tx).await;
        }
        let fresh = batch.records.iter().filter(|r| r.seq_num >= self.pos).cloned();
        let mut out = Vec::with_capacity(batch.records.len());
        let done = self.budget.take_batch(fresh, &mut out);
        self.tail = batch.tail;
        if let Some(last) = out.last() {
            self.pos = last.seq_num + 1;
            let records = open_records(self.crypt.as_ref(), out)?;
            let output = ReadOutput::Batch { records, tail: Some(batch.tail) };
            if self.emit(tx, output).await == Flow::Done {
                return Ok(Flow::Done);
            }
        }
        Ok(if done { Flow::Done } else { Flow::Continue })
    }

    /// Resubscribes after lagging behind the broadcast, and catches up.
    async fn refollow(&mut self, tx: &Outputs) -> Result<Flow, Error> {
        let snapshot = self
            .live
            .sequencer
            .follow()
            .await
            .map_err(|_| Error::StreamDeletionPending(self.live.meta.basin.clone(), self.live.meta.name.clone()))?;
        self.live_rx = snapshot.live;
        self.tail = snapshot.tail;
        self.pos = self.pos.max(snapshot.trim_point);
        self.catch_up(tx).await
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => futures::future::pending().await,
    }
}
