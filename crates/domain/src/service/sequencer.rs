//! The sequencer: one task per active stream that owns its tail.
//!
//! State and who may touch it: only the task reads or changes the stream's
//! [`SequencingState`]. Requests reach it through a bounded channel and are
//! handled strictly in arrival order.
//!
//! Appends are pipelined. A batch is sequenced against the *pending* state
//! (which includes batches not yet durable), handed to storage at once, and
//! acknowledged only when storage says it is durable, strictly in order.
//! Rejections (412, 422) wait their turn in the same queue, so no reply ever
//! overtakes an earlier batch. If a write fails, it and every later in-flight
//! batch fail, and the state is reloaded from storage before anything else
//! is accepted.
//!
//! Followers subscribe to a broadcast of acknowledged batches; the snapshot
//! they get with the subscription is the durable tail at that instant, so
//! storage below it plus the broadcast above it is gap-free.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use futures::{stream::FuturesOrdered, FutureExt, StreamExt};
use tokio::{
    sync::{broadcast, mpsc, oneshot, Notify},
    time::Instant,
};

use crate::{
    append::{sequence, AppendBatch, Sequenced, SequencingState, TimestampRule},
    clock::Clock,
    encryption::RecordCrypt,
    error::Error,
    position::StreamPosition,
    record::SequencedRecord,
    storage::{Storage, StorageError, StreamId},
};

/// Queued requests per sequencer before senders wait.
const MAILBOX_CAPACITY: usize = 1024;
/// Acknowledged batches buffered per follower before it lags and falls back
/// to storage.
const FOLLOWER_BUFFER_BATCHES: usize = 1024;
/// An idle sequencer with no followers stops after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The positions an acknowledged append occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    pub start: StreamPosition,
    pub end: StreamPosition,
    pub tail: StreamPosition,
}

/// A durable batch as followers receive it.
#[derive(Debug)]
pub struct LiveBatch {
    pub records: Vec<SequencedRecord>,
    /// The durable tail right after this batch.
    pub tail: StreamPosition,
}

/// What a follower starts from.
#[derive(Debug)]
pub struct FollowSnapshot {
    pub tail: StreamPosition,
    pub trim_point: u64,
    pub live: broadcast::Receiver<Arc<LiveBatch>>,
}

pub type AckReceiver = oneshot::Receiver<Result<AppendAck, Error>>;

enum Request {
    Append {
        batch: AppendBatch,
        reply: AckSender,
        session: Option<Poison>,
        crypt: Option<Arc<RecordCrypt>>,
    },
    Follow {
        reply: oneshot::Sender<FollowSnapshot>,
    },
    Tail {
        reply: oneshot::Sender<StreamPosition>,
    },
    SetTimestampRule(TimestampRule),
    /// Stop, unless `if_tail` is given and appends have moved the tail past
    /// it (or are in flight); answers whether it stops.
    Terminate {
        if_tail: Option<u64>,
        done: oneshot::Sender<bool>,
    },
}

/// A cheap handle to a stream's sequencer. While any handle other than the
/// registry's exists, the sequencer does not stop for idleness.
#[derive(Clone)]
pub struct SequencerHandle {
    mailbox: mpsc::Sender<Request>,
    generation: u64,
    /// Counted, never read: see `Retire`.
    _lease: Arc<()>,
}

/// The sequencer has stopped (the stream is being deleted, or its state
/// could not be loaded); look the stream up again.
#[derive(Debug)]
pub struct Gone;

impl SequencerHandle {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_closed(&self) -> bool {
        self.mailbox.is_closed()
    }

    /// Queues a batch behind every batch queued before it; the receiver
    /// yields its ack once durable. With `crypt`, its envelope records are
    /// sealed once their seq nums are known.
    pub async fn submit(
        &self,
        batch: AppendBatch,
        session: Option<Poison>,
        crypt: Option<Arc<RecordCrypt>>,
    ) -> Result<AckReceiver, (Gone, AppendBatch)> {
        let (reply, ack) = oneshot::channel();
        match self.mailbox.send(Request::Append { batch, reply, session, crypt }).await {
            Ok(()) => Ok(ack),
            Err(mpsc::error::SendError(Request::Append { batch, .. })) => Err((Gone, batch)),
            Err(_) => unreachable!("send returns the request it was given"),
        }
    }

    pub async fn follow(&self) -> Result<FollowSnapshot, Gone> {
        let (reply, rx) = oneshot::channel();
        self.mailbox.send(Request::Follow { reply }).await.map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }

    pub async fn tail(&self) -> Result<StreamPosition, Gone> {
        let (reply, rx) = oneshot::channel();
        self.mailbox.send(Request::Tail { reply }).await.map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }

    /// Waits for room in a full mailbox: a dropped rule would stay unapplied
    /// until the sequencer restarts.
    pub async fn set_timestamp_rule(&self, rule: TimestampRule) {
        // A closed mailbox: the next sequencer reads the stored config.
        let _ = self.mailbox.send(Request::SetTimestampRule(rule)).await;
    }

    /// Stops the sequencer once its in-flight appends are done; followers
    /// then see the end of the broadcast.
    pub async fn terminate(&self) {
        self.terminate_with(None).await;
    }

    /// Stops the sequencer only if nothing was appended since the tail was
    /// `tail_seq_num` and nothing is in flight; answers whether it stopped.
    pub async fn terminate_if_unchanged(&self, tail_seq_num: u64) -> bool {
        self.terminate_with(Some(tail_seq_num)).await
    }

    async fn terminate_with(&self, if_tail: Option<u64>) -> bool {
        let (done, rx) = oneshot::channel();
        match self.mailbox.send(Request::Terminate { if_tail, done }).await {
            Ok(()) => rx.await.unwrap_or(true),
            // Already stopped.
            Err(_) => true,
        }
    }
}

/// Where sequencers ask to stop. `idle` is evaluated under the registry's
/// lock, so that no handle can be handed out between the check and the stop.
pub trait Retire: Send + Sync + 'static {
    /// Forgets the sequencer if it is still the stream's and `idle()` holds.
    fn retire(&self, id: StreamId, generation: u64, idle: &dyn Fn() -> bool) -> bool;
}

/// Set once a batch of an append session fails: the session's later batches
/// are refused, even those already queued, so nothing after a failure is
/// applied.
pub type Poison = Arc<AtomicBool>;

/// A batch on its way to durability (or a rejection waiting its turn).
type InFlight = futures::future::BoxFuture<'static, Result<(Vec<SequencedRecord>, SequencingState), Error>>;
type AckSender = oneshot::Sender<Result<AppendAck, Error>>;

pub struct Sequencer {
    id: StreamId,
    generation: u64,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    rule: TimestampRule,
    /// State including batches not yet durable.
    pending: SequencingState,
    /// State of what is durable.
    durable: SequencingState,
    /// When the last batch arrived, as given to storage.
    last_arrival_ms: u64,
    in_flight: FuturesOrdered<InFlight>,
    /// One per entry of `in_flight`, in the same order.
    replies: VecDeque<(AckSender, Option<Poison>)>,
    /// Acknowledged batches for followers; made on the first follow and
    /// dropped once nobody follows, so idle streams hold no buffer.
    live: Option<broadcast::Sender<Arc<LiveBatch>>>,
    retire: Arc<dyn Retire>,
    /// Woken when a trim becomes durable, so that trimmed records are
    /// deleted soon.
    on_trim: Arc<Notify>,
    /// Shared with every handle; its count tells whether anyone holds one.
    lease: Arc<()>,
}

impl Sequencer {
    /// Starts a sequencer task for the stream and returns its handle.
    pub fn spawn(
        id: StreamId,
        generation: u64,
        rule: TimestampRule,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        retire: Arc<dyn Retire>,
        on_trim: Arc<Notify>,
    ) -> SequencerHandle {
        let (mailbox, rx) = mpsc::channel(MAILBOX_CAPACITY);
        let sequencer = Sequencer {
            id,
            generation,
            storage,
            clock,
            rule,
            pending: SequencingState::default(),
            durable: SequencingState::default(),
            last_arrival_ms: 0,
            in_flight: FuturesOrdered::new(),
            replies: VecDeque::new(),
            live: None,
            retire,
            on_trim,
            lease: Arc::new(()),
        };
        let lease = sequencer.lease.clone();
        tokio::spawn(sequencer.run(rx));
        SequencerHandle { mailbox, generation, _lease: lease }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        if let Err(e) = self.reload().await {
            tracing::warn!(stream_id = self.id.0, error = %e, "sequencer could not load stream state");
            self.retire.retire(self.id, self.generation, &|| true);
            return;
        }
        // One timer for the sequencer's life, re-armed only when it fires:
        // arming one per request would cost a timer-wheel insert and removal
        // per append.
        let mut last_active = Instant::now();
        let idle_check = tokio::time::sleep(IDLE_TIMEOUT);
        tokio::pin!(idle_check);
        let terminated = loop {
            tokio::select! {
                Some(done) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.complete(done).await;
                    last_active = Instant::now();
                }
                request = rx.recv() => match request {
                    Some(Request::Terminate { if_tail: Some(tail), done })
                        if tail != self.pending.tail.seq_num || !self.in_flight.is_empty() =>
                    {
                        let _ = done.send(false);
                    }
                    Some(Request::Terminate { done, .. }) => break Some(done),
                    Some(request) => {
                        self.handle(request);
                        last_active = Instant::now();
                    }
                    None => break None,
                },
                () = &mut idle_check => {
                    let idle_until = last_active + IDLE_TIMEOUT;
                    if !self.in_flight.is_empty() || idle_until > Instant::now() {
                        // Busy since the timer was armed: look again once
                        // it could have been idle for the whole timeout.
                        let again = if self.in_flight.is_empty() { idle_until } else { Instant::now() + IDLE_TIMEOUT };
                        idle_check.as_mut().reset(again);
                        continue;
                    }
                    idle_check.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                    // Handles: this sequencer's own lease and the registry's.
                    let idle = || {
                        Arc::strong_count(&self.lease) == 2
                            && rx.is_empty()
                            && self.live.as_ref().is_none_or(|live| live.receiver_count() == 0)
                    };
                    if self.retire.retire(self.id, self.generation, &idle) {
                        break None;
                    }
                }
            }
        };
        // Requests queued behind a termination are dropped unanswered.
        rx.close();
        while let Some(done) = self.in_flight.next().await {
            self.complete(done).await;
        }
        drop(self);
        if let Some(done) = terminated {
            let _ = done.send(true);
        }
    }

    async fn reload(&mut self) -> Result<(), StorageError> {
        let state = self.storage.resume_appends(self.id).await?;
        self.pending = state.clone();
        self.durable = state;
        Ok(())
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Append { batch, reply, session, crypt } => self.append(batch, reply, session, crypt.as_deref()),
            Request::Follow { reply } => {
                let _ = reply.send(FollowSnapshot {
                    tail: self.durable.tail,
                    trim_point: self.durable.trim_point,
                    live: self.live.get_or_insert_with(|| broadcast::channel(FOLLOWER_BUFFER_BATCHES).0).subscribe(),
                });
            }
            Request::Tail { reply } => {
                let _ = reply.send(self.durable.tail);
            }
            Request::SetTimestampRule(rule) => self.rule = rule,
            Request::Terminate { .. } => unreachable!("handled by the run loop"),
        }
    }

    fn append(&mut self, batch: AppendBatch, reply: AckSender, session: Option<Poison>, crypt: Option<&RecordCrypt>) {
        let poisoned = session.as_ref().is_some_and(|p| p.load(Ordering::Acquire));
        let now_ms = self.clock.now_ms();
        let sequenced = if poisoned {
            Err(Error::Unavailable("an earlier append of this session failed"))
        } else {
            sequence(&self.pending, batch, self.rule, now_ms).map_err(Error::from).and_then(|sequenced| match crypt {
                Some(crypt) => Ok(Sequenced { records: crypt.seal_batch(sequenced.records)?, ..sequenced }),
                None => Ok(sequenced),
            })
        };
        let flight: InFlight = match sequenced {
            Ok(sequenced) => {
                debug_assert!(sequenced.state.tail.seq_num > self.pending.tail.seq_num);
                // Arrivals never go back along a stream, even if the clock does.
                self.last_arrival_ms = self.last_arrival_ms.max(now_ms);
                let durable = self.storage.append(self.id, &sequenced.records, &sequenced.state, self.last_arrival_ms);
                self.pending = sequenced.state.clone();
                async move {
                    durable.await?;
                    Ok((sequenced.records, sequenced.state))
                }
                .boxed()
            }
            Err(rejection) => {
                if let Some(poison) = &session {
                    poison.store(true, Ordering::Release);
                }
                futures::future::ready(Err(rejection)).boxed()
            }
        };
        self.in_flight.push_back(flight);
        self.replies.push_back((reply, session));
    }

    async fn complete(&mut self, done: Result<(Vec<SequencedRecord>, SequencingState), Error>) {
        let Some((reply, session)) = self.replies.pop_front() else {
            debug_assert!(false, "a completion without a reply");
            return;
        };
        match done {
            Ok((records, state)) => {
                let start = StreamPosition::new(records[0].seq_num, records[0].timestamp);
                debug_assert_eq!(start.seq_num, self.durable.tail.seq_num, "acks are in order");
                if state.trim_point > self.durable.trim_point {
                    self.on_trim.notify_one();
                }
                self.durable = state;
                let tail = self.durable.tail;
                let _ = reply.send(Ok(AppendAck { start, end: tail, tail }));
                if let Some(live) = &self.live {
                    if live.send(Arc::new(LiveBatch { records, tail })).is_err() {
                        // Every follower has gone.
                        self.live = None;
                    }
                }
            }
            Err(Error::Storage(e)) => {
                tracing::error!(stream_id = self.id.0, error = %e, "append failed; failing later in-flight appends");
                let failed = std::iter::once((reply, session)).chain(self.replies.drain(..));
                for (reply, session) in failed {
                    if let Some(poison) = session {
                        poison.store(true, Ordering::Release);
                    }
                    let _ = reply.send(Err(Error::Storage(e.clone())));
                }
                self.in_flight = FuturesOrdered::new();
                if let Err(reload) = self.reload().await {
                    tracing::error!(stream_id = self.id.0, error = %reload, "reloading stream state failed");
                    self.pending = self.durable.clone();
                }
            }
            Err(rejection) => {
                let _ = reply.send(Err(rejection));
            }
        }
    }
}
