//! The room index of one namespace: its sockets, and who is in which room.
//!
//! Rooms are an index, not actors: `join` is immediate (under a lock), a broadcast right
//! after a join reaches the new member, `to(a).to(b)` reads both rooms in one pass with no
//! duplicates, and fan-out takes no mailbox hop. A room exists while it has members.
//!
//! Each socket's own room (named by its id) is implicit: the index finds the socket by its
//! id, so the room costs an idle socket nothing. Another socket may still join a room of
//! that name; its members are then the room's entry and the socket itself.

use std::collections::{HashMap, HashSet};

use parking_lot::RwLock;

use super::adapter::Targets;
use super::socket::{Socket, SocketId};

/// One namespace's sockets and rooms.
#[derive(Default)]
pub(crate) struct RoomIndex {
    sockets: RwLock<HashMap<SocketId, Socket>>,
    rooms: RwLock<HashMap<String, HashSet<SocketId>>>,
}

impl RoomIndex {
    /// Add a socket unless `refuse` says no (checked under the sockets' lock); returns
    /// whether it was added.
    pub(crate) fn insert(&self, socket: &Socket, refuse: impl FnOnce() -> bool) -> bool {
        let mut sockets = self.sockets.write();
        if refuse() {
            return false;
        }
        sockets.insert(socket.socket_id(), socket.clone());
        true
    }

    /// Remove a socket and its memberships of `rooms`; returns whether the index is empty
    /// afterwards.
    pub(crate) fn remove(&self, sid: &SocketId, rooms: &[String]) -> bool {
        let now_empty = {
            let mut sockets = self.sockets.write();
            sockets.remove(sid);
            sockets.is_empty()
        };
        let mut index = self.rooms.write();
        for room in rooms {
            if let Some(members) = index.get_mut(room.as_str()) {
                members.remove(sid);
                if members.is_empty() {
                    index.remove(room.as_str());
                }
            }
        }
        now_empty
    }

    /// Run `f` with the sockets' lock held if there are no sockets; returns its answer, or
    /// false when there are sockets.
    pub(crate) fn if_empty(&self, f: impl FnOnce() -> bool) -> bool {
        let sockets = self.sockets.write();
        sockets.is_empty() && f()
    }

    pub(crate) fn join(&self, sid: &SocketId, room: String) {
        self.rooms
            .write()
            .entry(room)
            .or_default()
            .insert(sid.clone());
    }

    pub(crate) fn leave(&self, sid: &SocketId, room: &str) {
        let mut rooms = self.rooms.write();
        if let Some(members) = rooms.get_mut(room) {
            members.remove(sid);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    pub(crate) fn get(&self, sid: &str) -> Option<Socket> {
        self.sockets.read().get(sid).cloned()
    }

    pub(crate) fn socket_count(&self) -> usize {
        self.sockets.read().len()
    }

    /// Every room with members, the sockets' own rooms included.
    #[cfg(feature = "redis")]
    pub(crate) fn room_names(&self) -> Vec<String> {
        let sockets = self.sockets.read();
        let rooms = self.rooms.read();
        let own = own_rooms_unlisted(&sockets, &rooms).map(|sid| sid.to_string());
        rooms.keys().cloned().chain(own).collect()
    }

    /// Rooms with members, the sockets' own rooms included.
    pub(crate) fn room_count(&self) -> usize {
        let sockets = self.sockets.read();
        let rooms = self.rooms.read();
        rooms.len() + own_rooms_unlisted(&sockets, &rooms).count()
    }

    /// Memberships of rooms, each socket's of its own room included.
    pub(crate) fn membership_count(&self) -> usize {
        let own = self
            .sockets
            .read()
            .values()
            .filter(|s| s.in_own_room())
            .count();
        own + self.rooms.read().values().map(HashSet::len).sum::<usize>()
    }

    pub(crate) fn room_size(&self, room: &str) -> usize {
        let own = self.own_room_member(&self.sockets.read(), room).is_some();
        usize::from(own) + self.rooms.read().get(room).map_or(0, HashSet::len)
    }

    /// The socket whose own room `room` is, if it is in it.
    fn own_room_member<'a>(
        &self,
        sockets: &'a HashMap<SocketId, Socket>,
        room: &str,
    ) -> Option<&'a Socket> {
        sockets.get(room).filter(|s| s.in_own_room())
    }

    /// The sockets `targets` names now: members of its rooms (every socket when none),
    /// each once, minus members of its excluded rooms and its excluded socket.
    pub(crate) fn select(&self, targets: &Targets) -> Vec<Socket> {
        let sockets = self.sockets.read();
        let rooms = self.rooms.read();
        let mut excluded: HashSet<&str> = HashSet::new();
        for room in &targets.except {
            if let Some(members) = rooms.get(room) {
                excluded.extend(members.iter().map(|sid| &**sid));
            }
            if let Some(socket) = self.own_room_member(&sockets, room) {
                excluded.insert(socket.id());
            }
        }
        if let Some(sid) = &targets.except_sid {
            excluded.insert(&**sid);
        }
        let keep = |sid: &SocketId| !excluded.contains(&**sid);
        if targets.rooms.is_empty() {
            return sockets
                .iter()
                .filter(|(sid, _)| keep(sid))
                .map(|(_, s)| s.clone())
                .collect();
        }
        let mut seen: HashSet<&SocketId> = HashSet::new();
        let mut out = Vec::new();
        for room in &targets.rooms {
            if let Some((sid, socket)) = sockets.get_key_value(room.as_str()) {
                if socket.in_own_room() && keep(sid) && seen.insert(sid) {
                    out.push(socket.clone());
                }
            }
            for sid in rooms.get(room).into_iter().flatten() {
                if keep(sid) && seen.insert(sid) {
                    if let Some(s) = sockets.get(sid) {
                        out.push(s.clone());
                    }
                }
            }
        }
        out
    }
}

/// The ids of the sockets in their own room whose room has no entry of its own (no other
/// socket joined it): the rooms an index's entries leave out.
fn own_rooms_unlisted<'a>(
    sockets: &'a HashMap<SocketId, Socket>,
    rooms: &'a HashMap<String, HashSet<SocketId>>,
) -> impl Iterator<Item = &'a SocketId> {
    sockets
        .iter()
        .filter(move |(sid, s)| s.in_own_room() && !rooms.contains_key(&***sid))
        .map(|(sid, _)| sid)
}
