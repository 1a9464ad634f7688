//! Interface metadata, as data: what the supervisor, the shell and the tests read about an
//! interface without speaking it (op names, numbers, idempotence, capabilities carried).

use crate::wire::Label;

/// One op of one interface version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    pub name: &'static str,
    /// The op's number in the request label; within a version, numbers only grow in declaration
    /// order and are never reused.
    pub number: u16,
    /// Running the op twice leaves the same state and has the same effects as running it once
    /// (its second reply may differ, e.g. `NotFound` after a delete). The supervisor may
    /// re-deliver an idempotent request whose transaction was aborted.
    pub idempotent: bool,
    /// The request carries a capability.
    pub sends_cap: bool,
    /// A successful reply carries a capability.
    pub returns_cap: bool,
}

/// One version of one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub name: &'static str,
    pub id: u16,
    pub version: u8,
    pub ops: &'static [OpInfo],
}

impl InterfaceInfo {
    /// The op numbered `number`.
    pub fn op(&self, number: u16) -> Option<&'static OpInfo> {
        self.ops.iter().find(|op| op.number == number)
    }

    /// The op named `name`.
    pub fn op_named(&self, name: &str) -> Option<&'static OpInfo> {
        self.ops.iter().find(|op| op.name == name)
    }

    /// The op a request label addresses, if it addresses this interface version.
    pub fn op_of_label(&self, label: u64) -> Option<&'static OpInfo> {
        Label::from_u64(label)
            .filter(|l| l.interface == self.id && l.version == self.version)
            .and_then(|l| self.op(l.op))
    }
}

/// The interface version and op a request label addresses, among `interfaces`.
pub fn find_op(
    interfaces: &'static [InterfaceInfo],
    label: u64,
) -> Option<(&'static InterfaceInfo, &'static OpInfo)> {
    interfaces
        .iter()
        .find_map(|i| i.op_of_label(label).map(|op| (i, op)))
}

/// Compile-time check of an op table: numbers strictly increase in declaration order (so none is
/// used twice, and a new op is appended with a higher number).
pub const fn check_ops(ops: &[OpInfo]) {
    let mut i = 1;
    while i < ops.len() {
        assert!(
            ops[i].number > ops[i - 1].number,
            "op numbers must strictly increase in declaration order"
        );
        i += 1;
    }
}
