//! Enum values between v0 and v1, by name.
//!
//! v1 names a v0 value `V` of enum `E` as `<E IN UPPER SNAKE>_<V IN UPPER CASE>` and adds
//! `<E IN UPPER SNAKE>_UNSPECIFIED = 0`, which has no v0 counterpart. Numbers may differ.

use prost_reflect::EnumDescriptor;

use crate::MigrateError;

/// The v1 prefix of `v1_enum`'s values (`IOU_LOSS_TYPE_`), from its zero value.
fn prefix(v1_enum: &EnumDescriptor) -> Result<String, MigrateError> {
    let zero = v1_enum.get_value(0).ok_or_else(|| {
        MigrateError::Schema(format!("v1 enum {} has no zero value", v1_enum.full_name()))
    })?;
    zero.name().strip_suffix("UNSPECIFIED").map(str::to_owned).ok_or_else(|| {
        MigrateError::Schema(format!("v1 enum {} has no _UNSPECIFIED zero value", v1_enum.full_name()))
    })
}

/// The v1 number of v0 value `number` of `v0_enum`.
pub(crate) fn up(
    v0_enum: &EnumDescriptor,
    v1_enum: &EnumDescriptor,
    number: i32,
    path: &str,
) -> Result<i32, MigrateError> {
    let value = v0_enum.get_value(number).ok_or_else(|| {
        MigrateError::not_expressible(
            path,
            format!("{number} is not a value of the v0 enum {}", v0_enum.full_name()),
        )
    })?;
    let name = format!("{}{}", prefix(v1_enum)?, value.name().to_ascii_uppercase());
    v1_enum.get_value_by_name(&name).map(|v| v.number()).ok_or_else(|| {
        MigrateError::Schema(format!(
            "v0 value {} has no v1 counterpart {name} in {}",
            value.full_name(),
            v1_enum.full_name()
        ))
    })
}

/// The v0 number of v1 value `number` of `v1_enum`; `_UNSPECIFIED` and numbers without a name
/// are not expressible in v0.
pub(crate) fn down(
    v1_enum: &EnumDescriptor,
    v0_enum: &EnumDescriptor,
    number: i32,
    path: &str,
) -> Result<i32, MigrateError> {
    let Some(value) = v1_enum.get_value(number).filter(|_| number != 0) else {
        let name = v1_enum.get_value(number).map_or_else(|| number.to_string(), |v| v.name().to_owned());
        return Err(MigrateError::not_expressible(
            path,
            format!("{} value {name} has no format v0 counterpart", v1_enum.full_name()),
        ));
    };
    let prefix = prefix(v1_enum)?;
    let stripped = value.name().strip_prefix(prefix.as_str()).unwrap_or(value.name());
    v0_enum
        .values()
        .find(|v| v.name().eq_ignore_ascii_case(stripped))
        .map(|v| v.number())
        .ok_or_else(|| {
            MigrateError::not_expressible(
                path,
                format!(
                    "{} value {} has no format v0 counterpart in {}",
                    v1_enum.full_name(),
                    value.name(),
                    v0_enum.full_name()
                ),
            )
        })
}
