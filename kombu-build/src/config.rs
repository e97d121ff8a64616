//! The `Config` builder and the one-call [`compile`].

use std::path::{Path, PathBuf};

use kombu::topology::{fn_ident, Code, Diagnostic, EntityKind, Topology};
use kombu_codegen::Piece;
use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::lower::{lower, Options};
use crate::Error;

/// How to generate: which parts, where to, with what extras. `&mut Self` setters, then
/// [`Config::compile`].
#[derive(Debug, Clone)]
pub struct Config {
    out_dir: Option<PathBuf>,
    module_name: Option<String>,
    options: Options,
    rerun_if_changed: bool,
    cargo_warnings: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// Everything, into `$OUT_DIR/kombu/`, with `cargo:rerun-if-changed` for every input.
    pub fn new() -> Self {
        Config {
            out_dir: None,
            module_name: None,
            options: Options::default(),
            rerun_if_changed: true,
            cargo_warnings: true,
        }
    }

    /// Write the module here instead of `$OUT_DIR/kombu/`.
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The module's file name (without `.rs`), as given to `kombu::include_topology!`.
    /// Defaults to the first file's stem.
    pub fn module_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.module_name = Some(name.into());
        self
    }

    /// Emit only these producers (by topology name).
    pub fn producers<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) -> &mut Self {
        self.options.producers = Some(names.into_iter().map(|s| s.as_ref().to_owned()).collect());
        self
    }

    /// Emit only these consumers (by topology name).
    pub fn consumers<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) -> &mut Self {
        self.options.consumers = Some(names.into_iter().map(|s| s.as_ref().to_owned()).collect());
        self
    }

    /// Whether to generate the Celery task client and handler trait of the topology's
    /// `[tasks]` (on by default; the code needs kombu's `celery` feature).
    pub fn celery_tasks(&mut self, on: bool) -> &mut Self {
        self.options.tasks = on;
        self
    }

    /// Put only these tasks (by topology name) in the handler trait, so that its worker runs
    /// and consumes only them; the client still sends every task. For a service that serves
    /// some tasks and calls others (that Python workers run).
    pub fn serve_tasks<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) -> &mut Self {
        self.options.serve = Some(names.into_iter().map(|s| s.as_ref().to_owned()).collect());
        self
    }

    /// Add a derive to every generated message type (`"Eq"`, `"Hash"`, `"schemars::JsonSchema"`).
    pub fn message_derive(&mut self, path: impl Into<String>) -> &mut Self {
        self.options.extra_derives.push(path.into());
        self
    }

    /// Use an existing Rust type for a message instead of generating one.
    pub fn type_path(&mut self, message: impl Into<String>, path: impl Into<String>) -> &mut Self {
        self.options.type_paths.insert(message.into(), path.into());
        self
    }

    /// Print `cargo:rerun-if-changed` for every input (default on).
    pub fn emit_rerun_if_changed(&mut self, on: bool) -> &mut Self {
        self.rerun_if_changed = on;
        self
    }

    /// Print lint warnings as `cargo:warning` lines (default on).
    pub fn emit_cargo_warnings(&mut self, on: bool) -> &mut Self {
        self.cargo_warnings = on;
        self
    }

    /// Loads `paths` as one topology (they compose), checks it, and writes the generated
    /// module. Returns the path written.
    pub fn compile<P: AsRef<Path>>(&mut self, paths: &[P]) -> Result<PathBuf, Error> {
        if self.rerun_if_changed {
            for p in paths {
                println!("cargo:rerun-if-changed={}", p.as_ref().display());
            }
        }
        let topology = Topology::from_paths(paths)?;
        if self.cargo_warnings {
            for w in topology.warnings() {
                let place = w
                    .location
                    .as_ref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default();
                println!("cargo:warning=warning[{}]: {}{place}", w.code, w.message);
            }
        }
        let code = self.generate(&topology)?;
        let name = match (&self.module_name, paths.first()) {
            (Some(n), _) => n.clone(),
            (None, Some(p)) => p
                .as_ref()
                .file_stem()
                .map(|s| fn_ident(&s.to_string_lossy()))
                .unwrap_or_else(|| "topology".to_owned()),
            (None, None) => return Err(Error::Config("no topology files given".to_owned())),
        };
        let dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(|d| PathBuf::from(d).join("kombu"))
                .ok_or_else(|| {
                    Error::Config(
                        "OUT_DIR is not set: call from build.rs, or set out_dir".to_owned(),
                    )
                })?,
        };
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(format!("{name}.rs"));
        let unchanged = std::fs::read_to_string(&path).is_ok_and(|old| old == code);
        if !unchanged {
            std::fs::write(&path, code).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(path)
    }

    /// Whether code can be generated for a loaded topology, without generating it: every
    /// `rust_name` is an identifier, and no two entities get the same identifier (the
    /// generator's own rules, in a dry run that formats and writes nothing). The problems are
    /// [`Error::Topology`] diagnostics at the entities' declarations (E107, E108, E109).
    /// `kombu check` runs this, so every file it accepts generates.
    pub fn check(&self, topology: &Topology) -> Result<(), Error> {
        let found = rust_names(topology);
        if !found.is_empty() {
            return Err(Error::Topology(found.into_iter().collect()));
        }
        let module = lower(topology, &self.options)?;
        kombu_codegen::generate_each(&module, |_| Ok::<(), kombu_codegen::Error>(()))
            .map_err(|e| Error::Topology([diagnostic(topology, &e)].into_iter().collect()))
    }

    /// The JSON Schema of each message type (by topology name, in order), expanded from the
    /// same description as the Rust types [`Config::generate`] writes, so the two cannot
    /// disagree: what a type writes as JSON validates, and what validates the type reads. A
    /// field holding another message refers to it as `{ref_prefix}{name}`. `kombu asyncapi`
    /// puts these in its documents.
    pub fn message_schemas(
        &self,
        topology: &Topology,
        ref_prefix: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, Error> {
        let module = lower(topology, &self.options)?;
        Ok(kombu_codegen::json_schema::message_schemas(
            &module.messages,
            ref_prefix,
        ))
    }

    /// The generated module for a loaded topology, formatted, with its `@generated` header.
    pub fn generate(&self, topology: &Topology) -> Result<String, Error> {
        let found = rust_names(topology);
        if !found.is_empty() {
            return Err(Error::Topology(found.into_iter().collect()));
        }
        let module = lower(topology, &self.options)?;
        let mut writer = Writer {
            out: format!(
                "// @generated by kombu-build from {}.\n// Do not edit: change the topology and rebuild.\n\n",
                module.sources.join(", ")
            ),
            module: None,
        };
        kombu_codegen::generate_each(&module, |piece| writer.piece(piece)).map_err(
            |f| match f {
                Failure::Generator(e) => {
                    Error::Topology([diagnostic(topology, &e)].into_iter().collect())
                }
                Failure::Other(e) => e,
            },
        )?;
        Ok(writer.out)
    }
}

/// The kind of a top-level entity as the generator names it.
fn entity_kind(kind: &str) -> Option<EntityKind> {
    Some(match kind {
        "exchange" => EntityKind::Exchange,
        "queue" => EntityKind::Queue,
        "message" => EntityKind::Message,
        "producer" => EntityKind::Producer,
        "consumer" => EntityKind::Consumer,
        "task" => EntityKind::Task,
        _ => return None,
    })
}

/// A generator error as a diagnostic: a collision (E108) at the second entity, with the
/// first as the related place and `rust_name` as the way out; anything else (a `rust` path
/// that does not parse) as E109.
fn diagnostic(topology: &Topology, e: &kombu_codegen::Error) -> Diagnostic {
    let at = |(kind, name): &(&str, String)| topology.origin(entity_kind(kind)?, name);
    let entities = e.entities();
    if entities.is_empty() {
        return Diagnostic::new(Code::InvalidMessage, e.to_string(), None);
    }
    let message = e.to_string();
    let message = message
        .strip_suffix(": rename one of them")
        .unwrap_or(&message);
    let mut d = Diagnostic::new(Code::DuplicateName, message, entities.last().and_then(at));
    if let [first, _] = entities {
        if let Some(place) = at(first) {
            d = d.with_related(place, "the other one");
        }
    }
    d.with_help(
        "give one of them a `rust_name` (the Rust identifier to use instead of the one derived from its name), or rename it",
    )
}

/// Every `rust_name` that is not a Rust identifier as written (E107).
fn rust_names(topology: &Topology) -> Vec<Diagnostic> {
    let model = topology.model();
    let named = (model.exchanges.iter())
        .map(|(n, x)| (EntityKind::Exchange, n, x.rust_name.as_ref()))
        .chain((model.queues.iter()).map(|(n, q)| (EntityKind::Queue, n, q.rust_name.as_ref())))
        .chain((model.messages.iter()).map(|(n, m)| (EntityKind::Message, n, m.rust_name.as_ref())))
        .chain(
            (model.producers.iter()).map(|(n, p)| (EntityKind::Producer, n, p.rust_name.as_ref())),
        )
        .chain(
            (model.consumers.iter()).map(|(n, c)| (EntityKind::Consumer, n, c.rust_name.as_ref())),
        )
        .chain((model.tasks.iter()).map(|(n, t)| (EntityKind::Task, n, t.rust_name.as_ref())));
    named
        .filter_map(|(kind, name, rust_name)| {
            let rust_name = rust_name?;
            if kombu_codegen::is_identifier(rust_name) {
                return None;
            }
            let would = kombu_codegen::ident(rust_name)
                .map(|i| format!(" (it would be `{i}`)"))
                .unwrap_or_default();
            let place = (rust_name.span())
                .and_then(|s| topology.locate(s))
                .or_else(|| topology.origin(kind, name));
            Some(
                Diagnostic::new(
                    Code::NotAnIdentifier,
                    format!(
                        "`rust_name` `{}` of {} `{name}` is not a Rust identifier{would}",
                        rust_name.get(),
                        kind.as_str()
                    ),
                    place,
                )
                .with_help("letters, digits and `_`, not starting with a digit, and not `self`, `Self`, `super`, `crate` or `_`"),
            )
        })
        .collect()
}

/// A failure while generating, from the generator or from formatting its output.
enum Failure {
    Generator(kombu_codegen::Error),
    Other(Error),
}

impl From<kombu_codegen::Error> for Failure {
    fn from(e: kombu_codegen::Error) -> Self {
        Failure::Generator(e)
    }
}

/// Formats the generated module one item at a time, so that only the text is ever whole
/// (the tokens and syntax tree of 100,000 queues at once took gigabytes). The text is what
/// formatting the whole module at once gives: an item inside a module is formatted inside an
/// empty module of the same name, for the same indentation and line breaks.
struct Writer {
    out: String,
    /// The module being written, and whether it has items yet.
    module: Option<(Ident, bool)>,
}

impl Writer {
    fn piece(&mut self, piece: Piece) -> Result<(), Failure> {
        match piece {
            Piece::Item(item) => match &mut self.module {
                None => self.out.push_str(&format(item)?),
                Some((name, has_items)) => {
                    let text = format(quote! { pub mod #name { #item } })?;
                    let body = text
                        .split_once('\n')
                        .and_then(|(_, rest)| rest.strip_suffix("}\n"))
                        .ok_or_else(|| unexpected(&text))?;
                    self.out.push_str(body);
                    *has_items = true;
                }
            },
            Piece::Macro { path, item } => {
                // The input formatted as the item it is, inside `path! { ... }`.
                let indent = if self.module.is_some() { "    " } else { "" };
                let text = format(item)?;
                let path = path.to_string().replace(' ', "");
                self.out.push_str(&format!("{indent}{path}! {{\n"));
                for line in text.lines() {
                    if line.is_empty() {
                        self.out.push('\n');
                    } else {
                        self.out.push_str(&format!("{indent}    {line}\n"));
                    }
                }
                self.out.push_str(&format!("{indent}}}\n"));
                if let Some((_, has_items)) = &mut self.module {
                    *has_items = true;
                }
            }
            Piece::ModuleStart { attrs, name } => {
                let text = format(quote! { #attrs pub mod #name {} })?;
                let header = text.strip_suffix("}\n").ok_or_else(|| unexpected(&text))?;
                self.out.push_str(header);
                self.out.push('\n');
                self.module = Some((name, false));
            }
            Piece::ModuleEnd => {
                if let Some((_, has_items)) = self.module.take() {
                    if !has_items {
                        self.out.pop();
                    }
                    self.out.push_str("}\n");
                }
            }
        }
        Ok(())
    }
}

fn format(tokens: TokenStream) -> Result<String, Failure> {
    let file: syn::File = syn::parse2(tokens).map_err(|e| {
        Failure::Other(Error::Codegen(format!(
            "generated code does not parse: {e}"
        )))
    })?;
    Ok(prettyplease::unparse(&file))
}

fn unexpected(text: &str) -> Failure {
    Failure::Other(Error::Codegen(format!(
        "formatting a module gave unexpected text: {text}"
    )))
}

/// Compiles one topology file into `$OUT_DIR/kombu/<stem>.rs` with the default [`Config`].
/// On failure the diagnostics are also written to stderr (which cargo shows for a failed build
/// script) and returned.
pub fn compile(path: impl AsRef<Path>) -> Result<(), Error> {
    match Config::new().compile(&[path]) {
        Ok(_) => Ok(()),
        Err(e) => {
            eprintln!("{e}");
            Err(e)
        }
    }
}
