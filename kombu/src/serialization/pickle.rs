//! Pickle bodies, read as plain data only.
//!
//! `serde-pickle` interprets the pickle opcodes without running Python and refuses any global
//! other than the few builtins that stand for plain data, so no object is ever constructed. A
//! consumer must still opt in (accept `pickle`) before this runs.
//!
//! Before `serde-pickle` runs, [`check`] walks the opcodes once, mirroring its stack machine
//! with sizes instead of values, and refuses a pickle whose value would nest deeper than
//! [`MAX_DEPTH`] (converting and dropping values recurse) or whose decoding would build more
//! than [`max_cells`] values: memo references and `DUP` let a few bytes stand for a large
//! tree, and `serde-pickle` gives every `MARK` a 128-slot vector. The walk itself uses no
//! recursion and work proportional to what it admits.

use std::collections::HashMap;

use super::limits::{cells_of_data, max_cells, too_deep, too_large, MAX_DEPTH};
use crate::error::{Error, Result};
use crate::value::Value;

pub(super) fn decode(body: &[u8]) -> Result<Value> {
    check(body)?;
    // Unresolved globals (a pickled `datetime`, a class instance) are errors, not `None`:
    // nothing is silently lost.
    let value = serde_pickle::value_from_slice(body, serde_pickle::DeOptions::new())
        .map_err(|e| Error::decode(format!("body is not a plain-data pickle: {e}")))?;
    convert(value)
}

fn convert(value: serde_pickle::Value) -> Result<Value> {
    use serde_pickle::Value as P;
    Ok(match value {
        P::None => Value::Null,
        P::Bool(b) => Value::Bool(b),
        P::I64(i) => Value::Int(i),
        P::Int(big) => {
            let text = big.to_string();
            text.parse::<i64>()
                .map(Value::Int)
                .or_else(|_| text.parse::<u64>().map(Value::UInt))
                .map_err(|_| {
                    Error::decode(format!("pickled integer {text} does not fit 64 bits"))
                })?
        }
        P::F64(f) => Value::Float(f),
        P::Bytes(b) => Value::Bytes(b),
        P::String(s) => Value::String(s),
        P::List(items) | P::Tuple(items) => {
            Value::List(items.into_iter().map(convert).collect::<Result<_>>()?)
        }
        P::Set(items) | P::FrozenSet(items) => Value::List(
            items
                .into_iter()
                .map(|h| convert(h.into_value()))
                .collect::<Result<_>>()?,
        ),
        P::Dict(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| Ok((convert(k.into_value())?, convert(v)?)))
                .collect::<Result<_>>()?,
        ),
    })
}

/// The pickle opcodes `serde-pickle` reads (the protocol 0 to 5 names).
mod op {
    pub(super) const MARK: u8 = b'(';
    pub(super) const STOP: u8 = b'.';
    pub(super) const POP: u8 = b'0';
    pub(super) const POP_MARK: u8 = b'1';
    pub(super) const DUP: u8 = b'2';
    pub(super) const FLOAT: u8 = b'F';
    pub(super) const INT: u8 = b'I';
    pub(super) const BININT: u8 = b'J';
    pub(super) const BININT1: u8 = b'K';
    pub(super) const LONG: u8 = b'L';
    pub(super) const BININT2: u8 = b'M';
    pub(super) const NONE: u8 = b'N';
    pub(super) const REDUCE: u8 = b'R';
    pub(super) const STRING: u8 = b'S';
    pub(super) const BINSTRING: u8 = b'T';
    pub(super) const SHORT_BINSTRING: u8 = b'U';
    pub(super) const UNICODE: u8 = b'V';
    pub(super) const BINUNICODE: u8 = b'X';
    pub(super) const APPEND: u8 = b'a';
    pub(super) const BUILD: u8 = b'b';
    pub(super) const GLOBAL: u8 = b'c';
    pub(super) const DICT: u8 = b'd';
    pub(super) const EMPTY_DICT: u8 = b'}';
    pub(super) const APPENDS: u8 = b'e';
    pub(super) const GET: u8 = b'g';
    pub(super) const BINGET: u8 = b'h';
    pub(super) const INST: u8 = b'i';
    pub(super) const LONG_BINGET: u8 = b'j';
    pub(super) const LIST: u8 = b'l';
    pub(super) const EMPTY_LIST: u8 = b']';
    pub(super) const OBJ: u8 = b'o';
    pub(super) const PUT: u8 = b'p';
    pub(super) const BINPUT: u8 = b'q';
    pub(super) const LONG_BINPUT: u8 = b'r';
    pub(super) const SETITEM: u8 = b's';
    pub(super) const TUPLE: u8 = b't';
    pub(super) const EMPTY_TUPLE: u8 = b')';
    pub(super) const SETITEMS: u8 = b'u';
    pub(super) const BINFLOAT: u8 = b'G';
    pub(super) const PROTO: u8 = 0x80;
    pub(super) const NEWOBJ: u8 = 0x81;
    pub(super) const TUPLE1: u8 = 0x85;
    pub(super) const TUPLE2: u8 = 0x86;
    pub(super) const TUPLE3: u8 = 0x87;
    pub(super) const NEWTRUE: u8 = 0x88;
    pub(super) const NEWFALSE: u8 = 0x89;
    pub(super) const LONG1: u8 = 0x8a;
    pub(super) const LONG4: u8 = 0x8b;
    pub(super) const BINBYTES: u8 = b'B';
    pub(super) const SHORT_BINBYTES: u8 = b'C';
    pub(super) const SHORT_BINUNICODE: u8 = 0x8c;
    pub(super) const BINUNICODE8: u8 = 0x8d;
    pub(super) const BINBYTES8: u8 = 0x8e;
    pub(super) const EMPTY_SET: u8 = 0x8f;
    pub(super) const ADDITEMS: u8 = 0x90;
    pub(super) const FROZENSET: u8 = 0x91;
    pub(super) const NEWOBJ_EX: u8 = 0x92;
    pub(super) const STACK_GLOBAL: u8 = 0x93;
    pub(super) const MEMOIZE: u8 = 0x94;
    pub(super) const FRAME: u8 = 0x95;
    pub(super) const BYTEARRAY8: u8 = 0x96;
}

/// The slots `serde-pickle` allocates for the items after each `MARK` (its stack capacity);
/// kept by the tuple, list or frozenset the mark becomes.
const MARK_SLOTS: u64 = 128;

/// The longest integer literal read: 64-bit integers need at most 21 characters or 9 bytes,
/// and converting a long one to text takes time quadratic in its length.
const MAX_INTEGER_LEN: usize = 64;

/// A stack or memo item, as far as size goes.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A scalar costing this many cells.
    Leaf(u64),
    /// A container in the arena.
    Node(usize),
    /// A memo reference; `serde-pickle` resolves it when it builds the result, so it stands
    /// for the memo entry's final contents.
    Memo(u32),
}

/// A container: its items, and how deep they nest (not counting what memo references stand
/// for). It costs one cell wherever it is copied or expanded (a clone allocates what it
/// holds, not the original's spare capacity). Each node has one owner (a stack slot, a memo
/// entry or one parent): copies are real copies, as in `serde-pickle`, so only memo
/// references share, and a node that changes is never inside another.
#[derive(Debug)]
struct Node {
    items: Vec<Item>,
    height: usize,
}

/// `serde-pickle`'s machine with sizes for values.
struct Machine<'a> {
    body: &'a [u8],
    at: usize,
    nodes: Vec<Node>,
    stack: Vec<Item>,
    /// Where each open MARK's items start on `stack`.
    marks: Vec<usize>,
    /// Never holds `Item::Memo`: storing a reference stores a copy of what it refers to.
    memo: HashMap<u32, Item>,
    spent: u64,
    limit: u64,
}

/// Checks that `body` decodes within [`MAX_DEPTH`] and [`max_cells`], without decoding it.
fn check(body: &[u8]) -> Result<()> {
    let mut m = Machine {
        body,
        at: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        spent: 0,
        limit: max_cells(body.len()),
    };
    let result = m.run()?;
    m.measure(result)
}

fn malformed(why: impl std::fmt::Display, at: usize) -> Error {
    Error::decode(format!(
        "body is not a plain-data pickle: {why} at byte {at}"
    ))
}

impl<'a> Machine<'a> {
    /// Runs to STOP and returns the result item.
    fn run(&mut self) -> Result<Item> {
        loop {
            let opcode = self.byte()?;
            match opcode {
                op::PROTO => {
                    self.byte()?;
                }
                op::FRAME => {
                    self.take(8)?;
                }
                op::STOP => return self.pop(),
                op::MARK => {
                    if self.marks.len() >= MAX_DEPTH {
                        return Err(Error::decode(too_deep("pickle")));
                    }
                    self.marks.push(self.stack.len());
                }
                op::POP => {
                    if self.stack.len() == self.base() {
                        self.pop_mark()?;
                    } else {
                        self.pop()?;
                    }
                }
                op::POP_MARK => {
                    self.pop_mark()?;
                }
                op::DUP => {
                    let top = self.peek()?;
                    let copy = self.copy(top)?;
                    self.stack.push(copy);
                }
                op::PUT => {
                    let id = self.text_id()?;
                    self.memoize(id)?;
                }
                op::BINPUT => {
                    let id = self.byte()?;
                    self.memoize(id.into())?;
                }
                op::LONG_BINPUT => {
                    let id = self.u32()?;
                    self.memoize(id)?;
                }
                op::MEMOIZE => {
                    let id = u32::try_from(self.memo.len())
                        .map_err(|_| malformed("too many memo entries", self.at))?;
                    self.memoize(id)?;
                }
                op::GET => {
                    let id = self.text_id()?;
                    self.get(id)?;
                }
                op::BINGET => {
                    let id = self.byte()?;
                    self.get(id.into())?;
                }
                op::LONG_BINGET => {
                    let id = self.u32()?;
                    self.get(id)?;
                }
                op::NONE | op::NEWFALSE | op::NEWTRUE => self.leaf(0)?,
                op::INT | op::LONG => {
                    let len = self.line()?.len();
                    if len > MAX_INTEGER_LEN {
                        return Err(malformed(
                            format!("an integer literal of {len} characters"),
                            self.at,
                        ));
                    }
                    self.leaf(len)?;
                }
                op::FLOAT | op::STRING | op::UNICODE => {
                    let len = self.line()?.len();
                    self.leaf(len)?;
                }
                op::BINFLOAT => {
                    self.take(8)?;
                    self.leaf(0)?;
                }
                op::BININT => {
                    self.take(4)?;
                    self.leaf(0)?;
                }
                op::BININT1 => {
                    self.take(1)?;
                    self.leaf(0)?;
                }
                op::BININT2 => {
                    self.take(2)?;
                    self.leaf(0)?;
                }
                op::LONG1 => {
                    let len = self.byte()?;
                    self.data(len.into())?;
                }
                op::LONG4 => {
                    let len = self.i32_len()?;
                    if len > MAX_INTEGER_LEN as u64 {
                        return Err(malformed(format!("an integer of {len} bytes"), self.at));
                    }
                    self.data(len)?;
                }
                op::SHORT_BINBYTES | op::SHORT_BINSTRING | op::SHORT_BINUNICODE => {
                    let len = self.byte()?;
                    self.data(len.into())?;
                }
                op::BINBYTES | op::BINUNICODE => {
                    let len = self.u32()?;
                    self.data(len.into())?;
                }
                op::BINSTRING => {
                    let len = self.i32_len()?;
                    self.data(len)?;
                }
                op::BINBYTES8 | op::BINUNICODE8 | op::BYTEARRAY8 => {
                    let len = self.u64()?;
                    self.data(len)?;
                }
                op::EMPTY_TUPLE | op::EMPTY_LIST | op::EMPTY_DICT | op::EMPTY_SET => {
                    self.container(Vec::new(), 1)?;
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = usize::from(opcode - op::TUPLE1) + 1;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.container(items, 1)?;
                }
                op::TUPLE | op::LIST | op::FROZENSET => {
                    let items = self.pop_mark()?;
                    let slots = MARK_SLOTS.max(u64::try_from(items.len()).unwrap_or(u64::MAX));
                    self.container(items, 1 + slots)?;
                }
                op::DICT => {
                    let items = self.pop_mark()?;
                    self.container(items, 1)?;
                }
                op::APPEND => {
                    let item = self.pop()?;
                    self.extend(vec![item])?;
                }
                op::SETITEM => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.extend(vec![key, value])?;
                }
                op::APPENDS | op::SETITEMS | op::ADDITEMS => {
                    let items = self.pop_mark()?;
                    self.extend(items)?;
                }
                op::GLOBAL => {
                    self.line()?;
                    self.line()?;
                    self.leaf(0)?;
                }
                op::STACK_GLOBAL => {
                    for _ in 0..2 {
                        let name = self.pop()?;
                        self.resolve(name)?;
                    }
                    self.leaf(0)?;
                }
                op::REDUCE => {
                    // The result is made from the arguments, each resolved (copied if it is a
                    // memo reference); keeping all of them over-estimates, never under.
                    let args = self.pop()?;
                    let args = self.resolve(args)?;
                    let global = self.pop()?;
                    self.resolve(global)?;
                    if let Item::Node(n) = args {
                        let items = std::mem::take(&mut self.nodes[n].items);
                        let mut resolved = Vec::with_capacity(items.len());
                        for item in items {
                            resolved.push(self.resolve(item)?);
                        }
                        self.nodes[n].height = self.height_above(&resolved)?;
                        self.nodes[n].items = resolved;
                    }
                    self.stack.push(args);
                }
                op::INST => {
                    self.line()?;
                    self.line()?;
                    self.pop_mark()?;
                    self.container(Vec::new(), 1)?;
                }
                op::OBJ => {
                    self.pop_mark()?;
                    self.pop()?;
                    self.container(Vec::new(), 1)?;
                }
                op::NEWOBJ => {
                    self.pop()?;
                    self.pop()?;
                    self.container(Vec::new(), 1)?;
                }
                op::NEWOBJ_EX => {
                    for _ in 0..3 {
                        self.pop()?;
                    }
                    self.container(Vec::new(), 1)?;
                }
                op::BUILD => {
                    let state = self.pop()?;
                    self.pop()?;
                    self.stack.push(state);
                }
                other => {
                    return Err(malformed(
                        format!("unsupported opcode 0x{other:02x}"),
                        self.at - 1,
                    ))
                }
            }
        }
    }

    fn charge(&mut self, cells: u64) -> Result<()> {
        self.spent = self.spent.saturating_add(cells);
        if self.spent > self.limit {
            return Err(Error::decode(too_large("pickle", self.limit)));
        }
        Ok(())
    }

    fn leaf(&mut self, data_len: usize) -> Result<()> {
        let cells = cells_of_data(data_len);
        self.charge(cells)?;
        self.stack.push(Item::Leaf(cells));
        Ok(())
    }

    /// Skips `len` bytes of data and pushes the scalar they make.
    fn data(&mut self, len: u64) -> Result<()> {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(len)?;
        self.leaf(len)
    }

    /// Pushes a new container holding `items`, charging `cells` for making it.
    fn container(&mut self, items: Vec<Item>, cells: u64) -> Result<()> {
        self.charge(cells)?;
        let height = self.height_above(&items)?;
        self.nodes.push(Node { items, height });
        self.stack.push(Item::Node(self.nodes.len() - 1));
        Ok(())
    }

    /// The height of a container holding `items`, which must be within [`MAX_DEPTH`]:
    /// `serde-pickle` clones and drops its own values recursively.
    fn height_above(&self, items: &[Item]) -> Result<usize> {
        let tallest = items
            .iter()
            .map(|item| match item {
                Item::Node(n) => self.nodes[*n].height,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        if tallest >= MAX_DEPTH {
            return Err(Error::decode(too_deep("pickle")));
        }
        Ok(tallest + 1)
    }

    /// The first stack slot of the innermost open MARK.
    fn base(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Item> {
        if self.stack.len() == self.base() {
            return Err(malformed("the stack is empty", self.at));
        }
        self.stack
            .pop()
            .ok_or_else(|| malformed("the stack is empty", self.at))
    }

    fn peek(&self) -> Result<Item> {
        match self.stack.last() {
            Some(&item) if self.stack.len() > self.base() => Ok(item),
            _ => Err(malformed("the stack is empty", self.at)),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<Item>> {
        let start = self
            .marks
            .pop()
            .ok_or_else(|| malformed("no MARK to pop to", self.at))?;
        Ok(self.stack.split_off(start))
    }

    /// What a memo reference stands for now; other items as they are.
    fn deref(&self, item: Item) -> Result<Item> {
        match item {
            Item::Memo(id) => self
                .memo
                .get(&id)
                .copied()
                .ok_or_else(|| malformed(format!("memo entry {id} is missing"), self.at)),
            other => Ok(other),
        }
    }

    /// A memo reference replaced by a copy of what it stands for (what `serde-pickle` does
    /// when it takes a value off the stack to use it).
    fn resolve(&mut self, item: Item) -> Result<Item> {
        match item {
            Item::Memo(_) => {
                let target = self.deref(item)?;
                self.copy(target)
            }
            other => Ok(other),
        }
    }

    /// A deep copy of `item` down to memo references, charged for everything it copies.
    fn copy(&mut self, item: Item) -> Result<Item> {
        let root = match self.deref(item)? {
            Item::Node(root) => root,
            Item::Leaf(cells) => {
                self.charge(cells)?;
                return Ok(Item::Leaf(cells));
            }
            Item::Memo(_) => return Err(malformed("a memo entry refers to another", self.at)),
        };
        let copy_of = |m: &mut Self, n: usize| -> Result<usize> {
            let height = m.nodes[n].height;
            m.charge(1)?;
            m.nodes.push(Node {
                items: Vec::new(),
                height,
            });
            Ok(m.nodes.len() - 1)
        };
        let top = copy_of(self, root)?;
        let mut todo = vec![(root, top)];
        while let Some((from, to)) = todo.pop() {
            let mut items = Vec::with_capacity(self.nodes[from].items.len());
            for i in 0..self.nodes[from].items.len() {
                let copied = match self.nodes[from].items[i] {
                    Item::Node(child) => {
                        let new = copy_of(self, child)?;
                        todo.push((child, new));
                        Item::Node(new)
                    }
                    Item::Leaf(cells) => {
                        self.charge(cells)?;
                        Item::Leaf(cells)
                    }
                    memo @ Item::Memo(_) => memo,
                };
                items.push(copied);
            }
            self.nodes[to].items = items;
        }
        Ok(Item::Node(top))
    }

    fn memoize(&mut self, id: u32) -> Result<()> {
        let item = self.pop()?;
        let item = self.resolve(item)?;
        self.memo.insert(id, item);
        self.stack.push(Item::Memo(id));
        Ok(())
    }

    fn get(&mut self, id: u32) -> Result<()> {
        if !self.memo.contains_key(&id) {
            return Err(malformed(format!("memo entry {id} is missing"), self.at));
        }
        self.charge(1)?;
        self.stack.push(Item::Memo(id));
        Ok(())
    }

    /// Adds items to the container on top of the stack (through its memo entry if it is a
    /// reference).
    fn extend(&mut self, items: Vec<Item>) -> Result<()> {
        let top = self.peek()?;
        match self.deref(top)? {
            Item::Node(n) => {
                let height = self.height_above(&items)?;
                let node = &mut self.nodes[n];
                node.height = node.height.max(height);
                node.items.extend(items);
                Ok(())
            }
            _ => Err(malformed(
                "items added to a value that is not a container",
                self.at,
            )),
        }
    }

    /// Checks the size and depth of `result` with every memo reference expanded, visiting
    /// each node once.
    fn measure(&self, result: Item) -> Result<()> {
        /// A node being measured: its index, the next item to look at, and the deepest and
        /// the total size of its items so far.
        struct Frame {
            node: usize,
            next: usize,
            depth: usize,
            cells: u64,
        }
        let root = match self.deref(result)? {
            Item::Node(n) => n,
            _ => return Ok(()),
        };
        let mut measured: Vec<Option<(usize, u64)>> = vec![None; self.nodes.len()];
        let mut on_path = vec![false; self.nodes.len()];
        let mut path = vec![Frame {
            node: root,
            next: 0,
            depth: 0,
            cells: 0,
        }];
        on_path[root] = true;
        while let Some(frame) = path.last_mut() {
            let node = &self.nodes[frame.node];
            if let Some(&item) = node.items.get(frame.next) {
                frame.next += 1;
                let child = match self.deref(item)? {
                    Item::Node(child) => child,
                    Item::Leaf(cells) => {
                        frame.cells = frame.cells.saturating_add(cells);
                        continue;
                    }
                    Item::Memo(_) => {
                        return Err(malformed("a memo entry refers to another", self.at))
                    }
                };
                if let Some((depth, cells)) = measured[child] {
                    frame.depth = frame.depth.max(depth);
                    frame.cells = frame.cells.saturating_add(cells);
                } else if on_path[child] {
                    return Err(malformed("the value contains itself", self.at));
                } else if path.len() >= MAX_DEPTH {
                    return Err(Error::decode(too_deep("pickle")));
                } else {
                    on_path[child] = true;
                    path.push(Frame {
                        node: child,
                        next: 0,
                        depth: 0,
                        cells: 0,
                    });
                }
                continue;
            }
            let depth = frame.depth + 1;
            let cells = frame.cells.saturating_add(1);
            if depth > MAX_DEPTH {
                return Err(Error::decode(too_deep("pickle")));
            }
            if cells > self.limit {
                return Err(Error::decode(too_large("pickle", self.limit)));
            }
            let done = frame.node;
            measured[done] = Some((depth, cells));
            on_path[done] = false;
            path.pop();
            if let Some(parent) = path.last_mut() {
                parent.depth = parent.depth.max(depth);
                parent.cells = parent.cells.saturating_add(cells);
            }
        }
        Ok(())
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .body
            .get(self.at)
            .ok_or_else(|| malformed("the pickle ends early", self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let body: &'a [u8] = self.body;
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= body.len())
            .ok_or_else(|| malformed("the pickle ends early", self.at))?;
        let bytes = &body[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(b);
        Ok(u64::from_le_bytes(le))
    }

    /// A signed 4-byte length; negative is an error, as in `serde-pickle`.
    fn i32_len(&mut self) -> Result<u64> {
        let at = self.at;
        let b = self.take(4)?;
        let len = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        u64::try_from(len).map_err(|_| malformed(format!("negative length {len}"), at))
    }

    /// A line argument, without its end (`serde-pickle` reads to a newline or the end).
    fn line(&mut self) -> Result<&'a [u8]> {
        let body: &'a [u8] = self.body;
        let rest = &body[self.at.min(body.len())..];
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        self.at += len;
        let line = &rest[..len];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        Ok(line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn text_id(&mut self) -> Result<u32> {
        let at = self.at;
        let line = self.line()?;
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| malformed("a memo id is not a number", at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &[u8]) -> String {
        match check(body) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("{body:?} passed the check"),
        }
    }

    #[test]
    fn open_marks_are_bounded_before_serde_pickle_allocates_for_them() {
        let mut body = vec![op::MARK; MAX_DEPTH + 1];
        body.push(op::STOP);
        assert!(refused(&body).contains("deeper than"));
    }

    #[test]
    fn long_integer_literals_are_refused_before_they_are_parsed() {
        let mut body = b"L".to_vec();
        body.extend([b'9'; 1000]);
        body.extend(b"L\n.");
        assert!(refused(&body).contains("integer literal"));
        let mut body = b"\x8b\x00\x01\x00\x00".to_vec();
        body.extend([0xff; 256]);
        body.push(op::STOP);
        assert!(refused(&body).contains("integer of 256 bytes"));
    }

    #[test]
    fn mark_built_tuples_are_charged_for_the_slots_serde_pickle_gives_them() {
        // A list of empty MARK-built tuples: 3 bytes each in the body, 129 cells each.
        let n = 10_000;
        let mut body = b"]".to_vec();
        for _ in 0..n {
            body.extend(b"(ta");
        }
        body.push(op::STOP);
        assert!(refused(&body).contains("decodes to more than"));
        // The same number of EMPTY_TUPLEs cost one cell each.
        let mut body = b"]".to_vec();
        for _ in 0..n {
            body.extend(b")a");
        }
        body.push(op::STOP);
        check(&body).unwrap();
    }

    #[test]
    fn references_to_a_mark_built_value_cost_what_a_clone_costs() {
        // Python's `[frozenset({1, 2})] * 10_000`, protocol 4: the frozenset once (its MARK
        // vector has 128 slots), then 10,000 memo references to it. A clone holds 2 items,
        // not 128 slots.
        let mut body = b"\x80\x04(K\x01K\x02\x91\x94]\x94(".to_vec();
        body.extend(b"h\x00".repeat(10_000));
        body.extend(b"e.");
        check(&body).unwrap();
    }

    #[test]
    fn a_value_that_contains_itself_is_refused() {
        // [l] with l appended to itself through the memo.
        let body = b"]q\x00h\x00a.";
        assert!(refused(body).contains("contains itself"));
    }

    #[test]
    fn truncated_and_unknown_input_is_malformed() {
        for (body, expected) in [
            (&b"\x80\x02"[..], "ends early"),
            (b"B\xff\xff\xff\xff.", "ends early"),
            (b"P0\n.", "unsupported opcode 0x50"),
            (b"a.", "stack is empty"),
            (b"h\x07.", "memo entry 7 is missing"),
            (b"K\x00K\x00a.", "not a container"),
            (b"T\xff\xff\xff\xff", "negative length"),
        ] {
            assert!(
                refused(body).contains(expected),
                "{body:?}: {}",
                refused(body)
            );
        }
    }
}
