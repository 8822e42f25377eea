/* Max and sum of exp(x - max) over one row of V logits at `base`, for a whole work group.
 * Needs a readonly buffer `logits` declared before the include. */
void row_softmax_stats(uint base, uint V, out float mx, out float sum) {
    float m = -3.402823e38;
    for (uint v = LID; v < V; v += WG) m = max(m, logits[base + v]);
    mx = wg_max(m);
    float s = 0.0;
    for (uint v = LID; v < V; v += WG) s += exp(logits[base + v] - mx);
    sum = wg_sum(s);
}
