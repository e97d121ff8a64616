//! The description the generator works from. Front ends build it; nothing here parses files
//! or attributes. Names are the broker's or the file's; `ident` fields are the Rust
//! identifiers, already converted and checked by the front end.

/// Everything one generated module holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Module {
    /// The files it was generated from (for the `@generated` header).
    pub sources: Vec<String>,
    /// What the topology is for.
    pub description: Option<String>,
    /// Exchanges to declare.
    pub exchanges: Vec<ExchangeDecl>,
    /// Queues to declare.
    pub queues: Vec<QueueDecl>,
    /// Message types to define (or refer to).
    pub messages: Vec<MessageType>,
    /// Typed producers.
    pub producers: Vec<ProducerSpec>,
    /// Typed consumers.
    pub consumers: Vec<ConsumerSpec>,
    /// Celery task sets (a client and a handler trait each).
    pub tasks: Vec<TaskSet>,
    /// Extra derives for generated message types (`Eq`, `Hash`, `schemars::JsonSchema`, ...).
    pub extra_derives: Vec<String>,
}

/// A declaration argument value, with its exact AMQP field type.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A boolean.
    Bool(bool),
    /// An integer of the AMQP type named by `width` (`I8`, `U8`, `I16`, `U16`, `I32`, `U32`,
    /// `I64`: the variant of `kombu::FieldValue`).
    Int {
        /// The `kombu::FieldValue` variant.
        width: &'static str,
        /// The value (in range for the width).
        value: i64,
    },
    /// A 32-bit float.
    F32(f32),
    /// A 64-bit float.
    F64(f64),
    /// A decimal: `value` scaled down by `scale` digits.
    Decimal {
        /// Digits after the point.
        scale: u8,
        /// The unscaled value.
        value: u32,
    },
    /// A string.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A timestamp, in seconds since the epoch.
    Timestamp(u64),
    /// No value.
    Void,
    /// A list.
    List(Vec<Arg>),
    /// A table.
    Table(Vec<(String, Arg)>),
}

/// A binding from a source exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingDecl {
    /// The source exchange, as declared (its own bindings are not followed).
    pub source: Box<ExchangeDecl>,
    /// The binding key.
    pub routing_key: String,
    /// The binding arguments (`x-match` and header values for headers exchanges).
    pub arguments: Vec<(String, Arg)>,
}

/// An exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeDecl {
    /// The broker's name.
    pub name: String,
    /// The Rust function/constant stem (`media_dlx`).
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// The exchange type.
    pub kind: ExchangeKind,
    /// Durable.
    pub durable: bool,
    /// Auto-delete.
    pub auto_delete: bool,
    /// Internal.
    pub internal: bool,
    /// Every argument `exchange.declare` sends (`alternate-exchange` among them), in key
    /// order.
    pub arguments: Vec<(String, Arg)>,
    /// Exchange-to-exchange bindings (this exchange is the destination).
    pub bindings: Vec<BindingDecl>,
}

impl ExchangeDecl {
    /// An exchange with RabbitMQ's defaults: durable, not auto-delete, not internal, no
    /// arguments or bindings.
    pub fn new(name: &str, ident: String, kind: ExchangeKind) -> Self {
        ExchangeDecl {
            name: name.to_owned(),
            ident,
            description: None,
            kind,
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: Vec::new(),
            bindings: Vec::new(),
        }
    }
}

/// An exchange type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeKind {
    /// `direct`.
    Direct,
    /// `fanout`.
    Fanout,
    /// `topic`.
    Topic,
    /// `headers`.
    Headers,
    /// A plugin's type, by the name the broker knows it under (`x-delayed-message`).
    Custom(String),
}

impl ExchangeKind {
    /// The type named `name` (a name that is none of the four built-in ones is a plugin's).
    pub fn from_name(name: &str) -> Self {
        match name {
            "direct" => ExchangeKind::Direct,
            "fanout" => ExchangeKind::Fanout,
            "topic" => ExchangeKind::Topic,
            "headers" => ExchangeKind::Headers,
            other => ExchangeKind::Custom(other.to_owned()),
        }
    }

    /// The broker's name of the type.
    pub fn as_str(&self) -> &str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
            ExchangeKind::Custom(name) => name,
        }
    }
}

impl std::fmt::Display for ExchangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A queue.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueDecl {
    /// The broker's name.
    pub name: String,
    /// The Rust function/constant stem.
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// Durable.
    pub durable: bool,
    /// Exclusive.
    pub exclusive: bool,
    /// Auto-delete.
    pub auto_delete: bool,
    /// Every `x-` argument `queue.declare` sends (TTLs, limits, dead-lettering, the queue
    /// type, ...), in key order: front ends map their settings to arguments, so the
    /// generator knows none of them by name.
    pub arguments: Vec<(String, Arg)>,
    /// Bindings.
    pub bindings: Vec<BindingDecl>,
}

/// A field type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// A primitive, by its file name (`string`, `u64`, `bytes`, `timestamp`, `json`, ...).
    Primitive(String),
    /// May be absent.
    Optional(Box<FieldType>),
    /// A list.
    List(Box<FieldType>),
    /// A map with string keys.
    Map(Box<FieldType>),
    /// Another message type, by its Rust type name.
    Message(String),
}

/// A field of a message or variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The name on the wire.
    pub name: String,
    /// The Rust field name.
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// Its type.
    pub ty: FieldType,
}

/// A variant of an enum message.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The tag value on the wire.
    pub tag: String,
    /// The Rust variant name.
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// Fields besides the tag.
    pub fields: Vec<Field>,
}

/// What a message type is.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageKind {
    /// A struct with these fields.
    Struct(Vec<Field>),
    /// An enum dispatched on the `tag` field.
    Enum {
        /// The tag field's name on the wire.
        tag: String,
        /// The variants.
        variants: Vec<Variant>,
    },
    /// An existing Rust type, by path (not generated).
    External(String),
}

/// A message type.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageType {
    /// The name in the topology.
    pub name: String,
    /// The Rust type name.
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// Struct, enum or external.
    pub kind: MessageKind,
}

/// Whether a producer waits for publisher confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Confirm {
    /// No.
    #[default]
    None,
    /// Each publish waits for the broker's confirm.
    Wait,
}

/// What a producer's method sends.
#[derive(Debug, Clone, PartialEq)]
pub enum MethodInput {
    /// The whole message, by reference.
    Message,
    /// One variant of an enum message: the method takes its fields.
    Variant {
        /// The variant's Rust name.
        ident: String,
        /// Its fields (the method's parameters).
        fields: Vec<Field>,
    },
}

/// A producer method.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSpec {
    /// The Rust method name.
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// The message's Rust type (a generated type, or an external path).
    pub message: String,
    /// Whole message or one variant.
    pub input: MethodInput,
    /// The routing key.
    pub routing_key: String,
    /// Headers sent with each message.
    pub headers: Vec<(String, Arg)>,
}

/// A typed producer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerSpec {
    /// The name in the topology.
    pub name: String,
    /// The Rust type name (`MediaProducer`).
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// The exchange it publishes to; `None` is the default exchange (the routing key names
    /// the queue).
    pub exchange: Option<ExchangeDecl>,
    /// Define the struct (a topology, an enum derive), or only implement it on the user's
    /// struct (a struct derive), whose producer field is `field` and whose other fields are
    /// `Default::default()`.
    pub define_struct: bool,
    /// The field holding the `kombu::Producer`.
    pub field: String,
    /// The user's other fields, filled with `Default::default()`.
    pub other_fields: Vec<String>,
    /// The routing key `publish` uses when not told otherwise.
    pub routing_key: String,
    /// Serializer name.
    pub serializer: String,
    /// Compression name.
    pub compression: Option<String>,
    /// Persistent (else transient).
    pub persistent: bool,
    /// Confirm policy.
    pub confirm: Confirm,
    /// Methods.
    pub methods: Vec<MethodSpec>,
}

/// What to do with a message the consumer cannot handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Reject to the dead-letter exchange.
    #[default]
    DeadLetter,
    /// Requeue.
    Requeue,
    /// Call the handler's `on_failure` hook.
    Hook,
}

/// A handler method of a consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerSpec {
    /// The Rust method name.
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// For an enum: the variant this method handles and its fields (passed as arguments);
    /// for a struct message, `None` (the method receives the message).
    pub variant: Option<(String, Vec<Field>)>,
}

/// One queue a consumer reads, with its message type and handler methods.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeSpec {
    /// The queue, as declared.
    pub queue: QueueDecl,
    /// The message's Rust type.
    pub message: String,
    /// One handler for a struct message; one per variant for an enum.
    pub handlers: Vec<HandlerSpec>,
    /// Its messages are handled one at a time, in order, whatever the concurrency.
    pub ordered: bool,
    /// Where it starts reading the queue, a stream.
    pub offset: Option<StreamOffset>,
}

/// Where a consumer starts reading a stream (`kombu::StreamOffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOffset {
    /// The first message the stream holds.
    First,
    /// The last chunk.
    Last,
    /// What is published after the consumer starts.
    Next,
    /// This offset.
    Offset(u64),
    /// What was written within this many seconds.
    AgeSecs(u64),
}

/// A typed consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerSpec {
    /// The name in the topology.
    pub name: String,
    /// The Rust type stem (`MediaWorker` → `MediaWorkerHandler`, `MediaWorkerConsumer`).
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// Queues.
    pub queues: Vec<ConsumeSpec>,
    /// Prefetch count.
    pub prefetch: u16,
    /// How many handlers `run` runs at once (at least 1).
    pub concurrency: u16,
    /// Failure policy.
    pub on_failure: OnFailure,
    /// Accepted serializer names (empty: the default accept list).
    pub accept: Vec<String>,
}

/// Celery tasks sent through one typed client (`{ident}Client`) and run by one handler trait
/// (`{ident}Handler`).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSet {
    /// What it is, for docs and errors: "the topology's `[tasks]`", "`Images`".
    pub name: String,
    /// The Rust type stem (`Task` → `TaskClient`, `TaskHandler`).
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// The tasks.
    pub tasks: Vec<TaskSpec>,
}

/// One Celery task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// The name in the topology (or the variant's).
    pub name: String,
    /// The name Celery registers it under.
    pub task: String,
    /// The Rust method name.
    pub ident: String,
    /// Doc comment.
    pub description: Option<String>,
    /// The queue it is sent to and a worker consumes.
    pub queue: String,
    /// The queue's declaration, when the topology declares it (else it is declared as
    /// Celery declares its queues).
    pub declaration: Option<QueueDecl>,
    /// Sent to this exchange with this routing key instead of to the queue.
    pub route: Option<(String, String)>,
    /// Positional parameters, in order.
    pub args: Vec<Field>,
    /// Keyword-only parameters.
    pub kwargs: Vec<Field>,
    /// The result type (`None`: Python's `None`, the unit type).
    pub result: Option<FieldType>,
    /// Ack after running.
    pub acks_late: bool,
    /// Retries allowed (`None`: Celery's default).
    pub max_retries: Option<u32>,
    /// The default retry delay, in milliseconds.
    pub default_retry_delay_ms: Option<u64>,
    /// The hard time limit, in milliseconds.
    pub time_limit_ms: Option<u64>,
    /// The soft time limit, in milliseconds.
    pub soft_time_limit_ms: Option<u64>,
    /// Expiry after sending, in milliseconds.
    pub expires_ms: Option<u64>,
    /// No result is reported.
    pub ignore_result: bool,
    /// The message priority.
    pub priority: Option<u8>,
    /// Whether the handler trait has a method for it (and its worker consumes its queue):
    /// a crate that only sends a task (to Python workers, say) does not implement it.
    pub serve: bool,
}
