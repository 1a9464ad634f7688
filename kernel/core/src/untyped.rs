//! Untyped memory arithmetic: where `UntypedRetype` places new objects, and how boot splits
//! physical memory into Untyped objects.
//!
//! # Invariants
//!
//! An Untyped object of `2^untyped_bits` bytes has a *watermark* `free_offset`: the bytes
//! `[0, free_offset)` from its base may be in use, `[free_offset, 2^untyped_bits)` are free.
//! The base is aligned to `2^untyped_bits`, so an object aligned relative to the base is aligned in
//! physical memory too. [`allocate`] only ever returns offsets with
//! `free_offset <= first_offset <= new_free_offset <= 2^untyped_bits`, `first_offset` a multiple
//! of the object size, and `new_free_offset - first_offset == count * 2^object_bits`.
//!
//! All arithmetic is checked: every argument may come straight from user space.

use axolotl_abi::Error;

/// The most objects one `UntypedRetype` may create.
pub const MAX_RETYPE_COUNT: u64 = 256;

/// Where a retype puts its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Offset from the untyped's base of the first object; object `i` is at
    /// `first_offset + i * 2^object_bits`.
    pub first_offset: u64,
    /// The untyped's watermark after the retype (the end of the last object).
    pub new_free_offset: u64,
}

/// `value` rounded up to a multiple of `2^bits`; `None` on overflow (or if `bits >= 64` and `value`
/// is not zero).
pub const fn align_up(value: u64, bits: u32) -> Option<u64> {
    if bits >= u64::BITS {
        return if value == 0 { Some(0) } else { None };
    }
    let mask = (1u64 << bits) - 1;
    match value.checked_add(mask) {
        Some(v) => Some(v & !mask),
        None => None,
    }
}

/// `value` rounded down to a multiple of `2^bits` (0 if `bits >= 64`).
pub const fn align_down(value: u64, bits: u32) -> u64 {
    if bits >= u64::BITS {
        0
    } else {
        value & !((1u64 << bits) - 1)
    }
}

/// Places `count` objects of `2^object_bits` bytes in an untyped of `2^untyped_bits` bytes whose
/// watermark is `free_offset`: the first object goes at the watermark rounded up to the object
/// size, the others follow contiguously.
///
/// Errors: [`Error::RangeError`] if `count` is 0 or above [`MAX_RETYPE_COUNT`], if the object is
/// larger than the untyped, or if `untyped_bits >= 64`; [`Error::NotEnoughMemory`] if the objects
/// do not fit between the aligned watermark and the end of the untyped.
pub fn allocate(
    untyped_bits: u32,
    free_offset: u64,
    object_bits: u32,
    count: u64,
) -> Result<Allocation, Error> {
    if count == 0 || count > MAX_RETYPE_COUNT {
        return Err(Error::RangeError);
    }
    if untyped_bits >= u64::BITS || object_bits > untyped_bits {
        return Err(Error::RangeError);
    }
    let untyped_size = 1u64 << untyped_bits;
    let object_size = 1u64 << object_bits;
    let first_offset = align_up(free_offset, object_bits).ok_or(Error::NotEnoughMemory)?;
    let end = count
        .checked_mul(object_size)
        .and_then(|total| first_offset.checked_add(total))
        .ok_or(Error::NotEnoughMemory)?;
    if end > untyped_size {
        return Err(Error::NotEnoughMemory);
    }
    Ok(Allocation {
        first_offset,
        new_free_offset: end,
    })
}

/// Splits `[start, end)` into maximal naturally aligned blocks of `2^bits` bytes with
/// `min_bits <= bits <= max_bits`, in ascending address order, writing `(base, bits)` into `out`.
/// Parts smaller than `2^min_bits` (at the ends, after aligning `start` up and `end` down to
/// `2^min_bits`) are dropped. Returns how many blocks were written; it stops when `out` is full, and
/// calling again with `start` = the end of the last block written continues where it stopped.
///
/// Writes nothing if `start >= end`, `min_bits > max_bits` or `min_bits >= 64`; `max_bits` above
/// 63 acts as 63.
pub fn split_region(
    start: u64,
    end: u64,
    min_bits: u32,
    max_bits: u32,
    out: &mut [(u64, u32)],
) -> usize {
    if min_bits > max_bits || min_bits >= u64::BITS {
        return 0;
    }
    let max_bits = if max_bits >= u64::BITS {
        u64::BITS - 1
    } else {
        max_bits
    };
    let Some(mut cur) = align_up(start, min_bits) else {
        return 0;
    };
    let end = align_down(end, min_bits);
    let mut n = 0;
    // `cur` and `end` are multiples of 2^min_bits, so every block is at least that large.
    while cur < end && n < out.len() {
        let align = cur.trailing_zeros(); // 64 for address 0
        let fit = u64::BITS - 1 - (end - cur).leading_zeros(); // floor(log2(end - cur))
        let bits = if align < fit { align } else { fit };
        let bits = if bits < max_bits { bits } else { max_bits };
        out[n] = (cur, bits);
        n += 1;
        // cur + 2^bits <= end: no overflow.
        cur += 1u64 << bits;
    }
    n
}

/// Checks an Untyped capability's own fields: its watermark is within its `2^bits` bytes and
/// its base is aligned to its size (the kernel's consistency checker calls this for every
/// Untyped capability).
pub fn check_untyped(base: u64, bits: u32, free_offset: u64) -> Result<(), &'static str> {
    if bits >= u64::BITS {
        return Err("untyped: size of 2^64 bytes or more");
    }
    if free_offset > 1u64 << bits {
        return Err("untyped: watermark past the end");
    }
    if align_down(base, bits) != base {
        return Err("untyped: base not aligned to its size");
    }
    Ok(())
}

/// Checks that an object of `2^child_bits` bytes at `child_base`, made from the Untyped at
/// `base` of `2^bits` bytes with watermark `free_offset`, lies wholly in the Untyped's used part
/// `[base, base + free_offset)` and is aligned to its own size.
pub fn check_child(
    base: u64,
    free_offset: u64,
    child_base: u64,
    child_bits: u32,
) -> Result<(), &'static str> {
    if child_bits >= u64::BITS {
        return Err("untyped: child of 2^64 bytes or more");
    }
    let end = child_base
        .checked_add(1u64 << child_bits)
        .ok_or("untyped: child wraps around the address space")?;
    if child_base < base || end > base.saturating_add(free_offset) {
        return Err("untyped: child outside the used part of its parent");
    }
    if align_down(child_base, child_bits) != child_base {
        return Err("untyped: child not aligned to its size");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn align_helpers() {
        assert_eq!(align_up(0, 12), Some(0));
        assert_eq!(align_up(1, 12), Some(4096));
        assert_eq!(align_up(4096, 12), Some(4096));
        assert_eq!(align_up(u64::MAX, 1), None);
        assert_eq!(align_up(u64::MAX, 0), Some(u64::MAX));
        assert_eq!(align_up(0, 64), Some(0));
        assert_eq!(align_up(1, 64), None);
        assert_eq!(align_down(4097, 12), 4096);
        assert_eq!(align_down(u64::MAX, 64), 0);
    }

    #[test]
    fn allocate_basic() {
        assert_eq!(
            allocate(20, 0, 12, 4),
            Ok(Allocation {
                first_offset: 0,
                new_free_offset: 4 * 4096
            })
        );
        // The watermark is aligned up to the object size.
        assert_eq!(
            allocate(20, 100, 12, 1),
            Ok(Allocation {
                first_offset: 4096,
                new_free_offset: 8192
            })
        );
        // Exact fit, then full.
        assert_eq!(
            allocate(12, 0, 12, 1),
            Ok(Allocation {
                first_offset: 0,
                new_free_offset: 4096
            })
        );
        assert_eq!(allocate(12, 4096, 4, 1), Err(Error::NotEnoughMemory));
        assert_eq!(allocate(12, 0, 12, 2), Err(Error::NotEnoughMemory));
        // Fits before alignment, not after.
        assert_eq!(allocate(13, 1, 12, 2), Err(Error::NotEnoughMemory));
        // Zero-sized untyped of one byte holding a one-byte object.
        assert_eq!(
            allocate(0, 0, 0, 1),
            Ok(Allocation {
                first_offset: 0,
                new_free_offset: 1
            })
        );
    }

    #[test]
    fn allocate_range_errors() {
        assert_eq!(allocate(20, 0, 12, 0), Err(Error::RangeError));
        assert_eq!(allocate(20, 0, 4, 257), Err(Error::RangeError));
        assert_eq!(allocate(20, 0, 4, u64::MAX), Err(Error::RangeError));
        assert!(allocate(20, 0, 4, 256).is_ok());
        assert_eq!(allocate(12, 0, 13, 1), Err(Error::RangeError));
        assert_eq!(allocate(12, 0, u32::MAX, 1), Err(Error::RangeError));
        assert_eq!(allocate(64, 0, 12, 1), Err(Error::RangeError));
        assert_eq!(allocate(u32::MAX, 0, 12, 1), Err(Error::RangeError));
    }

    #[test]
    fn allocate_overflow() {
        // 2 * 2^63 overflows u64.
        assert_eq!(allocate(63, 0, 63, 2), Err(Error::NotEnoughMemory));
        assert_eq!(
            allocate(63, 0, 63, 1),
            Ok(Allocation {
                first_offset: 0,
                new_free_offset: 1 << 63
            })
        );
        // Aligning 1 up to 2^63 is fine, but then the end is 2^64.
        assert_eq!(allocate(63, 1, 63, 1), Err(Error::NotEnoughMemory));
        // Aligning the watermark overflows.
        assert_eq!(allocate(63, u64::MAX, 12, 1), Err(Error::NotEnoughMemory));
        assert_eq!(allocate(63, u64::MAX, 0, 1), Err(Error::NotEnoughMemory));
        // A watermark past the end (kernel bug or not) never yields an allocation.
        assert_eq!(allocate(12, 8192, 4, 1), Err(Error::NotEnoughMemory));
        // count * size + offset overflows.
        assert_eq!(allocate(63, 1 << 62, 56, 256), Err(Error::NotEnoughMemory));
    }

    #[test]
    fn allocate_randomized_against_u128() {
        let mut rng = Rng::new(7);
        let edge_u64 = [0, 1, 4095, 4096, 1 << 62, (1 << 63) - 1, 1 << 63, u64::MAX];
        for _ in 0..200_000 {
            let untyped_bits = if rng.chance(1, 10) {
                rng.next_u64() as u32
            } else {
                rng.below(70) as u32
            };
            let object_bits = if rng.chance(1, 10) {
                rng.next_u64() as u32
            } else {
                rng.below(70) as u32
            };
            let count = match rng.below(4) {
                0 => rng.pick(&edge_u64),
                1 => rng.below(300) as u64,
                _ => rng.below(4) as u64 + 1,
            };
            let free_offset = match rng.below(3) {
                0 => rng.pick(&edge_u64),
                1 => rng.next_u64() >> rng.below(64),
                _ if untyped_bits < 64 => rng.next_u64() & ((1u64 << untyped_bits) - 1),
                _ => 0,
            };
            // Reference in u128, where nothing overflows.
            let want =
                if count == 0 || count > 256 || untyped_bits >= 64 || object_bits > untyped_bits {
                    Err(Error::RangeError)
                } else {
                    let size = 1u128 << object_bits;
                    let first = u128::from(free_offset).div_ceil(size) * size;
                    let end = first + u128::from(count) * size;
                    if end > 1u128 << untyped_bits {
                        Err(Error::NotEnoughMemory)
                    } else {
                        Ok(Allocation {
                            first_offset: first as u64,
                            new_free_offset: end as u64,
                        })
                    }
                };
            assert_eq!(
                allocate(untyped_bits, free_offset, object_bits, count),
                want,
                "allocate({untyped_bits}, {free_offset:#x}, {object_bits}, {count})"
            );
        }
    }

    fn split(start: u64, end: u64, min: u32, max: u32) -> Vec<(u64, u32)> {
        let mut out = vec![(0, 0); 8192];
        let n = split_region(start, end, min, max, &mut out);
        assert!(n < out.len(), "test buffer too small");
        out.truncate(n);
        out
    }

    #[test]
    fn split_aligned_and_capped() {
        assert_eq!(split(0, 1 << 20, 12, 20), [(0, 20)]);
        assert_eq!(
            split(0, 1 << 22, 12, 20),
            [(0, 20), (1 << 20, 20), (2 << 20, 20), (3 << 20, 20)]
        );
        assert_eq!(split(1 << 20, 2 << 20, 12, 30), [(1 << 20, 20)]);
    }

    #[test]
    fn split_unaligned() {
        assert_eq!(
            split(0x1000, 0x10000, 12, 47),
            [(0x1000, 12), (0x2000, 13), (0x4000, 14), (0x8000, 15)]
        );
        // Unaligned start and end: the partial pages are dropped.
        assert_eq!(split(0x1001, 0x5fff, 12, 47), [(0x2000, 13), (0x4000, 12)]);
        // A gap too small for one block.
        assert_eq!(split(0x1001, 0x2fff, 12, 47), []);
        assert_eq!(split(0x1800, 0x2800, 12, 47), []);
        // Typical RAM: 0x4000_0000 + 128 MiB minus a kernel image at the start.
        assert_eq!(
            split(0x4012_3456, 0x4800_0000, 12, 47),
            [
                (0x4012_4000, 14),
                (0x4012_8000, 15),
                (0x4013_0000, 16),
                (0x4014_0000, 18),
                (0x4018_0000, 19),
                (0x4020_0000, 21),
                (0x4040_0000, 22),
                (0x4080_0000, 23),
                (0x4100_0000, 24),
                (0x4200_0000, 25),
                (0x4400_0000, 26),
            ]
        );
    }

    #[test]
    fn split_degenerate() {
        assert_eq!(split(0x2000, 0x1000, 12, 20), []);
        assert_eq!(split(0x1000, 0x1000, 12, 20), []);
        assert_eq!(split(0, 1 << 20, 21, 20), []);
        assert_eq!(split(0, u64::MAX, 64, 64), []);
        // Start aligns up past u64::MAX.
        assert_eq!(split(u64::MAX - 5, u64::MAX, 12, 20), []);
        // min_bits 0 keeps every byte.
        assert_eq!(split(1, 4, 0, 63), [(1, 0), (2, 1)]);
        let mut none: [(u64, u32); 0] = [];
        assert_eq!(split_region(0, 1 << 20, 12, 20, &mut none), 0);
    }

    #[test]
    fn split_whole_address_space() {
        let blocks = split(0, u64::MAX, 12, 99);
        // 2^63, 2^62, ..., 2^12 in descending sizes.
        assert_eq!(blocks.len(), 52);
        assert_eq!(blocks[0], (0, 63));
        assert_eq!(blocks[1], (1 << 63, 62));
        assert_eq!(*blocks.last().unwrap(), (!0x1fff, 12));
        assert_eq!(split(1 << 63, u64::MAX, 63, 63), []);
        assert_eq!(split(0, u64::MAX, 63, 63), [(0, 63)]);
    }

    #[test]
    fn split_stops_when_full_and_resumes() {
        let all = split(0x1000, 0x10_0000, 12, 14);
        assert!(all.len() > 5);
        let mut got = Vec::new();
        let mut start = 0x1000;
        loop {
            let mut out = [(0, 0); 3];
            let n = split_region(start, 0x10_0000, 12, 14, &mut out);
            got.extend_from_slice(&out[..n]);
            if n < out.len() {
                break;
            }
            let (base, bits) = out[n - 1];
            start = base + (1 << bits);
        }
        assert_eq!(got, all);
    }

    /// Reference: mark every aligned 2^min chunk inside the range, then merge buddies bottom-up.
    fn split_reference(start: u64, end: u64, min: u32, max: u32) -> Vec<(u64, u32)> {
        let mut blocks: Vec<u64> = (0..end >> min)
            .map(|i| i << min)
            .filter(|&b| b >= start && b + (1 << min) <= end)
            .collect();
        let mut result: Vec<(u64, u32)> = Vec::new();
        let mut bits = min;
        while !blocks.is_empty() {
            let mut merged = Vec::new();
            let mut i = 0;
            while i < blocks.len() {
                let b = blocks[i];
                let buddy_pair = bits < max
                    && b.is_multiple_of(1 << (bits + 1))
                    && blocks.get(i + 1) == Some(&(b + (1 << bits)));
                if buddy_pair {
                    merged.push(b);
                    i += 2;
                } else {
                    result.push((b, bits));
                    i += 1;
                }
            }
            blocks = merged;
            bits += 1;
        }
        result.sort();
        result
    }

    #[test]
    fn split_randomized_against_buddy_merge() {
        let mut rng = Rng::new(11);
        for _ in 0..20_000 {
            let a = rng.below(5000) as u64;
            let b = rng.below(5000) as u64;
            let min = rng.below(6) as u32;
            let max = min + rng.below(9) as u32;
            let got = split(a, b, min, max);
            assert_eq!(
                got,
                split_reference(a, b, min, max),
                "[{a:#x}, {b:#x}) {min}..={max}"
            );
            for &(base, bits) in &got {
                assert!((min..=max).contains(&bits));
                assert_eq!(base % (1 << bits), 0);
            }
        }
    }

    #[test]
    fn untyped_fields_are_checked() {
        assert_eq!(check_untyped(0x10000, 16, 0), Ok(()));
        assert_eq!(check_untyped(0x10000, 16, 1 << 16), Ok(()));
        assert!(check_untyped(0x10000, 16, (1 << 16) + 1).is_err());
        assert!(check_untyped(0x11000, 16, 0).is_err());
        assert!(check_untyped(0, 64, 0).is_err());
    }

    #[test]
    fn children_must_lie_in_the_used_part() {
        // An untyped at 0x10000 of 64 KiB with 16 KiB used.
        let (base, free) = (0x10000, 0x4000);
        assert_eq!(check_child(base, free, 0x10000, 12), Ok(()));
        assert_eq!(check_child(base, free, 0x13000, 12), Ok(()));
        assert_eq!(check_child(base, free, 0x10000, 14), Ok(()));
        // Past the watermark, below the base, misaligned, too big.
        assert!(check_child(base, free, 0x14000, 12).is_err());
        assert!(check_child(base, free, 0xf000, 12).is_err());
        assert!(check_child(base, free, 0x10800, 12).is_err());
        assert!(check_child(base, free, 0x10000, 15).is_err());
        assert!(check_child(base, free, u64::MAX & !0xfff, 12).is_err());
        // Every allocation `allocate` makes passes.
        let mut watermark = 0;
        for bits in [12, 4, 14, 10, 12] {
            let a = allocate(16, watermark, bits, 2).unwrap();
            watermark = a.new_free_offset;
            for i in 0..2 {
                let at = base + a.first_offset + (i << bits);
                assert_eq!(check_child(base, watermark, at, bits), Ok(()));
            }
        }
    }
}
