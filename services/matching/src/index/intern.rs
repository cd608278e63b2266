//! Compact storage helpers: a cheap hasher, a string interner and
//! linked posting lists. At a million addresses the per-entry overhead of
//! `HashMap<String, Vec<_>>` would dominate memory.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// splitmix64 finaliser.
#[inline]
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a over the bytes, then mixed. Deterministic across runs.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct MixBuild;

#[derive(Default)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 = mix(self.0 ^ u64::from_le_bytes(buf));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0 ^ n);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for MixBuild {
    type Hasher = MixHasher;
    fn build_hasher(&self) -> MixHasher {
        MixHasher(0)
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, MixBuild>;

/// Step used for open addressing on top of a `u64 → id` map: strings are
/// stored once (in `strings`) and looked up by hash, colliding hashes probe
/// onward.
const PROBE_STEP: u64 = 0x9e37_79b9_7f4a_7c15;

#[derive(Default)]
pub(crate) struct Interner {
    strings: Vec<Box<str>>,
    slots: FastMap<u64, u32>,
}

impl Interner {
    pub fn get(&self, s: &str) -> Option<u32> {
        let mut h = hash_str(s);
        loop {
            let id = *self.slots.get(&h)?;
            if &*self.strings[id as usize] == s {
                return Some(id);
            }
            h = h.wrapping_add(PROBE_STEP);
        }
    }

    /// Returns the id and whether the string was new.
    pub fn intern(&mut self, s: &str) -> (u32, bool) {
        let mut h = hash_str(s);
        loop {
            match self.slots.get(&h) {
                None => {
                    let id = self.strings.len() as u32;
                    self.strings.push(s.into());
                    self.slots.insert(h, id);
                    return (id, true);
                }
                Some(&id) if &*self.strings[id as usize] == s => return (id, false),
                Some(_) => h = h.wrapping_add(PROBE_STEP),
            }
        }
    }

    pub fn resolve(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }

    pub fn shrink_to_fit(&mut self) {
        self.strings.shrink_to_fit();
        self.slots.shrink_to_fit();
    }
}

/// Many small posting lists (`u64 key → [u32]`) sharing one arena: each
/// list is a singly linked chain of 8-byte nodes instead of a 24-byte `Vec`
/// header plus its own allocation.
#[derive(Default)]
pub(crate) struct Postings {
    heads: FastMap<u64, u32>,
    nodes: Vec<(u32, u32)>,
}

const NIL: u32 = u32::MAX;

impl Postings {
    pub fn push(&mut self, key: u64, value: u32) {
        let next = self.heads.get(&key).copied().unwrap_or(NIL);
        let node = self.nodes.len() as u32;
        self.nodes.push((value, next));
        self.heads.insert(key, node);
    }

    pub fn contains(&self, key: u64, value: u32) -> bool {
        self.iter(key).any(|v| v == value)
    }

    pub fn iter(&self, key: u64) -> impl Iterator<Item = u32> + '_ {
        let mut cur = self.heads.get(&key).copied().unwrap_or(NIL);
        std::iter::from_fn(move || {
            let (value, next) = *self.nodes.get(cur as usize)?;
            cur = next;
            Some(value)
        })
    }

    pub fn shrink_to_fit(&mut self) {
        self.heads.shrink_to_fit();
        self.nodes.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_round_trips() {
        let mut i = Interner::default();
        let (a, new_a) = i.intern("kerk");
        let (b, _) = i.intern("molen");
        assert!(new_a);
        assert_eq!(i.intern("kerk"), (a, false));
        assert_ne!(a, b);
        assert_eq!(i.get("molen"), Some(b));
        assert_eq!(i.get("nope"), None);
        assert_eq!(i.resolve(b), "molen");
    }

    #[test]
    fn postings_keep_all_values() {
        let mut p = Postings::default();
        p.push(7, 1);
        p.push(7, 2);
        p.push(8, 3);
        let mut v: Vec<u32> = p.iter(7).collect();
        v.sort_unstable();
        assert_eq!(v, vec![1, 2]);
        assert!(p.contains(8, 3));
        assert_eq!(p.iter(9).count(), 0);
    }
}
