//! The arithmetic of the x86_64 `timer` device, the 8254 PIT (channel 0, one-shot mode 0): how
//! many of its input clock's periods make a delay given in counter ticks.
//!
//! The PIT counts its own 1.193182 MHz clock, not the counter `now()` reads, and its 16-bit
//! count reaches about 55 ms at most. A longer delay interrupts early; the timer service then
//! finds nothing due and re-arms, so deadlines of any length work.

use ipc_schema::interfaces::common::Ticks;

/// The PIT's input clock, in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// The largest count channel 0 takes.
pub const PIT_MAX_COUNT: u16 = 0xffff;

/// The count that makes the PIT reach terminal count `delay` counter ticks (at `frequency` Hz)
/// from now: rounded up, at least 1 (a count of 0 means 65536), at most [`PIT_MAX_COUNT`].
/// An unknown frequency (0) gives the longest count.
pub fn pit_count(delay: Ticks, frequency: u64) -> u16 {
    if frequency == 0 {
        return PIT_MAX_COUNT;
    }
    let periods = (u128::from(delay) * u128::from(PIT_HZ)).div_ceil(u128::from(frequency));
    periods.clamp(1, u128::from(PIT_MAX_COUNT)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let ghz = 1_000_000_000;
        // 1 ms of a 1 GHz counter: 1193.182 periods, rounded up.
        assert_eq!(pit_count(1_000_000, ghz), 1194);
        // Exactly one period at the PIT's own rate.
        assert_eq!(pit_count(1, PIT_HZ), 1);
        assert_eq!(pit_count(1000, PIT_HZ), 1000);
        // Never 0 (that would be the longest count), never beyond 16 bits.
        assert_eq!(pit_count(0, ghz), 1);
        assert_eq!(pit_count(1, ghz), 1);
        assert_eq!(pit_count(ghz, ghz), PIT_MAX_COUNT);
        assert_eq!(pit_count(u64::MAX, 1), PIT_MAX_COUNT);
        assert_eq!(pit_count(5, 0), PIT_MAX_COUNT);
    }
}
