//! Diagnostics: what loading, validation and lint report, each with a stable code.
//!
//! Codes never change meaning once published; `E` codes are errors (the topology is refused),
//! `W` codes are warnings (it loads, but a reviewer should look). [`Code::explanation`] gives
//! the paragraph behind each code, and `docs/topology.md` lists them all.

use std::fmt;

use super::source::{Location, SourceFile, Span};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The topology is refused.
    Error,
    /// The topology loads, but something looks wrong.
    Warning,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $severity:ident, $explain:literal; )*) => {
        /// The stable code of a diagnostic.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$doc])* $name, )*
        }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$name),*];

            /// The code as written in messages (`E101`).
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => $code,)* }
            }

            /// Whether this code is an error or a warning.
            pub fn severity(self) -> Severity {
                match self { $(Code::$name => Severity::$severity,)* }
            }

            /// One paragraph on what the code means and how to fix it.
            pub fn explanation(self) -> &'static str {
                match self { $(Code::$name => $explain,)* }
            }

            /// The code written as `E101`, if it is one.
            pub fn from_code(code: &str) -> Option<Code> {
                match code { $($code => Some(Code::$name),)* _ => None }
            }
        }
    };
}

codes! {
    /// The file is not valid TOML, YAML or JSON.
    Syntax = "E001", Error,
        "The file could not be parsed as the format its extension names. The message is the parser's; fix the syntax at the position shown and load again.";
    /// A key the format does not have.
    UnknownKey = "E002", Error,
        "A key that the topology format does not define. Keys are checked so that a typo (`duarble`) is not silently ignored and left at its default; the message suggests the closest known key. See the format reference for every key.";
    /// A value of the wrong type or out of range.
    InvalidValue = "E003", Error,
        "A value has the wrong type (a string where a number is expected), is out of range (a prefetch above 65535) or is not one of the allowed words (an exchange type). The message says what was expected.";
    /// A required key is missing.
    MissingKey = "E004", Error,
        "A key without a default was left out, such as the `exchange` of a binding or the `message` of a producer method.";
    /// `version` is missing or not one this library reads.
    Version = "E005", Error,
        "Every topology file starts with `version = 1`. The version lets the format change without old files being misread; a file with another version needs a newer kombu.";
    /// The same name declared with different settings in two places.
    Conflict = "E006", Error,
        "Several files compose into one topology, and an entity may appear in more than one of them only if every declaration is identical (as RabbitMQ would refuse a redeclaration with other settings with 406 PRECONDITION_FAILED). Both places are named; make them agree or keep the entity in one file.";
    /// The file could not be read.
    Io = "E007", Error,
        "The file could not be read, or its extension names no format this library reads (`.toml`, `.yaml`, `.yml`, `.json`).";
    /// The file exceeds a limit that keeps loading it bounded.
    LimitExceeded = "E008", Error,
        "The file nests tables and lists more than 128 levels deep, nests a field type (`optional<`, `list<`, `map<`) more than 64 levels deep, or its YAML aliases expand to more than 100,000 nodes. Real topologies stay far below these limits; they are there so that a hostile or generated file cannot exhaust the stack or the memory of `kombu check` and code generation. Flatten the structure, or write out what the aliases repeat.";
    /// An exchange is referenced but declared nowhere.
    UndeclaredExchange = "E101", Error,
        "A binding, producer or alternate exchange names an exchange that no file declares (and that is not one RabbitMQ predeclares, such as `amq.topic`). RabbitMQ answers such a bind with 404 NOT_FOUND. Declare the exchange or fix the name.";
    /// A dead-letter exchange that does not exist.
    UndeclaredDeadLetterExchange = "E102", Error,
        "A queue's `dead_letter_exchange` names an exchange that is not declared. RabbitMQ accepts the queue but silently drops every message it dead-letters, so rejected and expired messages would be lost. Declare the exchange.";
    /// A quorum or stream queue that is not durable, or is exclusive or auto-delete.
    ReplicatedQueueFlags = "E103", Error,
        "Quorum queues and streams are replicated and must be durable, non-exclusive and not auto-delete; RabbitMQ refuses the declaration with 406 PRECONDITION_FAILED otherwise.";
    /// A message type that is not defined.
    UndefinedMessage = "E104", Error,
        "A producer method, a consumer queue or a message field names a message type that the topology does not define. Define it under `messages` (with `fields`, `variants` or a `rust` path).";
    /// A queue a consumer reads from is declared nowhere.
    UndeclaredQueue = "E105", Error,
        "A consumer lists a queue that no file declares. Declare the queue (with its bindings) so that the consumer's dispatch and the type-agreement check can see it.";
    /// A consumer's message type differs from what producers route to its queue.
    TypeDisagreement = "E106", Error,
        "Following RabbitMQ's routing rules (exchange types, bindings, exchange-to-exchange bindings, alternate exchanges), a producer method routes messages of one type to a queue whose consumer expects another. The consumer would fail to decode them or decode them wrongly. Make both sides use the same message type (an enum with a tag field can carry several kinds on one queue).";
    /// A `rust_name` that is not a Rust identifier.
    NotAnIdentifier = "E107", Error,
        "Names are the broker's and need not be Rust identifiers: generated code derives one from each (see \"Names and Rust identifiers\" in the format reference). A `rust_name` replaces that derivation and is used as written, so it must itself be an identifier: letters, digits and `_`, not starting with a digit, and not `self`, `Self`, `super`, `crate` or `_` (other keywords are written raw). The message shows the identifier it would become.";
    /// Two names that collide.
    DuplicateName = "E108", Error,
        "The same key appears twice in one table, or two entities would get the same Rust identifier in generated code (message `media_producer` and producer `media` both give `MediaProducer`; `ß` and `ss` both give the constant `SS`). Names that differ only in case or punctuation are told apart automatically (`Orders` and `orders` give `orders_2` and `orders`); for what remains, give one of them a `rust_name`.";
    /// A message definition that is not well-formed.
    InvalidMessage = "E109", Error,
        "A message type is defined by exactly one of `fields` (a struct), `variants` with a `tag` (an enum dispatched on a tag field) or `rust` (a path to an existing Rust type). A field type must be a primitive, `optional<T>`, `list<T>`, `map<T>` or a message name. A producer method's `variant` must be a variant of its enum message.";
    /// A name RabbitMQ refuses.
    InvalidName = "E110", Error,
        "RabbitMQ refuses an exchange or queue name longer than 255 bytes of UTF-8 (names are AMQP short strings), and refuses to declare an exchange or queue whose name starts with `amq.` (403 ACCESS_REFUSED): that prefix is reserved for the exchanges it declares itself (`amq.direct`, `amq.topic`, ...) and for the names it gives server-named queues (`amq.gen-...`). The predeclared `amq.*` exchanges may still be bound to and published to. Rename the entity.";
    /// A setting of another queue type.
    QueueTypeSetting = "E111", Error,
        "Each queue type takes its own settings, and RabbitMQ refuses a declaration with another type's (406 PRECONDITION_FAILED, `invalid arg ... of queue type ...`): `max_priority`, `x-queue-mode` and `x-queue-version` are classic only; `delivery_limit`, `dead_letter_strategy` and `x-max-in-memory-*` are quorum only; `max_age` and `max_segment_size_bytes` are streams only; `initial_group_size` and `leader_locator` are for quorum queues and streams; a stream takes none of `message_ttl`, `expires`, `max_length`, `overflow`, dead-lettering or `single_active_consumer`. The same holds for these keys written in `arguments`. A value RabbitMQ does not take (an `initial_group_size` of 0, a `max_age` without its unit) is refused the same way. Change the queue's `type` or drop the setting.";
    /// A stream offset RabbitMQ does not read.
    InvalidStreamOffset = "E112", Error,
        "A consumer's `offset` is where it starts reading a stream: `\"first\"`, `\"last\"`, `\"next\"`, an offset number (`1234`) or an age (a whole number above zero and one of `Y`, `M`, `D`, `h`, `m`, `s`: `\"7D\"`, `\"12h\"`). RabbitMQ answers anything else with 541 INTERNAL_ERROR and closes the connection. Write one of these.";
    /// A Celery task definition that cannot work.
    InvalidTask = "E113", Error,
        "A task under `tasks` is sent under its Celery `name` (the table key when absent) to its `queue` (`celery` when absent), or to an `exchange` with a `routing_key`, and a worker consumes the queue. Two tasks may not share a Celery name (a worker could not tell them apart); a parameter is positional (`args`) or keyword-only (`kwargs`), not both; an `exchange` needs a `routing_key`, and together they must reach the task's queue, or the worker never sees the task; a soft time limit above the hard one never fires; the `result` must be a field type.";
    /// A message type changed in a way its compatibility mode refuses.
    IncompatibleMessageChange = "E114", Error,
        "`kombu check --against OLD` compares each message type with the one the deployed (old) topology has, by the type's `compatibility` mode, as schema registries do. `backward` (the default): consumers built from the new file must read what old producers send, so a field added must be `optional<...>`, a variant may not be removed and a type may only widen (`u32` to `u64`, `T` to `optional<T>`). `forward`: old consumers must read what new producers send, so a field removed must have been optional, a variant may not be added and a type may only narrow. `full`: both. `none`: no check. A changed tag field, a change of shape (struct, enum, Rust type) or of a `rust` path breaks both. Make the change in two deploys, or choose the mode that matches the order you deploy in.";
    /// A queue that nothing binds and nothing consumes.
    OrphanQueue = "W201", Warning,
        "The queue has no bindings, no consumer and no producer publishes to it through the default exchange. Messages can only reach it by its name; if that is intended, bind it or add its consumer, else remove it.";
    /// An exchange with no bindings and no alternate exchange.
    DeadEndExchange = "W202", Warning,
        "Nothing is bound to this exchange and it has no alternate exchange, so every message published to it is dropped (or returned, if published as mandatory).";
    /// A dead-letter cycle without a TTL.
    DeadLetterCycle = "W203", Warning,
        "Queues dead-letter into each other in a cycle and no queue on the cycle has a message TTL. RabbitMQ drops a message that goes round a cycle without being rejected, so such a cycle is either useless or a retry loop missing its delay. Add `message_ttl` to a queue on the cycle to make a delayed-retry loop.";
    /// A queue that is both exclusive and durable.
    ExclusiveDurable = "W204", Warning,
        "An exclusive queue is deleted when its connection closes, so durability buys nothing; RabbitMQ deprecates the combination. Make it non-durable, or not exclusive.";
    /// Header arguments on a binding to a non-headers exchange.
    HeadersOnNonHeadersExchange = "W205", Warning,
        "The binding (or producer method) gives header values, but its exchange is not a headers exchange, which ignores them. Either the exchange type or the binding is wrong.";
    /// Wildcards in a binding to a direct exchange.
    WildcardInDirectBinding = "W206", Warning,
        "A direct exchange compares routing keys for equality, so `*` and `#` in its binding key are literal characters, not wildcards. Use a topic exchange to match patterns.";
    /// A producer route that reaches no queue.
    UnroutedRoute = "W207", Warning,
        "Following RabbitMQ's routing rules, this producer method's routing key (or headers) reaches no queue in the topology, so its messages are dropped (or returned as unroutable). Bind a queue that matches it, or fix the key.";
    /// A consumer that may run more handlers than its prefetch lets arrive.
    ConcurrencyAbovePrefetch = "W208", Warning,
        "A consumer's `concurrency` is how many handlers its `run` may run at once, but the broker never has more than `prefetch` unacknowledged messages out to it, so handlers beyond the prefetch never run. Raise `prefetch` to at least `concurrency` (a little above keeps the next messages ready), or lower `concurrency`.";
    /// At-least-once dead-lettering that RabbitMQ turns into at-most-once.
    AtLeastOnceFallback = "W209", Warning,
        "`dead_letter_strategy = \"at-least-once\"` only takes effect on a quorum queue with `overflow = \"reject-publish\"` and a dead-letter exchange; otherwise RabbitMQ accepts the queue and silently dead-letters at most once (a dead letter can be lost). Add what is missing, or say `at-most-once`.";
    /// An offset on a queue that is not a stream.
    OffsetOnNonStream = "W210", Warning,
        "Only a stream reads `x-stream-offset`: RabbitMQ ignores it on a classic or quorum queue, whose consumers always get the messages waiting at the head of the queue. Make the queue a stream (`type = \"stream\"`) or drop the `offset`.";
    /// A stream consumer that starts wherever RabbitMQ's default puts it.
    StreamWithoutOffset = "W211", Warning,
        "A consumer of a stream without an `offset` starts at `next`: it reads only what is published after it starts, so a consumer that restarts (a deploy, a crash) silently skips everything written while it was down, and a new one sees none of the history a stream keeps. Say where it starts: `\"first\"` (the whole retained history), `\"next\"` (only new messages, if that is what you want), an age (`\"1h\"`), and give its typed consumer an offset store (`TypedConsumer::start_with_offsets`) so a restart resumes after the last message it handled.";
    /// A classic queue that asks for replication it does not get (or will not keep).
    ClassicReplication = "W212", Warning,
        "This classic queue asks to be replicated, but `x-ha-policy` as a queue argument has been ignored since RabbitMQ 3.0 (the queue lives on one node and its messages are lost with that node), and mirroring by an `ha-mode` policy is deprecated and removed in RabbitMQ 4.0. To replicate a queue, declare it as a quorum queue (`type = \"quorum\"`; it is durable and not exclusive), or as a stream for a log many consumers read. Changing the type is a recreate: `kombu diff` shows the migration.";
    /// A policy or operator policy RabbitMQ would refuse.
    InvalidPolicy = "E120", Error,
        "A policy's `pattern` is not a regular expression, its definition is empty, a value is out of the range RabbitMQ validates (`queue-version` 1 or 2, `stream-filter-size-bytes` 16 to 255, `expires` at least 1ms, `max-age` as `7D`), `ha-params` does not fit `ha-mode`, or an operator policy sets a key RabbitMQ accepts only in user policies (operator policies may set expires, message-ttl, max-length, max-length-bytes, max-in-memory-length, max-in-memory-bytes, delivery-limit, queue-version, overflow, target-group-size and the ha- mirroring keys). RabbitMQ answers such a policy with 400; fix the value shown.";
    /// A policy that applies to nothing because higher-priority policies win everywhere it matches.
    ShadowedPolicy = "W220", Warning,
        "RabbitMQ applies exactly one policy to a queue or exchange: of those whose pattern matches the name and whose `apply_to` fits, the one with the highest priority. This policy matches entities of the topology, but for each of them another policy wins, so none of its keys takes effect (keys are not merged across policies). Raise its priority, narrow the other pattern, or move its keys into the policy that wins.";
    /// A declared argument that makes a key of the applying policy ineffective.
    IneffectivePolicyKey = "W221", Warning,
        "For this key RabbitMQ lets the queue's or exchange's own `x-` argument win over the policy (the dead-letter exchange and routing key, the overflow behaviour of classic queues, the alternate exchange), or takes the lesser of the two and the argument is already lower, so the policy's value has no effect on this entity. `kombu explain` shows where each effective value comes from. Remove the argument (keeping in mind that changing a declared argument needs a recreate) or drop the key from the policy.";
    /// Two policies of the same priority match one entity.
    PolicyTie = "W222", Warning,
        "Two policies (or two operator policies) match the same entity with the same priority. RabbitMQ applies only one of them, and which one is not specified: it may differ between nodes and after a restart. Give them different priorities or make their patterns disjoint.";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, with where it is.
///
/// Names and text taken from a file are shown with their control characters escaped (`\n`,
/// `\0`, `\u{1b}`, and the invisible direction overrides), so that a hostile name cannot
/// rewrite the terminal, forge a line of output, or hide what it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where (absent only for problems with no place, such as an unreadable file).
    pub location: Option<Location>,
    /// Other places that explain the problem (the first declaration of a conflict, ...).
    pub related: Vec<(Location, String)>,
    /// What to do about it (a did-you-mean, a rename).
    pub help: Option<String>,
}

impl Diagnostic {
    /// Error or warning, from the code.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

/// A style of the coloured rendering (the colours cargo and rustc use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Error,
    Warning,
    /// Line numbers, `|`, `-->` and related places.
    Gutter,
    /// The message and `help`.
    Bold,
}

/// Whether to colour, and the colour of this diagnostic's severity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Styles {
    on: bool,
    pub(crate) primary: Style,
}

impl Styles {
    /// `text` in `style` (ANSI escapes), or as it is when not colouring.
    pub(crate) fn paint(self, style: Style, text: &str) -> String {
        if !self.on || text.is_empty() {
            return text.to_owned();
        }
        let code = match style {
            Style::Error => "1;31",
            Style::Warning => "1;33",
            Style::Gutter => "1;34",
            Style::Bold => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

impl Diagnostic {
    /// The diagnostic as [`Display`](fmt::Display) writes it, coloured for a terminal when
    /// `colour` is set (the text from the file is escaped either way, so it cannot add
    /// colours or controls of its own).
    pub fn render(&self, colour: bool) -> String {
        let mut out = String::new();
        let _ = self.write(&mut out, colour);
        out
    }

    fn write(&self, f: &mut impl fmt::Write, colour: bool) -> fmt::Result {
        let (word, primary) = match self.severity() {
            Severity::Error => ("error", Style::Error),
            Severity::Warning => ("warning", Style::Warning),
        };
        let styles = Styles {
            on: colour,
            primary,
        };
        writeln!(
            f,
            "{}{}",
            styles.paint(primary, &format!("{word}[{}]", self.code)),
            styles.paint(Style::Bold, &format!(": {}", self.message))
        )?;
        if let Some(loc) = &self.location {
            loc.write_snippet(f, "-->", "", styles)?;
        }
        for (loc, note) in &self.related {
            loc.write_snippet(f, ":::", note, styles)?;
        }
        if let Some(help) = &self.help {
            let pad = self
                .location
                .as_ref()
                .map_or(1, |l| l.line.to_string().len());
            writeln!(
                f,
                "{} {} {}: {help}",
                " ".repeat(pad),
                styles.paint(Style::Gutter, "="),
                styles.paint(Style::Bold, "help")
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

/// Builds diagnostics against a file table, resolving spans as they are added.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub(crate) items: Vec<Diagnostic>,
}

impl Sink {
    /// Adds a diagnostic at `span`.
    pub(crate) fn push(
        &mut self,
        files: &[SourceFile],
        code: Code,
        span: Option<Span>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let diagnostic = Diagnostic {
            code,
            message: escape(&message.into()),
            location: span.and_then(|s| Location::resolve(files, s)),
            related: Vec::new(),
            help: None,
        };
        self.items.push(diagnostic);
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }
}

impl Diagnostic {
    /// Adds a related place.
    pub(crate) fn related(
        &mut self,
        files: &[SourceFile],
        span: Span,
        note: impl Into<String>,
    ) -> &mut Self {
        if let Some(loc) = Location::resolve(files, span) {
            self.related.push((loc, escape(&note.into())));
        }
        self
    }

    /// Sets the help line.
    pub(crate) fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(escape(&help.into()));
        self
    }
}

/// Whether a character is shown escaped: control characters, and the invisible characters
/// that reorder or hide text (bidirectional overrides and isolates, zero-width characters,
/// line and paragraph separators).
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{61c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Appends `c` to `out`, escaped the way Rust writes it if it is [`hidden`] (a tab is kept
/// when `keep_tab`, for source lines, where it lines the caret up).
pub(crate) fn push_escaped(out: &mut String, c: char, keep_tab: bool) {
    match c {
        '\t' if keep_tab => out.push('\t'),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\0' => out.push_str("\\0"),
        c if hidden(c) => {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// `text` with its [`hidden`] characters escaped.
pub(crate) fn escape(text: &str) -> String {
    if !text.chars().any(hidden) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c, false);
    }
    out
}

impl Diagnostic {
    /// A diagnostic found outside the loader (kombu-build's generation check), its text
    /// escaped as the loader escapes its own.
    pub fn new(code: Code, message: impl Into<String>, location: Option<Location>) -> Self {
        Diagnostic {
            code,
            message: escape(&message.into()),
            location,
            related: Vec::new(),
            help: None,
        }
    }

    /// With another place that explains the problem.
    pub fn with_related(mut self, location: Location, note: impl Into<String>) -> Self {
        self.related.push((location, escape(&note.into())));
        self
    }

    /// With a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(escape(&help.into()));
        self
    }
}

/// The diagnostics of a topology that failed to load: every error found (and the warnings
/// found beside them), in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<I: IntoIterator<Item = Diagnostic>>(items: I) -> Self {
        Diagnostics::new(items.into_iter().collect())
    }
}

impl Diagnostics {
    pub(crate) fn new(mut items: Vec<Diagnostic>) -> Self {
        fn key(d: &Diagnostic) -> Option<(&str, u32, u32)> {
            d.location
                .as_ref()
                .map(|l| (l.file.as_str(), l.line, l.column))
        }
        items.sort_by(|a, b| key(a).cmp(&key(b)).then(a.code.cmp(&b.code)));
        items.dedup();
        Diagnostics { items }
    }

    /// Every diagnostic.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.is_error())
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| !d.is_error())
    }

    /// How many diagnostics there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl Diagnostics {
    /// Every diagnostic and the count, as [`Display`](fmt::Display) writes them, coloured for
    /// a terminal when `colour` is set.
    pub fn render(&self, colour: bool) -> String {
        let mut out = String::new();
        let _ = self.write(&mut out, colour);
        out
    }

    fn write(&self, f: &mut impl fmt::Write, colour: bool) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            d.write(f, colour)?;
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        if errors > 0 {
            write!(
                f,
                "\n{errors} error{} and {warnings} warning{}",
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostics> for crate::Error {
    fn from(d: Diagnostics) -> Self {
        crate::Error::new(crate::ErrorKind::InvalidTopology, d.to_string())
    }
}
