//! NumPy's legacy `numpy.random.RandomState`: the Mersenne Twister MT19937
//! and the bounded integers `randint` draws from it.
//!
//! `datasketch` draws its MinHash permutations from
//! `np.random.RandomState(seed)`, so a signature can only be reproduced by
//! reproducing that generator bit for bit:
//!
//! - **seeding** (`RandomState(seed)` with an integer `0 <= seed < 2^32`):
//!   Matsumoto and Nishimura's `init_genrand`,
//!   `key[i] = 1812433253 * (key[i-1] ^ (key[i-1] >> 30)) + i`;
//! - **32-bit output**: the standard MT19937 twist and tempering;
//! - **64-bit output**: two 32-bit outputs, the first one the high half;
//! - **`randint(low, high, dtype)`** (legacy, `high` exclusive): with
//!   `range = high - 1 - low`, a full range takes the raw output, otherwise
//!   NumPy's *masked rejection sampling*: draw, AND with the smallest mask
//!   `2^k - 1 >= range`, and draw again while the result exceeds `range`.
//!   Ranges that fit 32 bits draw 32-bit outputs, even for `dtype=uint64`.

use alloc::boxed::Box;

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The MT19937 state of a `numpy.random.RandomState`.
#[derive(Clone)]
pub struct RandomState {
    key: Box<[u32; N]>,
    pos: usize,
}

impl RandomState {
    /// `numpy.random.RandomState(seed)`.
    pub fn new(seed: u32) -> Self {
        let mut key = Box::new([0u32; N]);
        let mut s = seed;
        for (i, k) in key.iter_mut().enumerate() {
            *k = s;
            // i + 1 < 625 always fits u32
            s = 1_812_433_253u32.wrapping_mul(s ^ (s >> 30)).wrapping_add(i as u32 + 1);
        }
        Self { key, pos: N }
    }

    fn twist(&mut self) {
        let key = &mut self.key;
        for i in 0..N {
            let y = (key[i] & UPPER_MASK) | (key[(i + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            key[i] = key[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next 32-bit output (`mt19937_next32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.twist();
        }
        let mut y = self.key[self.pos % N];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// The next 64-bit output: the first 32-bit draw is the high half.
    pub fn next_u64(&mut self) -> u64 {
        let high = u64::from(self.next_u32());
        (high << 32) | u64::from(self.next_u32())
    }

    /// `randint(low, high, dtype=np.uint64)` (one draw, `high` exclusive);
    /// `None` when `high <= low`.
    pub fn randint_u64(&mut self, low: u64, high: u64) -> Option<u64> {
        let range = high.checked_sub(low)?.checked_sub(1)?;
        Some(low + self.bounded_u64(range))
    }

    /// `randint(low, high, dtype=np.uint32)` (one draw, `high` exclusive,
    /// `high <= 2^32`); `None` when the bounds are empty or too wide.
    pub fn randint_u32(&mut self, low: u32, high: u64) -> Option<u32> {
        let range = u32::try_from(high.checked_sub(u64::from(low))?.checked_sub(1)?).ok()?;
        Some(low.wrapping_add(self.bounded_u32(range)))
    }

    fn bounded_u32(&mut self, range: u32) -> u32 {
        match range {
            0 => 0,
            u32::MAX => self.next_u32(),
            _ => {
                let mask = u32::MAX >> range.leading_zeros();
                loop {
                    let v = self.next_u32() & mask;
                    if v <= range {
                        return v;
                    }
                }
            }
        }
    }

    fn bounded_u64(&mut self, range: u64) -> u64 {
        if let Ok(small) = u32::try_from(range) {
            return u64::from(self.bounded_u32(small));
        }
        if range == u64::MAX {
            return self.next_u64();
        }
        let mask = u64::MAX >> range.leading_zeros();
        loop {
            let v = self.next_u64() & mask;
            if v <= range {
                return v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_sequence_of_mt19937ar_for_seed_5489() {
        // mt19937ar.c's init_genrand(5489): the 10000th output is 4123659995.
        let mut rs = RandomState::new(5489);
        let first = rs.next_u32();
        assert_eq!(first, 3_499_211_612);
        let mut last = first;
        for _ in 1..10_000 {
            last = rs.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn bounded_draws_stay_in_range() {
        let mut rs = RandomState::new(1);
        for high in [1u64, 2, 3, 7, 1 << 33, (1 << 61) - 1, u64::MAX] {
            for _ in 0..100 {
                let v = rs.randint_u64(0, high).unwrap_or(u64::MAX);
                assert!(v < high);
            }
        }
        assert_eq!(rs.randint_u64(5, 5), None);
        assert_eq!(rs.randint_u32(0, 1 << 33), None);
    }
}
