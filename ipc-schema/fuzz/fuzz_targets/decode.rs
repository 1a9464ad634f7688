//! Arbitrary bytes, read as a message (label, words, whether a capability came along), through
//! every interface's dispatch. A dispatch must never panic, and its reply must be well formed:
//! at most `MSG_WORDS` words; an error reply has a known code, no words, and ran no handler.
//!
//! The first byte picks how the rest becomes a message: raw (any label, any words), a real
//! interface version with a chosen op and arbitrary words, or a valid sample request with the
//! rest of the input XORed into it (so the fuzzer starts deep inside the decoders).
#![no_main]

use ipc_schema::interfaces::ALL;
use ipc_schema::testing::{DISPATCHES, Stub, sample_requests};
use ipc_schema::{Caller, CapSlot, IpcError, MSG_WORDS, REPLY_DELIVERED, label};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn samples() -> &'static [(u64, Vec<u64>)] {
    static SAMPLES: OnceLock<Vec<(u64, Vec<u64>)>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let mut out = Vec::new();
        sample_requests(&mut |label, words| out.push((label, words.to_vec())));
        out
    })
}

/// Bytes as little-endian words, the last one zero-padded; at most `MSG_WORDS + 1` words.
fn words_of(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks(8)
        .take(MSG_WORDS + 1)
        .map(|c| {
            let mut le = [0; 8];
            le[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(le)
        })
        .collect()
}

fn byte(data: &[u8], i: usize) -> u8 {
    data.get(i).copied().unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (label, words) = match mode % 3 {
        0 => {
            let mut le = [0; 8];
            let n = rest.len().min(8);
            le[..n].copy_from_slice(&rest[..n]);
            (
                u64::from_le_bytes(le),
                words_of(rest.get(8..).unwrap_or(&[])),
            )
        }
        1 => {
            let info = &ALL[usize::from(byte(rest, 0)) % ALL.len()];
            let op = u16::from_le_bytes([byte(rest, 1), byte(rest, 2)]);
            let op = if mode & 0x40 == 0 {
                info.ops[usize::from(op) % info.ops.len()].number
            } else {
                op
            };
            let words = words_of(rest.get(3..).unwrap_or(&[]));
            (label(info.id, info.version, op), words)
        }
        _ => {
            let samples = samples();
            let (label, sample) = &samples[usize::from(byte(rest, 0)) % samples.len()];
            let mut words = sample.clone();
            // Byte 1 trims or extends the sample, the rest is XORed into it.
            let length = usize::from(byte(rest, 1));
            words.resize(length.min(words.len() + 2), 0);
            for (w, x) in words.iter_mut().zip(words_of(rest.get(2..).unwrap_or(&[]))) {
                *w ^= x;
            }
            (*label, words)
        }
    };
    let cap = mode & 0x80 != 0;
    for (name, dispatch) in DISPATCHES {
        let mut stub = Stub::default();
        let mut caller = Caller::new(1, cap.then_some(CapSlot(9)));
        let mut reply = [0; MSG_WORDS];
        let (reply_label, reply_words) =
            dispatch(&mut stub, &mut caller, label, &words, &mut reply);
        assert!(
            reply_words <= MSG_WORDS,
            "{name}: {reply_words} reply words"
        );
        if reply_label == REPLY_DELIVERED {
            assert!(stub.calls >= 1, "{name}: delivered without a handler");
        } else {
            assert!(
                IpcError::from_code(reply_label).is_some(),
                "{name}: unknown reply label {reply_label:#x}"
            );
            assert_eq!(reply_words, 0, "{name}: words with an error reply");
            assert_eq!(stub.calls, 0, "{name}: a handler ran for a refused request");
        }
    }
});
