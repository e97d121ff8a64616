//! `#[derive(Tasks)]`: an enum whose variants are Celery tasks (their fields the task's
//! parameters) → the same task set a topology's `[tasks]` gives: a `{Enum}Client` with one
//! method per task and a `{Enum}Handler` trait.
//!
//! ```text
//! #[derive(Tasks)]
//! #[kombu(queue = "images")]                 // the default queue of every task (else `celery`)
//! enum Images {
//!     #[kombu(task = "images.resize", result = "Size", acks_late, time_limit = 30)]
//!     Resize { path: String, #[kombu(kwarg)] quality: Option<u8> },
//!     #[kombu(task = "tasks.add", queue = "celery", result = "i64", client_only)]
//!     Add { x: i64, y: i64 },                // sent to Python; not in the handler trait
//! }
//! ```

use super::*;

const SET_KEYS: &[attr::Key] = &[key("queue", Kind::Str)];

const TASK_KEYS: &[attr::Key] = &[
    key("task", Kind::Str),
    key("queue", Kind::Str),
    key("exchange", Kind::Str),
    key("routing_key", Kind::Str),
    key("result", Kind::Str),
    key("acks_late", Kind::Bool),
    key("max_retries", Kind::Int),
    key("default_retry_delay", Kind::Int),
    key("time_limit", Kind::Int),
    key("soft_time_limit", Kind::Int),
    key("expires", Kind::Int),
    key("ignore_result", Kind::Bool),
    key("priority", Kind::Int),
    key("client_only", Kind::Bool),
];

const FIELD_KEYS: &[attr::Key] = &[key("kwarg", Kind::Bool)];

/// Seconds (as Celery's options take them) in milliseconds.
fn seconds(entries: &[Entry], name: &str, errors: &mut Errors) -> Option<u64> {
    let (n, span) = int_of(entries, name)?;
    match n.checked_mul(1000) {
        Some(ms) => Some(ms),
        None => {
            errors.push(span, format!("`{name}` is in seconds, and {n} is too many"));
            None
        }
    }
}

/// The task set as far as it could be understood, and the problems found.
pub(super) fn read_tasks(input: &syn::DeriveInput) -> (ir::TaskSet, Errors) {
    let mut errors = Errors::default();
    let entries = attr::parse(&input.attrs, &mut errors);
    let entries = check(
        &entries,
        SET_KEYS,
        &[],
        "`#[kombu(...)]` of a task enum",
        &mut errors,
    );
    let default_queue = str_of(&entries, "queue").map_or_else(|| "celery".to_owned(), |(q, _)| q);
    if !input.generics.params.is_empty() {
        errors.push(
            input.generics.span(),
            "`#[derive(Tasks)]` does not support generic types",
        );
    }
    let ident = input.ident.to_string();
    let mut tasks = Vec::new();
    match &input.data {
        syn::Data::Enum(data) => {
            let mut celery_names: Vec<String> = Vec::new();
            for v in &data.variants {
                let Some(t) = read_task(v, &default_queue, &mut errors) else {
                    continue;
                };
                if celery_names.contains(&t.task) {
                    errors.push(
                        v.ident.span(),
                        format!("two variants are Celery task `{}`: a worker could not tell them apart; give one another `task` name", t.task),
                    );
                    continue;
                }
                celery_names.push(t.task.clone());
                tasks.push(t);
            }
        }
        _ => errors.push(
            input.ident.span(),
            "`#[derive(Tasks)]` goes on an enum with one variant per Celery task",
        ),
    }
    // A worker consumes whole queues (see kombu-build's `serve_tasks`).
    for t in tasks.iter().filter(|t| !t.serve) {
        if let Some(served) = tasks.iter().find(|s| s.serve && s.queue == t.queue) {
            errors.push(
                input.ident.span(),
                format!("`{}` is `client_only` but shares queue `{}` with `{}`, which this enum's worker serves: the worker would take `{}`'s tasks and answer them NotRegistered; give it another `queue`", t.name, t.queue, served.name, t.name),
            );
        }
    }
    let set = ir::TaskSet {
        name: format!("`{ident}`"),
        ident,
        description: description(&input.attrs),
        tasks,
    };
    (set, errors)
}

fn read_task(v: &syn::Variant, default_queue: &str, errors: &mut Errors) -> Option<ir::TaskSpec> {
    let entries = attr::parse(&v.attrs, errors);
    let entries = check(
        &entries,
        TASK_KEYS,
        &[],
        "a task variant's `#[kombu(...)]`",
        errors,
    );
    let method = v.ident.to_string().to_snake_case();
    let mut args = Vec::new();
    let mut kwargs = Vec::new();
    match &v.fields {
        syn::Fields::Named(named) => {
            for f in &named.named {
                let field_entries = attr::parse(&f.attrs, errors);
                let field_entries = check(
                    &field_entries,
                    FIELD_KEYS,
                    &[],
                    "a task parameter's `#[kombu(...)]`",
                    errors,
                );
                let param = field(f);
                if bool_of(&field_entries, "kwarg").unwrap_or(false) {
                    kwargs.push(param);
                } else if !kwargs.is_empty() {
                    errors.push(
                        f.span(),
                        "positional parameters come before the keyword-only ones (`#[kombu(kwarg)]`), as in Python",
                    );
                } else {
                    args.push(param);
                }
            }
        }
        syn::Fields::Unit => {}
        syn::Fields::Unnamed(u) => {
            errors.push(
                u.span(),
                "a task variant names its parameters (`Resize { path: String }`), so that a caller can pass them by keyword",
            );
            return None;
        }
    }
    let result = match str_of(&entries, "result") {
        None => None,
        Some((text, span)) => match syn::parse_str::<syn::Type>(&text) {
            Ok(ty) => Some(field_type(&ty)),
            Err(e) => {
                errors.push(span, format!("`result` is not a Rust type: {e}"));
                None
            }
        },
    };
    // The queue's binding from the exchange would have to be declared too: a topology file
    // declares it (`[queues]` with `bindings`, `[tasks]` with `exchange`), a derive cannot.
    for key in ["exchange", "routing_key"] {
        if let Some((_, span)) = str_of(&entries, key) {
            errors.push(
                span,
                format!("`{key}`: a derived task is sent to its queue; routing through an exchange needs the queue's binding declared, which a topology file's `[tasks]` and `[queues]` do"),
            );
        }
    }
    let route = None;
    let max_retries = int_of(&entries, "max_retries").map(|(n, span)| {
        u32::try_from(n).unwrap_or_else(|_| {
            errors.push(span, "`max_retries` is at most 4294967295");
            u32::MAX
        })
    });
    let priority = int_of(&entries, "priority").map(|(n, span)| {
        u8::try_from(n).unwrap_or_else(|_| {
            errors.push(span, "`priority` is at most 255");
            u8::MAX
        })
    });
    let time_limit_ms = seconds(&entries, "time_limit", errors);
    let soft_time_limit_ms = seconds(&entries, "soft_time_limit", errors);
    if let (Some(soft), Some(hard)) = (soft_time_limit_ms, time_limit_ms) {
        if soft > hard {
            if let Some((_, span)) = int_of(&entries, "soft_time_limit") {
                errors.push(
                    span,
                    "the soft time limit is above the hard one, so it never fires",
                );
            }
        }
    }
    Some(ir::TaskSpec {
        name: v.ident.to_string(),
        task: str_of(&entries, "task").map_or_else(|| method.clone(), |(t, _)| t),
        ident: method,
        description: description(&v.attrs),
        queue: str_of(&entries, "queue").map_or_else(|| default_queue.to_owned(), |(q, _)| q),
        declaration: None,
        route,
        args,
        kwargs,
        result,
        acks_late: bool_of(&entries, "acks_late").unwrap_or(false),
        max_retries,
        default_retry_delay_ms: seconds(&entries, "default_retry_delay", errors),
        time_limit_ms,
        soft_time_limit_ms,
        expires_ms: seconds(&entries, "expires", errors),
        ignore_result: bool_of(&entries, "ignore_result").unwrap_or(false),
        priority,
        serve: !bool_of(&entries, "client_only").unwrap_or(false),
    })
}
