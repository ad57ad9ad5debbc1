"""The catalogue of mistakes a check can name.

Each entry says what the mistake is, why it gives wrong numbers, and where the course teaches the
idea. A problem names its buggy twins by these ids; the ids are part of the course's contract and
are never renamed (add new ones instead).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Misconception:
    """One known mistake."""

    id: str
    """Stable identifier, a short phrase (`mask_after_softmax`)."""
    name: str
    """What a learner would call the mistake, as a heading."""
    explanation: str
    """One or two sentences: why it is wrong and what to do instead."""
    lesson: str
    """Notebook stem of the lesson that teaches the idea (`03_stability`)."""
    section: str
    """The heading in that lesson, exactly as written there."""
    engine: bool = False
    """Named by the checking engine itself (writing into the input), not by a twin."""
    pending: bool = False
    """Belongs to a chapter not written yet: no twin names it so far, and its lesson section
    may not exist yet. Harmless once a twin names it."""

    @property
    def link(self) -> str:
        """Relative link from a notebook folder to the lesson section."""
        return f"../notebooks/{self.lesson}.ipynb#{self.section.replace(' ', '-')}"


def _m(id, name, explanation, lesson, section, **marks):
    return Misconception(id, name, explanation, lesson, section, **marks)


CATALOGUE: dict[str, Misconception] = {
    m.id: m
    for m in [
        # 01 logits
        _m("sigmoid_overflow", "exp overflow inside the sigmoid",
           "e^x / (1 + e^x) is inf/inf = NaN at x = 1000, and 1/(1 + e^(−x)) overflows at "
           "x = −1000; use the form whose exponent is never positive, or "
           "np.exp(-np.logaddexp(0, -x)).",
           "01_logits", "The sigmoid"),
        _m("sigmoid_sign", "Sign flipped in the sigmoid",
           "1/(1 + exp(x)) is σ(−x): it maps large logits to probabilities near 0. "
           "The sigmoid is 1/(1 + exp(−x)).",
           "01_logits", "The sigmoid"),
        _m("odds_inverted", "Odds upside down",
           "log((1 − p)/p) is minus the logit; the odds of an event are p/(1 − p), "
           "so logit(p) = log(p/(1 − p)).",
           "01_logits", "Odds and the logit"),
        _m("odds_not_log", "Odds instead of log-odds",
           "p/(1 − p) is the odds; the logit is their natural log, log(p/(1 − p)).",
           "01_logits", "Odds and the logit"),
        _m("probability_as_logit", "Evidence added to the probability",
           "A change in log-odds must be added to the log-odds logit(p), not to p: p + δ is not "
           "even a probability, and σ(p + δ) treats p as if it were a logit. Compute "
           "σ(logit(p) + δ).",
           "01_logits", "Log-odds arithmetic"),
        _m("probability_scaled_not_odds", "Probability scaled instead of the odds",
           "Adding δ to the log-odds multiplies the odds p/(1 − p) by e^δ, not the probability: "
           "p·e^δ can exceed 1. Scale the odds and convert back with odds/(1 + odds), or compute "
           "σ(logit(p) + δ).",
           "01_logits", "Log-odds arithmetic"),
        _m("log_of_sigmoid", "log(σ(z)) instead of a stable log-sigmoid",
           "σ(z) rounds to exactly 0 or 1 for large |z| (1 − σ(40) is already 0 in float64), so "
           "log σ(z) or log(1 − σ(z)) becomes −inf, clipping σ only caps the loss at a wrong "
           "value, and log(1 + e^z) overflows. Work in logits: −log σ(z) = logaddexp(0, −z) "
           "and the loss is logaddexp(0, z) − y·z.",
           "01_logits", "Log-probabilities from logits"),
        # 02 softmax
        _m("not_normalised", "Exponentials not normalised",
           "exp(z) alone is positive but does not sum to one; divide by the sum along the axis.",
           "02_softmax", "The definition"),
        _m("wrong_axis", "Reducing along the wrong axis",
           "A sum or max runs over a different axis than the one the formula reduces (`axis` "
           "where the function takes one, the classes of each row otherwise), so entries of "
           "different rows or positions are mixed: probabilities stop summing to one per slice "
           "and losses are taken over the wrong groups. Give every reduction the same axis.",
           "02_softmax", "Softmax along an axis"),
        _m("missing_keepdims", "Reduction without keepdims",
           "z.sum(axis) drops the reduced axis, so dividing (or subtracting) by it broadcasts "
           "against the wrong dimension (or fails); reduce with keepdims=True so the shapes "
           "line up.",
           "02_softmax", "Softmax along an axis"),
        _m("mutates_input", "Writing into the input",
           "Your function changed its argument in place (for example z -= z.max()), which "
           "silently corrupts the caller's data (their logits, lengths or masks); compute into "
           "a new array or list instead.",
           "02_softmax", "Softmax along an axis", engine=True),
        _m("sigmoid_of_one_logit", "Sigmoid of one logit, ignoring the other",
           "With two classes, softmax only sees the difference of the logits: the first class "
           "gets σ(a − b). σ(a) alone is right only when b happens to be 0.",
           "02_softmax", "Two classes give a sigmoid"),
        _m("logits_not_centred", "Logits not centred",
           "log p plus any constant per slice has softmax p, so the answer is only unique once "
           "you pick the constant: here the logits must have mean 0 along the axis, so subtract "
           "the mean of log p (not its max or its first entry).",
           "02_softmax", "From probabilities back to logits"),
        _m("logit_per_class", "Binary log-odds for each class",
           "log(p/(1 − p)) per class inverts independent sigmoids, not a softmax; the logits "
           "of a softmax are log p plus one shared constant per slice.",
           "02_softmax", "From probabilities back to logits"),
        # 03 stability
        _m("no_max_shift", "No max shift before exp",
           "exp overflows to inf once a logit passes 88.7 in float32 (709.8 in float64, 11.1 in "
           "float16): softmax becomes inf/inf = NaN, and a log-sum-exp or a loss inf. Subtract "
           "each slice's maximum first: softmax is unchanged by it, and log-sum-exp adds it "
           "back.",
           "03_stability", "The max shift"),
        _m("global_max_shift", "One global max for every row",
           "Subtracting the maximum of the whole array instead of each slice's own maximum "
           "leaves rows far below that maximum to underflow: their softmax becomes 0/0 = NaN "
           "and their log-softmax −inf or NaN. Use max(axis=axis, keepdims=True).",
           "03_stability", "Row-wise or global max"),
        _m("lse_forgets_max", "Max subtracted but never added back",
           "log Σ exp(z − m) is logsumexp(z) − m; add m back to get logsumexp(z).",
           "03_stability", "Log-sum-exp"),
        _m("neg_inf_nan", "NaN from −inf entries",
           "An all −inf slice has max −inf, and −inf − (−inf) is NaN; treat an empty slice "
           "separately (its logsumexp is −inf, its probabilities are not defined).",
           "03_stability", "Log-sum-exp"),
        _m("threshold_not_log", "Largest float instead of its log",
           "exp(x) overflows once x passes log(finfo(dtype).max), not finfo(dtype).max itself.",
           "03_stability", "Overflow per dtype"),
        _m("clips_logits", "Logits clipped to dodge overflow",
           "Clipping z to a safe range changes the gaps between logits, and softmax only sees "
           "the gaps: (1000, 1001, 999) clipped to 80 becomes uniform. Subtract each slice's "
           "maximum instead, which changes nothing.",
           "03_stability", "The max shift"),
        _m("keepdims_ignored", "keepdims not honoured",
           "With keepdims=True the reduced axis must stay, with length 1 (shape (2, 1, 4) from "
           "(2, 3, 4) along axis 1); with keepdims=False it goes. Pass keepdims on to the last "
           "reduction, or squeeze the axis only when keepdims is False.",
           "03_stability", "Log-sum-exp"),
        _m("threshold_wrong_dtype", "Another dtype's limit",
           "Each dtype has its own range: e^x overflows past 11.09 in float16, 88.72 in "
           "bfloat16 and float32, 709.78 in float64. Read finfo of the dtype you were given "
           "(torch.finfo for torch dtypes: bfloat16 is not float16).",
           "03_stability", "Overflow per dtype"),
        _m("threshold_base_two", "Powers of 2 instead of powers of e",
           "log2(finfo.max) (or finfo.maxexp, 128 for float32) bounds 2^x, but exp raises e: "
           "the limit is the natural log, ln(finfo.max) = 128·ln 2 ≈ 88.72 for float32.",
           "03_stability", "Overflow per dtype"),
        # 04 log-softmax
        _m("log_of_softmax", "log(softmax(z)) instead of log-softmax",
           "softmax underflows to exactly 0 for logits far below the maximum and log(0) = −inf "
           "(log(p + eps), or p clipped at eps, turns every p below eps into eps instead); "
           "compute z − logsumexp(z) directly.",
           "04_log_softmax", "Why log(softmax) fails"),
        _m("probability_product_underflow", "Multiplying probabilities",
           "A product of many probabilities underflows to 0 long before the sequence ends; "
           "add log-probabilities instead.",
           "04_log_softmax", "Sums of log-probabilities"),
        _m("targets_shifted", "Tokens shifted by one position",
           "Row t of the logits already scores tokens[t] (the shift to next-token targets "
           "happened when the logits were made); shifting again pairs each row with a "
           "neighbouring token and drops one position. Pick logits[t, tokens[t]] for every t.",
           "04_log_softmax", "Sums of log-probabilities"),
        # 05 cross-entropy
        _m("sum_not_mean", "A sum where a mean belongs",
           "The loss (and its gradient) is averaged over the N examples, and perplexity "
           "exponentiates the mean negative log-probability per token; a sum grows with the "
           "batch or the sequence. Divide by N.",
           "05_cross_entropy", "Cross-entropy is negative log-likelihood"),
        _m("nll_sign", "The log-likelihood, not its negative",
           "log p ≤ 0: a log-probability is never positive, while cross-entropy and entropy "
           "average −log p, so a loss or an entropy is never negative and a perplexity, exp of "
           "the mean −log p, never below 1. With the sign the wrong way round they flip (a "
           "perplexity below 1); a log-probability is log p, a loss −log p.",
           "05_cross_entropy", "Cross-entropy is negative log-likelihood"),
        _m("softmax_before_ce", "Probabilities passed where logits belong",
           "The loss (or its gradient, or a log-probability) applies softmax to its input itself; "
           "applying it first (a double softmax) squashes every row towards uniform, every loss "
           "towards log K and every perplexity towards K. Pass raw logits.",
           "05_cross_entropy", "Pass logits, not probabilities"),
        _m("wrong_target_indexing", "Picking the wrong entries for the targets",
           "logits[:, targets] builds an N×N matrix, logits[targets] picks rows and "
           "targets − 1 reads 0-based classes as 1-based; pick one entry per row with "
           "logits[np.arange(N), targets] (a one-hot matrix is np.eye(K)[targets]).",
           "05_cross_entropy", "Cross-entropy is negative log-likelihood"),
        _m("grad_sign", "Gradient with the wrong sign",
           "The gradient of cross-entropy with respect to the logits is p − y (predicted minus "
           "one-hot), not y − p.",
           "05_cross_entropy", "The gradient p − y"),
        _m("jacobian_missing_diag", "Jacobian without its diagonal term",
           "∂p_i/∂z_j = p_i(δ_ij − p_j): the matrix is diag(p) − ppᵀ, not −ppᵀ alone.",
           "05_cross_entropy", "The softmax Jacobian"),
        _m("smoothing_over_k_minus_1", "Smoothing mass spread over K − 1 classes",
           "PyTorch's label smoothing gives every class eps/K, the target included, so the "
           "target gets 1 − eps + eps/K; spreading eps over the other K − 1 classes is another "
           "convention.",
           "05_cross_entropy", "Label smoothing"),
        _m("forbidden_builtin", "Calling the built-in loss",
           "This problem asks you to build the loss from elementary tensor operations; "
           "F.cross_entropy, log_softmax, logsumexp and nll_loss are off limits here.",
           "05_cross_entropy", "Cross-entropy in PyTorch"),
        _m("grad_wrt_probabilities", "Gradient with respect to p instead of z",
           "−1/p_y is the derivative of −log p_y with respect to the probability p_y; the "
           "logits sit behind a softmax, and the chain rule through it turns that into p − y "
           "(divided by N for a mean).",
           "05_cross_entropy", "The gradient p − y"),
        _m("jacobian_elementwise", "Softmax differentiated as if it were elementwise",
           "Every p_i depends on every z_j, so the off-diagonal entries are −p_i p_j, not 0; "
           "diag(p(1 − p)) is only the diagonal of diag(p) − ppᵀ.",
           "05_cross_entropy", "The softmax Jacobian"),
        _m("outer_product_1d", "ppᵀ that is not an outer product",
           "For a 1-D array .T does nothing: p @ p.T is the number Σ p_i² and p * p.T the "
           "elementwise square. ppᵀ is the K×K outer product np.outer(p, p), or "
           "p[:, None] * p[None, :].",
           "05_cross_entropy", "The softmax Jacobian"),
        # 06 temperature
        _m("temperature_multiplies", "Multiplying by the temperature",
           "Temperature divides the logits: softmax(z / T). Multiplying sharpens where it "
           "should flatten (T > 1) and the other way round.",
           "06_temperature", "Temperature"),
        _m("temperature_on_probs", "Temperature applied to probabilities",
           "T rescales logits, not probabilities: p / T (renormalised or not) or softmax(p / T) "
           "is a different distribution (and p / T renormalised is p itself: T has no effect at "
           "all); compute softmax(z / T).",
           "06_temperature", "Temperature"),
        _m("accepts_invalid_temperature", "No error for T ≤ 0",
           "Dividing by T = 0 gives inf/NaN and a negative T reverses the ranking; raise "
           "ValueError for T ≤ 0 (in a sampler, where T = 0 means greedy, for T < 0).",
           "06_temperature", "Temperature"),
        _m("entropy_nan_zero_prob", "0·log 0 evaluated as NaN",
           "Probabilities that underflow to 0 give 0·log 0 = 0·(−inf) = NaN; the term counts as "
           "0. Use log-softmax: H = −Σ p·log_softmax(z), with p = 0 terms dropped.",
           "06_temperature", "Entropy"),
        _m("wrong_log_base", "Logarithm in the wrong base",
           "Entropy, log-probabilities, losses and perplexity here use nats (the natural log, "
           "with e as its inverse); log2 gives bits and log10 gives bans, and mixing bases "
           "changes the number.",
           "06_temperature", "Entropy"),
        _m("top_k_off_by_one", "Keeping one entry too many or too few",
           "Top-k keeps the k largest logits (all entries ≥ the k-th largest, so ties at the "
           "boundary stay); check where your threshold sits in the sorted order.",
           "06_temperature", "Top-k and top-p"),
        _m("top_p_excludes_crossing", "Dropping the entry that crosses p",
           "Top-p keeps the smallest set whose probability reaches p, so the entry whose "
           "cumulative sum crosses p is kept (and at least one entry always is).",
           "06_temperature", "Top-k and top-p"),
        _m("top_p_unsorted", "Cumulative sum without sorting",
           "The nucleus is built from the most probable entries down; sort the probabilities "
           "in decreasing order before taking the cumulative sum.",
           "06_temperature", "Top-k and top-p"),
        _m("argmax_not_sample", "Argmax instead of a sample",
           "For a temperature above 0 the next token is drawn at random from softmax(z / T); "
           "argmax is only the T → 0 limit (greedy decoding).",
           "06_temperature", "Sampling"),
        _m("ignores_rng", "Not using the generator passed in",
           "Draw with the `rng` argument (rng.choice, rng.random) so that the same seed gives "
           "the same token; the global np.random state makes runs irreproducible.",
           "06_temperature", "Sampling"),
        _m("ece_bin_edges", "Calibration bins closed on the wrong side",
           "Bins are (lo, hi], so a confidence of exactly 0.5 with 2 bins lands in the first "
           "bin; np.digitize(..., right=True) or ceil(conf·B) − 1 gets it right.",
           "06b_calibration", "Calibration"),
        _m("ece_unweighted", "Bins averaged without their weights",
           "ECE weights each bin's gap |accuracy − confidence| by the fraction of samples in "
           "it, n_b / N; a plain mean over bins overweights nearly empty bins.",
           "06b_calibration", "Calibration"),
        _m("no_t_squared", "Missing the T² factor",
           "Soft-target gradients shrink like 1/T², so the distillation loss is multiplied by "
           "T² to keep its scale independent of the temperature.",
           "06b_calibration", "Distillation"),
        _m("kl_direction", "KL divergence in the wrong direction",
           "Distillation uses KL(teacher ‖ student) = Σ p_teacher·(log p_teacher − "
           "log p_student); KL is not symmetric.",
           "06b_calibration", "Distillation"),
        _m("top_p_keeps_extra", "One entry too many at the top-p boundary",
           "When the entries before one already sum to exactly p, the nucleus is complete: keep "
           "an entry only while the mass before it is strictly below p (cumsum − probs < p); "
           "≤ p keeps one entry more than the smallest set.",
           "06_temperature", "Top-k and top-p"),
        _m("sorted_order_returned", "Filtered logits left in sorted order",
           "Top-k and top-p find the kept set on sorted logits or probabilities, but the answer "
           "must keep each logit in its own place in the vocabulary: put the decisions back with "
           "the sort indices (np.put_along_axis, or scatter in PyTorch), or compare each logit "
           "with the cut-off where it stands.",
           "06_temperature", "Top-k and top-p"),
        _m("filter_returns_probabilities", "Probabilities returned by a filter",
           "A top-k or top-p filter returns logits: kept entries unchanged, the others −inf. "
           "The softmax comes later (and renormalises by itself), so that filters and "
           "temperature can be chained on the same scale.",
           "06_temperature", "Top-k and top-p"),
        _m("kl_mean_over_classes", "KL averaged over the classes too",
           "The KL divergence of one example is a sum over its K classes; average only over "
           "the N examples. Dividing by N·K (F.kl_div with reduction='mean') makes the loss K "
           "times too small; use reduction='batchmean'.",
           "06b_calibration", "Distillation"),
        _m("soft_ce_not_kl", "Soft cross-entropy instead of KL",
           "−Σ p_teacher·log p_student is KL(teacher ‖ student) plus the teacher's entropy: "
           "the same gradient, but not the same value. Subtract the entropy, i.e. compute "
           "Σ p_teacher·(log p_teacher − log p_student).",
           "06b_calibration", "Distillation"),
        _m("contrastive_one_direction", "One direction of a contrastive loss",
           "CLIP's loss averages two cross-entropies over the same similarity matrix: each image "
           "picks its text among the N texts (the rows, targets 0..N − 1) and each text picks "
           "its image among the N images (the columns: the rows of the transpose). One "
           "direction alone leaves half of the comparisons out.",
           "06b_calibration", "Learned temperature in CLIP"),
        _m("embeddings_not_normalised", "Embeddings not normalised",
           "CLIP compares directions: divide each embedding by its own length "
           "(np.linalg.norm(x, axis=1, keepdims=True)) so that the dot products are cosine "
           "similarities in [−1, 1]. Raw dot products let a long vector win every comparison, "
           "and τ no longer sets the scale of the logits.",
           "06b_calibration", "Learned temperature in CLIP"),
        # 07 attention masking
        _m("causal_wrong_triangle", "Upper triangle instead of lower",
           "Query i may attend keys j ≤ i: the keep-mask is lower-triangular (np.tril), "
           "otherwise tokens look into the future.",
           "07_attention_masking", "Causal masks"),
        _m("causal_no_diagonal", "A token cannot see itself",
           "The causal mask keeps j ≤ i, diagonal included; with j < i the first token has "
           "nothing to attend to.",
           "07_attention_masking", "Causal masks"),
        _m("mask_inverted", "Mask polarity inverted",
           "In this course (and in scaled_dot_product_attention) True means keep; "
           "nn.MultiheadAttention's masks use True for drop. Flip with ~mask.",
           "07_attention_masking", "Mask polarity"),
        _m("padding_off_by_one", "Padding mask off by one",
           "A sequence of length L occupies positions 0 … L − 1: keep position < L.",
           "07_attention_masking", "Padding masks"),
        _m("fully_masked_row", "NaN or uniform weights for a fully masked row",
           "A row with nothing to attend to must give zeros: −inf everywhere gives 0/0 = NaN "
           "and a finite fill such as −1e9 gives uniform weights over masked keys.",
           "07_attention_masking", "Fully masked rows"),
        _m("mask_after_softmax", "Mask applied after the softmax",
           "Zeroing weights after softmax leaves rows that no longer sum to one; mask the "
           "scores with −inf before the softmax.",
           "07_attention_masking", "Mask before softmax"),
        _m("mask_fill_zero", "Masked scores filled with 0",
           "A score of 0 still gets weight exp(0 − max) > 0; fill masked scores with −inf "
           "so that their weight is exactly 0.",
           "07_attention_masking", "Mask before softmax"),
        _m("missing_sqrt_d", "Scores not scaled by 1/√d",
           "q·k has variance d for unit-variance entries, so unscaled scores saturate the "
           "softmax; divide by √d.",
           "07_attention_masking", "Why divide by √d"),
        _m("scale_by_d", "Scores divided by d instead of √d",
           "Dividing by d over-flattens the weights; the variance argument gives √d.",
           "07_attention_masking", "Why divide by √d"),
        _m("transpose_all_axes", "k.T on a batched array",
           "k.T reverses every axis, so a (B, Lk, d) array becomes (d, Lk, B); swap only the "
           "last two: np.swapaxes(k, -1, -2) (torch: k.transpose(-2, -1) or k.mT).",
           "07_attention_masking", "Scaled dot-product attention"),
        _m("mask_not_broadcast", "Boolean indexing with a mask that should broadcast",
           "scores[~mask] = -inf needs a mask of exactly the scores' shape; masks of shape "
           "(Lk,), (Lq, Lk) or (B, 1, 1, Lk) must broadcast: np.where(mask, scores, -np.inf).",
           "07_attention_masking", "Combining masks by broadcasting"),
        _m("masks_combined_with_or", "Keep-masks combined with OR",
           "A key is visible only if every mask allows it: keep-masks combine with & (AND). "
           "OR is for drop-masks, where a key is hidden if any mask hides it.",
           "07_attention_masking", "Combining masks by broadcasting"),
        _m("padding_on_queries", "Padding mask applied to the queries",
           "Key padding hides key columns: reshape (B, n) to (B, 1, 1, n). Hiding padded "
           "query rows instead (or as well) leaves those rows with nothing to attend to, and "
           "their outputs are discarded anyway.",
           "07_attention_masking", "Combining masks by broadcasting"),
        _m("mask_value_overflow", "A fill value that float16 cannot hold",
           "float16 ends at 65504: torch's masked_fill(mask, -1e9) raises on a float16 tensor "
           "and numpy turns −1e9 into −inf. Fill with −inf (or torch.finfo(dtype).min) and "
           "give fully masked rows zeros yourself.",
           "07_attention_masking", "Mask values in float16"),
        # 09 softmax at scale
        _m("two_pass_stream", "Two passes over a one-shot stream",
           "The chunks arrive once: a first pass for the max exhausts the iterator. Keep a "
           "running max and rescale the running sum as the max grows.",
           "09_softmax_at_scale", "Online softmax", pending=True),
        _m("merge_forgets_rescale", "Merging sums without rescaling",
           "Each partial sum is relative to its own max; rescale both by exp(m_i − m) to the "
           "common max m before adding.",
           "09_softmax_at_scale", "Merging partial results", pending=True),
        _m("stream_kept_in_memory", "The whole stream kept in memory",
           "list(chunks) or np.concatenate gives the right number only while the stream fits "
           "in memory, which is what streaming is for; keep a running max and a running sum, "
           "and let each chunk go.",
           "09_softmax_at_scale", "Online softmax"),
        _m("accumulator_not_rescaled", "Running sum not rescaled when the max grows",
           "A running Σ e^(x − m) is relative to the max when it was added; when the max grows "
           "to m_new, multiply it (and a running output) by e^(m − m_new) before adding the new "
           "terms.",
           "09_softmax_at_scale", "Online softmax"),
        _m("empty_chunk", "No max of an empty chunk",
           "An empty array has no max: .max() raises. Skip empty chunks (or use "
           "np.max(c, initial=-np.inf)).",
           "09_softmax_at_scale", "Online softmax"),
        _m("chunk_boundary_off_by_one", "A chunk boundary off by one",
           "range(0, n, size) with x[start:start + size] visits every element once, the last "
           "chunk shorter; stopping the range at n − size drops the last chunk, and slicing to "
           "start + size − 1 drops one element per chunk.",
           "09_softmax_at_scale", "Chunked cross-entropy"),
        _m("softmax_per_tile", "Each tile normalised on its own",
           "A softmax per tile gives every tile a total weight of 1; the tiles share one "
           "normaliser: keep the running sum and divide once, after the last tile.",
           "09_softmax_at_scale", "Tiled attention"),
        _m("full_logits_materialised", "The full logits built anyway",
           "h @ W.T for every row at once holds N × V numbers, which is what chunking avoids; "
           "compute the logits of `chunk` rows, take their losses, and drop them.",
           "09_softmax_at_scale", "Chunked cross-entropy"),
        _m("mean_of_chunk_means", "A mean of chunk means",
           "When the last chunk is shorter, averaging the chunks' mean losses weighs its rows "
           "more; add up every row's loss and divide by N once.",
           "09_softmax_at_scale", "Chunked cross-entropy"),
        _m("sparsemax_unsorted_threshold", "Sparsemax threshold from unsorted values",
           "The support test 1 + k·z_(k) > Σ_{j ≤ k} z_(j) reads the values sorted from the "
           "largest down; sort each row decreasingly first, then apply τ to the unsorted z.",
           "09_softmax_at_scale", "Sparsemax"),
        _m("sparsemax_support_off_by_one", "Sparsemax support counted off by one",
           "k counts entries from 1 (1 + k·z_(k) > cumulative sum), and τ divides by the "
           "support's size k*, not by an index of it.",
           "09_softmax_at_scale", "Sparsemax"),
        _m("sparsemax_not_clipped", "Sparsemax without the clip at 0",
           "z − τ is negative outside the support; sparsemax is max(z − τ, 0), which is what "
           "makes its zeros exact.",
           "09_softmax_at_scale", "Sparsemax"),
        _m("softmax_not_sparsemax", "Softmax instead of sparsemax",
           "Softmax never gives an exact 0; sparsemax subtracts a threshold τ and clips at 0.",
           "09_softmax_at_scale", "Sparsemax"),
        _m("block_not_rescaled", "Blocks left relative to their own max",
           "Pass 1 of an online softmax writes each block's e^(x − m_b) relative to the block's "
           "own max m_b, while the total s is relative to the final max m; pass 2 must multiply "
           "each block by e^(m_b − m) / s, not only divide by s.",
           "09_softmax_at_scale", "Online softmax"),
        _m("bits_for_bytes", "Bits counted as bytes",
           "float32 is 32 bits, which is 4 bytes: an array takes (number of elements) × "
           "(bytes per element), 2 for float16 and bfloat16, 4 for float32, 8 for float64.",
           "09_softmax_at_scale", "The vocabulary cost and sampled softmax"),
        _m("itemsize_ignored", "One size for every dtype",
           "The bytes per element depend on the dtype: 2 for float16 and bfloat16, 4 for "
           "float32, 8 for float64 (numpy's default). Halving the precision halves the memory, "
           "which is why logits are often kept in bfloat16.",
           "09_softmax_at_scale", "The vocabulary cost and sampled softmax"),
        _m("chunk_count_rounded_down", "Chunks counted with N // chunk",
           "N // chunk chunks leave out the N mod chunk rows of the last, shorter chunk; the "
           "count is the ceiling ⌈N / chunk⌉ = (N + chunk − 1) // chunk.",
           "09_softmax_at_scale", "Chunked cross-entropy"),
        _m("chunk_over_budget", "A chunk rounded up past the budget",
           "The rows that fit are budget / (bytes per row) rounded down: rounding up (or to the "
           "nearest) gives a chunk whose logits no longer fit in the budget.",
           "09_softmax_at_scale", "Chunked cross-entropy"),
        _m("sparsemax_tau_held_fixed", "The threshold τ treated as a constant",
           "On the support p_j = z_j − τ, and τ = (Σ_S z − 1)/|S| moves with every z in the "
           "support: ∂τ/∂z_j = 1/|S|. So J = diag(s) − s sᵀ/|S|, and Jᵀg subtracts the mean of "
           "g over the support, which keeps the sum of p at one.",
           "09_softmax_at_scale", "Sparsemax"),
        _m("sparsemax_grad_mean_over_all", "The mean of g over every entry",
           "τ depends only on the entries in the support, so the mean subtracted from g is over "
           "the support S: Σ_S g / |S|, not the mean over all K entries.",
           "09_softmax_at_scale", "Sparsemax"),
        _m("sparsemax_grad_off_support", "A gradient outside the support",
           "An entry clipped to 0 stays 0 under any small change of z: its rows and columns of "
           "the Jacobian are 0, so Jᵀg is exactly 0 off the support.",
           "09_softmax_at_scale", "Sparsemax"),
        _m("softmax_backward_for_sparsemax", "Softmax's backward used for sparsemax",
           "p ⊙ (g − Σ p g) is the backward of softmax, whose Jacobian is diag(p) − p pᵀ. "
           "Sparsemax's Jacobian depends only on which entries are in the support S: "
           "diag(s) − s sᵀ/|S|.",
           "09_softmax_at_scale", "Sparsemax"),
        _m("forbidden_torch_function", "Calling torch's ready-made version",
           "This problem asks you to build it from elementary tensor operations, so that the "
           "model trains with your own code; torch's log_softmax, logsumexp, softmax and "
           "scaled_dot_product_attention are off limits here.",
           "08_tiny_language_model", "Your functions, in torch"),
        _m("no_causal_mask", "Attention without the causal mask",
           "Without the mask every position sees the characters after it, including the one it "
           "must predict: training looks excellent and generation fails. Hide keys j > i "
           "before the softmax.",
           "08_tiny_language_model", "When a piece is wrong"),
        _m("lower_precision", "float32 arithmetic on float64 input",
           "Your answer computes in float32 (np.float32, torch's default dtype, torch.tensor of "
           "a list) although its input is float64: float32 keeps about 7 significant digits, so "
           "inputs that differ only in later digits (logits near 1e4 a few decimals apart, "
           "probabilities within 1e-8 of 0 or 1) lose them. Compute in the input's dtype "
           "(np.asarray keeps it; in torch, torch.as_tensor or torch.from_numpy).",
           "04_log_softmax", "How the error grows with the gap"),
        # practice beyond the lessons
        _m("quotient_rule_square", "Quotient rule without the square",
           "d/dx 1/(1 + e^(−x)) = e^(−x) / (1 + e^(−x))²: the denominator is squared. Without "
           "the square you get 1 − σ(x), not σ'(x) = σ(x)(1 − σ(x)).",
           "01_logits", "The sigmoid"),
        _m("count_not_rounded_up", "A count rounded down or to the nearest",
           "The fewest whole steps that reach a target is the ceiling of the real number of "
           "steps needed: 6.6 steps means 7, since 6 fall short. Round up (np.ceil), and "
           "never below 0.",
           "01_logits", "Log-odds arithmetic"),
        _m("margin_ignores_other_classes", "Margin against one class instead of K − 1",
           "With K classes, the top class competes with K − 1 others: e^m / (e^m + K − 1) = p "
           "gives m = log(p(K − 1)/(1 − p)). log(p/(1 − p)) is the two-class answer; the margin "
           "needed grows like log K.",
           "02_softmax", "A lead becomes near-certainty"),
        _m("prior_not_removed", "New prior multiplied in, old one left in",
           "A trained model's probabilities already include the training frequencies: p_k ∝ "
           "likelihood_k · train_k. Multiply by new_k / train_k, not by new_k alone nor by "
           "train_k / new_k (add log new_k − log train_k to the logits), then renormalise each "
           "row.",
           "02_softmax", "From probabilities back to logits"),
        _m("smooth_max_not_rescaled", "Smooth maximum not scaled back",
           "LSE(z/τ) is on the scale of z/τ; multiply by τ to come back to the scale of z: "
           "τ·LSE(z/τ) lies between max(z) and max(z) + τ·log K.",
           "03_stability", "Bounds: a smooth maximum"),
        _m("chain_rule_inner_dropped", "Chain rule without the inner derivative",
           "The chain rule multiplies by the inner derivative: with β = 1/T, dL/dT = dL/dβ · "
           "dβ/dT, and dβ/dT = −1/T². Stopping at dL/dβ gives the right shape with the wrong "
           "sign and scale.",
           "06b_calibration", "Calibration"),
        _m("mean_of_logs", "The mean of the logs instead of the log of the mean",
           "Averaging log-probabilities gives the log of a geometric mean, which is not a "
           "mixture and can be far below it; average the probabilities in log space: "
           "logsumexp(ℓ, axis=0) − log M.",
           "03_stability", "Log-sum-exp"),
        _m("padding_counted", "Padding counted as tokens",
           "Positions after a sequence's length are padding: leave their log-probabilities out "
           "of the sum (a mask np.arange(L) < lengths[:, None]) and divide by the length, not "
           "by L.",
           "04_log_softmax", "Sums of log-probabilities"),
        _m("lse_treated_as_constant", "Log-sum-exp treated as a constant",
           "log_softmax(z) = z − LSE(z), and LSE depends on every z_j: ∂LSE/∂z_j = p_j. The "
           "gradient is g − p Σ g, not g alone.",
           "04_log_softmax", "Log-softmax is z minus log-sum-exp"),
        _m("grad_assumes_one_hot", "g − p, as if the upstream gradient summed to one",
           "For cross-entropy the upstream gradient is one-hot and g − p is right; in general "
           "(Jᵀg)_j = g_j − p_j Σ_i g_i: multiply p by the sum of g.",
           "04_log_softmax", "Log-softmax is z minus log-sum-exp"),
        _m("jacobian_not_transposed", "J g instead of Jᵀ g",
           "Backpropagation multiplies by the transposed Jacobian: (Jᵀg)_j = Σ_i g_i ∂y_i/∂z_j. "
           "For log-softmax J_ij = δ_ij − p_j is not symmetric, so J g = g − Σ_j p_j g_j is "
           "wrong.",
           "04_log_softmax", "Log-softmax is z minus log-sum-exp"),
        _m("smoothed_loss_reaches_zero", "A smoothed loss that could reach 0",
           "With smoothed targets q, cross-entropy is H(q) + KL(q ‖ p) ≥ H(q): the best a model "
           "can do is p = q, where the loss is the entropy of q, summed over every class, not "
           "0 and not the target's term alone.",
           "05_cross_entropy", "Label smoothing"),
        _m("bias_grad_averaged", "The bias gradient divided by N twice",
           "b is added to every row, so ∂L/∂b is the sum over the rows of ∂L/∂z; with "
           "∂L/∂z = (P − Y)/N already divided by N, summing gives the mean once. Averaging "
           "(P − Y)/N again divides by N twice.",
           "05_cross_entropy", "The gradient p − y"),
        _m("filter_on_logits", "Logits added up as if they were probabilities",
           "Top-p adds up probabilities: softmax the logits first, then sort and accumulate. "
           "Logits can be negative and do not sum to one.",
           "06_temperature", "Top-k and top-p"),
        _m("mean_not_weighted", "An unweighted mean of the logits",
           "d LSE(z/T)/dT = −z̄/T² with z̄ = Σ p_i z_i, the mean of the logits under "
           "p = softmax(z/T); np.mean(z) weighs every class by 1/K instead.",
           "06b_calibration", "Calibration"),
        _m("packing_crosses_documents", "Packed sequences that see each other",
           "A causal mask over a packed row lets a token attend the end of the previous "
           "sequence; combine it with 'same sequence' (a block-diagonal mask) using &.",
           "07_attention_masking", "Combining masks by broadcasting"),
        _m("packed_not_causal", "Packed sequences without the causal part",
           "The block-diagonal 'same sequence' mask keeps every token of a sequence, future "
           "ones included; combine it with the causal mask j ≤ i using &.",
           "07_attention_masking", "Combining masks by broadcasting"),
    ]
}


def get(id: str) -> Misconception:
    """The catalogue entry for `id`; a KeyError names the unknown id."""
    try:
        return CATALOGUE[id]
    except KeyError:
        raise KeyError(f"unknown misconception id {id!r}") from None
