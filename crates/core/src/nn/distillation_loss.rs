//! Knowledge distillation (Hinton et al., 2015): a small *student* learns
//! from a large *teacher*'s whole next-token distribution, not just from the
//! one correct token.
//!
//! Per position, with student logits `s`, teacher logits `t`, temperature
//! `T` and the mix `α`:
//!
//! ```text
//! loss = α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(s, label)
//! ```
//!
//! - Dividing by `T > 1` flattens both distributions, so the teacher's small
//!   probabilities (which wrong tokens are *nearly* right) carry signal.
//! - The KL term's gradient w.r.t. `s` is `(softmax(s/T) − softmax(t/T)) / T`;
//!   the `T²` factor makes it `T · (q − p)`, so its size does not shrink as
//!   `T` grows and `α` keeps its meaning across temperatures.
//! - The cross-entropy keeps the student honest on the real labels; its
//!   gradient is `softmax(s) − onehot(label)` ([`super::cross_entropy`]).
//!
//! Averaging convention: both terms are means over the `N` scored positions
//! (the rows given here), i.e. PyTorch's
//! `F.kl_div(F.log_softmax(s/T), F.softmax(t/T), reduction="batchmean")` on
//! the `(N, V)` rows plus `F.cross_entropy(s, labels)` (mean). "batchmean"
//! divides by the first dimension, which for flattened tokens is the number
//! of tokens: the KL is per token, like the cross-entropy.

use super::NnError;

/// The two terms of the loss, summed (not averaged) over the rows, in f64.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DistillationSums {
    /// Σ over rows of KL(softmax(t/T) ‖ softmax(s/T)).
    pub kl: f64,
    /// Σ over rows of −log softmax(s)[label].
    pub cross_entropy: f64,
}

/// Probabilities the backward pass reuses, each `(N, V)` row-major.
pub struct DistillationBuffers<'a> {
    /// softmax(s / T): the student's softened distribution `q`.
    pub student_soft: &'a mut [f32],
    /// softmax(t / T): the teacher's softened distribution `p`.
    pub teacher_soft: &'a mut [f32],
    /// softmax(s): the student's own distribution, for the cross-entropy.
    pub student_probs: &'a mut [f32],
}

/// Writes softmax(`z` / `temperature`) into `out` (f64 inside) and returns
/// log Σ exp(z/T − max) and max, so that log-probabilities stay exact.
fn softmax_scaled(out: &mut [f32], z: &[f32], temperature: f64) -> (f64, f64) {
    let max = z.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x) / temperature));
    let mut sum = 0.0f64;
    for (o, &zi) in out.iter_mut().zip(z) {
        let e = libm::exp(f64::from(zi) / temperature - max);
        *o = e as f32;
        sum += e;
    }
    out.iter_mut().for_each(|o| *o = (f64::from(*o) / sum) as f32);
    (libm::log(sum), max)
}

/// Fills the buffers for `student`, `teacher` (both `(N, V)`) and returns
/// the summed terms. `temperature` must be positive (checked by callers).
pub fn forward(
    buffers: DistillationBuffers,
    student: &[f32],
    teacher: &[f32],
    targets: &[u32],
    v: usize,
    temperature: f32,
) -> Result<DistillationSums, NnError> {
    let n = targets.len();
    let needed = n * v;
    if student.len() < needed || teacher.len() < needed {
        return Err(NnError::ShapeMismatch("distillation: student and teacher logits must both be (N, V)"));
    }
    if buffers.student_soft.len() < needed || buffers.teacher_soft.len() < needed || buffers.student_probs.len() < needed {
        return Err(NnError::ShapeMismatch("distillation buffers too small"));
    }
    let t = f64::from(temperature);
    let mut sums = DistillationSums::default();
    let rows = student
        .chunks_exact(v)
        .zip(teacher.chunks_exact(v))
        .zip(buffers.student_soft.chunks_exact_mut(v))
        .zip(buffers.teacher_soft.chunks_exact_mut(v))
        .zip(buffers.student_probs.chunks_exact_mut(v))
        .zip(targets);
    for (((((s, te), q), p), probs), &target) in rows {
        let (log_sum_s, max_s) = softmax_scaled(q, s, t);
        let (log_sum_t, max_t) = softmax_scaled(p, te, t);
        // KL(p ‖ q) = Σ p (log p − log q); a zero p contributes nothing (torch's xlogy).
        let mut kl = 0.0f64;
        for (&si, &ti) in s.iter().zip(te) {
            let log_p = f64::from(ti) / t - max_t - log_sum_t;
            let log_q = f64::from(si) / t - max_s - log_sum_s;
            let p_i = libm::exp(log_p);
            if p_i > 0.0 {
                kl += p_i * (log_p - log_q);
            }
        }
        sums.kl += kl;
        let (log_sum, max) = softmax_scaled(probs, s, 1.0);
        let st = *s.get(target as usize).ok_or(NnError::TokenOutOfRange { id: target, vocab_size: v })?;
        sums.cross_entropy += log_sum - (f64::from(st) - max);
    }
    Ok(sums)
}

/// `d_student (N, V) = d_loss · (α · T · (q − p) + (1 − α) · (softmax(s) − onehot))`,
/// overwritten; `d_loss` is the gradient of the final loss per row (1/N for the mean).
pub fn backward(
    d_student: &mut [f32],
    buffers: &DistillationBuffers,
    targets: &[u32],
    v: usize,
    temperature: f32,
    alpha: f32,
    d_loss: f32,
) -> Result<(), NnError> {
    let kl_scale = f64::from(alpha) * f64::from(temperature) * f64::from(d_loss);
    let ce_scale = (1.0 - f64::from(alpha)) * f64::from(d_loss);
    let rows = d_student
        .chunks_exact_mut(v)
        .zip(buffers.student_soft.chunks_exact(v))
        .zip(buffers.teacher_soft.chunks_exact(v))
        .zip(buffers.student_probs.chunks_exact(v))
        .zip(targets);
    for ((((d, q), p), probs), &target) in rows {
        for (((di, &qi), &pi), &si) in d.iter_mut().zip(q).zip(p).zip(probs) {
            *di = (kl_scale * (f64::from(qi) - f64::from(pi)) + ce_scale * f64::from(si)) as f32;
        }
        let dt = d.get_mut(target as usize).ok_or(NnError::TokenOutOfRange { id: target, vocab_size: v })?;
        *dt = (f64::from(*dt) - ce_scale) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::{check_gradient, random_vec};
    use alloc::vec;
    use alloc::vec::Vec;

    fn loss(student: &[f32], teacher: &[f32], targets: &[u32], v: usize, t: f32, alpha: f32) -> f64 {
        let n = targets.len();
        let (mut q, mut p, mut s) = (vec![0.0; n * v], vec![0.0; n * v], vec![0.0; n * v]);
        let buffers = DistillationBuffers { student_soft: &mut q, teacher_soft: &mut p, student_probs: &mut s };
        let sums = forward(buffers, student, teacher, targets, v, t).unwrap();
        let (t, alpha) = (f64::from(t), f64::from(alpha));
        (alpha * t * t * sums.kl + (1.0 - alpha) * sums.cross_entropy) / n as f64
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (n, v, t, alpha) = (3, 6, 2.5f32, 0.7f32);
        let student: Vec<f32> = random_vec(n * v, 3).iter().map(|x| x * 3.0).collect();
        let teacher: Vec<f32> = random_vec(n * v, 4).iter().map(|x| x * 3.0).collect();
        let targets = [1u32, 5, 0];
        let (mut q, mut p, mut s) = (vec![0.0; n * v], vec![0.0; n * v], vec![0.0; n * v]);
        forward(
            DistillationBuffers { student_soft: &mut q, teacher_soft: &mut p, student_probs: &mut s },
            &student,
            &teacher,
            &targets,
            v,
            t,
        )
        .unwrap();
        let buffers = DistillationBuffers { student_soft: &mut q, teacher_soft: &mut p, student_probs: &mut s };
        let mut d = vec![0.0; n * v];
        backward(&mut d, &buffers, &targets, v, t, alpha, 1.0 / n as f32).unwrap();
        check_gradient(&student, &d, |z| loss(z, &teacher, &targets, v, t, alpha));
    }

    #[test]
    fn a_student_equal_to_its_teacher_has_no_kl() {
        let z = [0.3f32, -1.0, 2.0, 0.0];
        let (mut q, mut p, mut s) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]);
        let sums = forward(DistillationBuffers { student_soft: &mut q, teacher_soft: &mut p, student_probs: &mut s }, &z, &z, &[2], 4, 3.0)
            .unwrap();
        assert!(sums.kl.abs() < 1e-12);
        assert!(sums.cross_entropy > 0.0);
    }
}
