//! Malformed requests: each kind gets the right `IpcError`, the handler is never called for
//! one, and no input makes a dispatch panic (100 000 random messages through every dispatch).

use ipc_schema::interfaces::{ALL, find_op};
use ipc_schema::testing::{DISPATCHES, Stub, dispatch_all, sample_requests};
use ipc_schema::{Caller, IpcError, Label, MSG_WORDS, REPLY_DELIVERED, kv, label};
use std::collections::BTreeMap;

/// xorshift64*: small, deterministic, good enough to spread test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn samples() -> Vec<(u64, Vec<u64>)> {
    let mut out = Vec::new();
    sample_requests(&mut |label, words| out.push((label, words.to_vec())));
    out
}

/// Sends one message through `dispatch_all` with a fresh stub; returns the reply label and
/// whether a handler ran. Checks what holds for every reply.
fn send(label: u64, words: &[u64], cap: bool) -> (u64, bool) {
    let mut stub = Stub::default();
    let mut caller = Caller::new(3, cap.then_some(ipc_schema::CapSlot(9)));
    let mut reply = [0; MSG_WORDS];
    let (reply_label, reply_words) = dispatch_all(&mut stub, &mut caller, label, words, &mut reply);
    check_reply(reply_label, reply_words, stub.calls);
    (reply_label, stub.calls == 1)
}

fn check_reply(reply_label: u64, reply_words: usize, calls: u64) {
    assert!(reply_words <= MSG_WORDS);
    if reply_label == REPLY_DELIVERED {
        assert_eq!(calls, 1, "a delivered reply comes from exactly one handler");
    } else {
        assert!(
            IpcError::from_code(reply_label).is_some(),
            "reply label {reply_label:#x}"
        );
        assert_eq!(reply_words, 0, "an error reply carries no words");
        assert_eq!(calls, 0, "no handler runs for a malformed request");
    }
}

fn error(e: IpcError) -> (u64, bool) {
    (e.code(), false)
}

fn with_label(label: u64, f: impl FnOnce(&mut Label)) -> u64 {
    let mut l = Label::from_u64(label).unwrap();
    f(&mut l);
    l.to_u64()
}

#[test]
fn every_sample_request_is_delivered() {
    let samples = samples();
    for (label, words) in &samples {
        let (_, op) = find_op(*label).expect("a sample of a known op");
        assert_eq!(send(*label, words, op.sends_cap), (REPLY_DELIVERED, true));
    }
    for info in ALL {
        for op in info.ops {
            let l = label(info.id, info.version, op.number);
            assert!(
                samples.iter().any(|(s, _)| *s == l),
                "no sample of {} v{} {}",
                info.name,
                info.version,
                op.name
            );
        }
    }
}

#[test]
fn each_kind_of_malformed_request_gets_its_error() {
    for (label, words) in samples() {
        let (info, op) = find_op(label).unwrap();
        let cap = op.sends_cap;
        let newest = ALL
            .iter()
            .filter(|i| i.id == info.id)
            .map(|i| i.version)
            .max();
        let unknown_version = with_label(label, |l| l.version = newest.unwrap() + 1);
        assert_eq!(
            send(unknown_version, &words, cap),
            error(IpcError::UnsupportedVersion)
        );
        let version_0 = with_label(label, |l| l.version = 0);
        assert_eq!(
            send(version_0, &words, cap),
            error(IpcError::UnsupportedVersion)
        );
        let past_last_op = info.ops.last().unwrap().number + 1;
        let unknown_op = with_label(label, |l| l.op = past_last_op);
        assert_eq!(send(unknown_op, &words, cap), error(IpcError::UnknownOp));
        let unknown_interface = with_label(label, |l| l.interface = 0x7777);
        assert_eq!(
            send(unknown_interface, &words, cap),
            error(IpcError::UnknownInterface)
        );
        assert_eq!(
            send(label | 1 << 50, &words, cap),
            error(IpcError::UnknownInterface)
        );
        if let Some((_, shorter)) = words.split_last() {
            assert_eq!(
                send(label, shorter, cap),
                error(IpcError::Decode),
                "truncated"
            );
        }
        for extra in [0, 1, u64::MAX] {
            let mut longer = words.clone();
            longer.push(extra);
            assert_eq!(
                send(label, &longer, cap),
                error(IpcError::Decode),
                "extra word"
            );
        }
        assert_eq!(
            send(label, &[0; MSG_WORDS + 1], cap),
            error(IpcError::Decode)
        );
        if op.sends_cap {
            assert_eq!(
                send(label, &words, false),
                error(IpcError::MissingCapability)
            );
        }
    }
}

#[test]
fn nonzero_padding_and_out_of_range_values_are_refused() {
    let get = kv::v1::label(kv::v1::op::get);
    assert_eq!(send(get, &[42], false), (REPLY_DELIVERED, true));
    assert_eq!(send(get, &[42 | 0xff << 8], false), error(IpcError::Decode));
    // A varint longer than a u64.
    assert_eq!(
        send(get, &[u64::MAX, u64::MAX], false),
        error(IpcError::Decode)
    );
    // A 65-byte v1 value (the length byte says 65).
    let put = kv::v1::label(kv::v1::op::put);
    let mut words = vec![0; 10];
    words[0] = 1 | 65 << 8;
    assert_eq!(send(put, &words, false), error(IpcError::Decode));
    // A v2 key that is not UTF-8.
    let get2 = kv::v2::label(kv::v2::op::get);
    assert_eq!(send(get2, &[0xff_01], false), error(IpcError::Decode));
    // An Option tag of 2.
    let list = kv::v1::label(kv::v1::op::list);
    assert_eq!(send(list, &[2], false), error(IpcError::Decode));
    // An enum variant that does not exist (LogLevel has 6).
    let set_level = ipc_schema::console::v1::label(ipc_schema::console::v1::op::set_log_level);
    assert_eq!(send(set_level, &[0x06_00], false), error(IpcError::Decode));
    assert_eq!(send(set_level, &[0x05_00], false), (REPLY_DELIVERED, true));
}

/// The error `dispatch_all` must answer a label with, before looking at the words (`None`: the
/// label is fine, the words decide).
fn label_error(label: u64) -> Option<IpcError> {
    let Some(l) = Label::from_u64(label) else {
        return Some(IpcError::UnknownInterface);
    };
    let versions: Vec<_> = ALL.iter().filter(|i| i.id == l.interface).collect();
    let Some(info) = versions.iter().find(|i| i.version == l.version) else {
        return Some(if versions.is_empty() {
            IpcError::UnknownInterface
        } else {
            IpcError::UnsupportedVersion
        });
    };
    info.op(l.op).is_none().then_some(IpcError::UnknownOp)
}

#[test]
fn random_messages_never_panic_and_get_the_right_error() {
    let samples = samples();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    let mut words = Vec::with_capacity(MSG_WORDS + 1);
    for _ in 0..100_000 {
        words.clear();
        let label = match rng.below(4) {
            // Anything at all.
            0 => {
                let n = rng.below(MSG_WORDS as u64 + 2);
                words.extend((0..n).map(|_| rng.next()));
                match rng.below(3) {
                    0 => rng.next(),
                    _ => rng.next() & ((1 << 40) - 1),
                }
            }
            // A real op of a real interface version, random short words of small bytes.
            1 => {
                let info = &ALL[rng.below(ALL.len() as u64) as usize];
                let op = match rng.below(8) {
                    0 => rng.next() as u16,
                    _ => info.ops[rng.below(info.ops.len() as u64) as usize].number,
                };
                let n = rng.below(8);
                for _ in 0..n {
                    let mask = [0x0101_0101_0101_0101, 0x0303_0303_0303_0303, u64::MAX]
                        [rng.below(3) as usize];
                    words.push(rng.next() & mask);
                }
                label(info.id, info.version, op)
            }
            // A valid request, mutated.
            _ => {
                let (label, sample) = &samples[rng.below(samples.len() as u64) as usize];
                words.extend_from_slice(sample);
                let mut label = *label;
                for _ in 0..1 + rng.below(3) {
                    match rng.below(6) {
                        0 if !words.is_empty() => {
                            let i = rng.below(words.len() as u64) as usize;
                            words[i] ^= 1 << rng.below(64);
                        }
                        1 if !words.is_empty() => {
                            let i = rng.below(words.len() as u64) as usize;
                            let shift = 8 * rng.below(8);
                            words[i] = words[i] & !(0xff << shift) | (rng.below(256) << shift);
                        }
                        2 => words.truncate(rng.below(words.len() as u64 + 1) as usize),
                        3 => words.push([0, 1, rng.next()][rng.below(3) as usize]),
                        4 => label ^= 1 << rng.below(41),
                        _ => {}
                    }
                }
                label
            }
        };
        let cap = rng.below(4) != 0;
        let (reply_label, delivered) = send(label, &words, cap);
        let outcome = match IpcError::from_code(reply_label) {
            None => "delivered",
            Some(e) => e.name(),
        };
        *outcomes.entry(outcome).or_default() += 1;
        match label_error(label) {
            Some(e) => assert_eq!((reply_label, delivered), error(e), "label {label:#x}"),
            None => assert!(
                delivered
                    || reply_label == IpcError::Decode.code()
                    || reply_label == IpcError::MissingCapability.code(),
                "label {label:#x} words {words:x?}: {reply_label:#x}"
            ),
        }
        // The same message through each interface's own dispatch.
        for (_, dispatch) in DISPATCHES {
            let mut stub = Stub::default();
            let mut caller = Caller::new(3, cap.then_some(ipc_schema::CapSlot(9)));
            let mut reply = [0; MSG_WORDS];
            let (l, n) = dispatch(&mut stub, &mut caller, label, &words, &mut reply);
            check_reply(l, n, stub.calls);
        }
    }
    println!("{outcomes:#?}");
    for outcome in [
        "delivered",
        IpcError::Decode.name(),
        IpcError::UnknownOp.name(),
        IpcError::UnsupportedVersion.name(),
        IpcError::UnknownInterface.name(),
        IpcError::MissingCapability.name(),
    ] {
        assert!(
            outcomes.get(outcome).copied().unwrap_or(0) > 100,
            "{outcome}: {outcomes:?}"
        );
    }
}

#[test]
fn the_kv_adapter_never_panics_on_random_v1_requests() {
    // Through the adapter, into a real (model-free) v2 stub: decoding happens before adaptation.
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let op = rng.below(5) as u16;
        let n = rng.below(12) as usize;
        let words: Vec<u64> = (0..n).map(|_| rng.next() & 0x7f7f_7f7f_7f7f_7f7f).collect();
        let mut stub = Stub::default();
        let mut reply = [0; MSG_WORDS];
        let (l, w) = kv::dispatch(
            &mut stub,
            &mut Caller::new(1, None),
            label(4, 1, op),
            &words,
            &mut reply,
        );
        check_reply(l, w, stub.calls.min(1));
    }
}
