//! Device registers from safe code: 32-bit volatile reads and writes in the device window.
//!
//! The root task maps the registers of the devices an image grants a server (see
//! [`crate::server_info::DeviceGrant`]) in the server's device window,
//! [`SERVER_DEVICE_VADDR`]`..`[`SERVER_DEVICE_END`], as device memory. By the server-info
//! contract nothing else lives there: no Rust object, stack or heap, so an access there can change
//! device state but never memory the program's Rust code relies on. That is what lets these
//! functions be safe. An access to a page of the window that is not mapped is a page fault, which
//! the kernel delivers to the thread's fault handler like any other fault.
//!
//! Both functions take the mapping's address (`DeviceGrant::mmio_vaddr`) and the register's byte
//! offset, and panic if the register is not 4-byte aligned or not wholly inside the window (a bug
//! in the driver, never a device condition).

use crate::server_info::{SERVER_DEVICE_END, SERVER_DEVICE_VADDR};

/// The address of the 32-bit register at `offset` from `vaddr`; panics unless it is aligned and
/// inside the device window.
fn register(vaddr: u64, offset: u64) -> *mut u32 {
    let address = vaddr
        .checked_add(offset)
        .filter(|a| (SERVER_DEVICE_VADDR..=SERVER_DEVICE_END - 4).contains(a) && a % 4 == 0);
    match address {
        Some(a) => a as usize as *mut u32,
        None => panic!(
            "mmio: register {vaddr:#x} + {offset:#x} is not an aligned 32-bit register of the \
             device window {SERVER_DEVICE_VADDR:#x}..{SERVER_DEVICE_END:#x}"
        ),
    }
}

/// Reads the 32-bit device register at `vaddr + offset`.
pub fn read32(vaddr: u64, offset: u64) -> u32 {
    let reg = register(vaddr, offset);
    // SAFETY: `reg` is 4-byte aligned and inside the device window, which holds only device
    // mappings the root task made and no Rust object (module documentation): the read cannot
    // observe or break memory Rust code uses. Volatile: the device decides the value, and the
    // access must happen exactly once, as written. Unmapped: a page fault, not undefined
    // behaviour of this program.
    unsafe { reg.read_volatile() }
}

/// Writes `value` to the 32-bit device register at `vaddr + offset`.
pub fn write32(vaddr: u64, offset: u64, value: u32) {
    let reg = register(vaddr, offset);
    // SAFETY: as in `read32`: an aligned register of the device window, where no Rust object
    // lives; the write is a device access that must happen exactly once, as written.
    unsafe { reg.write_volatile(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_checked() {
        assert_eq!(
            register(SERVER_DEVICE_VADDR, 0x44) as usize as u64,
            SERVER_DEVICE_VADDR + 0x44
        );
        assert_eq!(
            register(SERVER_DEVICE_END - 4, 0) as usize as u64,
            SERVER_DEVICE_END - 4
        );
    }

    #[test]
    #[should_panic(expected = "not an aligned 32-bit register")]
    fn misaligned() {
        register(SERVER_DEVICE_VADDR, 2);
    }

    #[test]
    #[should_panic(expected = "not an aligned 32-bit register")]
    fn outside_the_window() {
        register(SERVER_DEVICE_END - 4, 4);
    }

    #[test]
    #[should_panic(expected = "not an aligned 32-bit register")]
    fn overflow() {
        register(u64::MAX - 1, 8);
    }
}
