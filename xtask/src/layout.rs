//! The data-layout check of a wait-free code patch: may a running server built from one ELF be
//! patched to another (see docs/ARCHITECTURE.md, "Wait-free code patch")?
//!
//! The patch maps the new build's code and read-only data and keeps every writable frame of the
//! running server (data, bss, heap, stacks). So the two builds must agree on:
//!
//! 1. the writable `PT_LOAD` segments: address, size in memory and flags;
//! 2. every symbol in a writable section (`.data`, `.bss`, ...): the same names (Rust's
//!    `17h<hash>E` suffix aside, which changes with the crate's features) at the same addresses
//!    with the same sizes;
//! 3. the read-only data (`PT_LOAD` segments that are neither writable nor executable), byte for
//!    byte: live data may point into it (a `&'static str`, the vtable of a `&dyn Trait` such as
//!    the logger the runtime registers), and a vtable holds code addresses, so equal read-only
//!    data also means that every function a vtable names stayed where it was.
//!
//! Code may differ freely otherwise. A build that breaks a rule is refused with the first
//! difference, named by symbol where there is one.

use std::collections::BTreeMap;

/// A loadable segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub flags: u32,
    /// Its bytes in the file (`file_size` of them).
    pub bytes: Vec<u8>,
}

/// A symbol: name without the hash suffix, address, size, and whether it is in a writable
/// section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub addr: u64,
    pub size: u64,
    pub writable: bool,
}

/// What the check looks at in one ELF.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub segments: Vec<Segment>,
    pub symbols: Vec<Symbol>,
}

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const SHT_SYMTAB: u32 = 2;
const SHF_WRITE: u64 = 1;
const SHF_ALLOC: u64 = 2;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A symbol name without Rust's legacy-mangling hash (`...17h0123456789abcdefE` -> `...E`),
/// keeping a compiler-added `.N` suffix after it (`...17h<hash>E.0` -> `...E.0`), which LLVM
/// gives promoted or split statics.
pub fn strip_hash(name: &str) -> String {
    let (base, suffix) = match name.rfind("E.") {
        Some(i) if name[i + 2..].bytes().all(|c| c.is_ascii_digit()) && i + 2 < name.len() => {
            (&name[..=i], &name[i + 1..])
        }
        _ => (name, ""),
    };
    let b = base.as_bytes();
    if b.len() > 20
        && base.ends_with('E')
        && &base[b.len() - 20..b.len() - 17] == "17h"
        && base[b.len() - 17..b.len() - 1]
            .bytes()
            .all(|c| c.is_ascii_hexdigit())
    {
        format!("{}{suffix}", &base[..b.len() - 20])
    } else {
        name.to_string()
    }
}

impl Layout {
    /// Reads an ELF64 little-endian executable; `None` if it is malformed.
    pub fn parse(b: &[u8]) -> Option<Layout> {
        if !b.starts_with(b"\x7fELF") || b.get(4) != Some(&2) || b.get(5) != Some(&1) {
            return None;
        }
        let phoff = u64_at(b, 32)? as usize;
        let shoff = u64_at(b, 40)? as usize;
        let phentsize = usize::from(u16_at(b, 54)?);
        let phnum = usize::from(u16_at(b, 56)?);
        let shentsize = usize::from(u16_at(b, 58)?);
        let shnum = usize::from(u16_at(b, 60)?);
        let mut layout = Layout::default();
        for i in 0..phnum {
            let p = phoff + i * phentsize;
            if u32_at(b, p)? != PT_LOAD {
                continue;
            }
            let offset = u64_at(b, p + 8)? as usize;
            let file_size = u64_at(b, p + 32)? as usize;
            layout.segments.push(Segment {
                flags: u32_at(b, p + 4)?,
                vaddr: u64_at(b, p + 16)?,
                mem_size: u64_at(b, p + 40)?,
                bytes: b.get(offset..offset + file_size)?.to_vec(),
            });
        }
        let section = |i: usize| -> Option<(u32, u64, usize, usize, u32)> {
            let s = shoff + i * shentsize;
            Some((
                u32_at(b, s + 4)?,
                u64_at(b, s + 8)?,
                u64_at(b, s + 24)? as usize,
                u64_at(b, s + 32)? as usize,
                u32_at(b, s + 40)?,
            ))
        };
        for i in 0..shnum {
            let (kind, _, offset, size, link) = section(i)?;
            if kind != SHT_SYMTAB {
                continue;
            }
            let (_, _, str_off, str_size, _) = section(link as usize)?;
            let strings = b.get(str_off..str_off + str_size)?;
            for sym in b.get(offset..offset + size)?.chunks_exact(24) {
                let name_at = u32_at(sym, 0)? as usize;
                let shndx = usize::from(u16_at(sym, 6)?);
                let addr = u64_at(sym, 8)?;
                let size = u64_at(sym, 16)?;
                if name_at == 0 || shndx == 0 || shndx >= shnum {
                    continue;
                }
                let end = strings[name_at..].iter().position(|&c| c == 0)?;
                let name = std::str::from_utf8(&strings[name_at..name_at + end]).ok()?;
                let (_, flags, ..) = section(shndx)?;
                layout.symbols.push(Symbol {
                    name: strip_hash(name).to_string(),
                    addr,
                    size,
                    writable: flags & SHF_WRITE != 0 && flags & SHF_ALLOC != 0,
                });
            }
        }
        Some(layout)
    }

    /// The symbol covering `addr` (or starting there), for messages.
    fn symbol_at(&self, addr: u64) -> Option<&str> {
        self.symbols
            .iter()
            .filter(|s| s.addr <= addr && (addr < s.addr + s.size.max(1)))
            .max_by_key(|s| s.addr)
            .map(|s| s.name.as_str())
    }

    fn data_symbols(&self) -> BTreeMap<(&str, u64), u64> {
        self.symbols
            .iter()
            .filter(|s| s.writable)
            .map(|s| ((s.name.as_str(), s.addr), s.size))
            .collect()
    }
}

fn describe(s: &Segment) -> String {
    format!(
        "{:#x}..{:#x} ({}{}{})",
        s.vaddr,
        s.vaddr + s.mem_size,
        if s.flags & 4 != 0 { "r" } else { "-" },
        if s.flags & PF_W != 0 { "w" } else { "-" },
        if s.flags & PF_X != 0 { "x" } else { "-" },
    )
}

/// Whether `new` may replace `old` in a running server; the error names the first difference.
pub fn compare(old: &Layout, new: &Layout) -> Result<(), String> {
    // 1. Writable segments.
    let writable = |l: &Layout| -> Vec<Segment> {
        l.segments
            .iter()
            .filter(|s| s.flags & PF_W != 0)
            .cloned()
            .collect()
    };
    let (ow, nw) = (writable(old), writable(new));
    for i in 0..ow.len().max(nw.len()) {
        match (ow.get(i), nw.get(i)) {
            (Some(a), Some(b))
                if (a.vaddr, a.mem_size, a.flags) == (b.vaddr, b.mem_size, b.flags) => {}
            (a, b) => {
                return Err(format!(
                    "writable segment {i} differs: {} in the running build, {} in the patch",
                    a.map_or("none".into(), describe),
                    b.map_or("none".into(), describe)
                ));
            }
        }
    }
    // 2. Data and bss symbols.
    let (od, nd) = (old.data_symbols(), new.data_symbols());
    let mut names: Vec<(&str, u64)> = od.keys().chain(nd.keys()).copied().collect();
    names.sort_by_key(|&(n, a)| (a, n));
    names.dedup();
    for key @ (name, addr) in names {
        match (od.get(&key), nd.get(&key)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                return Err(format!(
                    "data symbol {name} at {addr:#x} is {a} bytes in the running build and {b} in \
                     the patch"
                ));
            }
            (Some(_), None) => {
                let moved = new
                    .symbols
                    .iter()
                    .find(|s| s.writable && s.name == name)
                    .map_or(String::from("is not in the patch"), |s| {
                        format!("is at {:#x} in the patch", s.addr)
                    });
                return Err(format!(
                    "data symbol {name} at {addr:#x} in the running build {moved}"
                ));
            }
            (None, _) => {
                return Err(format!(
                    "data symbol {name} at {addr:#x} in the patch is not in the running build"
                ));
            }
        }
    }
    // 3. Read-only data, byte for byte.
    let rodata = |l: &Layout| -> Vec<Segment> {
        l.segments
            .iter()
            .filter(|s| s.flags & (PF_W | PF_X) == 0)
            .cloned()
            .collect()
    };
    let (or, nr) = (rodata(old), rodata(new));
    for i in 0..or.len().max(nr.len()) {
        match (or.get(i), nr.get(i)) {
            (Some(a), Some(b)) if (a.vaddr, a.mem_size) == (b.vaddr, b.mem_size) => {
                if let Some(at) = a.bytes.iter().zip(&b.bytes).position(|(x, y)| x != y) {
                    let addr = a.vaddr + at as u64;
                    let what = old
                        .symbol_at(addr)
                        .map_or(String::new(), |s| format!(" (in {s})"));
                    return Err(format!(
                        "read-only data differs at {addr:#x}{what}: live data may point into it"
                    ));
                }
                if a.bytes.len() != b.bytes.len() {
                    return Err(format!(
                        "read-only segment {} differs in its initialised length",
                        describe(a)
                    ));
                }
            }
            (a, b) => {
                return Err(format!(
                    "read-only segment {i} differs: {} in the running build, {} in the patch",
                    a.map_or("none".into(), describe),
                    b.map_or("none".into(), describe)
                ));
            }
        }
    }
    Ok(())
}

/// [`compare`] on two ELF files.
pub fn check(old: &[u8], new: &[u8]) -> Result<(), String> {
    let old = Layout::parse(old).ok_or("the running build is not a readable ELF64 file")?;
    let new = Layout::parse(new).ok_or("the patch is not a readable ELF64 file")?;
    compare(&old, &new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(vaddr: u64, mem_size: u64, flags: u32, bytes: &[u8]) -> Segment {
        Segment {
            vaddr,
            mem_size,
            flags,
            bytes: bytes.to_vec(),
        }
    }

    fn sym(name: &str, addr: u64, size: u64, writable: bool) -> Symbol {
        Symbol {
            name: name.into(),
            addr,
            size,
            writable,
        }
    }

    fn base() -> Layout {
        Layout {
            segments: vec![
                seg(0x20_0000, 0x100, 4, &[1, 2, 3, 4]),
                seg(0x20_1000, 0x800, 5, &[0x90; 16]),
                seg(0x20_2000, 0x200, 6, &[7, 7]),
            ],
            symbols: vec![
                sym("COUNTER", 0x20_2000, 8, true),
                sym("TABLE", 0x20_2008, 64, true),
                sym("MESSAGE", 0x20_0000, 4, false),
                sym("main", 0x20_1000, 16, false),
            ],
        }
    }

    #[test]
    fn a_code_only_change_passes() {
        let mut new = base();
        new.segments[1].bytes = vec![0x91; 16];
        // Initial data values do not matter: the live ones are kept.
        new.segments[2].bytes = vec![9, 9];
        assert_eq!(compare(&base(), &new), Ok(()));
    }

    #[test]
    fn hashes_are_stripped() {
        assert_eq!(
            strip_hash("_ZN9patchable6SERVED17h0123456789abcdefE.0"),
            "_ZN9patchable6SERVED.0"
        );
        assert_eq!(
            strip_hash("_ZN9patchable6SERVED17h0123456789abcdefE"),
            "_ZN9patchable6SERVED"
        );
        assert_eq!(strip_hash("_ZN9patchable6SERVEDE"), "_ZN9patchable6SERVEDE");
        assert_eq!(strip_hash("main"), "main");
        assert_eq!(strip_hash("x17hzzzzzzzzzzzzzzzzE"), "x17hzzzzzzzzzzzzzzzzE");
    }

    #[test]
    fn a_grown_data_segment_is_refused() {
        let mut new = base();
        new.segments[2].mem_size = 0x208;
        assert_eq!(
            compare(&base(), &new),
            Err(
                "writable segment 0 differs: 0x202000..0x202200 (rw-) in the running build, \
                 0x202000..0x202208 (rw-) in the patch"
                    .into()
            )
        );
    }

    #[test]
    fn a_resized_or_moved_symbol_is_named() {
        let mut new = base();
        new.symbols[1].size = 72;
        assert_eq!(
            compare(&base(), &new),
            Err(
                "data symbol TABLE at 0x202008 is 64 bytes in the running build and 72 in the \
                 patch"
                    .into()
            )
        );
        let mut new = base();
        new.symbols[1].addr = 0x20_2010;
        assert_eq!(
            compare(&base(), &new),
            Err(
                "data symbol TABLE at 0x202008 in the running build is at 0x202010 in the patch"
                    .into()
            )
        );
        let mut new = base();
        new.symbols.push(sym("EXTRA", 0x20_2048, 8, true));
        assert_eq!(
            compare(&base(), &new),
            Err("data symbol EXTRA at 0x202048 in the patch is not in the running build".into())
        );
        let mut new = base();
        new.symbols.remove(0);
        assert_eq!(
            compare(&base(), &new),
            Err("data symbol COUNTER at 0x202000 in the running build is not in the patch".into())
        );
        // Code symbols may move.
        let mut new = base();
        new.symbols[3].addr = 0x20_1008;
        assert_eq!(compare(&base(), &new), Ok(()));
    }

    #[test]
    fn changed_read_only_data_is_refused_with_its_symbol() {
        let mut new = base();
        new.segments[0].bytes[2] = 0xff;
        assert_eq!(
            compare(&base(), &new),
            Err(
                "read-only data differs at 0x200002 (in MESSAGE): live data may point into it"
                    .into()
            )
        );
        let mut new = base();
        new.segments.remove(0);
        assert!(
            compare(&base(), &new)
                .unwrap_err()
                .starts_with("read-only segment 0 differs: 0x200000..0x200100 (r--)")
        );
    }

    #[test]
    fn malformed_files_are_refused() {
        assert!(check(b"nope", b"nope").is_err());
        assert!(Layout::parse(b"\x7fELF\x02\x01").is_none());
    }
}
