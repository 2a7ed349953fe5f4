//! The fast route of step v0 → v1: encoded v0 bytes straight to encoded v1 bytes, without
//! building reflection messages.
//!
//! [`crate::v0_to_v1`] decodes a file into a `DynamicMessage`, converts it field by field and
//! encodes the result: general, but ~150 µs per file, most of it spent cloning descriptors and
//! allocating values. Almost every stored file is a plain experiment as `deepomatic-oef` wrote
//! it, and for those this module does the same work in one pass over the bytes, guided by a
//! [`Plan`] compiled once from the frozen v0 and v1 snapshots (never from today's `.proto`
//! files, like the step itself):
//!
//! * every v0 field is copied to its v1 counterpart (same number), enum numbers mapped,
//!   repeated scalars written packed as v1 declares them, sub-messages re-measured;
//! * every unset singular scalar outside a oneof gets its v0 default, and its dotted path is
//!   recorded for `legacy.implicit_defaults`, in the order the step records them;
//! * the leaves of the experiment are hashed on the way exactly as the architecture inference
//!   hashes them ([`crate::architecture`]), so the nearest default is found without a second
//!   walk;
//! * the envelope is written around it, and the result is re-read as proto3 JSON when JSON is
//!   wanted ([`v1_json`], the same serde calls as prost-reflect's serializer);
//! * a v0 JSON input is read straight into v0 binary first ([`json_in`], JSON as
//!   deepomatic-oef writes it; serde reads anything else).
//!
//! Anything out of the ordinary makes the route give up (`None`) and the caller takes the
//! general one, which then also reports any error: a field unknown to v0 (kept as raw bytes
//! there), a map, a group, a singular field given twice, two members of one oneof, a missing
//! required field, an enum number v0 does not define, invalid UTF-8, truncated bytes. The
//! output is byte for byte the general route's (tested over the whole corpus and mutated
//! inputs in `tests/fast_route.rs`).

use std::{collections::HashMap, sync::LazyLock};

use prost::encoding::{WireType, encode_key, encode_varint};
use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor, Value};

mod json_in;

use crate::{
    StepContext,
    architecture::{Scalar, hash_list_start, hash_message_start, hash_scalar, mix},
    enums, paths, snapshot,
    v0_to_v1::{counterpart, rename_up},
};

/// Scalar type of a field, as the wire and the hashes need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Bool,
    Int32,
    Sint32,
    Sfixed32,
    Int64,
    Sint64,
    Sfixed64,
    Uint32,
    Fixed32,
    Uint64,
    Fixed64,
    Float,
    Double,
    String,
    Bytes,
    Enum,
    Message,
}

impl Ty {
    fn of(kind: &Kind) -> Self {
        match kind {
            Kind::Bool => Ty::Bool,
            Kind::Int32 => Ty::Int32,
            Kind::Sint32 => Ty::Sint32,
            Kind::Sfixed32 => Ty::Sfixed32,
            Kind::Int64 => Ty::Int64,
            Kind::Sint64 => Ty::Sint64,
            Kind::Sfixed64 => Ty::Sfixed64,
            Kind::Uint32 => Ty::Uint32,
            Kind::Fixed32 => Ty::Fixed32,
            Kind::Uint64 => Ty::Uint64,
            Kind::Fixed64 => Ty::Fixed64,
            Kind::Float => Ty::Float,
            Kind::Double => Ty::Double,
            Kind::String => Ty::String,
            Kind::Bytes => Ty::Bytes,
            Kind::Enum(_) => Ty::Enum,
            Kind::Message(_) => Ty::Message,
        }
    }

    fn wire(self) -> WireType {
        match self {
            Ty::Fixed32 | Ty::Sfixed32 | Ty::Float => WireType::ThirtyTwoBit,
            Ty::Fixed64 | Ty::Sfixed64 | Ty::Double => WireType::SixtyFourBit,
            Ty::String | Ty::Bytes | Ty::Message => WireType::LengthDelimited,
            _ => WireType::Varint,
        }
    }

    fn packable(self) -> bool {
        !matches!(self, Ty::String | Ty::Bytes | Ty::Message)
    }
}

/// One field value as found on the wire.
#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64(u64),
    Len(&'a [u8]),
}

#[inline(always)]
fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    if let Some((&byte, rest)) = buf.split_first() {
        if byte < 0x80 {
            *buf = rest;
            return Some(u64::from(byte));
        }
    }
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            // As prost: the tenth byte may only carry the top bit of a u64.
            return (i < 9 || byte <= 1).then_some(value);
        }
    }
    None
}

fn read_array<const N: usize>(buf: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = buf.split_first_chunk::<N>()?;
    *buf = rest;
    Some(*head)
}

/// Reads one field: (number, wire type, value).
#[inline(always)]
fn read_field<'a>(buf: &mut &'a [u8]) -> Option<(u32, WireType, Raw<'a>)> {
    let key = read_varint(buf)?;
    let number = u32::try_from(key >> 3).ok().filter(|&n| n != 0)?;
    let (wire, raw) = match key & 7 {
        0 => (WireType::Varint, Raw::Varint(read_varint(buf)?)),
        1 => (WireType::SixtyFourBit, Raw::Fixed64(u64::from_le_bytes(read_array(buf)?))),
        2 => {
            let len = usize::try_from(read_varint(buf)?).ok().filter(|&l| l <= buf.len())?;
            let (value, rest) = buf.split_at(len);
            *buf = rest;
            (WireType::LengthDelimited, Raw::Len(value))
        }
        5 => (WireType::ThirtyTwoBit, Raw::Fixed32(u32::from_le_bytes(read_array(buf)?))),
        _ => return None, // groups
    };
    Some((number, wire, raw))
}

/// The value of one (non-packed) occurrence of a scalar field, as prost-reflect decodes it.
fn scalar(ty: Ty, raw: Raw<'_>) -> Option<Scalar<'_>> {
    Some(match (ty, raw) {
        (Ty::Bool, Raw::Varint(v)) => Scalar::Bool(v != 0),
        (Ty::Int32, Raw::Varint(v)) => Scalar::I32(v as i32),
        (Ty::Sint32, Raw::Varint(v)) => {
            let v = v as u32;
            Scalar::I32((v >> 1) as i32 ^ -((v & 1) as i32))
        }
        (Ty::Int64, Raw::Varint(v)) => Scalar::I64(v as i64),
        (Ty::Sint64, Raw::Varint(v)) => Scalar::I64((v >> 1) as i64 ^ -((v & 1) as i64)),
        (Ty::Uint32, Raw::Varint(v)) => Scalar::U32(v as u32),
        (Ty::Uint64, Raw::Varint(v)) => Scalar::U64(v),
        (Ty::Enum, Raw::Varint(v)) => Scalar::EnumNumber(v as i32),
        (Ty::Sfixed32, Raw::Fixed32(v)) => Scalar::I32(v as i32),
        (Ty::Fixed32, Raw::Fixed32(v)) => Scalar::U32(v),
        (Ty::Float, Raw::Fixed32(v)) => Scalar::F32(f32::from_bits(v)),
        (Ty::Sfixed64, Raw::Fixed64(v)) => Scalar::I64(v as i64),
        (Ty::Fixed64, Raw::Fixed64(v)) => Scalar::U64(v),
        (Ty::Double, Raw::Fixed64(v)) => Scalar::F64(f64::from_bits(v)),
        (Ty::String, Raw::Len(b)) => Scalar::String(std::str::from_utf8(b).ok()?),
        (Ty::Bytes, Raw::Len(b)) => Scalar::Bytes(b),
        _ => return None,
    })
}

/// Reads the next item of a packed run of `ty` values.
fn read_packed(ty: Ty, run: &mut &[u8]) -> Option<Raw<'static>> {
    Some(match ty.wire() {
        WireType::Varint => Raw::Varint(read_varint(run)?),
        WireType::ThirtyTwoBit => Raw::Fixed32(u32::from_le_bytes(read_array(run)?)),
        WireType::SixtyFourBit => Raw::Fixed64(u64::from_le_bytes(read_array(run)?)),
        _ => return None,
    })
}

/// Appends the items of a packed run of `ty` values.
fn packed<'a>(ty: Ty, mut run: &'a [u8], items: &mut Vec<Scalar<'a>>) -> Option<()> {
    while !run.is_empty() {
        items.push(scalar(ty, read_packed(ty, &mut run)?)?);
    }
    Some(())
}

/// Appends a scalar value (without key) as `ty` is written.
fn put_value(ty: Ty, value: Scalar<'_>, out: &mut Vec<u8>) {
    match value {
        Scalar::Bool(v) => out.push(u8::from(v)),
        Scalar::I32(v) | Scalar::EnumNumber(v) => match ty {
            Ty::Sint32 => encode_varint(u64::from(((v << 1) ^ (v >> 31)) as u32), out),
            Ty::Sfixed32 => out.extend_from_slice(&v.to_le_bytes()),
            _ => encode_varint(i64::from(v) as u64, out),
        },
        Scalar::I64(v) => match ty {
            Ty::Sint64 => encode_varint(((v << 1) ^ (v >> 63)) as u64, out),
            Ty::Sfixed64 => out.extend_from_slice(&v.to_le_bytes()),
            _ => encode_varint(v as u64, out),
        },
        Scalar::U32(v) => match ty {
            Ty::Fixed32 => out.extend_from_slice(&v.to_le_bytes()),
            _ => encode_varint(u64::from(v), out),
        },
        Scalar::U64(v) => match ty {
            Ty::Fixed64 => out.extend_from_slice(&v.to_le_bytes()),
            _ => encode_varint(v, out),
        },
        Scalar::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Scalar::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Scalar::String(s) => put_bytes(s.as_bytes(), out),
        Scalar::Bytes(b) => put_bytes(b, out),
    }
}

fn put_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Whether `value` is the proto3 default of its kind (what a field without presence omits).
fn is_zero(value: Scalar<'_>) -> bool {
    match value {
        Scalar::Bool(v) => !v,
        Scalar::I32(v) | Scalar::EnumNumber(v) => v == 0,
        Scalar::I64(v) => v == 0,
        Scalar::U32(v) => v == 0,
        Scalar::U64(v) => v == 0,
        Scalar::F32(v) => v == 0.0,
        Scalar::F64(v) => v == 0.0,
        Scalar::String(s) => s.is_empty(),
        Scalar::Bytes(b) => b.is_empty(),
    }
}

/// Starts a length-delimited value whose length is not known yet; see [`end_len`]. Two bytes
/// are reserved: enough for any length below 16 KiB, so large nested messages (~8 levels deep)
/// never move; one that turns out shorter than 128 bytes moves back by one byte.
fn begin_len(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[0, 0]);
    out.len()
}

/// Writes the length of the value started at `start` into the bytes reserved before it,
/// moving the value if its length takes other than two bytes.
fn end_len(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    let mut prefix = [0u8; 10];
    let mut n = 0;
    let mut v = len as u64;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            prefix[n] = byte;
            n += 1;
            break;
        }
        prefix[n] = byte | 0x80;
        n += 1;
    }
    let reserved = start - 2;
    match n {
        2 => {}
        1 => {
            out.copy_within(start.., start - 1);
            out.truncate(out.len() - 1);
        }
        _ => {
            let extra = n - 2;
            out.resize(out.len() + extra, 0);
            out.copy_within(start..start + len, start + extra);
        }
    }
    out[reserved..reserved + n].copy_from_slice(&prefix[..n]);
}

/// A v0 field and what becomes of it in v1.
#[derive(Debug)]
struct Field {
    number: u32,
    /// The v0 name (dotted paths of implicit defaults use it).
    name: Box<str>,
    ty: Ty,
    repeated: bool,
    /// Maps and groups: the route gives up when one is present.
    unsupported: bool,
    required: bool,
    /// Index of the containing oneof.
    oneof: Option<u8>,
    /// Plan index of the message type.
    message: usize,
    /// v0 → v1 enum numbers, sorted.
    enum_map: Box<[(i32, i32)]>,
    /// v0 enum value names → v0 numbers, sorted by name (JSON input).
    enum_names: Box<[(Box<[u8]>, i32)]>,
    v1_presence: bool,
    v1_packed: bool,
    /// For a singular scalar outside a oneof: its v0 default and that default's v1 encoding
    /// (key and value; empty when v1 omits it).
    default: Option<(Value, Box<[u8]>)>,
}

/// A v0 message of the plan.
#[derive(Debug)]
struct Message {
    /// In number order.
    fields: Vec<Field>,
    lookup: Lookup,
    /// JSON keys (each field's JSON name and proto name) → index in `fields`.
    keys: KeyTable,
}

/// JSON keys → field index: (hash, field index, start and end of the key in `text`) in an
/// open-addressing table (a power of two, at most half full, linear probing; empty slots have
/// hash 0). A lookup is about one probe and one key comparison in two small contiguous arrays
/// (keys in separate allocations, binary-searched, cost a cache miss per comparison).
#[derive(Debug)]
struct KeyTable {
    slots: Box<[(u64, u16, u32, u32)]>,
    text: Box<[u8]>,
}

/// The hash of a JSON key in a [`KeyTable`] (FNV-1a; never 0, the empty slot's mark).
fn key_hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)).max(1)
}

impl KeyTable {
    /// The index of the field a JSON object key names.
    fn get(&self, key: &[u8]) -> Option<usize> {
        let hash = key_hash(key);
        let mask = self.slots.len().checked_sub(1)?;
        let mut slot = hash as usize & mask;
        loop {
            let (h, field, start, end) = self.slots[slot];
            if h == 0 {
                return None;
            }
            if h == hash {
                return (self.text.get(start as usize..end as usize)? == key).then_some(usize::from(field));
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The table of `names` (key, field index) of message `name`.
    fn new(name: &str, mut names: Vec<(String, u16)>) -> Result<Self, String> {
        names.sort();
        names.dedup();
        let mut text = Vec::new();
        let mut entries = Vec::new();
        for (key, field) in names {
            let start = u32::try_from(text.len()).map_err(|_| format!("{name}: keys too long"))?;
            text.extend_from_slice(key.as_bytes());
            let end = u32::try_from(text.len()).map_err(|_| format!("{name}: keys too long"))?;
            entries.push((key_hash(key.as_bytes()), field, start, end));
        }
        // A hash two keys share (or a key two fields answer to) is left to serde: not entered.
        entries.sort_unstable();
        let shared: Vec<u64> = entries.windows(2).filter(|w| w[0].0 == w[1].0).map(|w| w[0].0).collect();
        entries.retain(|k| !shared.contains(&k.0));
        let mut table = vec![(0, 0, 0, 0); (entries.len() * 2).next_power_of_two().max(2)];
        let mask = table.len() - 1;
        for entry in entries {
            let mut slot = entry.0 as usize & mask;
            while table[slot].0 != 0 {
                slot = (slot + 1) & mask;
            }
            table[slot] = entry;
        }
        Ok(Self { slots: table.into(), text: text.into() })
    }
}

/// Field number → index of the field in its message's list, as a dense table.
#[derive(Debug)]
struct Lookup(Vec<u16>);

impl Lookup {
    /// The table of the field `numbers` (in list order) of message `name`.
    fn new(name: &str, numbers: impl Iterator<Item = u32> + Clone) -> Result<Self, String> {
        let max = numbers.clone().max().unwrap_or(0) as usize;
        if max > 4096 {
            return Err(format!("{name}: field numbers too sparse for the plan"));
        }
        let mut table = vec![0u16; max + 1];
        for (i, n) in numbers.enumerate() {
            table[n as usize] = u16::try_from(i + 1).map_err(|_| format!("{name}: too many fields"))?;
        }
        Ok(Self(table))
    }

    /// The index of field `number`.
    fn get(&self, number: u32) -> Option<usize> {
        let i = *self.0.get(usize::try_from(number).ok()?)?;
        usize::from(i).checked_sub(1)
    }
}

/// Everything the route needs, compiled from the snapshots: the v0 messages reachable from
/// `Experiment` with their v1 counterparts, and the v1 messages reachable from
/// `ExperimentFile` for JSON output.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Index 0 is `deepomatic.oef.experiment.Experiment`.
    v0: Vec<Message>,
    /// Index 0 is `oef.v1.ExperimentFile`.
    v1: Vec<JsonMessage>,
}

/// The plan, or `None` (the route then never applies) if the snapshots hold something it was
/// not written for; a test asserts it builds.
pub(crate) static PLAN: LazyLock<Option<Plan>> = LazyLock::new(|| Plan::build().ok());

/// Builds the [`PLAN`] now if it is not built yet.
pub(crate) fn prepare() {
    LazyLock::force(&PLAN);
}

impl Plan {
    fn build() -> Result<Self, String> {
        let v0_root = snapshot::pool(0)
            .and_then(|p| p.get_message_by_name("deepomatic.oef.experiment.Experiment"))
            .ok_or("no v0 Experiment")?;
        let v1_experiment = snapshot::pool(1)
            .and_then(|p| p.get_message_by_name("oef.v1.Experiment"))
            .ok_or("no v1 Experiment")?;
        let v1_root = snapshot::pool(1)
            .and_then(|p| p.get_message_by_name("oef.v1.ExperimentFile"))
            .ok_or("no v1 ExperimentFile")?;
        Ok(Self { v0: build_v0(v0_root, v1_experiment)?, v1: build_v1(v1_root)? })
    }
}

fn build_v0(root0: MessageDescriptor, root1: MessageDescriptor) -> Result<Vec<Message>, String> {
    let mut index: HashMap<String, usize> = HashMap::from([(root0.full_name().to_owned(), 0)]);
    let mut queue = vec![(root0, root1)];
    let mut out = Vec::new();
    while let Some((m0, m1)) = queue.get(out.len()).cloned() {
        let oneofs: Vec<String> = m0.oneofs().map(|o| o.full_name().to_owned()).collect();
        if oneofs.len() > 64 {
            return Err(format!("{}: more than 64 oneofs", m0.full_name()));
        }
        let mut fields = Vec::new();
        for f0 in m0.fields() {
            let f1 = counterpart(&f0, &m1, rename_up)
                .ok_or_else(|| format!("{}: no v1 counterpart", f0.full_name()))?;
            fields.push(build_field(&f0, &f1, &oneofs, &mut index, &mut queue)?);
        }
        fields.sort_by_key(|f| f.number);
        let lookup = Lookup::new(m0.full_name(), fields.iter().map(|f| f.number))?;
        let mut names: Vec<(String, u16)> = Vec::new();
        for f0 in m0.fields() {
            let i = lookup.get(f0.number()).ok_or("field lookup")?;
            let i = u16::try_from(i).map_err(|_| format!("{}: too many fields", m0.full_name()))?;
            names.push((f0.json_name().to_owned(), i));
            names.push((f0.name().to_owned(), i));
        }
        let keys = KeyTable::new(m0.full_name(), names)?;
        out.push(Message { fields, lookup, keys });
    }
    Ok(out)
}

fn build_field(
    f0: &FieldDescriptor,
    f1: &FieldDescriptor,
    oneofs: &[String],
    index: &mut HashMap<String, usize>,
    queue: &mut Vec<(MessageDescriptor, MessageDescriptor)>,
) -> Result<Field, String> {
    let (kind0, kind1) = (f0.kind(), f1.kind());
    let ty = Ty::of(&kind0);
    if ty != Ty::of(&kind1) || f0.is_list() != f1.is_list() || f0.is_map() != f1.is_map() {
        return Err(format!("{}: different kind in v1", f0.full_name()));
    }
    let unsupported = f0.is_map() || f0.is_group();
    let mut message = 0;
    if let (Kind::Message(s0), Kind::Message(s1), false) = (&kind0, &kind1, unsupported) {
        let next = index.len();
        message = *index.entry(s0.full_name().to_owned()).or_insert_with(|| {
            queue.push((s0.clone(), s1.clone()));
            next
        });
    }
    let mut enum_map = Vec::new();
    let mut enum_names = Vec::new();
    if let (Kind::Enum(e0), Kind::Enum(e1)) = (&kind0, &kind1) {
        for value in e0.values() {
            let up = enums::up(e0, e1, value.number(), "").map_err(|e| e.to_string())?;
            enum_map.push((value.number(), up));
            enum_names.push((Box::from(value.name().as_bytes()), value.number()));
        }
        enum_map.sort_unstable();
        enum_map.dedup_by_key(|(n, _)| *n);
        enum_names.sort();
    }
    let oneof = match f0.containing_oneof() {
        Some(o) => Some(
            oneofs.iter().position(|n| n == o.full_name()).and_then(|i| u8::try_from(i).ok()).ok_or("oneof index")?,
        ),
        None => None,
    };
    let mut field = Field {
        number: f0.number(),
        name: f0.name().into(),
        ty,
        repeated: f0.is_list(),
        unsupported,
        required: f0.cardinality() == Cardinality::Required,
        oneof,
        message,
        enum_map: enum_map.into(),
        enum_names: enum_names.into(),
        v1_presence: f1.supports_presence(),
        v1_packed: f1.is_packed(),
        default: None,
    };
    if !f0.is_list() && !f0.is_map() && oneof.is_none() && ty != Ty::Message {
        let value = f0.default_value();
        let v0 = Scalar::of(&value).ok_or("scalar default")?;
        let v1 = field.up(v0).ok_or_else(|| format!("{}: default has no v1 value", f0.full_name()))?;
        let mut bytes = Vec::new();
        if field.v1_presence || !is_zero(v1) {
            encode_key(field.number, ty.wire(), &mut bytes);
            put_value(ty, v1, &mut bytes);
        }
        field.default = Some((value, bytes.into()));
    }
    Ok(field)
}

impl Field {
    /// The v1 value of a v0 value (enum numbers mapped).
    fn up<'a>(&self, value: Scalar<'a>) -> Option<Scalar<'a>> {
        match value {
            Scalar::EnumNumber(n) => {
                let i = self.enum_map.binary_search_by_key(&n, |(from, _)| *from).ok()?;
                Some(Scalar::EnumNumber(self.enum_map[i].1))
            }
            other => Some(other),
        }
    }
}

/// The result of [`experiment`]: the v1 `Experiment`, what the envelope needs from it and
/// the leaves for the architecture inference.
#[derive(Debug, Default)]
pub(crate) struct Transcoded {
    /// The encoded v1 `Experiment`.
    pub experiment: Vec<u8>,
    /// `LegacyFields.implicit_defaults`, encoded (field 2 entries), in the step's order.
    pub implicit_defaults: Vec<u8>,
    /// (path hash, (path, value) hash) of every leaf, as `architecture::collect_leaves`.
    pub leaves: Vec<(u64, u64)>,
}

/// How a message's leaves are accounted for: collected as leaves under a path hash, or (inside
/// a list item) folded into the hash of the item's value.
#[derive(Clone, Copy)]
enum Leaves {
    Collect(u64),
    Hash(u64),
}

struct Transcoder<'p, 'a> {
    plan: &'p [Message],
    path: String,
    out: Transcoded,
    /// Spare entry lists, one per nesting level in use.
    spare: Vec<Vec<(u16, Raw<'a>)>>,
    /// Fields that got their default, of the messages being converted (a stack: each message
    /// pops its own when done).
    own_defaults: Vec<u16>,
    items: Vec<Scalar<'a>>,
}

/// Converts the encoded v0 `Experiment` `bytes`; `None` when the route does not apply.
pub(crate) fn experiment(bytes: &[u8]) -> Option<Transcoded> {
    let plan = PLAN.as_ref()?;
    let mut t = Transcoder {
        plan: &plan.v0,
        path: String::with_capacity(128),
        out: Transcoded {
            // Defaults made explicit: the catalog's files grow about eightfold.
            experiment: Vec::with_capacity((bytes.len() * 3).max(4096)),
            implicit_defaults: Vec::with_capacity(4096),
            leaves: Vec::with_capacity(512),
        },
        spare: Vec::new(),
        own_defaults: Vec::with_capacity(64),
        items: Vec::new(),
    };
    let mut experiment = Vec::new();
    std::mem::swap(&mut experiment, &mut t.out.experiment);
    t.message(0, bytes, Leaves::Collect(crate::architecture::SEED), &mut experiment)?;
    t.out.experiment = experiment;
    Some(t.out)
}

impl<'a> Transcoder<'_, 'a> {
    /// Converts one message into `out`; returns the running hash in [`Leaves::Hash`] mode.
    fn message(&mut self, m: usize, mut bytes: &'a [u8], leaves: Leaves, out: &mut Vec<u8>) -> Option<u64> {
        let plan = self.plan;
        let message = plan.get(m)?;
        let mut entries = self.spare.pop().unwrap_or_default();
        entries.clear();
        let mut sorted = true;
        while !bytes.is_empty() {
            let (number, wire, raw) = read_field(&mut bytes)?;
            let i = message.lookup.get(number)?;
            let field = &message.fields[i];
            if wire != field.ty.wire() && !(field.repeated && field.ty.packable() && wire == WireType::LengthDelimited)
            {
                return None;
            }
            let i = u16::try_from(i).ok()?;
            sorted &= entries.last().is_none_or(|(last, _)| *last <= i);
            entries.push((i, raw));
        }
        if !sorted {
            // Decoders accept fields in any order; written ones go in number order.
            entries.sort_by_key(|(i, _)| *i);
        }
        let mut hash = match leaves {
            Leaves::Hash(h) => hash_message_start(h),
            Leaves::Collect(_) => 0,
        };
        let mut oneofs = 0u64;
        let defaults_from = self.own_defaults.len();
        let mut next = 0;
        for (i, field) in message.fields.iter().enumerate() {
            let start = next;
            while entries.get(next).is_some_and(|(f, _)| usize::from(*f) == i) {
                next += 1;
            }
            if start == next {
                if field.required {
                    return None;
                }
                if let Some((value, encoded)) = &field.default {
                    out.extend_from_slice(encoded);
                    self.own_defaults.push(u16::try_from(i).ok()?);
                    if let Leaves::Collect(path) = leaves {
                        let field_path = mix(path, u64::from(field.number));
                        self.out.leaves.push((field_path, hash_scalar(field_path, Scalar::of(value)?)));
                    }
                }
                continue;
            }
            let field_path = match leaves {
                Leaves::Collect(path) => mix(path, u64::from(field.number)),
                Leaves::Hash(_) => mix(hash, u64::from(field.number)),
            };
            if field.unsupported {
                return None;
            }
            if let Some(o) = field.oneof {
                if oneofs & (1 << o) != 0 {
                    return None; // two members of one oneof: the last would win
                }
                oneofs |= 1 << o;
            }
            let group = &entries[start..next];
            let value_hash = if field.repeated {
                self.repeated(field, group, field_path, out)?
            } else if let [(_, raw)] = group {
                if field.ty == Ty::Message {
                    let Raw::Len(sub) = *raw else { return None };
                    encode_key(field.number, WireType::LengthDelimited, out);
                    let at = begin_len(out);
                    let len = paths::push(&mut self.path, &field.name);
                    let sub_leaves = match leaves {
                        Leaves::Collect(_) => Leaves::Collect(field_path),
                        Leaves::Hash(_) => Leaves::Hash(field_path),
                    };
                    let h = self.message(field.message, sub, sub_leaves, out)?;
                    self.path.truncate(len);
                    end_len(out, at);
                    if let Leaves::Hash(_) = leaves {
                        hash = h;
                    }
                    continue; // its leaves are its own fields'
                }
                let v0 = scalar(field.ty, *raw)?;
                let v1 = field.up(v0)?;
                if field.v1_presence || !is_zero(v1) {
                    encode_key(field.number, field.ty.wire(), out);
                    put_value(field.ty, v1, out);
                }
                hash_scalar(field_path, v0)
            } else {
                return None; // a singular field given twice: the last would win (or merge)
            };
            match leaves {
                Leaves::Collect(_) => self.out.leaves.push((field_path, value_hash)),
                Leaves::Hash(_) => hash = value_hash,
            }
        }
        for k in defaults_from..self.own_defaults.len() {
            let i = self.own_defaults[k];
            let len = paths::push(&mut self.path, &message.fields[usize::from(i)].name);
            encode_key(2, WireType::LengthDelimited, &mut self.out.implicit_defaults);
            put_bytes(self.path.as_bytes(), &mut self.out.implicit_defaults);
            self.path.truncate(len);
        }
        self.own_defaults.truncate(defaults_from);
        self.spare.push(entries);
        Some(hash)
    }

    /// Converts the occurrences of a repeated field; returns the hash of the list value.
    fn repeated(&mut self, field: &Field, group: &[(u16, Raw<'a>)], field_path: u64, out: &mut Vec<u8>) -> Option<u64> {
        let number = field.number;
        match field.ty {
            Ty::Message => {
                let mut h = hash_list_start(field_path, group.len());
                let len = paths::push(&mut self.path, &field.name);
                for (i, (_, raw)) in group.iter().enumerate() {
                    let Raw::Len(sub) = *raw else { return None };
                    encode_key(number, WireType::LengthDelimited, out);
                    let at = begin_len(out);
                    let base = paths::push_index(&mut self.path, i);
                    h = self.message(field.message, sub, Leaves::Hash(h), out)?;
                    self.path.truncate(base);
                    end_len(out, at);
                }
                self.path.truncate(len);
                Some(h)
            }
            Ty::String | Ty::Bytes => {
                let mut h = hash_list_start(field_path, group.len());
                for (_, raw) in group {
                    let value = scalar(field.ty, *raw)?;
                    encode_key(number, WireType::LengthDelimited, out);
                    put_value(field.ty, value, out);
                    h = hash_scalar(h, value);
                }
                Some(h)
            }
            ty => {
                let mut items = std::mem::take(&mut self.items);
                items.clear();
                for (_, raw) in group {
                    match *raw {
                        Raw::Len(run) => packed(ty, run, &mut items)?,
                        raw => items.push(scalar(ty, raw)?),
                    }
                }
                if items.is_empty() {
                    return None; // only empty packed runs: an empty list, i.e. an unset field
                }
                let mut h = hash_list_start(field_path, items.len());
                for item in &items {
                    h = hash_scalar(h, *item);
                }
                if field.v1_packed {
                    encode_key(number, WireType::LengthDelimited, out);
                    let at = begin_len(out);
                    for item in &items {
                        put_value(ty, field.up(*item)?, out);
                    }
                    end_len(out, at);
                } else {
                    for item in &items {
                        encode_key(number, ty.wire(), out);
                        put_value(ty, field.up(*item)?, out);
                    }
                }
                self.items = items;
                Some(h)
            }
        }
    }
}

/// The encoded v1 `ExperimentFile` around `transcoded`: the same bytes as the step's
/// `ExperimentFile` encoded by [`crate::document::encode`].
pub(crate) fn envelope(transcoded: &Transcoded, architecture: &str, context: &StepContext) -> Vec<u8> {
    fn put_len(number: u32, payload: &[u8], out: &mut Vec<u8>) {
        encode_key(number, WireType::LengthDelimited, out);
        put_bytes(payload, out);
    }
    fn put_str(number: u32, s: &str, out: &mut Vec<u8>) {
        if !s.is_empty() {
            put_len(number, s.as_bytes(), out);
        }
    }
    fn put_varint(number: u32, v: u64, out: &mut Vec<u8>) {
        if v != 0 {
            encode_key(number, WireType::Varint, out);
            encode_varint(v, out);
        }
    }
    let mut tool = Vec::with_capacity(32);
    put_str(1, &context.tool.name, &mut tool);
    put_str(2, &context.tool.version, &mut tool);
    let since_epoch = context.time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut time = Vec::with_capacity(16);
    put_varint(1, i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX) as u64, &mut time);
    put_varint(2, i64::from(i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0)) as u64, &mut time);
    let mut migration = Vec::with_capacity(128);
    put_varint(2, 1, &mut migration); // to_version (from_version 0 is not written)
    put_len(3, &tool, &mut migration);
    put_len(4, &time, &mut migration);
    put_str(5, &context.source_sha256, &mut migration);

    let mut file = Vec::with_capacity(transcoded.experiment.len() + transcoded.implicit_defaults.len() + 256);
    put_varint(16, 1, &mut file); // format_version
    put_str(17, architecture, &mut file);
    put_len(18, &tool, &mut file);
    put_len(19, &transcoded.experiment, &mut file);
    put_len(20, &migration, &mut file);
    if !transcoded.implicit_defaults.is_empty() {
        put_len(21, &transcoded.implicit_defaults, &mut file);
    }
    file
}

/// A v1 field as proto3 JSON shows it.
#[derive(Debug)]
struct JsonField {
    number: u32,
    /// `"jsonName": `, escaped.
    key: Box<[u8]>,
    ty: Ty,
    repeated: bool,
    unsupported: bool,
    message: usize,
    /// Enum value names by number, sorted, each written as its JSON string (quoted, escaped).
    enum_names: Box<[(i32, Box<[u8]>)]>,
}

/// How a v1 message is written as JSON.
#[derive(Debug, PartialEq, Eq)]
enum JsonKind {
    /// An object of its fields.
    Fields,
    /// `google.protobuf.Timestamp`: an RFC 3339 string.
    Timestamp,
    /// Another well-known type: the route gives up.
    Unsupported,
}

#[derive(Debug)]
struct JsonMessage {
    kind: JsonKind,
    fields: Vec<JsonField>,
    lookup: Lookup,
}

fn build_v1(root: MessageDescriptor) -> Result<Vec<JsonMessage>, String> {
    let mut index: HashMap<String, usize> = HashMap::from([(root.full_name().to_owned(), 0)]);
    let mut queue = vec![root];
    let mut out = Vec::new();
    while let Some(m) = queue.get(out.len()).cloned() {
        let kind = match m.full_name() {
            "google.protobuf.Timestamp" => JsonKind::Timestamp,
            name if name.starts_with("google.protobuf.") => JsonKind::Unsupported,
            _ => JsonKind::Fields,
        };
        let mut fields = Vec::new();
        for f in m.fields() {
            let kind = f.kind();
            let unsupported = f.is_map() || f.is_group();
            let mut message = 0;
            if let (Kind::Message(sub), false) = (&kind, unsupported) {
                let next = index.len();
                message = *index.entry(sub.full_name().to_owned()).or_insert_with(|| {
                    queue.push(sub.clone());
                    next
                });
            }
            let mut enum_names: Vec<(i32, Box<[u8]>)> = match &kind {
                Kind::Enum(e) => e
                    .values()
                    .map(|v| {
                        let mut quoted = Vec::new();
                        write_str(v.name().as_bytes(), &mut quoted);
                        (v.number(), quoted.into())
                    })
                    .collect(),
                _ => Vec::new(),
            };
            enum_names.sort_by_key(|(n, _)| *n);
            enum_names.dedup_by_key(|(n, _)| *n);
            let mut key = serde_json::to_vec(f.json_name()).map_err(|e| e.to_string())?;
            key.extend_from_slice(b": ");
            fields.push(JsonField {
                number: f.number(),
                key: key.into(),
                ty: Ty::of(&kind),
                repeated: f.is_list(),
                unsupported,
                message,
                enum_names: enum_names.into(),
            });
        }
        let lookup = Lookup::new(m.full_name(), fields.iter().map(|f| f.number))?;
        out.push(JsonMessage { kind, fields, lookup });
    }
    Ok(out)
}

/// The encoded v1 `ExperimentFile` `file` as pretty proto3 JSON: the bytes
/// [`crate::document::encode`] writes for the same message (no maps: the route has none).
///
/// Written directly rather than through serde: the layout is serde_json's pretty one (two
/// spaces, `"key": value`, `{}` for an empty object, as `oef_proto::json::PrettyFormatter`),
/// values are formatted by serde_json itself (strings escaped, floats shortest round-trip) and
/// chosen as prost-reflect's serializer chooses them (fields in number order, 64-bit integers
/// as strings, enums by name, non-finite floats as strings, timestamps in RFC 3339).
pub(crate) fn v1_json(file: &[u8]) -> Option<Vec<u8>> {
    let plan = PLAN.as_ref()?;
    let mut out = Vec::with_capacity(file.len() * 6);
    write_message(&plan.v1, 0, file, 0, &mut out)?;
    out.push(b'\n');
    Some(out)
}

/// Writes `time` as its JSON string (RFC 3339). Every file of a run records the same time: the
/// string of the last one written on this thread is kept and copied when it comes again.
fn write_timestamp(time: prost_types::Timestamp, out: &mut Vec<u8>) -> Option<()> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(prost_types::Timestamp, Vec<u8>)>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        if let Some((_, written)) = last.as_ref().filter(|(at, _)| *at == time) {
            out.extend_from_slice(written);
            return Some(());
        }
        let written = serde_json::to_vec(&time.to_string()).ok()?;
        out.extend_from_slice(&written);
        *last = Some((time, written));
        Some(())
    })
}

/// A line break and the indentation of nesting level `depth`: one copy from a line of spaces
/// (pushing the break and filling the indentation cost two calls per line).
fn newline(depth: usize, out: &mut Vec<u8>) {
    const LINE: &[u8; 129] = b"\n                                                                                                                                ";
    match LINE.get(..1 + 2 * depth) {
        Some(line) => out.extend_from_slice(line),
        None => {
            out.push(b'\n');
            out.resize(out.len() + 2 * depth, b' ');
        }
    }
}

/// Writes message `m` (its bytes) as a JSON value at nesting level `depth`.
fn write_message(plan: &[JsonMessage], m: usize, mut bytes: &[u8], depth: usize, out: &mut Vec<u8>) -> Option<()> {
    let message = plan.get(m)?;
    match message.kind {
        JsonKind::Unsupported => return None,
        JsonKind::Timestamp => {
            let mut time = prost_types::Timestamp::default();
            while !bytes.is_empty() {
                match read_field(&mut bytes)? {
                    (1, _, Raw::Varint(v)) => time.seconds = v as i64,
                    (2, _, Raw::Varint(v)) => time.nanos = v as i32,
                    _ => return None,
                }
            }
            // prost-reflect's range check (years 1 to 9999, nanos normalized).
            if !(-62_135_596_800..=253_402_300_799).contains(&time.seconds) || !(0..1_000_000_000).contains(&time.nanos) {
                return None;
            }
            return write_timestamp(time, out);
        }
        JsonKind::Fields => {}
    }
    out.push(b'{');
    let mut first = true;
    // The repeated field whose array is open, if any.
    let mut open: Option<usize> = None;
    while !bytes.is_empty() {
        let (number, _, raw) = read_field(&mut bytes)?;
        let i = message.lookup.get(number)?;
        let field = &message.fields[i];
        if field.unsupported {
            return None;
        }
        if open.is_some_and(|o| o != i) {
            newline(depth + 1, out);
            out.push(b']');
            open = None;
        }
        if open.is_none() {
            if !first {
                out.push(b',');
            }
            newline(depth + 1, out);
            out.extend_from_slice(&field.key);
            first = false;
            if !field.repeated {
                write_value(plan, field, raw, depth + 1, out)?;
                continue;
            }
            out.push(b'[');
            open = Some(i);
        } else {
            out.push(b',');
        }
        // Items of the open array (a packed run holds several).
        match raw {
            Raw::Len(mut run) if field.ty.packable() => {
                let mut item_first = true;
                while !run.is_empty() {
                    let item = read_packed(field.ty, &mut run)?;
                    if !item_first {
                        out.push(b',');
                    }
                    item_first = false;
                    newline(depth + 2, out);
                    write_value(plan, field, item, depth + 2, out)?;
                }
            }
            raw => {
                newline(depth + 2, out);
                write_value(plan, field, raw, depth + 2, out)?;
            }
        }
    }
    if open.is_some() {
        newline(depth + 1, out);
        out.push(b']');
    }
    if !first {
        newline(depth, out);
    }
    out.push(b'}');
    Some(())
}

/// Whether a JSON string holds `byte` only escaped: `"`, `\\` and control characters.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The index of the first byte of `bytes` that [`needs_escape`], eight bytes at a time.
///
/// Per 64-bit word, `(w - 0x01…01 * n) & !w & 0x80…80` flags the bytes below `n` (`n` ≤ 0x80)
/// and, with `w` xor a repeated byte, the bytes equal to it. A byte can also be flagged by a
/// borrow out of a flagged byte below it, never the lowest flagged one: that one is exact.
pub(crate) fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w;
    let mut words = bytes.chunks_exact(8);
    for (k, word) in words.by_ref().enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let flags = (below(w, 0x20) | below(w ^ (ONES * u64::from(b'"')), 1) | below(w ^ (ONES * u64::from(b'\\')), 1)) & HIGH;
        if flags != 0 {
            return Some(k * 8 + (flags.trailing_zeros() / 8) as usize);
        }
    }
    let rest = words.remainder();
    rest.iter().position(|&b| needs_escape(b)).map(|p| bytes.len() - rest.len() + p)
}

/// Writes `bytes` (UTF-8 this module wrote) as a JSON string, escaped as serde_json escapes:
/// `"`, `\\` and control characters only, short forms where JSON has them.
fn write_str(bytes: &[u8], out: &mut Vec<u8>) {
    // Most strings (field paths, names) need no escape: one check, one copy.
    let Some(first) = first_to_escape(bytes) else {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    };
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes one value of `field` at nesting level `depth`.
fn write_value(plan: &[JsonMessage], field: &JsonField, raw: Raw<'_>, depth: usize, out: &mut Vec<u8>) -> Option<()> {
    use serde_json::ser::{CompactFormatter, Formatter as _};
    match (field.ty, raw) {
        (Ty::Message, Raw::Len(bytes)) => return write_message(plan, field.message, bytes, depth, out),
        // Strings of the v1 bytes came through `scalar` (UTF-8 checked) when they were written.
        (Ty::String, Raw::Len(bytes)) => {
            write_str(bytes, out);
            return Some(());
        }
        (Ty::Message | Ty::String, _) => return None,
        _ => {}
    }
    let written = match scalar(field.ty, raw)? {
        Scalar::Bool(v) => CompactFormatter.write_bool(out, v),
        Scalar::I32(v) => CompactFormatter.write_i32(out, v),
        Scalar::U32(v) => CompactFormatter.write_u32(out, v),
        Scalar::I64(v) => return serde_json::to_writer(&mut *out, &v.to_string()).ok(),
        Scalar::U64(v) => return serde_json::to_writer(&mut *out, &v.to_string()).ok(),
        Scalar::F32(v) if v.is_finite() => CompactFormatter.write_f32(out, v),
        Scalar::F64(v) if v.is_finite() => CompactFormatter.write_f64(out, v),
        Scalar::F32(v) => return serde_json::to_writer(&mut *out, non_finite(f64::from(v))).ok(),
        Scalar::F64(v) => return serde_json::to_writer(&mut *out, non_finite(v)).ok(),
        Scalar::String(s) => {
            write_str(s.as_bytes(), out);
            return Some(());
        }
        Scalar::Bytes(_) => return None, // base64: left to the general route
        Scalar::EnumNumber(n) => match field.enum_names.binary_search_by_key(&n, |(k, _)| *k) {
            Ok(i) => {
                out.extend_from_slice(&field.enum_names[i].1);
                return Some(());
            }
            Err(_) => CompactFormatter.write_i32(out, n),
        },
    };
    written.ok()
}

fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// A v0 `Experiment` in proto3 JSON, re-encoded as binary for [`experiment`]; `None` when it
/// does not parse as one (the general route then reports why).
///
/// JSON as `deepomatic-oef` writes it is read by [`json_in`] straight into binary; anything it
/// leaves (escapes, nulls, enum numbers, bytes...) is parsed by serde as below.
///
/// Parsed through today's generated v0 types: the live v0 schema is frozen and a test
/// (`tests/snapshots.rs`) keeps it byte-equal to the v0 snapshot.
pub(crate) fn v0_json_to_binary(json: &[u8]) -> Option<Vec<u8>> {
    use prost::Message as _;
    if let Some(binary) = PLAN.as_ref().and_then(|plan| json_in::read(&plan.v0, json)) {
        return Some(binary);
    }
    // UTF-8 checked once for the whole text: `from_slice` checks every string on its own.
    let experiment: oef_proto::v0::Experiment = serde_json::from_str(std::str::from_utf8(json).ok()?).ok()?;
    Some(experiment.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_builds_from_the_snapshots() {
        let plan = Plan::build().unwrap();
        assert!(plan.v0.len() > 50, "{} v0 messages", plan.v0.len());
        assert!(plan.v1.iter().any(|m| m.kind == JsonKind::Timestamp));
        assert!(PLAN.is_some());
    }

    #[test]
    fn lengths_are_written_as_prost_writes_them() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000, 3_000_000] {
            let mut out = vec![9];
            let at = begin_len(&mut out);
            out.extend((0..len).map(|i| i as u8));
            end_len(&mut out, at);
            let mut expected = vec![9];
            prost::encoding::encode_varint(len as u64, &mut expected);
            expected.extend((0..len).map(|i| i as u8));
            assert!(out == expected, "length {len}");
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let all: String = (0u8..128).map(char::from).chain("é€😀/".chars()).collect();
        for text in [all.as_str(), "", "plain", "a\"b\\c\u{7f}"] {
            let mut ours = Vec::new();
            write_str(text.as_bytes(), &mut ours);
            assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(text).unwrap());
        }
    }

    #[test]
    fn the_first_byte_to_escape_is_found_in_every_position() {
        let plain = b"trainer.optimizer.momentum_optimizer_value \xc3\xa9\x7f\xff";
        for len in 0..plain.len() {
            assert_eq!(first_to_escape(&plain[..len]), None, "{len}");
            for at in 0..len {
                for special in [0u8, 0x1f, b'"', b'\\', b'\n'] {
                    let mut bytes = plain[..len].to_vec();
                    bytes[at] = special;
                    // A second one after it (its borrows must not move the answer).
                    if at + 1 < len {
                        bytes[at + 1] = 0;
                    }
                    assert_eq!(first_to_escape(&bytes), Some(at), "{bytes:?}");
                    assert_eq!(first_to_escape(&bytes), bytes.iter().position(|&b| needs_escape(b)));
                }
            }
        }
        for b in 0..=255u8 {
            let bytes = [b'a', b'a', b'a', b'a', b'a', b'a', b'a', b, b'a'];
            assert_eq!(first_to_escape(&bytes), needs_escape(b).then_some(7), "{b:#x}");
        }
    }

    #[test]
    fn lines_are_indented_two_spaces_per_level() {
        for depth in [0, 1, 5, 63, 64, 65, 200] {
            let mut out = vec![b'{'];
            newline(depth, &mut out);
            assert_eq!(out, [b"{\n".as_slice(), " ".repeat(2 * depth).as_bytes()].concat(), "{depth}");
        }
    }

    #[test]
    fn varints_past_64_bits_are_rejected() {
        let mut ok: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_varint(&mut ok), Some(u64::MAX));
        let mut bad: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(read_varint(&mut bad), None);
    }
}
