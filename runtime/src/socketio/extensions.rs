//! [`Extensions`]: typed values stored on a socket or a server, one per type.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

/// A map from a type to one shared value of it.
#[derive(Default)]
pub(crate) struct Extensions(RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Extensions {
    /// Store `value`, replacing any value of the same type.
    pub(crate) fn insert<T: Any + Send + Sync>(&self, value: T) {
        self.0.write().insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if stored.
    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let map = self.0.read();
        map.get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }

    /// The value of type `T`, stored from `init` first if there is none (once, however
    /// many callers race).
    pub(crate) fn get_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        if let Some(value) = self.get::<T>() {
            return value;
        }
        let mut map = self.0.write();
        let stored = map
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok());
        if let Some(value) = stored {
            return value;
        }
        let fresh = Arc::new(init());
        map.insert(TypeId::of::<T>(), fresh.clone());
        fresh
    }

    /// Remove the value of type `T`.
    pub(crate) fn remove<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0
            .write()
            .remove(&TypeId::of::<T>())
            .and_then(|v| v.downcast::<T>().ok())
    }

    /// Remove every value.
    pub(crate) fn clear(&self) {
        self.0.write().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type_initialized_once() {
        let ext = Extensions::default();
        assert_eq!(*ext.get_or_init(|| 7u32), 7);
        assert_eq!(*ext.get_or_init(|| 8u32), 7);
        ext.insert("text");
        assert_eq!(ext.get::<&str>().as_deref(), Some(&"text"));
        assert_eq!(ext.remove::<u32>().as_deref(), Some(&7));
        assert!(ext.get::<u32>().is_none());
        ext.clear();
        assert!(ext.get::<&str>().is_none());
    }
}
