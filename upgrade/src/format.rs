//! State-format negotiation: which format a server's state crosses an upgrade in.
//!
//! Each version of a server advertises the formats it can **export** its state in and the
//! formats it can **import** a state from, as bit sets ([`FormatSet`], bit `n` = format `n`),
//! and its import formats in its order of preference. The supervisor intersects the old
//! version's export set with the new version's import set and takes the new version's most
//! preferred format in the intersection ([`negotiate`]): the importer knows best which of the
//! encodings it understands loses least. No format in common: the upgrade is refused, with a
//! [`Refusal`] naming both versions' sets, before anything has changed.
//!
//! What a format number means is fixed per server family by a table of [`FormatInfo`] (the kv
//! store's is `kv::upgrade::FORMATS`): a name for messages, and whether the format is **by
//! reference** (the layouts are identical, so the new version can take over the old version's
//! memory as it is and no bytes are copied) or **encoded** (a versioned `State` encoded with
//! postcard, decoded by the importer and, if it came from an older version, migrated). A server
//! lists a by-reference format first in its preference when it offers one.

use core::fmt;

/// A format number (a bit index, 0..=63).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Format(pub u8);

impl Format {
    /// This format's bit in a [`FormatSet`] (none if the number is 64 or more).
    pub const fn bit(self) -> u64 {
        if self.0 < 64 { 1 << self.0 } else { 0 }
    }
}

/// A set of formats: bit `n` = format `n`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FormatSet(pub u64);

impl FormatSet {
    pub const EMPTY: FormatSet = FormatSet(0);

    /// The set of `formats`.
    pub const fn of(formats: &[Format]) -> FormatSet {
        let mut bits = 0;
        let mut i = 0;
        while i < formats.len() {
            bits |= formats[i].bit();
            i += 1;
        }
        FormatSet(bits)
    }

    pub const fn contains(self, format: Format) -> bool {
        format.bit() != 0 && self.0 & format.bit() != 0
    }

    pub const fn intersection(self, other: FormatSet) -> FormatSet {
        FormatSet(self.0 & other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The formats in the set, lowest number first.
    pub fn iter(self) -> impl Iterator<Item = Format> {
        (0..64u8)
            .filter(move |&n| self.0 & (1 << n) != 0)
            .map(Format)
    }
}

/// How a state in some format crosses from one version to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Identical layouts: the new version takes over the old version's memory (the supervisor
    /// maps the same frames); no bytes move.
    ByReference,
    /// The state is encoded (postcard, versioned) by the old version, moved in chunks, decoded
    /// and, if need be, migrated by the new one.
    Encoded,
}

/// What a format number means in a server family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatInfo {
    pub format: Format,
    pub name: &'static str,
    pub transfer: Transfer,
}

/// Looks `format` up in a family's table.
pub fn info(table: &[FormatInfo], format: Format) -> Option<&FormatInfo> {
    table.iter().find(|i| i.format == format)
}

/// What one version of a server advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advertised<'a> {
    /// The version, for messages (`kv v2`).
    pub name: &'a str,
    pub version: u8,
    pub export: FormatSet,
    pub import: FormatSet,
    /// Import formats, most preferred first; formats of `import` not listed come after, lowest
    /// number first. Numbers not in `import` are ignored.
    pub preference: &'a [u8],
}

/// The format two versions agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreement {
    pub format: Format,
    /// By reference or encoded: from the family's table (encoded if the table does not say).
    pub transfer: Transfer,
    /// Every format both could have used.
    pub common: FormatSet,
}

/// No format in common: the upgrade is refused before anything changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal<'a> {
    pub old: Advertised<'a>,
    pub new: Advertised<'a>,
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "upgrade refused: {} v{} exports state formats {} and {} v{} imports {}: none in common",
            self.old.name,
            self.old.version,
            Listed(self.old.export),
            self.new.name,
            self.new.version,
            Listed(self.new.import),
        )
    }
}

/// A set written as `{1, 2} (0x6)`.
pub struct Listed(pub FormatSet);

impl fmt::Display for Listed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, format) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", format.0)?;
        }
        write!(f, "}} ({:#x})", self.0.0)
    }
}

/// The new version's import formats in its order of preference.
pub fn preference_order(new: &Advertised<'_>) -> impl Iterator<Item = Format> {
    let listed = new
        .preference
        .iter()
        .map(|&n| Format(n))
        .filter(move |&f| new.import.contains(f));
    let mut seen = FormatSet::EMPTY;
    let listed = listed.filter(move |f| {
        let first = !seen.contains(*f);
        seen.0 |= f.bit();
        first
    });
    let listed_set = FormatSet::of_iter(new.preference.iter().map(|&n| Format(n)));
    let rest = new.import.iter().filter(move |f| !listed_set.contains(*f));
    listed.chain(rest)
}

impl FormatSet {
    fn of_iter(formats: impl Iterator<Item = Format>) -> FormatSet {
        FormatSet(formats.fold(0, |bits, f| bits | f.bit()))
    }
}

/// Picks the format `old`'s state crosses to `new` in: `new`'s most preferred import format that
/// `old` exports.
pub fn negotiate<'a>(
    old: Advertised<'a>,
    new: Advertised<'a>,
    table: &[FormatInfo],
) -> Result<Agreement, Refusal<'a>> {
    let common = old.export.intersection(new.import);
    let format = preference_order(&new)
        .find(|&f| common.contains(f))
        .ok_or(Refusal { old, new })?;
    let transfer = info(table, format).map_or(Transfer::Encoded, |i| i.transfer);
    Ok(Agreement {
        format,
        transfer,
        common,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    const REF: Format = Format(0);
    const V1: Format = Format(1);
    const V2: Format = Format(2);
    const V3: Format = Format(3);

    const TABLE: &[FormatInfo] = &[
        FormatInfo {
            format: REF,
            name: "layout-2",
            transfer: Transfer::ByReference,
        },
        FormatInfo {
            format: V1,
            name: "v1",
            transfer: Transfer::Encoded,
        },
        FormatInfo {
            format: V2,
            name: "v2",
            transfer: Transfer::Encoded,
        },
    ];

    fn version<'a>(
        version: u8,
        export: &[Format],
        import: &[Format],
        preference: &'a [u8],
    ) -> Advertised<'a> {
        Advertised {
            name: "kv",
            version,
            export: FormatSet::of(export),
            import: FormatSet::of(import),
            preference,
        }
    }

    #[test]
    fn sets() {
        let s = FormatSet::of(&[V1, V3, Format(63)]);
        assert_eq!(s.0, 0x8000_0000_0000_000a);
        assert!(s.contains(V3) && !s.contains(V2));
        assert!(
            !s.contains(Format(64)),
            "a number past the set is in no set"
        );
        assert_eq!(Format(200).bit(), 0);
        assert_eq!(s.iter().collect::<Vec<_>>(), [V1, V3, Format(63)]);
        assert!(s.intersection(FormatSet::of(&[V2])).is_empty());
        assert_eq!(Listed(s).to_string(), "{1, 3, 63} (0x800000000000000a)");
        assert_eq!(Listed(FormatSet::EMPTY).to_string(), "{} (0x0)");
    }

    #[test]
    fn the_importers_most_preferred_common_format_wins() {
        let old = version(1, &[V1, V2], &[V1], &[1]);
        // New prefers v2 over v1: both are common, v2 is chosen.
        let new = version(2, &[V2], &[V1, V2], &[2, 1]);
        let a = negotiate(old, new, TABLE).unwrap();
        assert_eq!((a.format, a.transfer), (V2, Transfer::Encoded));
        assert_eq!(a.common, FormatSet::of(&[V1, V2]));
        // The same sets with the other preference.
        let new = version(2, &[V2], &[V1, V2], &[1, 2]);
        assert_eq!(negotiate(old, new, TABLE).unwrap().format, V1);
    }

    #[test]
    fn by_reference_when_layouts_are_identical() {
        let old = version(2, &[REF, V2], &[REF, V2], &[0, 2]);
        let new = version(2, &[REF, V2], &[REF, V2], &[0, 2]);
        let a = negotiate(old, new, TABLE).unwrap();
        assert_eq!((a.format, a.transfer), (REF, Transfer::ByReference));
        // A version with another layout does not offer the reference format: encoded it is.
        let other = version(3, &[V3], &[V2, V3], &[3, 2]);
        let a = negotiate(old, other, TABLE).unwrap();
        assert_eq!((a.format, a.transfer), (V2, Transfer::Encoded));
    }

    #[test]
    fn unlisted_import_formats_come_after_the_listed_ones_lowest_first() {
        let new = version(3, &[], &[V1, V2, V3], &[3, 7, 3]);
        let order: Vec<_> = preference_order(&new).collect();
        assert_eq!(order, [V3, V1, V2], "7 is not imported; 3 is listed once");
        let old = version(1, &[V1, V2], &[], &[]);
        assert_eq!(negotiate(old, new, TABLE).unwrap().format, V1);
        // A format the table does not know is treated as encoded.
        let old = version(1, &[V3], &[], &[]);
        let a = negotiate(old, new, TABLE).unwrap();
        assert_eq!((a.format, a.transfer), (V3, Transfer::Encoded));
    }

    #[test]
    fn no_common_format_is_refused_with_both_sets() {
        let old = version(1, &[V1], &[V1], &[1]);
        let new = version(3, &[V3], &[V2, V3], &[3, 2]);
        let refusal = negotiate(old, new, TABLE).unwrap_err();
        assert_eq!(refusal.old.version, 1);
        assert_eq!(
            refusal.to_string(),
            "upgrade refused: kv v1 exports state formats {1} (0x2) and kv v3 imports \
             {2, 3} (0xc): none in common"
        );
        // Exporting something is not enough: the importer must take it.
        let nothing = version(4, &[], &[], &[]);
        assert!(negotiate(old, nothing, TABLE).is_err());
        assert!(negotiate(nothing, old, TABLE).is_err());
    }

    #[test]
    fn info_looks_formats_up() {
        assert_eq!(info(TABLE, V2).map(|i| i.name), Some("v2"));
        assert_eq!(info(TABLE, V3), None);
    }
}
