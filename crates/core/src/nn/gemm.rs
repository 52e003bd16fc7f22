//! General matrix multiply, `C ← α·A·B + β·C`: the one entry point for every
//! matrix product of more than a few rows (prompts, training, attention).
//!
//! Natively it is `ndarray`'s `general_mat_mul`, which runs `matrixmultiply`'s
//! AVX2/FMA kernels. In the browser (wasm32 with SIMD128) it runs the packed
//! kernel below instead: `matrixmultiply`'s wasm kernel keeps an 8×8 tile in
//! 16 vector registers, which is every register V8 has on x86-64, so each
//! multiply-add spills; measured in headless Chromium it ran a training-sized
//! product 16× slower than natively. Here the tile is 4×8, eight accumulators,
//! which leaves room for the operands.
//!
//! The packed algorithm is the textbook one (Goto and van de Geijn):
//! - B is cut into blocks of `KC` rows × `NC` columns and packed into panels
//!   of `NR` columns, each panel `kc × NR` contiguous (`[p·NR + j]`);
//! - A is cut into blocks of `MC` rows × `KC` columns and packed into panels
//!   of `MR` rows, each panel `kc × MR` contiguous (`[p·MR + i]`);
//! - the micro-kernel multiplies one A panel by one B panel into an `MR × NR`
//!   tile held in registers, which is then added into C.
//!
//! Panels at the edges are padded with zeros, so the kernel never branches.
//! [`gemm_packed`] is compiled on every target (natively with a portable
//! kernel) so that its blocking is tested against `ndarray` natively too.

use alloc::vec;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// Rows of the register tile.
const MR: usize = 4;
/// Columns of the register tile (two SIMD128 vectors).
const NR: usize = 8;
/// Depth of a packed block (`KC × NR` floats of B stay in L1).
const KC: usize = 256;
/// Rows of A packed at a time (`MC × KC` floats: 64 KB).
const MC: usize = 64;
/// Columns of B packed at a time (`KC × NC` floats: 512 KB).
const NC: usize = 512;

/// `A·B` as a new array. Panics if the inner dimensions differ.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    let mut c = Array2::<f32>::zeros((a.nrows(), b.ncols()));
    gemm(1.0, a, b, 0.0, c.view_mut());
    c
}

/// `C ← α·A·B + β·C` for `A: (m, k)`, `B: (k, n)`, `C: (m, n)`, any strides.
/// With `β = 0`, C's old values are not read (NaN in C does not leak).
/// Panics if the shapes do not fit, as `ndarray`'s products do.
pub fn gemm(alpha: f32, a: ArrayView2<f32>, b: ArrayView2<f32>, beta: f32, c: ArrayViewMut2<f32>) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        gemm_packed(alpha, a, b, beta, c);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut c = c;
        general_mat_mul(alpha, &a, &b, beta, &mut c);
    }
}

/// The packed, blocked product described in the module docs (what [`gemm`]
/// runs in the browser). Same contract as [`gemm`].
pub fn gemm_packed(alpha: f32, a: ArrayView2<f32>, b: ArrayView2<f32>, beta: f32, mut c: ArrayViewMut2<f32>) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(k == k2 && c.dim() == (m, n), "gemm: ({m}, {k})·({k2}, {n}) into {:?}", c.dim());
    if beta == 0.0 {
        c.fill(0.0);
    } else if beta != 1.0 {
        c.mapv_inplace(|v| v * beta);
    }
    if m == 0 || n == 0 || k == 0 || alpha == 0.0 {
        return;
    }
    if m * n * k < 4096 {
        // Tiny products (attention with a handful of positions): packing
        // would cost more than it saves.
        general_mat_mul(alpha, &a, &b, 1.0, &mut c);
        return;
    }
    // Buffers sized to this product, not to the largest block: attention
    // calls this per head on small matrices.
    let (kc_max, nc_max, mc_max) = (KC.min(k), NC.min(n), MC.min(m));
    let mut packed_b = vec![0.0f32; kc_max * nc_max.div_ceil(NR) * NR];
    let mut packed_a = vec![0.0f32; mc_max.div_ceil(MR) * MR * kc_max];
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b(b, pc, kc, jc, nc, &mut packed_b);
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                pack_a(a, ic, mc, pc, kc, &mut packed_a);
                for (jp, jr) in (0..nc).step_by(NR).enumerate() {
                    let b_panel = &packed_b[jp * kc * NR..(jp + 1) * kc * NR];
                    for (ip, ir) in (0..mc).step_by(MR).enumerate() {
                        let a_panel = &packed_a[ip * kc * MR..(ip + 1) * kc * MR];
                        let tile = kernel(kc, a_panel, b_panel);
                        let (rows, cols) = (MR.min(mc - ir), NR.min(nc - jr));
                        let col0 = jc + jr;
                        for (i, tile_row) in tile.iter().enumerate().take(rows) {
                            let mut c_row = c.row_mut(ic + ir + i);
                            match c_row.as_slice_mut() {
                                Some(c_row) => {
                                    for (d, &v) in c_row[col0..col0 + cols].iter_mut().zip(tile_row) {
                                        *d += alpha * v;
                                    }
                                }
                                None => {
                                    for (j, &v) in tile_row.iter().enumerate().take(cols) {
                                        c_row[col0 + j] += alpha * v;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Packs `B[pc..pc+kc, jc..jc+nc]` into `NR`-column panels, zero-padded.
fn pack_b(b: ArrayView2<f32>, pc: usize, kc: usize, jc: usize, nc: usize, out: &mut [f32]) {
    for (jp, j0) in (0..nc).step_by(NR).enumerate() {
        let panel = &mut out[jp * kc * NR..(jp + 1) * kc * NR];
        let cols = NR.min(nc - j0);
        for p in 0..kc {
            let row = &mut panel[p * NR..(p + 1) * NR];
            for (j, slot) in row.iter_mut().enumerate() {
                *slot = if j < cols { b[[pc + p, jc + j0 + j]] } else { 0.0 };
            }
        }
    }
}

/// Packs `A[ic..ic+mc, pc..pc+kc]` into `MR`-row panels, zero-padded.
fn pack_a(a: ArrayView2<f32>, ic: usize, mc: usize, pc: usize, kc: usize, out: &mut [f32]) {
    for (ip, i0) in (0..mc).step_by(MR).enumerate() {
        let panel = &mut out[ip * kc * MR..(ip + 1) * kc * MR];
        let rows = MR.min(mc - i0);
        for i in 0..MR {
            if i < rows {
                let row = a.row(ic + i0 + i);
                for p in 0..kc {
                    panel[p * MR + i] = row[pc + p];
                }
            } else {
                for p in 0..kc {
                    panel[p * MR + i] = 0.0;
                }
            }
        }
    }
}

/// `MR × NR` tile of one packed A panel times one packed B panel, both `kc`
/// deep: `2·MR` f32x4 accumulators, two B loads and `MR` broadcasts of A
/// per step (the loops over the tile are unrolled by the compiler, so the
/// accumulators live in registers).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn kernel(kc: usize, a: &[f32], b: &[f32]) -> [[f32; NR]; MR] {
    use core::arch::wasm32::*;
    let (a, b) = (&a[..kc * MR], &b[..kc * NR]);
    let mut acc = [[f32x4_splat(0.0); 2]; MR];
    let (a_panels, _) = a.as_chunks::<MR>();
    let (b_panels, _) = b.as_chunks::<NR>();
    for (ap, bp) in a_panels.iter().zip(b_panels) {
        // Fixed-size arrays: two v128 loads and MR load-and-splats, without
        // bounds checks.
        let b0 = f32x4(bp[0], bp[1], bp[2], bp[3]);
        let b1 = f32x4(bp[4], bp[5], bp[6], bp[7]);
        for (acc_row, &ai) in acc.iter_mut().zip(ap) {
            let av = f32x4_splat(ai);
            acc_row[0] = f32x4_add(acc_row[0], f32x4_mul(av, b0));
            acc_row[1] = f32x4_add(acc_row[1], f32x4_mul(av, b1));
        }
    }
    let lanes = |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
    acc.map(|[lo, hi]| {
        let (l, h) = (lanes(lo), lanes(hi));
        [l[0], l[1], l[2], l[3], h[0], h[1], h[2], h[3]]
    })
}

/// Portable version of the SIMD128 kernel (same arithmetic, same order).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn kernel(kc: usize, a: &[f32], b: &[f32]) -> [[f32; NR]; MR] {
    let mut tile = [[0.0f32; NR]; MR];
    for (ap, bp) in a[..kc * MR].chunks_exact(MR).zip(b[..kc * NR].chunks_exact(NR)) {
        for (row, &ai) in tile.iter_mut().zip(ap) {
            for (acc, &bj) in row.iter_mut().zip(bp) {
                *acc += ai * bj;
            }
        }
    }
    tile
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(rng: &mut Rng, shape: (usize, usize)) -> Array2<f32> {
        Array2::from_shape_fn(shape, |_| rng.uniform_f32() * 2.0 - 1.0)
    }

    fn max_rel_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
        let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    #[test]
    fn packed_product_equals_ndarray_on_edge_shapes_and_strides() {
        let mut rng = Rng::new(7);
        // Sizes straddle MR, NR, MC, KC and NC, and the tiny-product cutoff.
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (5, 300, 9), (67, 129, 130), (130, 257, 515), (768, 128, 33), (16, 16, 16)] {
            let (a, b) = (random(&mut rng, (m, k)), random(&mut rng, (k, n)));
            let want = a.dot(&b);
            let mut got = Array2::<f32>::from_elem((m, n), f32::NAN);
            gemm_packed(1.0, a.view(), b.view(), 0.0, got.view_mut());
            let d = max_rel_diff(&got, &want);
            println!("({m}, {k})·({k}, {n}) maxdiff {d:e}");
            assert!(d < 1e-5, "({m}, {k})·({k}, {n}): {d}");
            // Transposed operands and accumulation: C ← 0.5·Aᵀᵀ·Bᵀᵀ + 2·C.
            let (at, bt) = (a.t().to_owned(), b.t().to_owned());
            let c0 = random(&mut rng, (m, n));
            let mut got = c0.clone();
            gemm_packed(0.5, at.t(), bt.t(), 2.0, got.view_mut());
            let want = &want * 0.5 + &c0 * 2.0;
            assert!(max_rel_diff(&got, &want) < 1e-5, "strided ({m}, {k}, {n})");
        }
    }

    #[test]
    fn gemm_writes_into_a_strided_destination() {
        let mut rng = Rng::new(3);
        let (a, b) = (random(&mut rng, (40, 70)), random(&mut rng, (70, 50)));
        let mut c = Array2::<f32>::zeros((50, 40));
        gemm(1.0, a.view(), b.view(), 0.0, c.view_mut().reversed_axes());
        assert!(max_rel_diff(&c.t().to_owned(), &a.dot(&b)) < 1e-5);
        assert!(max_rel_diff(&matmul(a.view(), b.view()), &a.dot(&b)) < 1e-6);
    }
}
