//! Ids of a document's channels, operations, messages and schemas: AsyncAPI allows only
//! `[A-Za-z0-9._-]` in component keys, RabbitMQ any name. An id is the name with every other
//! character replaced by `_` (the empty name of the default exchange is `default`), made
//! unique within its table by a `-2`, `-3`, ... suffix.

use std::collections::{HashMap, HashSet};

/// One table's ids, by name.
#[derive(Default)]
pub(crate) struct Ids {
    by_name: HashMap<String, String>,
    taken: HashSet<String>,
}

impl Ids {
    /// The id of `name`, the same each time it is asked.
    pub(crate) fn id(&mut self, name: &str) -> String {
        self.id_as(name, name)
    }

    /// The id of `name` under a key of its own (an exchange and a queue of one name get
    /// different ids in one table).
    pub(crate) fn id_as(&mut self, key: &str, name: &str) -> String {
        if let Some(id) = self.by_name.get(key) {
            return id.clone();
        }
        let base = sanitize(name);
        let mut id = base.clone();
        let mut n = 1;
        while self.taken.contains(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        self.taken.insert(id.clone());
        self.by_name.insert(key.to_owned(), id.clone());
        id
    }
}

/// `name` with every character outside `[A-Za-z0-9._-]` replaced by `_`.
pub(crate) fn sanitize(name: &str) -> String {
    if name.is_empty() {
        return "default".to_owned();
    }
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
