//! Arbitrary bytes as an image description, through both of its parsers:
//!
//! - the host's TOML parser (`axolotl_image::parse`, what `cargo xtask` runs on
//!   `images/*.toml` and `tests/scenarios/*.toml`): it must never panic; a description it accepts
//!   must pass `validate`, encode, and decode back to the same value;
//! - the root task's decoder (`axolotl_image::decode`, postcard from the boot archive): it must
//!   never panic, and whatever it accepts obeys every rule (`validate`) and re-encodes to a
//!   description that decodes to the same value.
#![no_main]

use axolotl_image::{MAX_ENCODED_LEN, decode, encode, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok((desc, _test)) = parse("fuzz.toml", text)
    {
        desc.validate().expect("a parsed description is valid");
        let mut buf = vec![0u8; MAX_ENCODED_LEN];
        let bytes = encode(&desc, &mut buf).expect("a valid description encodes");
        assert_eq!(decode(bytes).expect("and decodes"), desc);
    }
    if let Ok(desc) = decode(data) {
        desc.validate().expect("a decoded description is valid");
        let mut buf = vec![0u8; MAX_ENCODED_LEN];
        let bytes = encode(&desc, &mut buf).expect("a decoded description encodes");
        assert_eq!(decode(bytes).expect("and decodes again"), desc);
    }
});
