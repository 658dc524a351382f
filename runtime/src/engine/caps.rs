//! Connection caps: most open sessions in all, and from one peer address.
//!
//! A session takes its place before its actor starts ([`ConnectionCaps::admit`]) and gives it
//! back when it leaves the registry ([`ConnectionCaps::release`]), so the count is exact
//! whatever the transport and however the session ends.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;

/// Why a new session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CapRefusal {
    /// `max_connections` sessions are open.
    Total,
    /// `max_connections_per_ip` sessions are open from this address.
    PerIp,
}

impl CapRefusal {
    /// The reason as logged and counted.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CapRefusal::Total => "max_connections",
            CapRefusal::PerIp => "max_connections_per_ip",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    open: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The open-session counts of one server, against its caps.
#[derive(Debug)]
pub(crate) struct ConnectionCaps {
    max: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

impl ConnectionCaps {
    pub(crate) fn new(max: usize, max_per_ip: usize) -> ConnectionCaps {
        ConnectionCaps {
            max,
            max_per_ip,
            counts: Mutex::default(),
        }
    }

    /// Take a place for a new session from `ip`, or refuse.
    pub(crate) fn admit(&self, ip: Option<IpAddr>) -> Result<(), CapRefusal> {
        let mut counts = self.counts.lock();
        if counts.open >= self.max {
            return Err(CapRefusal::Total);
        }
        if let Some(ip) = ip {
            let from_ip = counts.per_ip.entry(ip).or_default();
            if *from_ip >= self.max_per_ip {
                return Err(CapRefusal::PerIp);
            }
            *from_ip += 1;
        }
        counts.open += 1;
        Ok(())
    }

    /// Give back the place of a session from `ip`.
    pub(crate) fn release(&self, ip: Option<IpAddr>) {
        let mut counts = self.counts.lock();
        counts.open = counts.open.saturating_sub(1);
        if let Some(ip) = ip {
            if let Some(from_ip) = counts.per_ip.get_mut(&ip) {
                *from_ip -= 1;
                if *from_ip == 0 {
                    // No entry outlives the last session of its address.
                    counts.per_ip.remove(&ip);
                }
            }
        }
    }

    /// Addresses with open sessions (for tests: nothing outlives its sessions).
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.counts.lock().per_ip.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn the_total_and_the_per_address_caps_hold_and_places_come_back() {
        let caps = ConnectionCaps::new(3, 2);
        assert_eq!(caps.admit(ip(1)), Ok(()));
        assert_eq!(caps.admit(ip(1)), Ok(()));
        assert_eq!(caps.admit(ip(1)), Err(CapRefusal::PerIp));
        assert_eq!(caps.admit(ip(2)), Ok(()));
        assert_eq!(caps.admit(ip(3)), Err(CapRefusal::Total));
        caps.release(ip(1));
        assert_eq!(caps.admit(ip(3)), Ok(()));
        for addr in [ip(1), ip(2), ip(3)] {
            caps.release(addr);
        }
        assert_eq!(caps.addresses(), 0);
        // Sessions without a known peer count toward the total only.
        let caps = ConnectionCaps::new(1, 1);
        assert_eq!(caps.admit(None), Ok(()));
        assert_eq!(caps.admit(None), Err(CapRefusal::Total));
    }
}
