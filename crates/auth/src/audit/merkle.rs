//! The Merkle tree of RFC 9162 (Certificate Transparency v2, section 2.1) over the audit log.
//!
//! Leaf `i` is the record with `seq = i + 1`; its leaf data is that record's 32-byte chain hash
//! (which already commits to every field and to the whole chain before it). Hashes:
//! `leaf = SHA-256(0x00 || data)`, `node = SHA-256(0x01 || left || right)`, the empty tree is
//! `SHA-256("")`, and a tree of `n > 1` leaves splits at the largest power of two below `n`.
//!
//! The log can hold millions of records, so nothing here needs them all in memory: a
//! [`Frontier`] keeps the O(log n) roots of the perfect subtrees seen so far, and a proof is a
//! list of leaf ranges ([`inclusion_ranges`], [`consistency_ranges`]) whose roots a
//! [`RangeHasher`] computes while the leaves stream past. The in-memory functions over a slice
//! ([`root`], [`inclusion_proof`], [`consistency_proof`]) are the reference the tests hold the
//! streaming code to.

use std::ops::Range;

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n >= 2`): where RFC 9162 splits a tree.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH over leaf hashes (already passed through [`leaf_hash`]), by the RFC's recursion.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The leaf ranges whose subtree roots form the inclusion proof of leaf `index` in a tree of
/// `size` leaves, bottom-up (RFC 9162 2.1.3.1, `PATH`). Empty when `index >= size`.
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<Range<u64>> {
    fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<Range<u64>>) {
        if hi - lo <= 1 {
            return;
        }
        let k = split(hi - lo);
        if m < lo + k {
            path(m, lo, lo + k, out);
            out.push(lo + k..hi);
        } else {
            path(m, lo + k, hi, out);
            out.push(lo..lo + k);
        }
    }
    let mut out = Vec::new();
    if index < size {
        path(index, 0, size, &mut out);
    }
    out
}

/// The leaf ranges whose subtree roots form the consistency proof from a tree of `old` leaves
/// to one of `new` leaves (RFC 9162 2.1.4.1, `SUBPROOF`). Empty unless `0 < old < new`.
pub fn consistency_ranges(old: u64, new: u64) -> Vec<Range<u64>> {
    fn subproof(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Range<u64>>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(lo..hi);
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, lo, lo + k, whole, out);
            out.push(lo + k..hi);
        } else {
            subproof(m - k, lo + k, hi, false, out);
            out.push(lo..lo + k);
        }
    }
    let mut out = Vec::new();
    if 0 < old && old < new {
        subproof(old, 0, new, true, &mut out);
    }
    out
}

/// The inclusion proof of leaf `index` over in-memory leaf hashes.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Vec<Hash> {
    let size = leaves.len() as u64;
    inclusion_ranges(index, size).into_iter().map(|r| root(&leaves[r.start as usize..r.end as usize])).collect()
}

/// The consistency proof from the first `old` of in-memory leaf hashes to all of them.
pub fn consistency_proof(leaves: &[Hash], old: u64) -> Vec<Hash> {
    let size = leaves.len() as u64;
    consistency_ranges(old, size).into_iter().map(|r| root(&leaves[r.start as usize..r.end as usize])).collect()
}

/// RFC 9162 2.1.3.2: does `proof` show that `leaf` (a leaf hash) is leaf `index` of the tree of
/// `size` leaves with root `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 2.1.4.2: does `proof` show that the tree of `old` leaves with root `old_root` is a
/// prefix of the tree of `new` leaves with root `new_root`? Equal sizes need an empty proof and
/// equal roots; the empty tree is a prefix of every tree.
pub fn verify_consistency(old: u64, new: u64, proof: &[Hash], old_root: &Hash, new_root: &Hash) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *old_root && sr == *new_root && snode == 0
}

/// The roots of the perfect subtrees covering the first `size` leaves, largest (leftmost)
/// first: one per set bit of `size`. Enough to compute the root and to go on appending, which
/// is why checkpoints store it and the purge anchor relies on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    roots: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from stored roots; `None` unless there is one root per set bit.
    pub fn from_roots(size: u64, roots: Vec<Hash>) -> Option<Frontier> {
        (roots.len() == size.count_ones() as usize).then_some(Frontier { size, roots })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn roots(&self) -> &[Hash] {
        &self.roots
    }

    /// Appends one leaf (already passed through [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            // One root per set bit: a set low bit means a subtree of the same height to merge.
            let Some(left) = self.roots.pop() else { break };
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.roots.push(h);
        self.size += 1;
    }

    /// The tree head: the RFC's root of the first `size` leaves.
    pub fn root(&self) -> Hash {
        let mut it = self.roots.iter().rev();
        let Some(last) = it.next() else { return empty_root() };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// The perfect subtrees it holds, as (leaf range, root), left to right.
    pub fn blocks(&self) -> Vec<(Range<u64>, Hash)> {
        let mut start = 0;
        let mut out = Vec::with_capacity(self.roots.len());
        let mut bits = (0..64).rev().filter(|b| self.size & (1u64 << b) != 0);
        for root in &self.roots {
            let Some(b) = bits.next() else { break };
            let len = 1u64 << b;
            out.push((start..start + len, *root));
            start += len;
        }
        out
    }

    /// Hex of the roots, comma-separated: how checkpoints store it.
    pub fn encode(&self) -> String {
        self.roots.iter().map(hex::encode).collect::<Vec<_>>().join(",")
    }

    /// The inverse of [`Frontier::encode`]; `None` when the text is not a valid frontier.
    pub fn decode(size: u64, text: &str) -> Option<Frontier> {
        let roots: Option<Vec<Hash>> = if text.is_empty() {
            Some(Vec::new())
        } else {
            text.split(',').map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok())).collect()
        };
        Frontier::from_roots(size, roots?)
    }
}

/// Computes the root of one leaf range while leaves stream past in order. When the leaves
/// before `start_at` are gone (purged), the range's part below it must be made of whole
/// subtrees of the frontier kept at that point.
#[derive(Debug, Clone)]
pub struct RangeHasher {
    range: Range<u64>,
    next: u64,
    /// (leaf count, root) of perfect subtrees, largest first.
    stack: Vec<(u64, Hash)>,
}

impl RangeHasher {
    /// A hasher for `range` whose leaves below `known.size()` come from `known` rather than
    /// from the stream. `None` when `range` cannot be built from `known`'s subtrees (the proof
    /// would need leaves that were purged).
    pub fn new(range: Range<u64>, known: &Frontier) -> Option<RangeHasher> {
        let mut hasher = RangeHasher { next: range.start, range, stack: Vec::new() };
        let known_end = known.size().min(hasher.range.end);
        if hasher.range.start < known_end {
            for (block, root) in known.blocks() {
                if block.end <= hasher.range.start || block.start >= known_end {
                    continue;
                }
                if block.start != hasher.next || block.end > known_end {
                    return None;
                }
                hasher.add(block.end - block.start, root);
                hasher.next = block.end;
            }
            if hasher.next != known_end {
                return None;
            }
        }
        Some(hasher)
    }

    fn add(&mut self, len: u64, root: Hash) {
        let (mut len, mut h) = (len, root);
        while let Some(&(top_len, top)) = self.stack.last() {
            if top_len != len {
                break;
            }
            self.stack.pop();
            h = node_hash(&top, &h);
            len *= 2;
        }
        self.stack.push((len, h));
    }

    /// Feeds leaf `index` (a leaf hash); leaves outside the range, or already covered, are
    /// ignored. Leaves must come in order.
    pub fn push(&mut self, index: u64, leaf: Hash) {
        if index == self.next && index < self.range.end {
            self.add(1, leaf);
            self.next += 1;
        }
    }

    /// The range's root once every leaf of it was fed.
    pub fn finish(&self) -> Option<Hash> {
        if self.next != self.range.end || self.range.is_empty() {
            return None;
        }
        let mut it = self.stack.iter().rev();
        let (_, last) = it.next()?;
        Some(it.fold(*last, |acc, (_, left)| node_hash(left, &acc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("record {i}").as_bytes())).collect()
    }

    #[test]
    fn the_empty_tree_and_a_single_leaf() {
        assert_eq!(hex::encode(root(&[])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let one = leaf_hash(b"");
        // RFC 6962 test vector: the leaf hash of the empty string.
        assert_eq!(hex::encode(one), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        assert_eq!(root(&[one]), one);
    }

    /// The tree shapes drawn in RFC 9162 2.1.5 (sizes 1 to 8), written out node by node.
    #[test]
    fn roots_follow_the_rfc_structure_for_sizes_one_to_eight() {
        let l = leaves(8);
        let n = |a: Hash, b: Hash| node_hash(&a, &b);
        let (a, b, c, d, e, f, g, h) = (l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]);
        let expected = [
            a,
            n(a, b),
            n(n(a, b), c),
            n(n(a, b), n(c, d)),
            n(n(n(a, b), n(c, d)), e),
            n(n(n(a, b), n(c, d)), n(e, f)),
            n(n(n(a, b), n(c, d)), n(n(e, f), g)),
            n(n(n(a, b), n(c, d)), n(n(e, f), n(g, h))),
        ];
        for (size, want) in (1..=8).zip(expected) {
            assert_eq!(root(&l[..size]), want, "size {size}");
            let mut frontier = Frontier::new();
            l[..size].iter().for_each(|x| frontier.push(*x));
            assert_eq!(frontier.root(), want, "frontier of size {size}");
        }
        // RFC 9162 2.1.5's worked examples on the 7-leaf tree, in its names: g = h(a, b),
        // h = h(c, d), i = h(e, f), j = the seventh leaf, k = h(g, h), l = h(i, j).
        // The inclusion proof of d0 is [b, h, l].
        assert_eq!(inclusion_proof(&l[..7], 0), vec![b, n(c, d), n(n(e, f), g)]);
        // Consistency proofs: 3 -> 7 is [c, d, g, l], 4 -> 7 is [l], 6 -> 7 is [i, j, k].
        assert_eq!(consistency_proof(&l[..7], 3), vec![c, d, n(a, b), n(n(e, f), g)]);
        assert_eq!(consistency_proof(&l[..7], 4), vec![n(n(e, f), g)]);
        assert_eq!(consistency_proof(&l[..7], 6), vec![n(e, f), g, n(n(a, b), n(c, d))]);
    }

    #[test]
    fn every_inclusion_proof_up_to_forty_leaves_verifies_and_a_wrong_one_does_not() {
        let all = leaves(40);
        let bogus = leaf_hash(b"forged");
        for size in 1..=40u64 {
            let l = &all[..size as usize];
            let r = root(l);
            for index in 0..size {
                let proof = inclusion_proof(l, index);
                assert!(verify_inclusion(&l[index as usize], index, size, &proof, &r), "{index} of {size}");
                assert!(!verify_inclusion(&bogus, index, size, &proof, &r), "forged leaf {index} of {size}");
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(!verify_inclusion(&l[index as usize], other, size, &proof, &r), "wrong index");
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_inclusion(&l[index as usize], index, size, &bad, &r), "altered path");
                }
                assert!(!verify_inclusion(&l[index as usize], index, size, &proof, &bogus), "wrong root");
                assert!(!verify_inclusion(&l[index as usize], size, size, &proof, &r), "index beyond size");
            }
        }
    }

    #[test]
    fn every_consistency_proof_up_to_forty_leaves_verifies_and_a_wrong_one_does_not() {
        let all = leaves(40);
        for new in 1..=40u64 {
            let new_root = root(&all[..new as usize]);
            for old in 1..=new {
                let old_root = root(&all[..old as usize]);
                let proof = consistency_proof(&all[..new as usize], old);
                assert!(verify_consistency(old, new, &proof, &old_root, &new_root), "{old} -> {new}");
                if old < new {
                    let mut bad = proof.clone();
                    let last = bad.len() - 1;
                    bad[last][5] ^= 0x80;
                    assert!(!verify_consistency(old, new, &bad, &old_root, &new_root), "altered {old} -> {new}");
                    // A tree whose first `old` leaves differ is not an extension.
                    let mut other = all[..new as usize].to_vec();
                    other[0] = leaf_hash(b"rewritten");
                    let other_root = root(&other);
                    assert!(!verify_consistency(old, new, &proof, &old_root, &other_root), "{old} -> {new}'");
                    assert!(!verify_consistency(old, new, &[], &old_root, &new_root), "empty proof");
                }
            }
        }
    }

    #[test]
    fn streaming_ranges_match_the_reference_even_after_a_cut() {
        let all = leaves(40);
        for size in 1..=40u64 {
            let l = &all[..size as usize];
            for cut in 0..=size {
                let mut known = Frontier::new();
                l[..cut as usize].iter().for_each(|x| known.push(*x));
                assert_eq!(Frontier::decode(cut, &known.encode()), Some(known.clone()));
                // Inclusion proofs of every leaf kept after the cut can be built from the
                // frontier at the cut plus the leaves after it.
                for index in cut..size {
                    let want = inclusion_proof(l, index);
                    let got = stream(&inclusion_ranges(index, size), &known, l);
                    assert_eq!(got, Some(want), "leaf {index} of {size}, cut at {cut}");
                }
                for old in cut.max(1)..size {
                    let want = consistency_proof(l, old);
                    let got = stream(&consistency_ranges(old, size), &known, l);
                    assert_eq!(got, Some(want), "{old} -> {size}, cut at {cut}");
                }
            }
        }
    }

    fn stream(ranges: &[Range<u64>], known: &Frontier, leaves: &[Hash]) -> Option<Vec<Hash>> {
        let mut hashers: Vec<RangeHasher> =
            ranges.iter().map(|r| RangeHasher::new(r.clone(), known)).collect::<Option<_>>()?;
        for (i, leaf) in leaves.iter().enumerate().skip(known.size() as usize) {
            hashers.iter_mut().for_each(|h| h.push(i as u64, *leaf));
        }
        hashers.iter().map(RangeHasher::finish).collect()
    }

    #[test]
    fn a_range_inside_the_purged_part_cannot_be_built() {
        let all = leaves(8);
        let mut known = Frontier::new();
        all[..6].iter().for_each(|x| known.push(*x));
        // [0, 4) and [4, 6) are whole subtrees of the frontier; [0, 2) is not.
        assert!(RangeHasher::new(0..4, &known).is_some());
        assert!(RangeHasher::new(4..8, &known).is_some());
        assert!(RangeHasher::new(0..2, &known).is_none());
        assert!(RangeHasher::new(5..6, &known).is_none());
    }
}
