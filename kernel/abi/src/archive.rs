//! The boot archive: the root task, server images and image description, in one blob the build
//! tool writes and QEMU's generic loader places at [`load_address`] in guest physical memory.
//!
//! Layout (all integers little-endian):
//! ```text
//! header:  magic "AXOLARCH" (8) | version u32 | count u32 | total_len u64
//! entries: count x { name [u8; 32] (NUL-padded) | kind u32 | reserved u32 | offset u64 | len u64 }
//! data:    the entries' bytes, each at its offset (from the start of the archive), 8-aligned
//! ```

use crate::Arch;

pub const MAGIC: [u8; 8] = *b"AXOLARCH";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 24;
pub const ENTRY_LEN: usize = 56;
pub const NAME_LEN: usize = 32;

/// Guest physical address where QEMU loads the archive (`-device loader,addr=...`).
pub const fn load_address(arch: Arch) -> u64 {
    match arch {
        // 128 MiB into RAM (RAM starts at 1 GiB on `virt`), well above the kernel image.
        Arch::Aarch64 => 0x4800_0000,
        // 128 MiB: above the kernel image and below the 32-bit PCI hole.
        Arch::X86_64 => 0x0800_0000,
    }
}

/// The largest archive the kernel accepts.
pub const MAX_LEN: u64 = 64 << 20;

#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// The root task's ELF; exactly one, and the kernel starts it.
    RootTask = 0,
    /// A server (or test program) ELF, started by the root task.
    Program = 1,
    /// The image description, postcard-encoded (`axolotl-image`).
    ImageDescription = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    TooShort,
    BadMagic,
    BadVersion(u32),
    BadEntry(usize),
}

#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub kind: u32,
    pub data: &'a [u8],
}

/// A parsed, bounds-checked view of an archive.
#[derive(Clone, Copy)]
pub struct Archive<'a> {
    bytes: &'a [u8],
    count: usize,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

impl<'a> Archive<'a> {
    /// Reads the total length from a header (to know how much memory to look at).
    pub fn total_len(header: &[u8]) -> Result<u64, ArchiveError> {
        if header.len() < HEADER_LEN {
            return Err(ArchiveError::TooShort);
        }
        if header[..8] != MAGIC {
            return Err(ArchiveError::BadMagic);
        }
        Ok(u64_at(header, 16))
    }

    /// Checks the header and every entry's bounds.
    pub fn parse(bytes: &'a [u8]) -> Result<Archive<'a>, ArchiveError> {
        if bytes.len() < HEADER_LEN {
            return Err(ArchiveError::TooShort);
        }
        if bytes[..8] != MAGIC {
            return Err(ArchiveError::BadMagic);
        }
        let version = u32_at(bytes, 8);
        if version != VERSION {
            return Err(ArchiveError::BadVersion(version));
        }
        let count = u32_at(bytes, 12) as usize;
        let table_end = count
            .checked_mul(ENTRY_LEN)
            .and_then(|t| t.checked_add(HEADER_LEN))
            .ok_or(ArchiveError::TooShort)?;
        if table_end > bytes.len() {
            return Err(ArchiveError::TooShort);
        }
        let archive = Archive { bytes, count };
        for i in 0..count {
            archive.entry_checked(i).ok_or(ArchiveError::BadEntry(i))?;
        }
        Ok(archive)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn entry_checked(&self, i: usize) -> Option<Entry<'a>> {
        if i >= self.count {
            return None;
        }
        let e = HEADER_LEN + i * ENTRY_LEN;
        let raw_name = &self.bytes[e..e + NAME_LEN];
        let name_len = raw_name.iter().position(|&c| c == 0).unwrap_or(NAME_LEN);
        let name = core::str::from_utf8(&raw_name[..name_len]).ok()?;
        let kind = u32_at(self.bytes, e + NAME_LEN);
        let offset = usize::try_from(u64_at(self.bytes, e + NAME_LEN + 8)).ok()?;
        let len = usize::try_from(u64_at(self.bytes, e + NAME_LEN + 16)).ok()?;
        let data = self.bytes.get(offset..offset.checked_add(len)?)?;
        Some(Entry { name, kind, data })
    }

    /// Entry `i`; every entry was checked by [`Archive::parse`].
    pub fn entry(&self, i: usize) -> Option<Entry<'a>> {
        self.entry_checked(i)
    }

    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.count).filter_map(|i| self.entry_checked(i))
    }

    pub fn find(&self, kind: EntryKind, name: Option<&str>) -> Option<Entry<'a>> {
        self.entries()
            .find(|e| e.kind == kind as u32 && name.is_none_or(|n| n == e.name))
    }
}

/// Writes an archive into `out` (host side; the build tool uses it). Returns the length used,
/// or `None` if `out` is too small or a name is longer than [`NAME_LEN`].
pub fn write(entries: &[(&str, EntryKind, &[u8])], out: &mut [u8]) -> Option<usize> {
    let mut offset = HEADER_LEN + entries.len() * ENTRY_LEN;
    let table = out.get_mut(..offset)?;
    table.fill(0);
    for (i, (name, kind, data)) in entries.iter().enumerate() {
        if name.len() > NAME_LEN {
            return None;
        }
        offset = offset.next_multiple_of(8);
        let e = HEADER_LEN + i * ENTRY_LEN;
        out[e..e + name.len()].copy_from_slice(name.as_bytes());
        out[e + NAME_LEN..e + NAME_LEN + 4].copy_from_slice(&(*kind as u32).to_le_bytes());
        out[e + NAME_LEN + 8..e + NAME_LEN + 16].copy_from_slice(&(offset as u64).to_le_bytes());
        out[e + NAME_LEN + 16..e + NAME_LEN + 24]
            .copy_from_slice(&(data.len() as u64).to_le_bytes());
        out.get_mut(offset..offset + data.len())?
            .copy_from_slice(data);
        offset += data.len();
    }
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    out[16..24].copy_from_slice(&(offset as u64).to_le_bytes());
    Some(offset)
}

/// The size [`write`] needs for these entries.
pub fn size_needed(entries: &[(&str, EntryKind, &[u8])]) -> usize {
    let mut offset = HEADER_LEN + entries.len() * ENTRY_LEN;
    for (_, _, data) in entries {
        offset = offset.next_multiple_of(8) + data.len();
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let entries: [(&str, EntryKind, &[u8]); 3] = [
            ("root-task", EntryKind::RootTask, b"ELFROOT"),
            ("pong", EntryKind::Program, b"ELFPONG!!"),
            ("image", EntryKind::ImageDescription, b"desc"),
        ];
        let mut out = vec![0u8; size_needed(&entries)];
        let n = write(&entries, &mut out).unwrap();
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        assert_eq!(Archive::total_len(&bytes).unwrap() as usize, bytes.len());
        let a = Archive::parse(&bytes).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a.find(EntryKind::RootTask, None).unwrap().data, b"ELFROOT");
        assert_eq!(
            a.find(EntryKind::Program, Some("pong")).unwrap().data,
            b"ELFPONG!!"
        );
        assert!(a.find(EntryKind::Program, Some("ping")).is_none());
    }

    #[test]
    fn corrupt_archives_are_rejected() {
        let bytes = sample();
        assert_eq!(
            Archive::parse(&bytes[..10]).err(),
            Some(ArchiveError::TooShort)
        );
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(Archive::parse(&bad).err(), Some(ArchiveError::BadMagic));
        let mut bad = bytes.clone();
        // Entry 1's length runs past the end.
        let len_at = HEADER_LEN + ENTRY_LEN + NAME_LEN + 16;
        bad[len_at..len_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(Archive::parse(&bad).err(), Some(ArchiveError::BadEntry(1)));
        // Truncated: the entry table no longer fits.
        assert_eq!(
            Archive::parse(&bytes[..HEADER_LEN + 10]).err(),
            Some(ArchiveError::TooShort)
        );
    }
}
