//! Dotted field paths (`address.city`) into the workflow data.
//!
//! Transform targets and `watch` entries name fields this way. Setting a path
//! creates the objects on the way; removing one leaves its parents in place.

use serde_json::{Map, Value};

/// A non-empty dotted path whose segments are non-empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath {
    text: String,
}

impl FieldPath {
    /// Parses `a.b.c`; an empty path or an empty segment is refused with a reason.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("a field path must not be empty".into());
        }
        if text.split('.').any(str::is_empty) {
            return Err(format!(
                "\"{text}\" has an empty segment; write segments separated by single dots, like \"address.city\""
            ));
        }
        Ok(Self { text: text.to_owned() })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.text.split('.')
    }

    pub fn first(&self) -> &str {
        self.text.split('.').next().unwrap_or_default()
    }

    /// True when one path is the other or lies inside it (a change to either touches both).
    pub fn overlaps(&self, other: &FieldPath) -> bool {
        let (short, long) =
            if self.text.len() <= other.text.len() { (&self.text, &other.text) } else { (&other.text, &self.text) };
        long == short || (long.starts_with(short.as_str()) && long.as_bytes()[short.len()] == b'.')
    }

    /// The value at this path, if every step is an object holding the next key.
    pub fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.segments().try_fold(root, |value, segment| value.as_object()?.get(segment))
    }

    /// Sets the value, replacing non-objects on the way by objects. Returns the old value.
    pub fn set(&self, root: &mut Value, value: Value) -> Option<Value> {
        let mut segments = self.segments().peekable();
        let mut current = root;
        while let Some(segment) = segments.next() {
            if !current.is_object() {
                *current = Value::Object(Map::new());
            }
            let Value::Object(map) = current else {
                return None;
            };
            if segments.peek().is_none() {
                return match map.get_mut(segment) {
                    Some(slot) => Some(std::mem::replace(slot, value)),
                    None => map.insert(segment.to_owned(), value),
                };
            }
            current = map.entry(segment.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        }
        None
    }

    /// Removes the value at this path. Returns what was there.
    pub fn remove(&self, root: &mut Value) -> Option<Value> {
        let (parent, last) = match self.text.rsplit_once('.') {
            Some((parent, last)) => (Some(parent), last),
            None => (None, self.text.as_str()),
        };
        let container = match parent {
            Some(parent) => {
                parent.split('.').try_fold(root, |value, segment| value.as_object_mut()?.get_mut(segment))?
            }
            None => root,
        };
        container.as_object_mut()?.shift_remove(last)
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text).unwrap()
    }

    #[test]
    fn empty_paths_and_segments_are_refused() {
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse(".a").is_err());
    }

    #[test]
    fn set_creates_parents_and_returns_the_old_value() {
        let mut data = json!({"a": 1});
        assert_eq!(path("b.c").set(&mut data, json!(2)), None);
        assert_eq!(path("a").set(&mut data, json!(3)), Some(json!(1)));
        assert_eq!(data, json!({"a": 3, "b": {"c": 2}}));
        assert_eq!(path("a.x").set(&mut data, json!(4)), None);
        assert_eq!(data, json!({"a": {"x": 4}, "b": {"c": 2}}));
    }

    #[test]
    fn remove_leaves_parents_and_ignores_missing() {
        let mut data = json!({"a": {"b": 1, "c": 2}});
        assert_eq!(path("a.b").remove(&mut data), Some(json!(1)));
        assert_eq!(path("a.z.q").remove(&mut data), None);
        assert_eq!(data, json!({"a": {"c": 2}}));
    }

    #[test]
    fn overlap_is_prefix_by_segment() {
        assert!(path("a").overlaps(&path("a.b")));
        assert!(path("a.b").overlaps(&path("a")));
        assert!(path("a.b").overlaps(&path("a.b")));
        assert!(!path("a").overlaps(&path("ab")));
        assert!(!path("a.b").overlaps(&path("a.c")));
    }
}
