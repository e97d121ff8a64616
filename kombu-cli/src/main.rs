//! # kombu (the binary)
//!
//! Review tools for topology files: what a change does, before it reaches a broker.
//! `check` (schema and lint), `diff` (each change classed safe / policy / recreate /
//! destructive), `review` (all of it as one pull-request comment), `graph` (Mermaid, DOT), `route` (where a message goes, and why), `plan` and
//! `apply` (against a live broker's management API), `export`/`import` (RabbitMQ
//! definitions.json), `asyncapi` and `import --asyncapi` (AsyncAPI documents) and `fmt`.
//!
//! Exit codes: 0 success, 1 findings (errors, or warnings with `--deny-warnings`; a change of
//! a class `diff --deny` names; changes that `apply` refused), 2 the command could not run
//! (a usage error, an unreadable or invalid file, an unreachable broker).

mod api;
mod apply;
mod asyncapi;
mod change;
mod check;
mod comments;
mod definitions;
mod diff;
mod drift;
mod explain;
mod fmt;
mod graph;
mod interchange;
mod management;
mod migrate;
mod output;
mod policies;
mod policy_hint;
mod review;
mod route;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kombu",
    version,
    about = "Review tools for kombu topology files",
    after_long_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check files (they compose into one topology): schema, semantic errors and lint.
    Check {
        /// Topology files (.toml, .yaml, .yml, .json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = check::Format::Human)]
        format: check::Format,
        /// Exit 1 on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// The deployed version (its files): refuse message-type changes that break
        /// consumers or producers built from it, by each type's `compatibility` mode
        /// (backward, forward, full, none) (E114).
        #[arg(long, value_name = "OLD")]
        against: Vec<PathBuf>,
    },
    /// Compare two versions of a topology, classing every change.
    Diff {
        /// The old file (or, with --git, the file to compare with its version at REV).
        old: PathBuf,
        /// The new file.
        new: Option<PathBuf>,
        /// Compare FILE at git revision REV with FILE in the work tree, or at two revisions
        /// (`REV1..REV2`).
        #[arg(long, value_name = "REV")]
        git: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = diff::Format::Human)]
        format: diff::Format,
        /// Exit 1 if the change holds a change of one of these classes (comma-separated:
        /// safe, policy, recreate, destructive), e.g. `--deny destructive,recreate` in CI.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "CLASSES")]
        deny: Vec<diff::Class>,
    },
    /// One pull-request comment about a change: the classified changes, a Mermaid graph of
    /// the changed part, the routes that change, the message-type changes that break a
    /// consumer, and new lint findings.
    Review {
        /// The old file (or, with --git, the file to compare with its version at REV).
        old: PathBuf,
        /// The new file.
        new: Option<PathBuf>,
        /// Compare FILE at git revision REV with FILE in the work tree, or at two revisions
        /// (`REV1..REV2`).
        #[arg(long, value_name = "REV")]
        git: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = review::Format::Markdown)]
        format: review::Format,
        /// Exit 1 if the change holds a change of one of these classes (comma-separated:
        /// safe, policy, recreate, destructive), as `diff --deny` does; the comment is written
        /// either way.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "CLASSES")]
        deny: Vec<diff::Class>,
    },
    /// Draw the topology: exchanges, queues, bindings, producers and consumers.
    Graph {
        /// Topology files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = graph::Format::Mermaid)]
        format: graph::Format,
    },
    /// Which queues a message reaches, and by which path.
    Route {
        /// Topology files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The exchange published to (`""` for the default exchange).
        #[arg(long)]
        exchange: String,
        /// The routing key.
        #[arg(long, default_value = "")]
        key: String,
        /// A header, `NAME=VALUE` (repeatable), typed as in a topology file: `n=1` is an
        /// integer, `n=1.5` a float, `n=true` a boolean, `n='"1"'` (quoted) the string "1",
        /// and anything else (`region=eu`) a string. A headers exchange tells 1 from "1".
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = route::Format::Human)]
        format: route::Format,
    },
    /// The effective settings of a queue or exchange: which policies apply, and where each
    /// value comes from (argument, policy, operator policy), by RabbitMQ's per-key rules.
    Explain {
        /// The queue or exchange.
        name: String,
        /// Topology files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The virtual host the entities are declared in (policies of other vhosts do not apply).
        #[arg(long, default_value = "/")]
        vhost: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = explain::Format::Human)]
        format: explain::Format,
    },
    /// Compare with a live broker (management HTTP API): what `apply` would do.
    Plan {
        /// Topology files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The management API: http://user:pass@host:15672; several, comma-separated (the
        /// nodes of a cluster), are tried in order and the first that answers is used.
        #[arg(long, default_value = "http://guest:guest@127.0.0.1:15672")]
        broker: String,
        /// The virtual host.
        #[arg(long, default_value = "/")]
        vhost: String,
        /// Output format: `json` is one object with `vhost`, `steps` (each with its `action`,
        /// its `subject` and a `detail`), `counts`, `collateral`, `notes` (differences a
        /// redeclare does not compare), `policies`, `left_alone` and `up_to_date` (true when
        /// apply has nothing to do).
        #[arg(long, value_enum, default_value_t = management::Format::Human)]
        format: management::Format,
    },
    /// Create what is missing on a live broker; refuse what it would reject or what drops routes.
    Apply {
        /// Topology files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The management API: http://user:pass@host:15672; several, comma-separated (the
        /// nodes of a cluster), are tried in order and the first that answers is used.
        #[arg(long, default_value = "http://guest:guest@127.0.0.1:15672")]
        broker: String,
        /// The virtual host.
        #[arg(long, default_value = "/")]
        vhost: String,
        /// Also recreate entities (with their bindings; a queue's messages move through a
        /// temporary queue `<queue>.kombu-migrate`) and remove bindings.
        #[arg(long)]
        allow_destructive: bool,
        /// Output format: `json` is one object, written at the end, with `vhost`,
        /// `collateral`, `policies`, `steps` (each with its `outcome`: applied or refused),
        /// `created`, `deleted`, `recreated`, `bindings` and `messages` counts, `refused`,
        /// `warnings` and `error` (why apply stopped, also said on stderr).
        #[arg(long, value_enum, default_value_t = management::Format::Human)]
        format: management::Format,
        /// The AMQP URL that moves messages when a queue is recreated (default: the
        /// management host and credentials, port 5672, the virtual host).
        #[arg(long, value_name = "URL")]
        amqp: Option<String>,
        /// Stop a queue migration after the named state (for testing that apply resumes).
        #[arg(long, hide = true, value_name = "STATE")]
        stop_after: Option<String>,
    },
    /// Write an AsyncAPI 3.0 document: a channel per exchange and queue, an operation per
    /// producer method and consumed queue, message payloads as JSON Schema.
    Asyncapi {
        /// Topology files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = asyncapi::Format::Yaml)]
        format: asyncapi::Format,
        /// The document's title (default: the first file's name without its extension).
        #[arg(long)]
        title: Option<String>,
        /// The version of the API the document describes (`info.version`).
        #[arg(long = "api-version", default_value = "1.0.0")]
        api_version: String,
        /// The virtual host the channels' AMQP bindings name.
        #[arg(long, default_value = "/")]
        vhost: String,
        /// The broker, as an AMQP URL (`amqp://host:5672/vhost`; credentials are left out),
        /// written as the document's server.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
    },
    /// Rewrite files in the canonical order and layout (`--check` only reports).
    Fmt {
        /// Topology files, each formatted on its own.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Write RabbitMQ definitions (importable with `rabbitmqctl import_definitions`).
    Export {
        /// Topology files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = interchange::ExportFormat::Definitions)]
        format: interchange::ExportFormat,
        /// The virtual host the definitions are for.
        #[arg(long, default_value = "/")]
        vhost: String,
    },
    /// Turn a RabbitMQ definitions export (or a live broker's entities) into a topology file.
    Import {
        /// A definitions.json (from `rabbitmqctl export_definitions` or the management UI).
        file: Option<PathBuf>,
        /// Read an AsyncAPI 2.6 or 3.0 document (JSON or YAML) with AMQP bindings instead;
        /// what a topology cannot hold is listed on stderr.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["file", "broker"])]
        asyncapi: Option<PathBuf>,
        /// Read from a live broker's management API instead (internal exchanges included,
        /// which definitions exports leave out): http://user:pass@host:15672, or several,
        /// comma-separated (the first that answers is used).
        #[arg(long, conflicts_with = "file")]
        broker: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = interchange::ImportFormat::Toml)]
        format: interchange::ImportFormat,
        /// The virtual host to take.
        #[arg(long, default_value = "/")]
        vhost: String,
        /// Keep ephemeral queues and exchanges too (exclusive, auto-delete, `x-expires`,
        /// server-named `amq.gen-`, Celery's and kombu's per-worker queues), which are left
        /// out by default and listed on stderr.
        #[arg(long)]
        include_ephemeral: bool,
    },
}

const EXIT_CODES: &str = "Exit codes:
  0  success (no findings; with `diff --deny`, no denied change)
  1  findings: check errors (or warnings with --deny-warnings), a change of a class that
     `diff --deny` names, a file `fmt --check` would change, changes `apply` refused
  2  the command could not run: a usage error, an unreadable or invalid file, an
     unreachable broker

Output is coloured on a terminal, and not when piped or with NO_COLOR set.";

/// What went wrong when a command could not run at all.
pub(crate) type Failure = String;

/// Loads files as one topology, or says why not (the diagnostics, as `check` shows them).
pub(crate) fn load(files: &[PathBuf]) -> Result<kombu::topology::Topology, Failure> {
    kombu::topology::Topology::from_paths(files).map_err(|d| d.render(output::stderr_colour()))
}

fn main() -> ExitCode {
    output::quiet_on_closed_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            files,
            format,
            deny_warnings,
            against,
        } => check::run(&files, &against, format, deny_warnings),
        Command::Diff {
            old,
            new,
            git,
            format,
            deny,
        } => diff::run(&old, new.as_deref(), git.as_deref(), format, &deny),
        Command::Review {
            old,
            new,
            git,
            format,
            deny,
        } => review::run(&old, new.as_deref(), git.as_deref(), format, &deny),
        Command::Graph { files, format } => graph::run(&files, format),
        Command::Route {
            files,
            exchange,
            key,
            headers,
            format,
        } => route::run(&files, &exchange, &key, &headers, format),
        Command::Explain {
            name,
            files,
            vhost,
            format,
        } => explain::run(&files, &name, &vhost, format),
        Command::Plan {
            files,
            broker,
            vhost,
            format,
        } => management::plan(&files, &broker, &vhost, format),
        Command::Apply {
            files,
            broker,
            vhost,
            allow_destructive,
            format,
            amqp,
            stop_after,
        } => apply::apply(&apply::Options {
            files: &files,
            broker: &broker,
            vhost: &vhost,
            amqp: amqp.as_deref(),
            allow_destructive,
            format,
            stop_after: stop_after.as_deref(),
        }),
        Command::Asyncapi {
            files,
            format,
            title,
            api_version,
            vhost,
            server,
        } => asyncapi::export(&asyncapi::Options {
            files: &files,
            title: title.as_deref(),
            version: &api_version,
            vhost: &vhost,
            server: server.as_deref(),
            format,
        }),
        Command::Fmt { files, check } => fmt::run(&files, check),
        Command::Export {
            files,
            format,
            vhost,
        } => interchange::export(&files, format, &vhost),
        Command::Import {
            asyncapi: Some(file),
            format,
            ..
        } => asyncapi::import(&file, format),
        Command::Import {
            file,
            asyncapi: None,
            broker,
            format,
            vhost,
            include_ephemeral,
        } => interchange::import(
            file.as_deref(),
            broker.as_deref(),
            format,
            &vhost,
            include_ephemeral,
        ),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            output::print_failure(&message);
            ExitCode::from(2)
        }
    }
}
