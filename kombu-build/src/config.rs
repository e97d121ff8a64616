//! The `Config` builder and the one-call [`compile`].

use std::path::{Path, PathBuf};

use kombu::topology::{fn_ident, Topology};
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

    /// The generated module for a loaded topology, formatted, with its `@generated` header.
    pub fn generate(&self, topology: &Topology) -> Result<String, Error> {
        let module = lower(topology, &self.options)?;
        let mut writer = Writer {
            out: format!(
                "// @generated by kombu-build from {}.\n// Do not edit: change the topology and rebuild.\n\n",
                module.sources.join(", ")
            ),
            module: None,
        };
        kombu_codegen::generate_each(&module, |piece| writer.piece(piece)).map_err(|f| f.0)?;
        Ok(writer.out)
    }
}

/// A failure while generating, from the generator or from formatting its output.
struct Failure(Error);

impl From<kombu_codegen::Error> for Failure {
    fn from(e: kombu_codegen::Error) -> Self {
        Failure(Error::Codegen(e.to_string()))
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
        Failure(Error::Codegen(format!(
            "generated code does not parse: {e}"
        )))
    })?;
    Ok(prettyplease::unparse(&file))
}

fn unexpected(text: &str) -> Failure {
    Failure(Error::Codegen(format!(
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
