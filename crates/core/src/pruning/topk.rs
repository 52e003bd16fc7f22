//! `torch.topk` on the CPU, index for index, ties included.
//!
//! Pruning keeps or drops entries by `torch.topk` of their importance. When
//! several importances are equal (many zero weights, quantized weights,
//! integer toy weights) *which* of the tied entries topk returns decides the
//! mask, and torch documents no rule for it. The rule is its kernel
//! (`aten/src/ATen/native/TopKImpl.h`, `topk_impl_loop`): the values are
//! paired with their indices and handed to the C++ standard library:
//!
//! - if `k · 64 ≤ n`: `std::partial_sort(first, first + k, last)`, a heap
//!   selection: the first `k` pairs are made a heap, and each later pair
//!   enters only if it is *strictly* better than the heap's worst;
//! - otherwise `std::nth_element(first, first + k − 1, last)`, an
//!   introselect (median-of-three quicksort partitions, a heap selection
//!   after `2·⌊log₂ n⌋` rounds, insertion sort below 4 elements).
//!
//! The comparison looks at the value only (`x < y`, or `x > y` for the
//! largest; NaN counts as the largest), never at the index, so among ties
//! the winner is whatever these algorithms leave in front. Both are
//! deterministic, and PyTorch's Linux wheels use GNU libstdc++, whose
//! algorithms are copied here step by step (`bits/stl_heap.h`,
//! `bits/stl_algo.h`). The same input thus gives torch's very indices.

use alloc::vec::Vec;

/// One candidate: its importance and its position in the input.
type Entry = (f64, usize);

/// `comp(x, y)`: whether `x` comes before `y` in the order topk sorts by.
#[derive(Clone, Copy)]
struct Order {
    largest: bool,
}

impl Order {
    fn before(self, x: &Entry, y: &Entry) -> bool {
        if self.largest {
            (x.0.is_nan() && !y.0.is_nan()) || x.0 > y.0
        } else {
            (!x.0.is_nan() && y.0.is_nan()) || x.0 < y.0
        }
    }
}

/// The indices of the `k` smallest (`largest == false`) or largest values,
/// as torch.topk picks them on the CPU (the set; its order is not needed by
/// pruning and is left as the selection leaves it). `k` is clamped to `n`.
pub fn topk_indices(values: &[f32], k: usize, largest: bool) -> Vec<usize> {
    let n = values.len();
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    let order = Order { largest };
    let mut queue: Vec<Entry> = values.iter().enumerate().map(|(i, &v)| (f64::from(v), i)).collect();
    if k * 64 <= n {
        heap_select(&mut queue, 0, k, n, order);
    } else {
        let depth_limit = 2 * floor_log2(n);
        introselect(&mut queue, 0, k - 1, n, depth_limit, order);
    }
    queue.truncate(k);
    queue.into_iter().map(|(_, i)| i).collect()
}

/// `std::__lg`: ⌊log₂ n⌋ for n ≥ 1.
fn floor_log2(n: usize) -> usize {
    (usize::BITS - 1 - n.leading_zeros()) as usize
}

/// `std::__push_heap`: moves `value` up from `hole` towards `top`.
fn push_heap(q: &mut [Entry], first: usize, mut hole: usize, top: usize, value: Entry, order: Order) {
    let mut parent = hole.wrapping_sub(1) / 2;
    while hole > top && order.before(&q[first + parent], &value) {
        q[first + hole] = q[first + parent];
        hole = parent;
        parent = hole.wrapping_sub(1) / 2;
    }
    q[first + hole] = value;
}

/// `std::__adjust_heap`: sifts the hole at `hole` down to a leaf, then pushes `value` back up.
fn adjust_heap(q: &mut [Entry], first: usize, mut hole: usize, len: usize, value: Entry, order: Order) {
    let top = hole;
    let mut second = hole;
    while len >= 1 && second < (len - 1) / 2 {
        second = 2 * (second + 1);
        if order.before(&q[first + second], &q[first + second - 1]) {
            second -= 1;
        }
        q[first + hole] = q[first + second];
        hole = second;
    }
    if len % 2 == 0 && len >= 2 && second == (len - 2) / 2 {
        second = 2 * (second + 1);
        q[first + hole] = q[first + second - 1];
        hole = second - 1;
    }
    push_heap(q, first, hole, top, value, order);
}

/// `std::__make_heap` on `[first, last)`.
fn make_heap(q: &mut [Entry], first: usize, last: usize, order: Order) {
    let len = last - first;
    if len < 2 {
        return;
    }
    let mut parent = (len - 2) / 2;
    loop {
        let value = q[first + parent];
        adjust_heap(q, first, parent, len, value, order);
        if parent == 0 {
            return;
        }
        parent -= 1;
    }
}

/// `std::__pop_heap(first, last, result)`: the heap's top goes to `result`, `result`'s pair enters the heap.
fn pop_heap(q: &mut [Entry], first: usize, last: usize, result: usize, order: Order) {
    let value = q[result];
    q[result] = q[first];
    adjust_heap(q, first, 0, last - first, value, order);
}

/// `std::__heap_select`: afterwards `[first, middle)` holds the `middle − first` best pairs.
fn heap_select(q: &mut [Entry], first: usize, middle: usize, last: usize, order: Order) {
    make_heap(q, first, middle, order);
    for i in middle..last {
        if order.before(&q[i], &q[first]) {
            pop_heap(q, first, middle, i, order);
        }
    }
}

/// `std::__move_median_to_first`: swaps the median of `a, b, c` into `result`.
fn move_median_to_first(q: &mut [Entry], result: usize, a: usize, b: usize, c: usize, order: Order) {
    let before = |i: usize, j: usize| order.before(&q[i], &q[j]);
    let median = if before(a, b) {
        if before(b, c) {
            b
        } else if before(a, c) {
            c
        } else {
            a
        }
    } else if before(a, c) {
        a
    } else if before(b, c) {
        c
    } else {
        b
    };
    q.swap(result, median);
}

/// `std::__unguarded_partition` around the pair at `pivot`.
fn unguarded_partition(q: &mut [Entry], mut first: usize, mut last: usize, pivot: usize, order: Order) -> usize {
    loop {
        while order.before(&q[first], &q[pivot]) {
            first += 1;
        }
        last -= 1;
        while order.before(&q[pivot], &q[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        q.swap(first, last);
        first += 1;
    }
}

/// `std::__unguarded_partition_pivot`: median of three as pivot, then partition.
fn unguarded_partition_pivot(q: &mut [Entry], first: usize, last: usize, order: Order) -> usize {
    let mid = first + (last - first) / 2;
    move_median_to_first(q, first, first + 1, mid, last - 1, order);
    unguarded_partition(q, first + 1, last, first, order)
}

/// `std::__unguarded_linear_insert`: moves the pair at `last` left past every pair it comes before.
fn unguarded_linear_insert(q: &mut [Entry], mut last: usize, order: Order) {
    let value = q[last];
    let mut next = last - 1;
    while order.before(&value, &q[next]) {
        q[last] = q[next];
        last = next;
        next -= 1;
    }
    q[last] = value;
}

/// `std::__insertion_sort` on `[first, last)`.
fn insertion_sort(q: &mut [Entry], first: usize, last: usize, order: Order) {
    if first == last {
        return;
    }
    for i in first + 1..last {
        if order.before(&q[i], &q[first]) {
            let value = q[i];
            q.copy_within(first..i, first + 1);
            q[first] = value;
        } else {
            unguarded_linear_insert(q, i, order);
        }
    }
}

/// `std::__introselect`: afterwards `[first, nth]` holds the `nth − first + 1` best pairs.
fn introselect(q: &mut [Entry], mut first: usize, nth: usize, mut last: usize, mut depth_limit: usize, order: Order) {
    if first == last || nth == last {
        return;
    }
    while last - first > 3 {
        if depth_limit == 0 {
            heap_select(q, first, nth + 1, last, order);
            q.swap(first, nth);
            return;
        }
        depth_limit -= 1;
        let cut = unguarded_partition_pivot(q, first, last, order);
        if cut <= nth {
            first = cut;
        } else {
            last = cut;
        }
    }
    insertion_sort(q, first, last, order);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<usize>) -> Vec<usize> {
        v.sort_unstable();
        v
    }

    #[test]
    fn distinct_values_give_the_true_smallest_and_largest() {
        let values = [5.0, 1.0, 4.0, 2.0, 3.0, 0.5, 9.0];
        assert_eq!(sorted(topk_indices(&values, 3, false)), vec![1, 3, 5]);
        assert_eq!(sorted(topk_indices(&values, 2, true)), vec![0, 6]);
        assert!(topk_indices(&values, 0, true).is_empty());
        assert_eq!(topk_indices(&values, 99, true).len(), 7);
    }

    #[test]
    fn heap_path_and_select_path_agree_on_distinct_values() {
        // 200 distinct values: k = 3 takes the heap path (3·64 ≤ 200), k = 50 the introselect.
        let values: Vec<f32> = (0..200).map(|i| ((i * 37) % 200) as f32).collect();
        let smallest = |k: usize| sorted(topk_indices(&values, k, false));
        let expect = |k: usize| sorted(values.iter().enumerate().filter(|(_, &v)| (v as usize) < k).map(|(i, _)| i).collect());
        assert_eq!(smallest(3), expect(3));
        assert_eq!(smallest(50), expect(50));
    }
}
