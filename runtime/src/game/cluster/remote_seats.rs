//! The seats this node's sockets hold in matches other nodes host: each forwards its
//! socket's inputs to the host and tells it when the socket drops; the host's snapshots and
//! events for it arrive here and go into the socket's queue. When the host is lost, the
//! sockets hear `match-ended` with reason `node lost`.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::super::member::latest_key;
use crate::socketio::{ErasedHandler, Payload, Socket, SocketId};

/// One seat a socket of this node holds in a match another node hosts.
#[derive(Debug, Clone)]
pub(crate) struct RemoteSeat {
    pub(crate) host: u64,
    pub(crate) match_id: u64,
    pub(crate) socket: Socket,
    pub(crate) input_event: String,
}

impl RemoteSeat {
    /// The key of its socket's disconnect hook (one per match the socket plays).
    pub(crate) fn hook_key(&self) -> u64 {
        latest_key(self.host, self.match_id)
    }
}

/// The remote seats of this node's sockets.
#[derive(Default)]
pub(crate) struct RemoteSeats {
    seats: Mutex<HashMap<(SocketId, u64, u64), Wired>>,
}

/// A seat, with the input handler it set on its socket (removed with the seat, unless a
/// seat of another match has replaced it by then).
struct Wired {
    seat: RemoteSeat,
    input: Option<ErasedHandler>,
}

impl RemoteSeats {
    /// Wire `seat`: its socket's inputs go to `forward`, its drop to `dropped`. False when
    /// the socket is gone already.
    pub(crate) fn add(
        &self,
        seat: RemoteSeat,
        forward: impl Fn(Payload) + Send + Sync + 'static,
        dropped: impl FnOnce() + Send + 'static,
    ) -> bool {
        let socket = seat.socket.clone();
        let key = (socket.socket_id(), seat.host, seat.match_id);
        if !socket.set_disconnect_hook(seat.hook_key(), move |_, _| dropped()) {
            return false;
        }
        let input = socket.on_kept(&seat.input_event, move |_, payload: Payload, _| {
            forward(payload);
            async {}
        });
        self.seats.lock().insert(key, Wired { seat, input });
        true
    }

    /// The host released the seat of `socket` in match `match_id`: stop forwarding.
    pub(crate) fn release(&self, socket: &SocketId, host: u64, match_id: u64) {
        let wired = self.seats.lock().remove(&(socket.clone(), host, match_id));
        if let Some(wired) = wired {
            unwire(&wired);
        }
    }

    /// Forget the seat (its socket dropped; the hook has fired).
    pub(crate) fn forget(&self, socket: &SocketId, host: u64, match_id: u64) {
        self.seats.lock().remove(&(socket.clone(), host, match_id));
    }

    /// Every seat in matches of `host`, removed and unwired (the host is gone).
    pub(crate) fn take_hosted_by(&self, host: u64) -> Vec<RemoteSeat> {
        let mut seats = self.seats.lock();
        let keys: Vec<_> = seats
            .keys()
            .filter(|(_, h, _)| *h == host)
            .cloned()
            .collect();
        let taken: Vec<Wired> = keys.iter().filter_map(|k| seats.remove(k)).collect();
        drop(seats);
        for wired in &taken {
            unwire(wired);
        }
        taken.into_iter().map(|wired| wired.seat).collect()
    }

    /// The hosts of the seats held here.
    pub(crate) fn hosts(&self) -> Vec<u64> {
        let mut hosts: Vec<u64> = self.seats.lock().keys().map(|(_, h, _)| *h).collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }
}

fn unwire(Wired { seat, input }: &Wired) {
    if let Some(input) = input {
        seat.socket.off_if(&seat.input_event, input);
    }
    seat.socket.clear_disconnect_hook(seat.hook_key());
}
