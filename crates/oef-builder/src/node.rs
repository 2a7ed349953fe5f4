//! The result of the build pass: a tree of messages whose subtrees may be shared.
//!
//! A [`Node::Fresh`] holds a message's own fields (scalars, lists, maps) and its singular
//! sub-messages as child nodes. A [`Node::Cached`] is a subtree built from catalog defaults
//! alone (no keyword argument can reach it, no switch value lies below it): the reference's
//! result there depends on nothing but the architecture, so it is built once per process and
//! kept encoded. Converting a tree to bytes or to a nested [`DynamicMessage`] happens once, at
//! the end.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use prost::{
    Message as _,
    encoding::{WireType, encode_key, encode_varint},
};
use prost_reflect::{DynamicMessage, Value};

use crate::schema::Schema;

/// A built message.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Built by this build.
    Fresh(Fresh),
    /// Shared, built from defaults only.
    Cached(Arc<Cached>),
}

/// A message built by this build.
#[derive(Debug, Clone)]
pub(crate) struct Fresh {
    /// The message without its singular sub-message fields.
    pub(crate) message: DynamicMessage,
    /// Singular sub-message fields: (index in the plan's fields, node), in declaration order.
    pub(crate) children: Vec<(usize, Node)>,
    /// The plan of this message.
    pub(crate) plan: usize,
}

/// A subtree built from defaults alone, kept encoded.
#[derive(Debug)]
pub(crate) struct Cached {
    /// Plan of the subtree's root message.
    pub(crate) plan: usize,
    /// The subtree, encoded.
    pub(crate) bytes: Vec<u8>,
    /// Required fields missing in the subtree, relative to its root.
    pub(crate) missing: Vec<String>,
}

/// Key: (plan index, address of the catalog `default_args` subtree). Catalog data is
/// `'static` and never freed, so addresses are stable identities.
type CacheKey = (usize, usize);

static CACHE: LazyLock<Mutex<HashMap<CacheKey, Arc<Cached>>>> = LazyLock::new(Default::default);

/// The cached subtree for `key`, if built before.
pub(crate) fn cached(key: CacheKey) -> Option<Arc<Cached>> {
    CACHE.lock().ok()?.get(&key).cloned()
}

/// Stores a subtree built from defaults alone; returns the shared node.
pub(crate) fn store(schema: &Schema, key: CacheKey, node: Node) -> Node {
    let mut missing = Vec::new();
    node.missing(schema, &mut String::new(), &mut missing);
    let plan = node.plan();
    let mut bytes = Vec::new();
    node.encode(schema, &mut bytes);
    let cached = Arc::new(Cached {
        plan,
        bytes,
        missing,
    });
    if let Ok(mut cache) = CACHE.lock() {
        cache.insert(key, Arc::clone(&cached));
    }
    Node::Cached(cached)
}

impl Node {
    fn plan(&self) -> usize {
        match self {
            Node::Fresh(f) => f.plan,
            Node::Cached(c) => c.plan,
        }
    }

    /// Appends the protobuf binary of this message (fields of a message in any order; each
    /// nested length computed once).
    pub(crate) fn encode(&self, schema: &Schema, buf: &mut Vec<u8>) {
        match self {
            Node::Cached(c) => buf.extend_from_slice(&c.bytes),
            Node::Fresh(fresh) => {
                fresh.message.encode_raw(buf);
                let plan = &schema.messages[fresh.plan];
                let mut scratch = Vec::new();
                for (index, child) in &fresh.children {
                    scratch.clear();
                    child.encode(schema, &mut scratch);
                    encode_key(
                        plan.fields[*index].desc.number(),
                        WireType::LengthDelimited,
                        buf,
                    );
                    encode_varint(scratch.len() as u64, buf);
                    buf.extend_from_slice(&scratch);
                }
            }
        }
    }

    /// The nested reflection message.
    pub(crate) fn into_dynamic(self, schema: &Schema) -> Result<DynamicMessage, String> {
        match self {
            Node::Cached(c) => {
                DynamicMessage::decode(schema.messages[c.plan].desc.clone(), c.bytes.as_slice())
                    .map_err(|e| e.to_string())
            }
            Node::Fresh(fresh) => {
                let plan = &schema.messages[fresh.plan];
                let mut message = fresh.message;
                for (index, child) in fresh.children {
                    let child = child.into_dynamic(schema)?;
                    message.set_field(&plan.fields[index].desc, Value::Message(child));
                }
                Ok(message)
            }
        }
    }

    /// Appends the dotted paths of required fields missing in this subtree, below `prefix`.
    pub(crate) fn missing(&self, schema: &Schema, prefix: &mut String, out: &mut Vec<String>) {
        let dot = if prefix.is_empty() { "" } else { "." };
        match self {
            Node::Cached(c) => out.extend(c.missing.iter().map(|m| format!("{prefix}{dot}{m}"))),
            Node::Fresh(fresh) => {
                let plan = &schema.messages[fresh.plan];
                if !plan.may_miss_required {
                    return;
                }
                for (i, field) in plan.fields.iter().enumerate() {
                    let present = if field.message.is_some() {
                        fresh.children.iter().any(|(c, _)| *c == i)
                    } else {
                        fresh.message.has_field(&field.desc)
                    };
                    if field.required && !present {
                        out.push(format!("{prefix}{dot}{}", field.name));
                    }
                }
                // Messages inside lists and maps given as values.
                oef_proto::codec::collect_missing_below(&fresh.message, prefix, out);
                for (index, child) in &fresh.children {
                    let len = prefix.len();
                    prefix.push_str(dot);
                    prefix.push_str(&plan.fields[*index].name);
                    child.missing(schema, prefix, out);
                    prefix.truncate(len);
                }
            }
        }
    }
}
