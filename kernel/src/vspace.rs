//! Address spaces: 4-level page tables of 512 entries (the same shape on aarch64 and x86_64), the
//! entry encodings from the architecture, and the ASID table.
//!
//! A VSpace object is the root table; it gets an ASID when it is made. PageTable objects are
//! mapped into a VSpace at the first missing level covering an address; frames are mapped at the
//! last level. Frame and PageTable capabilities remember (ASID, vaddr) of their one mapping, and
//! unmapping walks the tables again and clears the entry only if it still points at that object,
//! so a stale capability can never unmap someone else's page.

use crate::arch::{Architecture, Cpu, MapRights, Pte, USER_VADDR_LIMIT, phys_to_virt};
use axolotl_abi::{Error, PAGE_SIZE};
use core::cell::UnsafeCell;

pub const LEVELS: usize = 4;
const ENTRIES: usize = 512;

/// ASID -> physical root (0: free). ASID 0 is never handed out.
struct AsidTable(UnsafeCell<[u64; <Cpu as Architecture>::NUM_ASIDS]>);
// SAFETY: one kernel path at a time (see `state`).
unsafe impl Sync for AsidTable {}
static ASIDS: AsidTable = AsidTable(UnsafeCell::new([0; <Cpu as Architecture>::NUM_ASIDS]));

fn asids() -> &'static mut [u64; <Cpu as Architecture>::NUM_ASIDS] {
    // SAFETY: one kernel path at a time; no reference outlives the operation using it.
    unsafe { &mut *ASIDS.0.get() }
}

/// How many ASIDs are free.
pub fn free_asids() -> usize {
    asids().iter().skip(1).filter(|r| **r == 0).count()
}

/// Gives the VSpace at `root` an ASID.
pub fn alloc_asid(root: u64) -> Result<u16, Error> {
    let table = asids();
    let i = (1..table.len())
        .find(|&i| table[i] == 0)
        .ok_or(Error::AsidsExhausted)?;
    table[i] = root;
    Ok(i as u16)
}

/// The VSpace's last capability is gone. If it is the one installed in the MMU (its threads are
/// gone too, but the idle thread may still run on it), install the empty one, so that the MMU
/// never walks memory that may be retyped into something else.
pub fn free_asid(asid: u16) {
    if let Some(e) = asids().get_mut(asid as usize) {
        *e = 0;
        let k = crate::state::kernel();
        if k.loaded_vspace.1 == asid {
            Cpu::switch_vspace(k.empty_vspace, 0);
            k.loaded_vspace = (k.empty_vspace, 0);
        }
        Cpu::flush_asid(asid);
    }
}

fn root_of(asid: u16) -> Option<u64> {
    match asids().get(asid as usize) {
        Some(&r) if r != 0 && asid != 0 => Some(r),
        _ => None,
    }
}

fn table(paddr: u64) -> &'static mut [u64; ENTRIES] {
    // SAFETY: `paddr` is a page-table page (a VSpace or PageTable object, kept alive by its
    // capability), mapped in the kernel window; one kernel path at a time.
    unsafe { &mut *(phys_to_virt(paddr) as *mut [u64; ENTRIES]) }
}

fn index(vaddr: u64, level: usize) -> usize {
    ((vaddr >> (12 + 9 * (LEVELS - 1 - level))) & 0x1ff) as usize
}

pub fn check_user_vaddr(vaddr: u64) -> Result<(), Error> {
    if !vaddr.is_multiple_of(PAGE_SIZE as u64) {
        return Err(Error::AlignmentError);
    }
    if vaddr >= USER_VADDR_LIMIT {
        return Err(Error::RangeError);
    }
    Ok(())
}

/// Maps the page table at `table_paddr` at the first missing level covering `vaddr`. Returns that
/// level (1..=3).
pub fn map_table(root: u64, vaddr: u64, table_paddr: u64) -> Result<u8, Error> {
    let mut t = root;
    for level in 0..LEVELS - 1 {
        let e = &mut table(t)[index(vaddr, level)];
        match Cpu::pte_decode(*e, level) {
            Pte::Invalid => {
                *e = Cpu::pte_table(table_paddr);
                Cpu::pte_barrier();
                return Ok(level as u8 + 1);
            }
            Pte::Table(next) => t = next,
            Pte::Page(_) => return Err(Error::DeleteFirst),
        }
    }
    Err(Error::DeleteFirst)
}

/// Maps a frame at `vaddr`; `FailedLookup` if a page table on the way is missing.
pub fn map_frame(root: u64, vaddr: u64, paddr: u64, rights: MapRights) -> Result<(), Error> {
    let mut t = root;
    for level in 0..LEVELS - 1 {
        match Cpu::pte_decode(table(t)[index(vaddr, level)], level) {
            Pte::Table(next) => t = next,
            _ => return Err(Error::FailedLookup),
        }
    }
    let e = &mut table(t)[index(vaddr, LEVELS - 1)];
    if Cpu::pte_decode(*e, LEVELS - 1) != Pte::Invalid {
        return Err(Error::DeleteFirst);
    }
    *e = Cpu::pte_page(paddr, rights);
    Cpu::pte_barrier();
    Ok(())
}

/// The entry at `level` covering `vaddr`, if all tables above it exist.
fn entry(root: u64, vaddr: u64, level: usize) -> Option<&'static mut u64> {
    let mut t = root;
    for l in 0..level {
        match Cpu::pte_decode(table(t)[index(vaddr, l)], l) {
            Pte::Table(next) => t = next,
            _ => return None,
        }
    }
    Some(&mut table(t)[index(vaddr, level)])
}

/// Removes the mapping of frame `paddr` at `vaddr` in ASID `asid`, if it is still there.
pub fn unmap_frame(asid: u16, vaddr: u64, paddr: u64) {
    let Some(root) = root_of(asid) else { return };
    if let Some(e) = entry(root, vaddr, LEVELS - 1)
        && Cpu::pte_decode(*e, LEVELS - 1) == Pte::Page(paddr)
    {
        *e = 0;
        Cpu::flush_page(asid, vaddr);
    }
}

/// Removes the page table `paddr` mapped at `level` for `vaddr`, if it is still there.
pub fn unmap_table(asid: u16, vaddr: u64, level: u8, paddr: u64) {
    let Some(root) = root_of(asid) else { return };
    if level == 0 {
        return;
    }
    let parent = level as usize - 1;
    if let Some(e) = entry(root, vaddr, parent)
        && Cpu::pte_decode(*e, parent) == Pte::Table(paddr)
    {
        *e = 0;
        Cpu::flush_asid(asid);
    }
}

/// The leaf (last-level) entry for `vaddr` in `root`, if its page tables exist.
pub fn leaf_entry(root: u64, vaddr: u64) -> Option<&'static mut u64> {
    entry(root, vaddr, LEVELS - 1)
}

/// The root of the address space with `asid`, if it still exists.
pub fn asid_root(asid: u16) -> Option<u64> {
    root_of(asid)
}

/// Resolves a user address to a physical one in the address space `root` (boot only).
pub fn translate(root: u64, vaddr: u64) -> Option<u64> {
    match Cpu::pte_decode(*entry(root, vaddr, LEVELS - 1)?, LEVELS - 1) {
        Pte::Page(p) => Some(p + (vaddr & (PAGE_SIZE as u64 - 1))),
        _ => None,
    }
}
