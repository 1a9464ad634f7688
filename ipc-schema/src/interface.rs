//! [`interface!`](crate::interface): one interface version, declared once; its metadata, server
//! trait, dispatch function and client stub generated from the declaration.

/// Declares one version of an interface in the current module and generates, beside the
/// declaration:
///
/// - `NAME`, `INTERFACE` (the id), `VERSION`, `INFO` ([`InterfaceInfo`](crate::InterfaceInfo)),
///   `OPS` ([`OpInfo`](crate::OpInfo) per op) and `mod op` (each op's number, by op name);
/// - `fn label(op) -> u64`: the request label of an op of this version;
/// - `trait Server`: one method per op, `fn op(&mut self, caller: &mut Caller, args...) ->
///   Result<T, E>`;
/// - `fn dispatch<S: Server>(server, caller, label, request, reply) -> (reply label, words)`:
///   decodes a request, calls the method, encodes its result; answers every label it does not
///   serve and every request that does not decode with an [`IpcError`](crate::IpcError) reply;
/// - `struct Client<T: Transport>`: one method per op, `fn op(&self, args...) -> Result<T,
///   CallError<E>>`.
///
/// ```
/// mod counter {
///     pub mod v1 {
///         use serde::{Deserialize, Serialize};
///
///         #[derive(Debug, PartialEq, Serialize, Deserialize)]
///         pub enum CounterError { Overflow }
///
///         ipc_schema::interface! {
///             interface counter = 0x7000, version 1;
///
///             /// The current count.
///             0 => idempotent fn get() -> Result<u64, ipc_schema::Never>;
///             /// Adds `n`; returns the new count.
///             1 => non_idempotent fn add(n: u64) -> Result<u64, CounterError>;
///             /// Sends a notification capability to signal at `target`.
///             2 => idempotent fn watch(target: u64) + cap notification -> Result<(), CounterError>;
///             /// A capability to a read-only view of the counter.
///             3 => idempotent fn view() -> Result<(), CounterError> + cap view;
///         }
///     }
/// }
/// use counter::v1;
///
/// struct Count(u64);
/// impl v1::Server for Count {
///     fn get(&mut self, _: &mut ipc_schema::Caller) -> Result<u64, ipc_schema::Never> {
///         Ok(self.0)
///     }
///     fn add(&mut self, _: &mut ipc_schema::Caller, n: u64) -> Result<u64, v1::CounterError> {
///         self.0 = self.0.checked_add(n).ok_or(v1::CounterError::Overflow)?;
///         Ok(self.0)
///     }
///     fn watch(&mut self, caller: &mut ipc_schema::Caller, _: u64) -> Result<(), v1::CounterError> {
///         let _notification = caller.take_cap();
///         Ok(())
///     }
///     fn view(&mut self, caller: &mut ipc_schema::Caller) -> Result<(), v1::CounterError> {
///         caller.reply_with_cap(ipc_schema::CapSlot(40));
///         Ok(())
///     }
/// }
///
/// let client = v1::Client::new(ipc_schema::Local::new(Count(0), v1::dispatch::<Count>));
/// assert_eq!(client.add(5), Ok(5));
/// assert_eq!(client.get(), Ok(5));
/// assert_eq!(client.view(ipc_schema::CapSlot(12)), Ok(()));
/// assert_eq!(v1::OPS[1].name, "add");
/// assert!(!v1::OPS[1].idempotent);
/// ```
///
/// Grammar: `interface NAME = ID, version N;` then per op: doc comments, `NUMBER =>`,
/// `idempotent` or `non_idempotent` (mandatory: the supervisor decides re-delivery on it),
/// `fn name(arg: Type, ...)`, optionally `+ cap slot_name` (the request carries a capability),
/// `-> Result<T, E>`, optionally `+ cap slot_name` (a successful reply carries one), `;`.
/// Numbers must strictly increase (checked at compile time). Argument and result types are serde
/// types of bounded size; name generic types through an alias (`type Value = Vec<u8, 64>;`).
///
/// A number used twice, or out of order, does not compile:
///
/// ```compile_fail,E0080
/// ipc_schema::interface! {
///     interface bad = 0x7001, version 1;
///     1 => idempotent fn a() -> Result<(), ipc_schema::Never>;
///     1 => idempotent fn b() -> Result<(), ipc_schema::Never>;
/// }
/// ```
///
/// Nor does an op that does not say whether it is idempotent:
///
/// ```compile_fail
/// ipc_schema::interface! {
///     interface bad = 0x7001, version 1;
///     0 => fn a() -> Result<(), ipc_schema::Never>;
/// }
/// ```
#[macro_export]
macro_rules! interface {
    (
        interface $name:ident = $id:expr, version $version:literal;
        $(
            $(#[$attr:meta])*
            $number:literal => $idempotence:ident fn $op:ident ( $($arg:ident : $arg_ty:ty),* $(,)? )
                $(+ cap $cap_in:ident)?
                -> Result<$ok:ty, $err:ty>
                $(+ cap $cap_out:ident)?;
        )*
    ) => {
        #[doc = concat!("The interface's name: `", stringify!($name), "`.")]
        pub const NAME: &str = stringify!($name);
        /// The interface's id, the same in every version.
        pub const INTERFACE: u16 = $id;
        /// This version's number.
        pub const VERSION: u8 = $version;

        /// Each op's number, by op name.
        #[allow(non_upper_case_globals)]
        pub mod op {
            $(
                #[doc = concat!("The number of op `", stringify!($op), "`.")]
                pub const $op: u16 = $number;
            )*
        }

        /// Every op of this version, in number order.
        pub const OPS: &[$crate::OpInfo] = &[$(
            $crate::OpInfo {
                name: stringify!($op),
                number: $number,
                idempotent: $crate::__idempotence!($idempotence),
                sends_cap: $crate::__cap_flag!($($cap_in)?),
                returns_cap: $crate::__cap_flag!($($cap_out)?),
            },
        )*];

        /// This interface version, as data.
        pub const INFO: $crate::InterfaceInfo = $crate::InterfaceInfo {
            name: NAME,
            id: INTERFACE,
            version: VERSION,
            ops: OPS,
        };

        const _: () = $crate::meta::check_ops(OPS);

        /// The request label of op `op` of this version.
        pub const fn label(op: u16) -> u64 {
            $crate::label(INTERFACE, VERSION, op)
        }

        #[doc = concat!("A server of `", stringify!($name), "` version ", stringify!($version),
            ": one method per op. `caller` carries the caller's badge and the capabilities \
            moving with the request and its reply.")]
        pub trait Server {
            $(
                $(#[$attr])*
                fn $op(&mut self, caller: &mut $crate::Caller $(, $arg: $arg_ty)*)
                    -> ::core::result::Result<$ok, $err>;
            )*
        }

        /// Serves one request: decodes it, calls `server`'s method, encodes the result into
        /// `reply`. Returns the reply label and the number of reply words. Never panics: a
        /// request for another interface or version, an unknown op or words that do not decode
        /// get an `IpcError` reply, and the server is not called.
        pub fn dispatch<S: Server + ?Sized>(
            server: &mut S,
            caller: &mut $crate::Caller,
            label: u64,
            request: &[u64],
            reply: &mut [u64; $crate::MSG_WORDS],
        ) -> (u64, usize) {
            let number = match $crate::check_label(label, INTERFACE, VERSION) {
                Ok(number) => number,
                Err(e) => return e.reply(),
            };
            match number {
                $(
                    $number => $crate::server::serve_op(
                        caller,
                        request,
                        reply,
                        $crate::__cap_flag!($($cap_in)?),
                        $crate::__cap_flag!($($cap_out)?),
                        |caller, ($($arg,)*): ($($arg_ty,)*)| {
                            <S as Server>::$op(server, caller $(, $arg)*)
                        },
                    ),
                )*
                _ => $crate::IpcError::UnknownOp.reply(),
            }
        }

        #[doc = concat!("A client of `", stringify!($name), "` version ", stringify!($version),
            " over any `Transport`: one method per op.")]
        #[derive(Clone, Copy, Debug)]
        pub struct Client<T> {
            transport: T,
        }

        impl<T: $crate::Transport> Client<T> {
            pub const fn new(transport: T) -> Self {
                Client { transport }
            }

            pub fn transport(&self) -> &T {
                &self.transport
            }

            pub fn into_transport(self) -> T {
                self.transport
            }

            $(
                $(#[$attr])*
                pub fn $op(
                    &self
                    $(, $arg: $arg_ty)*
                    $(, $cap_in: $crate::CapSlot)?
                    $(, $cap_out: $crate::CapSlot)?
                ) -> ::core::result::Result<$ok, $crate::CallError<$err>> {
                    $crate::client::call::<T, ($($arg_ty,)*), $ok, $err>(
                        &self.transport,
                        $crate::label(INTERFACE, VERSION, $number),
                        &($($arg,)*),
                        $crate::__cap_slot!($($cap_in)?),
                        $crate::__cap_slot!($($cap_out)?),
                    )
                }
            )*
        }
    };
}

/// `idempotent` -> true, `non_idempotent` -> false, anything else a compile error.
#[doc(hidden)]
#[macro_export]
macro_rules! __idempotence {
    (idempotent) => {
        true
    };
    (non_idempotent) => {
        false
    };
    ($other:ident) => {
        compile_error!(concat!(
            "an op is `idempotent` or `non_idempotent`, not `",
            stringify!($other),
            "`"
        ))
    };
}

/// Whether an optional `+ cap name` was given.
#[doc(hidden)]
#[macro_export]
macro_rules! __cap_flag {
    () => {
        false
    };
    ($slot:ident) => {
        true
    };
}

/// The optional capability slot argument of a client method.
#[doc(hidden)]
#[macro_export]
macro_rules! __cap_slot {
    () => {
        ::core::option::Option::None
    };
    ($slot:ident) => {
        ::core::option::Option::Some($slot)
    };
}
