//! [`Extensions`]: typed values stored on a socket or a server, one per type.

use std::any::{Any, TypeId};
use std::sync::Arc;

use parking_lot::RwLock;

type Value = Arc<dyn Any + Send + Sync>;

/// A map from a type to one shared value of it: a list, since each holds a handful of types
/// (every socket has one, and an idle socket's is empty).
#[derive(Default)]
pub(crate) struct Extensions(RwLock<Vec<(TypeId, Value)>>);

/// The value stored for `T` in `values`.
fn find<T: Any + Send + Sync>(values: &[(TypeId, Value)]) -> Option<Arc<T>> {
    values
        .iter()
        .find(|(id, _)| *id == TypeId::of::<T>())
        .and_then(|(_, v)| v.clone().downcast::<T>().ok())
}

impl Extensions {
    /// Store `value`, replacing any value of the same type.
    pub(crate) fn insert<T: Any + Send + Sync>(&self, value: T) {
        let mut values = self.0.write();
        values.retain(|(id, _)| *id != TypeId::of::<T>());
        values.push((TypeId::of::<T>(), Arc::new(value)));
    }

    /// The value of type `T`, if stored.
    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        find(&self.0.read())
    }

    /// The value of type `T`, stored from `init` first if there is none (once, however
    /// many callers race).
    pub(crate) fn get_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        if let Some(value) = self.get::<T>() {
            return value;
        }
        let mut values = self.0.write();
        if let Some(value) = find(&values) {
            return value;
        }
        let fresh = Arc::new(init());
        values.push((TypeId::of::<T>(), fresh.clone()));
        fresh
    }

    /// Remove the value of type `T`.
    pub(crate) fn remove<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let mut values = self.0.write();
        let at = values.iter().position(|(id, _)| *id == TypeId::of::<T>())?;
        let (_, value) = values.swap_remove(at);
        value.downcast::<T>().ok()
    }

    /// Remove every value.
    pub(crate) fn clear(&self) {
        *self.0.write() = Vec::new();
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
