//! Shared memory regions (an image's `[[shared]]` tables, see `axolotl_image::shared`).
//!
//! [`make`] runs once, before any server is built: it makes every region's frames from the boot
//! Untypeds (the root task's own memory, not a server's, so that revoking a server's Untyped on a
//! restart or an upgrade never frees them and its peer keeps its mapping) and keeps them, in
//! window order, in one bookkeeping CNode of the root task. [`grant`] (phase 3, per server) maps
//! a copy of each frame of the server's regions read/write into its shared window at
//! `SERVER_SHARED_VADDR + page * PAGE_SIZE`; the copies go to the server's own bookkeeping CNode
//! like its other frames. A server never holds a capability to them.

use crate::builder::{Builder, Storage};
use crate::error::BuildError;
use crate::system::{BuiltServer, place, tables_for};
use axolotl_abi::{CapRights, ObjectType, PAGE_SIZE, VmAttributes};
use axolotl_image::{ImageDescription, ServerDesc};
use axolotl_rt::server_info::{SERVER_SHARED_END, SERVER_SHARED_VADDR, ServerInfo, SharedEntry};
use axolotl_rt::{CNode, Cap, Frame, root};
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

const PAGE: u64 = PAGE_SIZE as u64;

/// The bookkeeping CNode holding the image's shared frames (slot `i`: page `i` of the window);
/// 0 until [`make`] made them.
static FRAMES: AtomicU64 = AtomicU64::new(0);

/// Per server index: the pages of the shared window it maps (0: none), set by [`make`].
static WINDOW: [AtomicU64; axolotl_image::MAX_SERVERS] =
    [const { AtomicU64::new(0) }; axolotl_image::MAX_SERVERS];

/// Pages of the shared window the image's regions use.
fn total_pages(image: &ImageDescription) -> u64 {
    image.shared.iter().map(|r| u64::from(r.pages)).sum()
}

/// Makes the frames of every region of `image` (zeroed by the kernel). Nothing to do for an
/// image without regions.
pub fn make(b: &mut Builder, image: &ImageDescription) -> Result<(), BuildError> {
    let pages = total_pages(image);
    if pages == 0 {
        return Ok(());
    }
    for (index, desc) in image.servers.iter().enumerate() {
        WINDOW[index].store(window_pages(image, desc), Ordering::Relaxed);
    }
    if SERVER_SHARED_VADDR + pages * PAGE > SERVER_SHARED_END {
        return Err(BuildError::TooLarge {
            pages,
            max: (SERVER_SHARED_END - SERVER_SHARED_VADDR) / PAGE,
        });
    }
    let mut storage: Storage = b.make_storage(pages)?;
    for _ in 0..pages {
        let frame: Cap<Frame> = b.make(ObjectType::Frame, 0, "make a shared frame")?;
        b.stash(&mut storage, frame)?;
    }
    FRAMES.store(storage.cnode.cptr(), Ordering::Relaxed);
    Ok(())
}

/// Page tables server `index`'s shared window needs (made from its memory).
pub fn tables(index: usize) -> u64 {
    let pages = WINDOW.get(index).map_or(0, |w| w.load(Ordering::Relaxed));
    tables_for(SERVER_SHARED_VADDR, SERVER_SHARED_VADDR + pages * PAGE)
}

/// Slots server `index`'s shared window adds to its bookkeeping CNode: its frames' copies (not
/// made from its memory) and the page tables.
pub fn storage_slots(index: usize) -> u64 {
    WINDOW.get(index).map_or(0, |w| w.load(Ordering::Relaxed)) + tables(index)
}

/// Pages of the shared window server `desc` of `image` maps (the whole window it spans, so that
/// its page-table estimate covers every region's offset).
pub fn window_pages(image: &ImageDescription, desc: &ServerDesc) -> u64 {
    image
        .shared_regions_of(&desc.name)
        .map(|(offset, r)| offset + u64::from(r.pages))
        .max()
        .unwrap_or(0)
}

/// Maps the regions server `index` of `image` is in and lists them in `info`; appends
/// `, shared NAME (N pages at ADDR, with PEER)` to `summary` for each.
pub fn grant(
    b: &mut Builder,
    image: &ImageDescription,
    index: usize,
    server: &mut BuiltServer,
    info: &mut ServerInfo,
    summary: &mut heapless::String<512>,
) -> Result<(), BuildError> {
    let name = image.servers[index].name.as_str();
    let frames = Cap::<CNode>::from_cptr(FRAMES.load(Ordering::Relaxed));
    for (offset, region) in image.shared_regions_of(name) {
        if frames.cptr() == 0 {
            return Err(BuildError::NoSharedFrames);
        }
        let vaddr = SERVER_SHARED_VADDR + offset * PAGE;
        for i in 0..u64::from(region.pages) {
            let slot = b.slots.alloc().ok_or(BuildError::OutOfSlots)?;
            if let Err(error) = root::cnode().copy(slot, frames, offset + i, CapRights::READ_WRITE)
            {
                b.slots.free(slot);
                return Err(BuildError::Kernel {
                    what: "copy a shared frame",
                    error,
                });
            }
            place(
                b,
                server,
                Cap::<Frame>::from_cptr(slot),
                vaddr + i * PAGE,
                CapRights::READ_WRITE,
                VmAttributes::NONE,
            )?;
        }
        let n = (info.n_shared as usize).min(info.shared.len());
        if let Some(entry) = info.shared.get_mut(n) {
            *entry = SharedEntry::new(&region.name, vaddr, u64::from(region.pages));
            info.n_shared += 1;
        }
        let peer = region.servers.iter().find(|s| *s != name);
        let _ = write!(
            summary,
            ", shared {} ({} pages at {vaddr:#x}, with {})",
            region.name,
            region.pages,
            peer.map_or("?", |p| p.as_str())
        );
    }
    Ok(())
}
