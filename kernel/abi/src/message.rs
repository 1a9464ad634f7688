//! The message-info word and the IPC buffer.

/// Message registers carried in CPU registers; the rest live in the IPC buffer.
pub const MSG_REGISTERS_IN_CPU: usize = 4;
/// The largest message, in words.
pub const MSG_MAX_LENGTH: usize = 120;
/// The most capabilities one message may carry.
pub const MSG_MAX_EXTRA_CAPS: usize = 3;

/// The message-info word, laid out as seL4's `seL4_MessageInfo`:
/// `label (52 bits) | caps_unwrapped (3) | extra_caps (2) | length (7)`.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[repr(transparent)]
pub struct MessageInfo(pub u64);

impl MessageInfo {
    const LENGTH_BITS: u32 = 7;
    const EXTRA_CAPS_SHIFT: u32 = 7;
    const UNWRAPPED_SHIFT: u32 = 9;
    const LABEL_SHIFT: u32 = 12;

    /// A message with `label`, `length` words (clamped to [`MSG_MAX_LENGTH`]) and `extra_caps`
    /// capabilities (clamped to [`MSG_MAX_EXTRA_CAPS`]).
    pub const fn new(label: u64, extra_caps: usize, length: usize) -> MessageInfo {
        let length = if length > MSG_MAX_LENGTH {
            MSG_MAX_LENGTH
        } else {
            length
        };
        let extra_caps = if extra_caps > MSG_MAX_EXTRA_CAPS {
            MSG_MAX_EXTRA_CAPS
        } else {
            extra_caps
        };
        MessageInfo(
            (label << Self::LABEL_SHIFT)
                | ((extra_caps as u64) << Self::EXTRA_CAPS_SHIFT)
                | length as u64,
        )
    }

    pub const fn label(self) -> u64 {
        self.0 >> Self::LABEL_SHIFT
    }

    /// Length in words, clamped to [`MSG_MAX_LENGTH`] whatever the raw bits say.
    pub const fn length(self) -> usize {
        let l = (self.0 & ((1 << Self::LENGTH_BITS) - 1)) as usize;
        if l > MSG_MAX_LENGTH {
            MSG_MAX_LENGTH
        } else {
            l
        }
    }

    pub const fn extra_caps(self) -> usize {
        let n = ((self.0 >> Self::EXTRA_CAPS_SHIFT) & 0b11) as usize;
        if n > MSG_MAX_EXTRA_CAPS {
            MSG_MAX_EXTRA_CAPS
        } else {
            n
        }
    }

    /// Bit i set: extra capability i was not transferred but unwrapped into its badge.
    pub const fn caps_unwrapped(self) -> u64 {
        (self.0 >> Self::UNWRAPPED_SHIFT) & 0b111
    }

    pub const fn with_caps_unwrapped(self, mask: u64) -> MessageInfo {
        MessageInfo(
            (self.0 & !(0b111 << Self::UNWRAPPED_SHIFT))
                | ((mask & 0b111) << Self::UNWRAPPED_SHIFT),
        )
    }

    pub const fn with_extra_caps(self, n: usize) -> MessageInfo {
        MessageInfo::new(self.label(), n, self.length()).with_caps_unwrapped(self.caps_unwrapped())
    }
}

impl core::fmt::Debug for MessageInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MessageInfo")
            .field("label", &self.label())
            .field("length", &self.length())
            .field("extra_caps", &self.extra_caps())
            .field("caps_unwrapped", &self.caps_unwrapped())
            .finish()
    }
}

/// The per-thread IPC buffer: one page-aligned structure in a frame the thread registers with
/// `TcbConfigure`. Message register i for i >= 4 is `msg[i]`; `msg[0..4]` is scratch space the
/// runtime may use to spill the CPU registers.
#[repr(C)]
pub struct IpcBuffer {
    pub tag: u64,
    pub msg: [u64; MSG_MAX_LENGTH],
    pub user_data: u64,
    /// Send side: capability pointers to transfer. Receive side: badges of unwrapped caps.
    pub caps_or_badges: [u64; MSG_MAX_EXTRA_CAPS],
    /// Receive side: the CNode (a cptr in the receiver's root CNode; 0 means the root CNode
    /// itself) and slot index where a received capability is placed. Index 0 = accept none.
    pub receive_cnode: u64,
    pub receive_index: u64,
    pub receive_depth: u64,
    /// Verified transactions (`TxRegionSetVerify`): the counter when the open request was
    /// delivered, written by the kernel at delivery. Both runs of a request read the same time
    /// here, where the counter itself would differ between them.
    pub request_time: u64,
}

const _: () = assert!(core::mem::size_of::<IpcBuffer>() <= crate::PAGE_SIZE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let m = MessageInfo::new(0xabcdef, 2, 77);
        assert_eq!(m.label(), 0xabcdef);
        assert_eq!(m.extra_caps(), 2);
        assert_eq!(m.length(), 77);
        let m = m.with_caps_unwrapped(0b101);
        assert_eq!(m.caps_unwrapped(), 0b101);
        assert_eq!(m.label(), 0xabcdef);
        assert_eq!(m.with_extra_caps(1).extra_caps(), 1);
    }

    #[test]
    fn out_of_range_values_are_clamped() {
        let m = MessageInfo::new(1, 9, 500);
        assert_eq!(m.length(), MSG_MAX_LENGTH);
        assert_eq!(m.extra_caps(), MSG_MAX_EXTRA_CAPS);
        // Raw words from user space may hold anything.
        let raw = MessageInfo(u64::MAX);
        assert!(raw.length() <= MSG_MAX_LENGTH);
        assert!(raw.extra_caps() <= MSG_MAX_EXTRA_CAPS);
    }
}
