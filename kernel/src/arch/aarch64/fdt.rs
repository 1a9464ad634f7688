//! Just enough of a flattened-device-tree reader to find the RAM: the `reg` property of the
//! `memory` nodes (with 2 address and 2 size cells, as QEMU `virt` uses).

use crate::arch::PhysRegion;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
/// Refuse device trees larger than this (QEMU's is a few KiB).
const MAX_FDT: usize = 1 << 20;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Fills `out` with the RAM regions of the device tree at `fdt`; returns how many were found.
///
/// # Safety
/// `fdt` must point to readable memory at least as large as the header claims (up to 1 MiB).
pub unsafe fn memory_regions(fdt: *const u8, out: &mut [PhysRegion]) -> usize {
    // SAFETY: the caller guarantees the header is readable.
    let header = unsafe { core::slice::from_raw_parts(fdt, 40) };
    if be32(header, 0) != Some(FDT_MAGIC) {
        return 0;
    }
    let total = be32(header, 4).unwrap_or(0) as usize;
    if !(40..=MAX_FDT).contains(&total) {
        return 0;
    }
    // SAFETY: the caller guarantees `total` bytes are readable.
    let blob = unsafe { core::slice::from_raw_parts(fdt, total) };
    parse(blob, out).unwrap_or(0)
}

fn parse(blob: &[u8], out: &mut [PhysRegion]) -> Option<usize> {
    let struct_off = be32(blob, 8)? as usize;
    let strings_off = be32(blob, 12)? as usize;
    let mut at = struct_off;
    let mut depth = 0usize;
    let mut in_memory_depth = None;
    let mut found = 0;
    loop {
        let token = be32(blob, at)?;
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                let name_start = at;
                while *blob.get(at)? != 0 {
                    at += 1;
                }
                let name = &blob[name_start..at];
                at = (at + 1).next_multiple_of(4);
                depth += 1;
                if depth == 2 && name.starts_with(b"memory") {
                    in_memory_depth = Some(depth);
                }
            }
            FDT_END_NODE => {
                if in_memory_depth == Some(depth) {
                    in_memory_depth = None;
                }
                depth = depth.checked_sub(1)?;
            }
            FDT_PROP => {
                let len = be32(blob, at)? as usize;
                let name_off = be32(blob, at + 4)? as usize;
                let value = at + 8;
                at = (value + len).next_multiple_of(4);
                let name = blob.get(strings_off + name_off..)?;
                if in_memory_depth == Some(depth) && name.starts_with(b"reg\0") {
                    let mut p = value;
                    while p + 16 <= value + len && found < out.len() {
                        let start = be64(blob, p)?;
                        let size = be64(blob, p + 8)?;
                        out[found] = PhysRegion {
                            start,
                            end: start.checked_add(size)?,
                        };
                        found += 1;
                        p += 16;
                    }
                }
            }
            FDT_NOP => {}
            FDT_END => return Some(found),
            _ => return None,
        }
    }
}
