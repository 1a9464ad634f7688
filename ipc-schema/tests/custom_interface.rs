//! An interface defined outside this crate, as a server crate would: the macro's paths, numbering
//! gaps (ops retired in a later version keep their numbers free), trailing commas, many
//! arguments, and dispatch through a trait object.

use ipc_schema::{CallError, Caller, IpcError, Local, MSG_WORDS, Never};
use serde::{Deserialize, Serialize};

pub mod echo {
    pub mod v3 {
        use super::super::*;

        pub type Blob = heapless::Vec<u8, 600>;

        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct Point {
            pub x: i32,
            pub y: i32,
        }

        ipc_schema::interface! {
            interface echo = 0x7100, version 3;

            /// Returns its argument.
            0 => idempotent fn echo(blob: Blob,) -> Result<Blob, Never>;
            /// Many arguments of many types.
            2 => non_idempotent fn mix(
                a: u8,
                b: i64,
                c: bool,
                d: Option<Point>,
                e: (u16, char),
            ) -> Result<(u8, i64, bool, Option<Point>, (u16, char)), ()>;
            /// Fails on purpose.
            7 => idempotent fn fail() -> Result<Never, u32>;
        }
    }
}

use echo::v3;

struct Echo;

impl v3::Server for Echo {
    fn echo(&mut self, _: &mut Caller, blob: v3::Blob) -> Result<v3::Blob, Never> {
        Ok(blob)
    }

    #[allow(clippy::type_complexity)]
    fn mix(
        &mut self,
        _: &mut Caller,
        a: u8,
        b: i64,
        c: bool,
        d: Option<v3::Point>,
        e: (u16, char),
    ) -> Result<(u8, i64, bool, Option<v3::Point>, (u16, char)), ()> {
        Ok((a, b, c, d, e))
    }

    fn fail(&mut self, _: &mut Caller) -> Result<Never, u32> {
        Err(404)
    }
}

fn dyn_dispatch(
    server: &mut Box<dyn v3::Server>,
    caller: &mut Caller,
    label: u64,
    request: &[u64],
    reply: &mut [u64; MSG_WORDS],
) -> (u64, usize) {
    v3::dispatch(server.as_mut(), caller, label, request, reply)
}

#[test]
fn a_custom_interface_round_trips() {
    let t = Local::new(Box::new(Echo) as Box<dyn v3::Server>, dyn_dispatch);
    let client = v3::Client::new(&t);
    let blob = v3::Blob::from_slice(&[0xee; 600]).unwrap();
    assert_eq!(
        client.echo(blob.clone()).map_err(CallError::into_ipc),
        Ok(blob)
    );
    assert_eq!(t.last().request_words, 76);
    let point = Some(v3::Point { x: -1, y: i32::MAX });
    assert_eq!(
        client.mix(7, i64::MIN, true, point.clone(), (9, 'λ')),
        Ok((7, i64::MIN, true, point, (9, 'λ')))
    );
    assert_eq!(client.fail(), Err(CallError::Op(404)));
    assert_eq!(
        v3::OPS.iter().map(|o| o.number).collect::<Vec<_>>(),
        [0, 2, 7]
    );
    assert_eq!((v3::NAME, v3::INTERFACE, v3::VERSION), ("echo", 0x7100, 3));
    assert_eq!(v3::op::fail, 7);
}

#[test]
fn a_too_large_argument_fails_before_sending() {
    // 600 bytes of blob fit; a blob of 960 would not, and the client says so itself.
    pub mod big {
        pub mod v1 {
            pub type Huge = heapless::Vec<u8, 1000>;
            ipc_schema::interface! {
                interface big = 0x7200, version 1;
                0 => idempotent fn send(data: Huge) -> Result<(), ipc_schema::Never>;
            }
        }
    }
    struct Sink;
    impl big::v1::Server for Sink {
        fn send(&mut self, _: &mut Caller, _: big::v1::Huge) -> Result<(), Never> {
            Ok(())
        }
    }
    let t = Local::new(Sink, big::v1::dispatch);
    let client = big::v1::Client::new(&t);
    let huge = big::v1::Huge::from_slice(&[1; 1000]).unwrap();
    assert_eq!(client.send(huge), Err(CallError::Ipc(IpcError::TooLarge)));
    assert_eq!(t.calls(), 0);
    let fits = big::v1::Huge::from_slice(&[1; 958]).unwrap();
    assert_eq!(client.send(fits), Ok(()));
    assert_eq!(t.last().request_words, MSG_WORDS);
}
