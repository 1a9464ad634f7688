//! Reading the time: the architecture's free-running counter (aarch64 CNTVCT_EL0, which the kernel
//! lets EL0 read; x86_64 TSC). Its frequency is in the boot info (`counter_frequency`). Under
//! QEMU's `-icount shift=0` it advances once per guest instruction, which is how the benchmarks
//! count instructions.

/// The current value of the counter.
#[inline(always)]
pub fn counter() -> u64 {
    crate::arch::read_counter()
}

/// The time for a request's handler: in a server with verified transactions (`verify = true`)
/// the counter when the kernel delivered the request, the same in both runs of the request
/// (the counter itself would differ, and the runs with it); elsewhere the counter.
pub fn request_now() -> u64 {
    if crate::server_info::verified_requests() {
        crate::ipc_buffer::request_time()
    } else {
        counter()
    }
}
