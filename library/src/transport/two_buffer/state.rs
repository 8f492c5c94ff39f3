//! The buffer state machine: the five states of a buffer's `buffer_state` byte, who owns each,
//! and the legal transitions with the memory ordering each one needs.
//!
//! Every change is a compare-and-swap on the state byte, so two processes racing on one byte can
//! never both win. A transition that takes ownership of a buffer's contents uses `Acquire` (it must
//! see everything the previous owner wrote or read); one that hands the buffer over uses `Release`
//! (everything written or read before it is visible to the next owner first).

use std::sync::atomic::{AtomicU8, Ordering};

/// The value of a buffer's `buffer_state` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BufferState {
    /// 0: free for the server to fill (owned by the server).
    Server = 0,
    /// 1: the server is writing a frame into it.
    ServerLocked = 1,
    /// 2: holds a complete frame the client has not read yet (owned by the client).
    Client = 2,
    /// 3: the client is reading it, between lock and unlock.
    ClientLocked = 3,
    /// 4: initialised by a server, no client attached (owned by the client side).
    Init = 4,
}

/// Which side of the stream owns a buffer in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The writer (server) side.
    Server,
    /// The reader (client) side.
    Client,
}

impl BufferState {
    /// The state for a raw byte, or `None` for a value no state machine participant writes
    /// (a corrupt or hostile file).
    pub fn from_u8(value: u8) -> Option<BufferState> {
        Some(match value {
            0 => BufferState::Server,
            1 => BufferState::ServerLocked,
            2 => BufferState::Client,
            3 => BufferState::ClientLocked,
            4 => BufferState::Init,
            _ => return None,
        })
    }

    /// The C macro name of this state (`IMAGESTREAM_BUFFER_STATE_*`, without the prefix).
    pub fn name(self) -> &'static str {
        match self {
            BufferState::Server => "SERVER",
            BufferState::ServerLocked => "SERVER_LOCKED",
            BufferState::Client => "CLIENT",
            BufferState::ClientLocked => "CLIENT_LOCKED",
            BufferState::Init => "INIT",
        }
    }

    /// Who owns a buffer in this state.
    pub fn owner(self) -> Owner {
        match self {
            BufferState::Server | BufferState::ServerLocked => Owner::Server,
            BufferState::Client | BufferState::ClientLocked | BufferState::Init => Owner::Client,
        }
    }
}

/// A legal change of a buffer's state, with the ordering its compare-and-swap uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state the byte must hold for the change to happen.
    pub from: BufferState,
    /// The state the byte holds afterwards.
    pub to: BufferState,
    /// Memory ordering of a successful swap.
    pub ordering: Ordering,
}

const fn t(from: BufferState, to: BufferState, ordering: Ordering) -> Transition {
    Transition { from, to, ordering }
}

use BufferState as S;
use Ordering::{Acquire, Release};

/// Server takes a free buffer to write into (0 → 1); acquires the client's last reads.
pub const SERVER_BEGIN: Transition = t(S::Server, S::ServerLocked, Acquire);
/// Server publishes a complete frame (1 → 2).
pub const SERVER_PUBLISH: Transition = t(S::ServerLocked, S::Client, Release);
/// Server gives back a buffer it took but did not fill (1 → 0), e.g. a cancelled `beginframe`.
pub const SERVER_ABANDON: Transition = t(S::ServerLocked, S::Server, Release);
/// Client takes a complete frame to read (2 → 3); acquires the server's pixel writes.
pub const CLIENT_LOCK: Transition = t(S::Client, S::ClientLocked, Acquire);
/// Client is done reading (3 → 0).
pub const CLIENT_UNLOCK: Transition = t(S::ClientLocked, S::Server, Release);
/// Client drops an unread older frame (2 → 0).
pub const CLIENT_DROP: Transition = t(S::Client, S::Server, Release);
/// Client attaches to a buffer a server initialised (4 → 0).
pub const ATTACH_INIT: Transition = t(S::Init, S::Server, Release);
/// Client attaches to a buffer holding an unread frame of an earlier session (2 → 0).
pub const ATTACH_UNREAD: Transition = t(S::Client, S::Server, Release);
/// Client attaches to a buffer an earlier client left locked (3 → 0).
pub const ATTACH_LOCKED: Transition = t(S::ClientLocked, S::Server, Release);
/// Client detaches from a free buffer (0 → 4).
pub const DETACH_FREE: Transition = t(S::Server, S::Init, Acquire);
/// Client detaches from a buffer holding an unread frame (2 → 4).
pub const DETACH_UNREAD: Transition = t(S::Client, S::Init, Acquire);

impl Transition {
    /// Applies the transition to `cell` with one compare-and-swap. Returns `Ok(())` when the byte
    /// held `from` and now holds `to`, else `Err` with the byte's current value (unchanged).
    #[inline]
    pub fn apply(self, cell: &AtomicU8) -> Result<(), u8> {
        cell.compare_exchange(
            self.from as u8,
            self.to as u8,
            self.ordering,
            Ordering::Relaxed,
        )
        .map(|_| ())
    }
}

/// The owner-side view of a state read from memory, `None` for bytes outside the state machine.
#[inline]
pub fn load(cell: &AtomicU8) -> Option<BufferState> {
    BufferState::from_u8(cell.load(Ordering::Acquire))
}

/// Whether frame number `a` is newer than `b`, comparing with wrap-around:
/// `(int32_t)(a - b) > 0`.
#[inline]
pub fn is_newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Transition; 11] = [
        SERVER_BEGIN,
        SERVER_PUBLISH,
        SERVER_ABANDON,
        CLIENT_LOCK,
        CLIENT_UNLOCK,
        CLIENT_DROP,
        ATTACH_INIT,
        ATTACH_UNREAD,
        ATTACH_LOCKED,
        DETACH_FREE,
        DETACH_UNREAD,
    ];

    #[test]
    fn from_u8_round_trips_and_rejects_unknown_values() {
        for v in 0..=255u8 {
            match BufferState::from_u8(v) {
                Some(s) => assert_eq!(s as u8, v),
                None => assert!(v > 4),
            }
        }
    }

    #[test]
    fn transition_applies_only_from_its_source_state() {
        for tr in ALL {
            for v in 0..=5u8 {
                let cell = AtomicU8::new(v);
                let r = tr.apply(&cell);
                if v == tr.from as u8 {
                    assert_eq!(r, Ok(()));
                    assert_eq!(cell.load(Ordering::Relaxed), tr.to as u8);
                } else {
                    assert_eq!(r, Err(v));
                    assert_eq!(cell.load(Ordering::Relaxed), v);
                }
            }
        }
    }

    #[test]
    fn orderings_follow_ownership() {
        // Taking a buffer whose contents another party touched last acquires; handing one over
        // releases.
        for tr in [SERVER_BEGIN, CLIENT_LOCK, DETACH_FREE, DETACH_UNREAD] {
            assert_eq!(tr.ordering, Acquire, "{tr:?}");
        }
        for tr in [
            SERVER_PUBLISH,
            SERVER_ABANDON,
            CLIENT_UNLOCK,
            CLIENT_DROP,
            ATTACH_INIT,
            ATTACH_UNREAD,
            ATTACH_LOCKED,
        ] {
            assert_eq!(tr.ordering, Release, "{tr:?}");
        }
    }

    #[test]
    fn two_threads_racing_on_one_byte_never_both_win() {
        for _ in 0..200 {
            let cell = AtomicU8::new(BufferState::Client as u8);
            let wins = std::thread::scope(|s| {
                let a = s.spawn(|| CLIENT_LOCK.apply(&cell).is_ok());
                let b = s.spawn(|| CLIENT_DROP.apply(&cell).is_ok());
                [a.join().unwrap(), b.join().unwrap()]
            });
            assert_eq!(wins.iter().filter(|w| **w).count(), 1);
        }
    }

    #[test]
    fn wraparound_comparison() {
        assert!(is_newer(1, 0));
        assert!(!is_newer(0, 1));
        assert!(!is_newer(5, 5));
        assert!(is_newer(0, u32::MAX));
        assert!(is_newer(3, u32::MAX - 3));
        assert!(!is_newer(u32::MAX, 0));
    }

    #[test]
    fn owners() {
        assert_eq!(BufferState::Init.owner(), Owner::Client);
        assert_eq!(BufferState::ServerLocked.owner(), Owner::Server);
        assert_eq!(BufferState::Server.name(), "SERVER");
    }
}
