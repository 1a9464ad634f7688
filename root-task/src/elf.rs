//! A small, bounds-checked reader of the ELF64 executables the root task loads.
//!
//! Only what loading needs: the header (class, byte order, machine, type, entry) and the
//! `PT_LOAD` program headers. Every offset and size is checked against the file before use, so a
//! corrupt or hostile file yields an [`ElfError`], never a panic. Accepted files are little-endian
//! ELF64 static executables (`ET_EXEC`) for the machine asked for, whose loadable segments are in
//! ascending address order without overlapping (two segments may share a page), and whose entry
//! point lies in an executable segment.

use core::fmt;

pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

const EHDR_LEN: usize = 64;
const PHDR_LEN: usize = 56;
const ET_EXEC: u16 = 2;
const PT_LOAD: u32 = 1;
/// `p_flags` bits (readability is implied: every loaded page is readable).
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
/// More program headers than this is not a program we built.
const MAX_PROGRAM_HEADERS: usize = 64;
const PAGE: u64 = axolotl_abi::PAGE_SIZE as u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the header or the program header table says.
    Truncated,
    NotElf,
    /// Not 64-bit, little-endian, version 1.
    UnsupportedFormat,
    WrongMachine(u16),
    /// Not a static executable (`ET_EXEC`).
    NotExecutable(u16),
    BadProgramHeaders,
    /// Segment `i` (counting loadable ones) has file bytes outside the file.
    SegmentOutsideFile(usize),
    /// Segment `i` has more file bytes than memory bytes.
    FileLargerThanMemory(usize),
    /// Segment `i`'s address range wraps around.
    AddressOverflow(usize),
    /// Segment `i` starts below the end of the one before it.
    SegmentsOverlap(usize),
    NoLoadableSegment,
    /// The entry point is not in an executable segment.
    BadEntry(u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::Truncated => write!(f, "file is truncated"),
            ElfError::NotElf => write!(f, "not an ELF file"),
            ElfError::UnsupportedFormat => write!(f, "not a little-endian ELF64 file"),
            ElfError::WrongMachine(m) => write!(f, "built for machine {m}, not this one"),
            ElfError::NotExecutable(t) => write!(f, "ELF type {t} is not a static executable"),
            ElfError::BadProgramHeaders => write!(f, "malformed program header table"),
            ElfError::SegmentOutsideFile(i) => write!(f, "segment {i} lies outside the file"),
            ElfError::FileLargerThanMemory(i) => {
                write!(f, "segment {i} has more file than memory bytes")
            }
            ElfError::AddressOverflow(i) => write!(f, "segment {i}'s addresses wrap around"),
            ElfError::SegmentsOverlap(i) => {
                write!(f, "segment {i} overlaps or precedes the one before it")
            }
            ElfError::NoLoadableSegment => write!(f, "no loadable segment"),
            ElfError::BadEntry(e) => write!(f, "entry point {e:#x} is not in executable code"),
        }
    }
}

/// A loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    /// Offset and length of its bytes in the file (`file_size <= mem_size`; the rest is zero).
    pub offset: usize,
    pub file_size: usize,
    /// `PF_R | PF_W | PF_X` bits.
    pub flags: u32,
}

impl Segment {
    fn end(&self) -> u64 {
        self.vaddr + self.mem_size
    }
}

/// A page of the loaded image and the union of the permissions of the segments in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub vaddr: u64,
    pub writable: bool,
    pub executable: bool,
}

impl Page {
    /// The rights its mapping gets.
    pub fn rights(&self) -> axolotl_abi::CapRights {
        if self.writable {
            axolotl_abi::CapRights::READ_WRITE
        } else {
            axolotl_abi::CapRights::READ
        }
    }

    /// The attributes its mapping gets (executable or not).
    pub fn attributes(&self) -> axolotl_abi::VmAttributes {
        if self.executable {
            axolotl_abi::VmAttributes::EXECUTE
        } else {
            axolotl_abi::VmAttributes::NONE
        }
    }
}

/// A checked ELF executable.
#[derive(Clone, Copy)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    entry: u64,
    phoff: usize,
    phnum: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
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

/// The functions of an ELF file's symbol table (`STT_FUNC` symbols with a size), as (address,
/// size), in table order. Nothing if the file has no symbol table or its section headers are out
/// of bounds; a malformed entry is skipped.
pub fn functions(bytes: &[u8]) -> impl Iterator<Item = (u64, u64)> + '_ {
    const SHT_SYMTAB: u32 = 2;
    const STT_FUNC: u8 = 2;
    const SHDR_LEN: usize = 64;
    const SYM_LEN: usize = 24;
    let table = (|| {
        if bytes.len() < EHDR_LEN {
            return None;
        }
        let shoff = usize::try_from(u64_at(bytes, 0x28)).ok()?;
        let shnum = usize::from(u16_at(bytes, 0x3c));
        (0..shnum).find_map(|i| {
            let at = shoff.checked_add(i.checked_mul(SHDR_LEN)?)?;
            if at.checked_add(SHDR_LEN)? > bytes.len() || u32_at(bytes, at + 4) != SHT_SYMTAB {
                return None;
            }
            let off = usize::try_from(u64_at(bytes, at + 0x18)).ok()?;
            let size = usize::try_from(u64_at(bytes, at + 0x20)).ok()?;
            (off.checked_add(size)? <= bytes.len()).then_some((off, size / SYM_LEN))
        })
    })();
    let (off, count) = table.unwrap_or((0, 0));
    (0..count).filter_map(move |i| {
        let at = off + i * SYM_LEN;
        let kind = bytes[at + 4] & 0xf;
        let (value, size) = (u64_at(bytes, at + 8), u64_at(bytes, at + 16));
        (kind == STT_FUNC && size > 0 && value != 0).then_some((value, size))
    })
}

impl<'a> Elf<'a> {
    /// Checks `bytes` as an executable for `machine` ([`EM_AARCH64`], [`EM_X86_64`]).
    pub fn parse(bytes: &'a [u8], machine: u16) -> Result<Elf<'a>, ElfError> {
        if bytes.len() < EHDR_LEN {
            return Err(if bytes.starts_with(b"\x7fELF") || bytes.len() < 4 {
                ElfError::Truncated
            } else {
                ElfError::NotElf
            });
        }
        if bytes[..4] != *b"\x7fELF" {
            return Err(ElfError::NotElf);
        }
        // EI_CLASS = ELFCLASS64, EI_DATA = ELFDATA2LSB, EI_VERSION = 1.
        if bytes[4] != 2 || bytes[5] != 1 || bytes[6] != 1 {
            return Err(ElfError::UnsupportedFormat);
        }
        let e_type = u16_at(bytes, 16);
        let e_machine = u16_at(bytes, 18);
        if e_machine != machine {
            return Err(ElfError::WrongMachine(e_machine));
        }
        if e_type != ET_EXEC {
            return Err(ElfError::NotExecutable(e_type));
        }
        let entry = u64_at(bytes, 24);
        let phoff = usize::try_from(u64_at(bytes, 32)).map_err(|_| ElfError::BadProgramHeaders)?;
        let phentsize = usize::from(u16_at(bytes, 54));
        let phnum = usize::from(u16_at(bytes, 56));
        if phentsize != PHDR_LEN || phnum > MAX_PROGRAM_HEADERS {
            return Err(ElfError::BadProgramHeaders);
        }
        let table_end = phoff
            .checked_add(phnum * PHDR_LEN)
            .ok_or(ElfError::BadProgramHeaders)?;
        if table_end > bytes.len() {
            return Err(ElfError::Truncated);
        }
        let elf = Elf {
            bytes,
            entry,
            phoff,
            phnum,
        };
        elf.check_segments()?;
        Ok(elf)
    }

    fn check_segments(&self) -> Result<(), ElfError> {
        let mut previous: Option<Segment> = None;
        let mut entry_ok = false;
        for (i, s) in self.raw_segments().enumerate() {
            let s = s?;
            let file_end = s.offset.checked_add(s.file_size);
            if file_end.is_none_or(|end| end > self.bytes.len()) {
                return Err(ElfError::SegmentOutsideFile(i));
            }
            if s.file_size as u64 > s.mem_size {
                return Err(ElfError::FileLargerThanMemory(i));
            }
            if s.vaddr
                .checked_add(s.mem_size)
                .is_none_or(|end| end > u64::MAX - PAGE)
            {
                return Err(ElfError::AddressOverflow(i));
            }
            if previous.is_some_and(|p| s.vaddr < p.end()) {
                return Err(ElfError::SegmentsOverlap(i));
            }
            if s.flags & PF_X != 0 && (s.vaddr..s.end()).contains(&self.entry) {
                entry_ok = true;
            }
            previous = Some(s);
        }
        if previous.is_none() {
            return Err(ElfError::NoLoadableSegment);
        }
        if !entry_ok {
            return Err(ElfError::BadEntry(self.entry));
        }
        Ok(())
    }

    /// `PT_LOAD` headers with a nonzero memory size, unchecked except for their own bounds.
    fn raw_segments(&self) -> impl Iterator<Item = Result<Segment, ElfError>> + '_ {
        (0..self.phnum).filter_map(move |i| {
            let h = &self.bytes[self.phoff + i * PHDR_LEN..self.phoff + (i + 1) * PHDR_LEN];
            if u32_at(h, 0) != PT_LOAD || u64_at(h, 40) == 0 {
                return None;
            }
            let offset = usize::try_from(u64_at(h, 8));
            let file_size = usize::try_from(u64_at(h, 32));
            Some(match (offset, file_size) {
                (Ok(offset), Ok(file_size)) => Ok(Segment {
                    vaddr: u64_at(h, 16),
                    mem_size: u64_at(h, 40),
                    offset,
                    file_size,
                    flags: u32_at(h, 4),
                }),
                _ => Err(ElfError::BadProgramHeaders),
            })
        })
    }

    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The loadable segments, in ascending address order (checked by [`Elf::parse`]).
    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        self.raw_segments().filter_map(Result::ok)
    }

    /// The lowest and highest (exclusive) addresses of the loaded image, page-aligned.
    pub fn extent(&self) -> (u64, u64) {
        let first = self.segments().next().map_or(0, |s| s.vaddr);
        let end = self.segments().last().map_or(0, |s| s.end());
        (first & !(PAGE - 1), end.next_multiple_of(PAGE))
    }

    /// Every page the image occupies, once each, in ascending order.
    pub fn pages(&self) -> impl Iterator<Item = Page> + '_ {
        let mut next: u64 = 0;
        self.segments().flat_map(move |s| {
            let first = (s.vaddr & !(PAGE - 1)).max(next);
            let end = s.end().next_multiple_of(PAGE);
            next = next.max(end);
            (first..end)
                .step_by(PAGE as usize)
                .map(move |vaddr| self.page(vaddr))
        })
    }

    fn page(&self, vaddr: u64) -> Page {
        let mut page = Page {
            vaddr,
            writable: false,
            executable: false,
        };
        for s in self.segments_in(vaddr) {
            page.writable |= s.flags & PF_W != 0;
            page.executable |= s.flags & PF_X != 0;
        }
        page
    }

    fn segments_in(&self, page_vaddr: u64) -> impl Iterator<Item = Segment> + '_ {
        self.segments()
            .filter(move |s| s.vaddr < page_vaddr + PAGE && s.end() > page_vaddr)
    }

    /// Writes the contents of the page at `page_vaddr` into `dest` (one page): the file bytes of
    /// every segment in it, zeros elsewhere.
    pub fn fill_page(&self, page_vaddr: u64, dest: &mut [u8]) {
        dest.fill(0);
        let page_end = page_vaddr + dest.len() as u64;
        for s in self.segments_in(page_vaddr) {
            let file_end = s.vaddr + s.file_size as u64;
            let start = s.vaddr.max(page_vaddr);
            let end = file_end.min(page_end);
            if start >= end {
                continue;
            }
            let src = s.offset + (start - s.vaddr) as usize;
            let len = (end - start) as usize;
            let at = (start - page_vaddr) as usize;
            dest[at..at + len].copy_from_slice(&self.bytes[src..src + len]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PF_R: u32 = 4;

    /// An ELF with the given (vaddr, mem_size, file bytes, flags) segments.
    fn build(machine: u16, entry: u64, segments: &[(u64, u64, &[u8], u32)]) -> Vec<u8> {
        let mut out = vec![0u8; EHDR_LEN + segments.len() * PHDR_LEN];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        out[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        out[18..20].copy_from_slice(&machine.to_le_bytes());
        out[24..32].copy_from_slice(&entry.to_le_bytes());
        out[32..40].copy_from_slice(&(EHDR_LEN as u64).to_le_bytes());
        out[54..56].copy_from_slice(&(PHDR_LEN as u16).to_le_bytes());
        out[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (i, (vaddr, mem_size, data, flags)) in segments.iter().enumerate() {
            let offset = out.len() as u64;
            out.extend_from_slice(data);
            let h = EHDR_LEN + i * PHDR_LEN;
            out[h..h + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            out[h + 4..h + 8].copy_from_slice(&flags.to_le_bytes());
            out[h + 8..h + 16].copy_from_slice(&offset.to_le_bytes());
            out[h + 16..h + 24].copy_from_slice(&vaddr.to_le_bytes());
            out[h + 32..h + 40].copy_from_slice(&(data.len() as u64).to_le_bytes());
            out[h + 40..h + 48].copy_from_slice(&mem_size.to_le_bytes());
        }
        out
    }

    fn sample() -> Vec<u8> {
        build(
            EM_AARCH64,
            0x20_1010,
            &[
                (0x20_0000, 0x10, b"rodata", PF_R),
                (0x20_1000, 0x1800, &[0xaa; 0x1800], PF_R | PF_X),
                // Shares the page 0x202000 with the text segment.
                (0x20_2800, 0x2000, b"data", PF_R | PF_W),
            ],
        )
    }

    #[test]
    fn loads_segments_and_pages() {
        let bytes = sample();
        let elf = Elf::parse(&bytes, EM_AARCH64).unwrap();
        assert_eq!(elf.entry(), 0x20_1010);
        assert_eq!(elf.segments().count(), 3);
        assert_eq!(elf.extent(), (0x20_0000, 0x20_5000));
        let pages: Vec<Page> = elf.pages().collect();
        let addrs: Vec<u64> = pages.iter().map(|p| p.vaddr).collect();
        assert_eq!(
            addrs,
            [0x20_0000, 0x20_1000, 0x20_2000, 0x20_3000, 0x20_4000]
        );
        assert!(!pages[0].writable && !pages[0].executable);
        assert!(pages[1].executable && !pages[1].writable);
        // The shared page gets both segments' permissions.
        assert!(pages[2].executable && pages[2].writable);
        assert!(pages[3].writable && !pages[3].executable);

        let mut page = [0x55u8; 4096];
        elf.fill_page(0x20_2000, &mut page);
        assert!(page[..0x800].iter().all(|&b| b == 0xaa));
        assert_eq!(&page[0x800..0x804], b"data");
        assert!(page[0x804..].iter().all(|&b| b == 0));
        elf.fill_page(0x20_4000, &mut page);
        assert!(page.iter().all(|&b| b == 0));
    }

    #[test]
    fn rejects_bad_files() {
        let good = sample();
        assert_eq!(
            Elf::parse(&good, EM_X86_64).err(),
            Some(ElfError::WrongMachine(EM_AARCH64))
        );
        assert_eq!(
            Elf::parse(&good[..30], EM_AARCH64).err(),
            Some(ElfError::Truncated)
        );
        assert_eq!(
            Elf::parse(b"hello", EM_AARCH64).err(),
            Some(ElfError::NotElf)
        );
        // The program header table runs past the end.
        assert_eq!(
            Elf::parse(&good[..EHDR_LEN + 10], EM_AARCH64).err(),
            Some(ElfError::Truncated)
        );
        // A segment's file bytes run past the end.
        let mut bad = good.clone();
        let h = EHDR_LEN + PHDR_LEN;
        bad[h + 32..h + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Elf::parse(&bad, EM_AARCH64).is_err());
        // Wrapping addresses.
        let mut bad = good.clone();
        bad[h + 40..h + 48].copy_from_slice(&(u64::MAX - 0x100).to_le_bytes());
        assert_eq!(
            Elf::parse(&bad, EM_AARCH64).err(),
            Some(ElfError::AddressOverflow(1))
        );
        // Entry outside executable code.
        let bad = build(
            EM_AARCH64,
            0x20_0004,
            &[(0x20_0000, 0x10, b"x", PF_R | PF_W)],
        );
        assert_eq!(
            Elf::parse(&bad, EM_AARCH64).err(),
            Some(ElfError::BadEntry(0x20_0004))
        );
        // Overlapping segments.
        let bad = build(
            EM_AARCH64,
            0x20_0000,
            &[(0x20_0000, 0x100, b"", PF_X), (0x20_0080, 0x10, b"", PF_R)],
        );
        assert_eq!(
            Elf::parse(&bad, EM_AARCH64).err(),
            Some(ElfError::SegmentsOverlap(1))
        );
        // File larger than memory.
        let bad = build(EM_AARCH64, 0x20_0000, &[(0x20_0000, 1, b"ab", PF_X)]);
        assert_eq!(
            Elf::parse(&bad, EM_AARCH64).err(),
            Some(ElfError::FileLargerThanMemory(0))
        );
        let bad = build(EM_AARCH64, 0, &[]);
        assert_eq!(
            Elf::parse(&bad, EM_AARCH64).err(),
            Some(ElfError::NoLoadableSegment)
        );
    }
}
