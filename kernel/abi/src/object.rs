//! Kernel object types, their sizes, capability rights and mapping attributes.

/// Types of objects an Untyped can be retyped into. Values are the `type` argument of
/// `UntypedRetype`.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    Untyped = 0,
    Tcb = 1,
    Endpoint = 2,
    Notification = 3,
    /// A CNode of `2^size_bits` slots.
    CNode = 4,
    /// A 4 KiB frame.
    Frame = 5,
    /// A page table at any level below the root (the kernel picks the level when it is mapped).
    PageTable = 6,
    /// The root of an address space (a top-level page table with an ASID).
    VSpace = 7,
    /// A transactional memory region of `2^size_bits` bytes: one header page and a pool of undo
    /// frames (see `TxRegionAddRange`).
    TxRegion = 8,
    /// Snapshot storage of `2^size_bits` bytes: one header page and `2^size_bits / 4096 - 1`
    /// page frames, enough for a region of that many pages (see `TxRegionSnapshotBegin`).
    Snapshot = 9,
}

/// log2 of the size of a TCB object.
pub const TCB_BITS: u32 = 11;
/// log2 of the size of an endpoint object.
pub const ENDPOINT_BITS: u32 = 4;
/// log2 of the size of a notification object.
pub const NOTIFICATION_BITS: u32 = 5;
/// log2 of the size of one CNode slot.
pub const SLOT_BITS: u32 = 6;
/// The smallest and largest Untyped objects.
pub const UNTYPED_MIN_BITS: u32 = 4;
pub const UNTYPED_MAX_BITS: u32 = 47;
/// The largest CNode radix.
pub const CNODE_MAX_RADIX: u32 = 16;
/// The smallest and largest TxRegion objects: a header page plus 1..=127 undo frames.
pub const TX_REGION_MIN_BITS: u32 = 13;
pub const TX_REGION_MAX_BITS: u32 = 19;
/// The smallest and largest Snapshot objects: a header page plus 1..=1023 page frames.
pub const SNAPSHOT_MIN_BITS: u32 = 13;
pub const SNAPSHOT_MAX_BITS: u32 = 22;

impl ObjectType {
    pub const fn from_u64(n: u64) -> Option<ObjectType> {
        Some(match n {
            0 => ObjectType::Untyped,
            1 => ObjectType::Tcb,
            2 => ObjectType::Endpoint,
            3 => ObjectType::Notification,
            4 => ObjectType::CNode,
            5 => ObjectType::Frame,
            6 => ObjectType::PageTable,
            7 => ObjectType::VSpace,
            8 => ObjectType::TxRegion,
            9 => ObjectType::Snapshot,
            _ => return None,
        })
    }

    /// log2 of the size in bytes of one object of this type. `size_bits` is the user's argument:
    /// the size of an Untyped, the radix of a CNode; ignored for fixed-size types.
    /// `None` if `size_bits` is out of range for the type.
    pub const fn object_bits(self, size_bits: u32) -> Option<u32> {
        match self {
            ObjectType::Untyped => {
                if size_bits >= UNTYPED_MIN_BITS && size_bits <= UNTYPED_MAX_BITS {
                    Some(size_bits)
                } else {
                    None
                }
            }
            ObjectType::CNode => {
                if size_bits >= 1 && size_bits <= CNODE_MAX_RADIX {
                    Some(size_bits + SLOT_BITS)
                } else {
                    None
                }
            }
            ObjectType::TxRegion => {
                if size_bits >= TX_REGION_MIN_BITS && size_bits <= TX_REGION_MAX_BITS {
                    Some(size_bits)
                } else {
                    None
                }
            }
            ObjectType::Snapshot => {
                if size_bits >= SNAPSHOT_MIN_BITS && size_bits <= SNAPSHOT_MAX_BITS {
                    Some(size_bits)
                } else {
                    None
                }
            }
            ObjectType::Tcb => Some(TCB_BITS),
            ObjectType::Endpoint => Some(ENDPOINT_BITS),
            ObjectType::Notification => Some(NOTIFICATION_BITS),
            ObjectType::Frame | ObjectType::PageTable | ObjectType::VSpace => {
                Some(crate::PAGE_BITS)
            }
        }
    }
}

/// Rights of a capability. Endpoint: `WRITE` to send, `READ` to receive, `GRANT` to pass
/// capabilities along with messages. Frame: `READ`/`WRITE` bound the mapping rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct CapRights(pub u64);

impl CapRights {
    pub const NONE: CapRights = CapRights(0);
    pub const READ: CapRights = CapRights(1);
    pub const WRITE: CapRights = CapRights(2);
    pub const GRANT: CapRights = CapRights(4);
    pub const ALL: CapRights = CapRights(7);
    pub const READ_WRITE: CapRights = CapRights(3);

    pub const fn contains(self, other: CapRights) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn intersect(self, other: CapRights) -> CapRights {
        CapRights(self.0 & other.0 & Self::ALL.0)
    }

    pub const fn union(self, other: CapRights) -> CapRights {
        CapRights((self.0 | other.0) & Self::ALL.0)
    }
}

/// Mapping attributes of a frame, the `attrs` argument of `FrameMap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct VmAttributes(pub u64);

impl VmAttributes {
    pub const NONE: VmAttributes = VmAttributes(0);
    /// The mapping may be executed.
    pub const EXECUTE: VmAttributes = VmAttributes(1);
    /// Device memory: uncached, no speculation (for device registers).
    pub const DEVICE: VmAttributes = VmAttributes(2);

    pub const fn contains(self, other: VmAttributes) -> bool {
        self.0 & other.0 == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_sizes() {
        assert_eq!(ObjectType::CNode.object_bits(4), Some(4 + SLOT_BITS));
        assert_eq!(ObjectType::CNode.object_bits(0), None);
        assert_eq!(ObjectType::Untyped.object_bits(3), None);
        assert_eq!(ObjectType::Untyped.object_bits(20), Some(20));
        assert_eq!(ObjectType::Frame.object_bits(99), Some(12));
        for n in 0..10 {
            assert_eq!(ObjectType::from_u64(n).unwrap() as u64, n);
        }
        assert_eq!(ObjectType::from_u64(10), None);
        assert_eq!(ObjectType::Snapshot.object_bits(12), None);
        assert_eq!(ObjectType::Snapshot.object_bits(22), Some(22));
        assert_eq!(ObjectType::Snapshot.object_bits(23), None);
        assert_eq!(ObjectType::TxRegion.object_bits(12), None);
        assert_eq!(ObjectType::TxRegion.object_bits(16), Some(16));
    }

    #[test]
    fn rights() {
        assert!(CapRights::ALL.contains(CapRights::GRANT));
        assert!(!CapRights::READ.contains(CapRights::READ_WRITE));
        assert_eq!(CapRights::ALL.intersect(CapRights::WRITE), CapRights::WRITE);
        assert_eq!(CapRights(0xff).intersect(CapRights(0xff)), CapRights::ALL);
    }
}
