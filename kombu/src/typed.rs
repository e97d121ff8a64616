//! What generated consumers and producers are built on: [`TypedConsumer`], over a
//! [`Dispatch`] that the generator writes (the consumer's settings, its queues, and the `match`
//! that decodes a delivery and calls the right handler method), and `__producer!`, which adds
//! the methods every generated producer has.
//!
//! A topology's consumer `media-worker` becomes a handler trait `MediaWorkerHandler` and
//! `type MediaWorkerConsumer<H> = TypedConsumer<MediaWorkerDispatch, H>`; everything a consumer
//! does beyond dispatching (starting, running handlers concurrently, shutting down, settling)
//! is written once here rather than once per consumer in every generated module. The same goes
//! for a producer's constructors and untyped methods.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::dispatch::{Disposition, FailurePolicy};
use crate::offsets::{DynOffsetStore, OffsetStore};
use crate::serialization::Accept;
use crate::{
    Channel, Consumer, Error, Message, Queue, QueueType, Result, RunOptions, Shutdown, StreamOffset,
};

/// What a generated handler method returns: a `Send` future of its [`Disposition`]. Any such
/// future is one, so a handler is written as `async fn name(&self, ...) -> Disposition`.
pub trait Handled: Future<Output = Disposition> + Send {}

impl<F: Future<Output = Disposition> + Send> Handled for F {}

/// A generated consumer's description and dispatch for handler type `H` (implemented by the
/// generator; not meant to be written by hand).
pub trait Dispatch<H>: 'static {
    /// The consumer's name in the topology.
    const NAME: &'static str;
    /// The prefetch count it consumes with.
    const PREFETCH: u16;
    /// How many handlers run at once unless told otherwise (one, unless the generator writes
    /// it: only settings that differ from the defaults are written).
    const CONCURRENCY: usize = 1;
    /// The queues whose messages are handled one at a time, in order.
    const ORDERED: &'static [&'static str] = &[];
    /// The serializers it accepts (empty: the consumer's default).
    const ACCEPT: &'static [&'static str] = &[];
    /// What happens to a delivery that cannot be handled (and to one whose handler panics).
    const POLICY: FailurePolicy = FailurePolicy::DeadLetter;

    /// The queues it consumes, with their bindings.
    fn queues() -> Vec<Queue>;

    /// Decodes `delivery` (from `queue`, empty when the delivery does not say) and calls the
    /// handler method for it; `Err` for a delivery that cannot be handled (undecodable,
    /// unknown tag, unknown queue).
    fn dispatch(
        handler: &H,
        queue: &str,
        delivery: &Message,
    ) -> impl Future<Output = Result<Disposition>> + Send;

    /// The error hook of a consumer whose policy is [`FailurePolicy::Hook`] (others never
    /// call it).
    fn on_failure(
        handler: &H,
        error: Error,
        delivery: &Message,
    ) -> impl Future<Output = Disposition> + Send {
        let _ = (handler, error, delivery);
        std::future::ready(Self::POLICY.disposition())
    }
}

/// A typed consumer: consumes its queues and dispatches each message to a method of its
/// handler `H`, settling it as the method decides.
pub struct TypedConsumer<D, H> {
    consumer: Consumer,
    handler: H,
    concurrency: usize,
    offsets: Option<Offsets>,
    dispatch: PhantomData<fn() -> D>,
}

/// A consumer's offset store and the streams whose offsets it records.
struct Offsets {
    store: Arc<dyn DynOffsetStore>,
    streams: Vec<String>,
}

impl Offsets {
    /// Saves the offset of a stream message the handler finished (not one it asked to see
    /// again); a store that fails is logged, and the message is handled again after a restart.
    async fn record(
        &self,
        consumer: &str,
        queue: Option<&str>,
        delivery: &Message,
        disposition: Disposition,
    ) {
        if disposition == Disposition::Requeue {
            return;
        }
        let (Some(queue), Some(offset)) = (queue, delivery.stream_offset()) else {
            return;
        };
        if !self.streams.iter().any(|s| s == queue) {
            return;
        }
        if let Err(error) = self.store.save(consumer, queue, offset).await {
            tracing::warn!(consumer, queue, offset, %error, "could not save the stream offset; after a restart this message is handled again");
        }
    }
}

// The handler need not be `Debug`; it is left out.
impl<D, H> fmt::Debug for TypedConsumer<D, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedConsumer")
            .field("consumer", &self.consumer)
            .field("concurrency", &self.concurrency)
            .field("offsets", &self.offsets.as_ref().map(|o| &o.streams))
            .finish_non_exhaustive()
    }
}

impl<D: Dispatch<H>, H: Send + Sync> TypedConsumer<D, H> {
    /// The consumer's name in the topology.
    pub const NAME: &'static str = D::NAME;
    /// The prefetch count it consumes with.
    pub const PREFETCH: u16 = D::PREFETCH;
    /// How many handlers [`run`](Self::run) runs at once, unless
    /// [`concurrency`](Self::concurrency) says otherwise.
    pub const CONCURRENCY: usize = D::CONCURRENCY;
    /// The queues whose messages are handled one at a time, in order.
    pub const ORDERED: &'static [&'static str] = D::ORDERED;

    /// Declares the queues (with their exchanges and bindings), sets the prefetch and starts
    /// consuming.
    pub async fn start(channel: &Channel, handler: H) -> Result<Self> {
        Self::start_queues(channel, handler, D::queues(), None).await
    }

    /// [`start`](Self::start), resuming each stream it reads after the last offset `store`
    /// holds for it (where there is none, from the topology's `offset`), and saving each
    /// stream message's offset in `store` once its handler has finished. [`run`](Self::run)
    /// then handles each stream's messages one at a time, in order, so that a saved offset
    /// means every message before it was handled. A store that cannot be read fails the
    /// start.
    pub async fn start_with_offsets(
        channel: &Channel,
        handler: H,
        store: impl OffsetStore,
    ) -> Result<Self> {
        let store: Arc<dyn DynOffsetStore> = Arc::new(store);
        let mut queues = D::queues();
        let mut streams = Vec::new();
        for queue in &mut queues {
            if queue.kind() != QueueType::Stream {
                continue;
            }
            if let Some(last) = store.load(D::NAME, &queue.name).await? {
                queue.consumer_arguments.insert(
                    "x-stream-offset".to_owned(),
                    StreamOffset::Offset(last.saturating_add(1)).to_argument(),
                );
            }
            streams.push(queue.name.clone());
        }
        Self::start_queues(channel, handler, queues, Some(Offsets { store, streams })).await
    }

    async fn start_queues(
        channel: &Channel,
        handler: H,
        queues: Vec<Queue>,
        offsets: Option<Offsets>,
    ) -> Result<Self> {
        let mut consumer = Consumer::new(channel, queues).prefetch_count(D::PREFETCH);
        if !D::ACCEPT.is_empty() {
            consumer = consumer.accept(Accept::new(D::ACCEPT.iter().copied()));
        }
        consumer.consume().await?;
        Ok(TypedConsumer {
            consumer,
            handler,
            concurrency: D::CONCURRENCY,
            offsets,
            dispatch: PhantomData,
        })
    }

    /// Runs up to `n` handlers at once (at least 1). More than the prefetch never run.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The untyped consumer underneath (to cancel it, for example).
    pub fn consumer(&mut self) -> &mut Consumer {
        &mut self.consumer
    }

    /// Waits up to `timeout` for the next message, handles and settles it, and says what was
    /// done with it.
    pub async fn handle_next(&mut self, timeout: Duration) -> Result<Disposition> {
        let delivery = self.consumer.recv(timeout).await?;
        Ok(self.handle(&delivery).await)
    }

    /// How [`run`](Self::run) hands messages to the handler: the concurrency, the ordered
    /// queues (and the streams whose offsets it saves), the failure policy for a handler that
    /// panics.
    pub fn run_options(&self) -> RunOptions {
        let streams = self.offsets.iter().flat_map(|o| &o.streams);
        D::ORDERED
            .iter()
            .copied()
            .chain(streams.map(String::as_str))
            .fold(
                RunOptions::new()
                    .name(D::NAME)
                    .concurrency(self.concurrency)
                    .on_panic(D::POLICY),
                |options, queue| options.ordered(queue),
            )
    }

    /// Handles messages, up to the concurrency at once, each acked (or rejected) as its
    /// handler finishes, until the consumer is cancelled or its channel or connection closes;
    /// then returns `Ok`. A broker cancel is returned as an error once the handlers in flight
    /// have finished.
    pub async fn run(&mut self) -> Result<()> {
        let options = self.run_options();
        self.run_with(options).await
    }

    /// [`run`](Self::run) until `shutdown` is requested: then it stops taking messages, lets
    /// the handlers in flight finish within the grace period, gives back what was delivered
    /// but not started, and returns. Close the connection after it.
    pub async fn run_until(&mut self, shutdown: &Shutdown) -> Result<()> {
        let options = self.run_options().shutdown(shutdown.clone());
        self.run_with(options).await
    }

    /// [`run`](Self::run) with options of your own.
    pub async fn run_with(&mut self, options: RunOptions) -> Result<()> {
        let handler = &self.handler;
        let offsets = self.offsets.as_ref();
        crate::worker::run(
            &mut self.consumer,
            &options,
            async |delivery: &Message, queue: Option<&str>| {
                let disposition = decide::<D, H>(handler, queue, delivery).await;
                if let Some(offsets) = offsets {
                    offsets.record(D::NAME, queue, delivery, disposition).await;
                }
                disposition
            },
        )
        .await
    }

    /// Decodes one delivery by its content type, dispatches it by queue (and tag) to the
    /// handler, and settles it as the handler decided. A delivery that cannot be handled
    /// follows the consumer's failure policy.
    pub async fn handle(&self, delivery: &Message) -> Disposition {
        let queue = self.consumer.queue_of(delivery.consumer_tag());
        let handling = decide::<D, H>(&self.handler, queue.as_deref(), delivery);
        let disposition =
            crate::__private::process(D::NAME, queue.as_deref(), delivery, handling).await;
        if let Some(offsets) = &self.offsets {
            offsets
                .record(D::NAME, queue.as_deref(), delivery, disposition)
                .await;
        }
        crate::__private::settle(D::NAME, queue.as_deref(), delivery, disposition)
    }
}

/// What the handler (or the failure policy) decides for a delivery from `queue`.
async fn decide<D: Dispatch<H>, H>(
    handler: &H,
    queue: Option<&str>,
    delivery: &Message,
) -> Disposition {
    match D::dispatch(handler, queue.unwrap_or_default(), delivery).await {
        Ok(disposition) => disposition,
        Err(error) => {
            let fallback = crate::__private::failed(D::NAME, queue, D::POLICY, delivery, &error);
            match D::POLICY {
                FailurePolicy::Hook => D::on_failure(handler, error, delivery).await,
                _ => fallback,
            }
        }
    }
}

/// A generated consumer: its handler trait, with each method written as
/// `fn name(&self, message: Type);` (the macro adds the `delivery: &Message` parameter, the
/// `impl Handled` return type and the `Send + Sync` bound), the consumer type alias, the
/// dispatch type and its [`Dispatch`] impl written as `impl Dispatch { consts, fn queues,
/// async fn dispatch(..) { body }, other fns }` (the macro writes the impl's header and
/// `dispatch`'s return type). The macro adds `Debug` to the dispatch type and allows what
/// generated code may leave unused.
#[doc(hidden)]
#[macro_export]
macro_rules! __consumer {
    (
        $(#[$tattr:meta])*
        pub trait $trait:ident {
            $(
                $(#[$mattr:meta])*
                fn $method:ident(&self $(, $param:ident : $pty:ty)* $(,)?);
            )*
        }
        $(#[$cattr:meta])*
        pub type $consumer:ident<$h:ident> = $cty:ty;
        $(#[$dattr:meta])*
        pub enum $dispatch:ident {}
        impl $dispatch_again:ident {
            $(const $konst:ident : $kty:ty = $kvalue:expr;)*
            fn queues() -> $qty:ty $queues:block
            async fn dispatch($($dparams:tt)*) $dbody:block
            $($rest:item)*
        }
    ) => {
        $(#[$tattr])*
        // A variant's fields are the method's parameters, and the topology names the methods.
        #[allow(
            dead_code,
            unreachable_pub,
            clippy::too_many_arguments,
            clippy::wrong_self_convention
        )]
        pub trait $trait: ::core::marker::Send + ::core::marker::Sync {
            $(
                $(#[$mattr])*
                fn $method(
                    &self,
                    $($param: $pty,)*
                    delivery: &$crate::Message,
                ) -> impl $crate::Handled;
            )*
        }

        $(#[$cattr])*
        #[allow(dead_code, unreachable_pub)]
        pub type $consumer<$h> = $cty;

        $(#[$dattr])*
        #[allow(dead_code, unreachable_pub)]
        #[derive(Debug)]
        pub enum $dispatch {}

        impl<$h: $trait> $crate::Dispatch<$h> for $dispatch {
            $(const $konst: $kty = $kvalue;)*

            fn queues() -> $qty $queues

            async fn dispatch($($dparams)*) -> $crate::Result<$crate::Disposition> $dbody

            $($rest)*
        }
    };
}

/// A generated producer: its struct (when the generator defines one) and an impl holding its
/// `exchange()`, its settings written as `fn new(producer: Producer) -> Self` (turned into the
/// `new(channel)` constructor, which gives it a `Producer` on `channel` publishing to
/// `exchange()`) and its route methods. The macro adds `new`, `from_connection`, `publish`,
/// `declare` and `producer`; `#[producer(field)]` names the field holding the `Producer`. The
/// struct derives `Debug`; both allow what generated code may leave unused.
#[doc(hidden)]
#[macro_export]
macro_rules! __producer {
    (
        $(#[$sattr:meta])*
        pub struct $name:ident { $field:ident : $fty:ty $(,)? }
        $($rest:tt)*
    ) => {
        $(#[$sattr])*
        #[allow(dead_code, unreachable_pub)]
        #[derive(Debug)]
        pub struct $name {
            $field: $fty,
        }
        $crate::__producer! { $($rest)* }
    };
    (
        #[producer($field:ident)]
        $(#[$attr:meta])*
        impl $name:ident {
            $(#[$xattr:meta])*
            pub fn exchange() -> $xty:ty $xbody:block
            fn new($p:ident : $pty:ty) -> Self $settings:block
            $($methods:tt)*
        }
    ) => {
        $(#[$attr])*
        // A variant's fields are the method's parameters, and the topology names the methods.
        #[allow(
            dead_code,
            unreachable_pub,
            clippy::too_many_arguments,
            clippy::wrong_self_convention
        )]
        impl $name {
            $(#[$xattr])*
            pub fn exchange() -> $xty $xbody

            /// A producer on `channel`; its exchange is declared before the first publish.
            pub fn new(channel: &$crate::Channel) -> Self {
                let $p: $pty = $crate::Producer::new(channel).exchange(Self::exchange());
                $settings
            }

            /// A producer on a new channel of `connection`.
            pub async fn from_connection(connection: &$crate::Connection) -> $crate::Result<Self> {
                let channel = connection.channel().await?;
                ::core::result::Result::Ok(Self::new(&channel))
            }

            /// Publishes `body` with the default routing key (change it, and anything else,
            /// on the returned `Publish` before awaiting it).
            pub fn publish<'a, T>(&'a self, body: &'a T) -> $crate::Publish<'a, T>
            where
                T: $crate::__private::serde::Serialize + ::core::marker::Sync + ?::core::marker::Sized,
            {
                self.$field.publish(body)
            }

            /// Declares the exchange now (it is declared before the first publish anyway).
            pub async fn declare(&self) -> $crate::Result<()> {
                self.$field.declare().await
            }

            /// The untyped producer underneath, for anything the methods do not cover.
            pub fn producer(&self) -> &$crate::Producer {
                &self.$field
            }

            $($methods)*
        }
    };
}
