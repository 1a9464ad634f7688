//! The `timer` device on aarch64: the EL1 physical timer, programmed from EL0.
//!
//! An image that grants a server `devices = ["timer"]` gives it, on aarch64, the interrupt of the
//! EL1 physical timer (PPI 30; the kernel's own time slice runs on the virtual timer), and the
//! kernel lets EL0 program that timer's registers (CNTKCTL_EL1.EL0PTEN). The timer has no memory
//! or ports to grant: these functions are its registers. The timer interrupt is level-triggered:
//! it stays asserted while the deadline has passed and the timer is enabled, so a driver calls
//! [`disable`] (or sets a later deadline) before it acknowledges the interrupt.
//!
//! Deadlines are values of [`crate::time::counter`]. The timer compares them with the physical
//! counter, which equals the virtual counter `time::counter` reads because the kernel runs without
//! a hypervisor offset (CNTVOFF is 0).
//!
//! **x86_64 has no counterpart here**: its `timer` device is the PIT, which the server programs
//! through the I/O ports its [`crate::server_info::DeviceGrant`] carries (`io_port`, ports
//! 0x40..=0x43), so this module is empty there.

#[cfg(target_arch = "aarch64")]
mod imp {
    use core::arch::asm;

    /// CNTP_CTL_EL0: ENABLE (bit 0); IMASK (bit 1) stays clear so the interrupt is raised;
    /// ISTATUS (bit 2, read-only) says the deadline has passed.
    const CTL_ENABLE: u64 = 1 << 0;
    const CTL_ISTATUS: u64 = 1 << 2;

    /// Arms the timer: its interrupt is raised once the counter reaches `deadline` (at once if it
    /// already has).
    pub fn set_deadline(deadline: u64) {
        // SAFETY: writing the EL1 physical timer's compare value and control register from EL0,
        // which the kernel allows (CNTKCTL_EL1.EL0PTEN); they affect only this timer and its
        // interrupt, no memory. `isb` makes the new setting take effect before what follows.
        unsafe {
            asm!(
                "msr cntp_cval_el0, {deadline}",
                "msr cntp_ctl_el0, {ctl}",
                "isb",
                deadline = in(reg) deadline,
                ctl = in(reg) CTL_ENABLE,
                options(nomem, nostack),
            )
        };
    }

    /// Stops the timer; its interrupt is no longer raised.
    pub fn disable() {
        // SAFETY: as in `set_deadline`: a timer register EL0 may write; no memory is touched.
        unsafe { asm!("msr cntp_ctl_el0, xzr", "isb", options(nomem, nostack)) };
    }

    /// Whether the timer is enabled and its deadline has passed (CNTP_CTL_EL0.ISTATUS).
    pub fn is_pending() -> bool {
        let ctl: u64;
        // SAFETY: reading a timer register EL0 may read has no side effects.
        unsafe { asm!("mrs {0}, cntp_ctl_el0", out(reg) ctl, options(nomem, nostack)) };
        ctl & CTL_ENABLE != 0 && ctl & CTL_ISTATUS != 0
    }
}

#[cfg(target_arch = "aarch64")]
pub use imp::{disable, is_pending, set_deadline};
