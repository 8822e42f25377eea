/* GPT-2's tanh GELU and its derivative. With e = exp(-2|u|), 1 + tanh(u) and
 * 1 - tanh(u)^2 are formed from e directly: computing tanh first and then 1 + t loses
 * every digit where tanh is close to -1 (large negative inputs), and e never overflows. */
const float GELU_SCALE = 0.7978845608028654; /* sqrt(2/pi) */

float gelu_u(float v) { return GELU_SCALE * (v + 0.044715 * v * v * v); }

float one_plus_tanh(float u) {
    float e = exp(-2.0 * abs(u));
    return (u >= 0.0 ? 2.0 : 2.0 * e) / (1.0 + e);
}

float sech2(float u) {
    float e = exp(-2.0 * abs(u));
    return 4.0 * e / ((1.0 + e) * (1.0 + e));
}

float gelu(float v) { return 0.5 * v * one_plus_tanh(gelu_u(v)); }

float gelu_grad(float v) {
    float u = gelu_u(v);
    float du = GELU_SCALE * (1.0 + 3.0 * 0.044715 * v * v);
    return 0.5 * one_plus_tanh(u) + 0.5 * v * sech2(u) * du;
}
