//! Reading the time: the architecture's free-running counter (aarch64 CNTVCT_EL0, which the kernel
//! lets EL0 read; x86_64 TSC). Its frequency is in the boot info (`counter_frequency`). Under
//! QEMU's `-icount shift=0` it advances once per guest instruction, which is how the benchmarks
//! count instructions.

/// The current value of the counter.
#[inline(always)]
pub fn counter() -> u64 {
    crate::arch::read_counter()
}
