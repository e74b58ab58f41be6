/*
 * int8 kernels with TensorFlow Lite's reference numerics (see ee_kernels.h).
 * Written for clarity over speed, like TFLite's reference kernels: work scales
 * with the layer's multiply-accumulates.
 */
#include "ee_kernels.h"

#include <math.h>

/* -- fixed point (TFLite semantics) ---------------------------------------------------- */

static int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* division truncates to zero */
}

static int32_t rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* gemmlowp's two roundings: TFLite's reference CONV_2D, DEPTHWISE_CONV_2D, ADD, ... */
int32_t ee_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x * (1 << left), multiplier), right);
}

/* One rounding of the 64-bit product: TFLite's per-channel FULLY_CONNECTED. The two
 * differ by one step on rare ties; the layer table says which one a layer uses. */
int32_t ee_multiply_by_quantized_multiplier_single(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t total_shift = 31 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    return (int32_t)(((int64_t)x * (int64_t)multiplier + round) >> total_shift);
}

static int8_t requantize(const ee_layer_t *L, int32_t acc, int32_t channel)
{
    int32_t i = L->n_mult > 1 ? channel : 0;
    int32_t v = (L->single_rounding ? ee_multiply_by_quantized_multiplier_single(acc, L->mult[i], L->shift[i])
                                    : ee_multiply_by_quantized_multiplier(acc, L->mult[i], L->shift[i])) +
                L->out_zp;
    if (v < L->act_min) v = L->act_min;
    if (v > L->act_max) v = L->act_max;
    return (int8_t)v;
}

/* -- layers --------------------------------------------------------------------------- */

/* The filter taps of output row/column `o` that land inside the input: [*k0, *k1). */
static void valid_taps(int32_t o, int32_t stride, int32_t pad, int32_t dil, int32_t k, int32_t in, int32_t *k0,
                       int32_t *k1)
{
    const int32_t origin = o * stride - pad;
    int32_t lo = 0, hi = k;
    while (lo < k && origin + lo * dil < 0) lo++;
    while (hi > lo && origin + (hi - 1) * dil >= in) hi--;
    *k0 = lo;
    *k1 = hi;
}

static void conv_2d(const ee_layer_t *L, const int8_t *in, int8_t *out)
{
    const int32_t in_offset = -L->in_zp;
    const int32_t filter_size = L->k_h * L->k_w * L->in_c;
    for (int32_t oy = 0; oy < L->out_h; oy++) {
        int32_t ky0, ky1;
        valid_taps(oy, L->stride_h, L->pad_h, L->dil_h, L->k_h, L->in_h, &ky0, &ky1);
        const int32_t iy0 = oy * L->stride_h - L->pad_h;
        for (int32_t ox = 0; ox < L->out_w; ox++) {
            int32_t kx0, kx1;
            valid_taps(ox, L->stride_w, L->pad_w, L->dil_w, L->k_w, L->in_w, &kx0, &kx1);
            const int32_t ix0 = ox * L->stride_w - L->pad_w;
            /* with no dilation a row of taps is one contiguous run in input and filter */
            const int32_t run = L->dil_w == 1 ? (kx1 - kx0) * L->in_c : L->in_c;
            const int32_t runs = L->dil_w == 1 ? (kx1 > kx0) : kx1 - kx0;
            int8_t *o = out + (oy * L->out_w + ox) * L->out_c;
            for (int32_t oc = 0; oc < L->out_c; oc++) {
                int32_t acc = L->bias ? L->bias[oc] : 0;
                const int8_t *filter = L->weights + oc * filter_size;
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int32_t iy = iy0 + ky * L->dil_h; /* padding taps contribute zero */
                    for (int32_t r = 0; r < runs; r++) {
                        const int32_t kx = kx0 + r;
                        const int8_t *ip = in + (iy * L->in_w + ix0 + kx * L->dil_w) * L->in_c;
                        const int8_t *wp = filter + (ky * L->k_w + kx) * L->in_c;
                        for (int32_t i = 0; i < run; i++) acc += (ip[i] + in_offset) * wp[i];
                    }
                }
                o[oc] = requantize(L, acc, oc);
            }
        }
    }
}

static void depthwise_conv_2d(const ee_layer_t *L, const int8_t *in, int8_t *out)
{
    const int32_t in_offset = -L->in_zp;
    for (int32_t oy = 0; oy < L->out_h; oy++) {
        int32_t ky0, ky1;
        valid_taps(oy, L->stride_h, L->pad_h, L->dil_h, L->k_h, L->in_h, &ky0, &ky1);
        const int32_t iy0 = oy * L->stride_h - L->pad_h;
        for (int32_t ox = 0; ox < L->out_w; ox++) {
            int32_t kx0, kx1;
            valid_taps(ox, L->stride_w, L->pad_w, L->dil_w, L->k_w, L->in_w, &kx0, &kx1);
            const int32_t ix0 = ox * L->stride_w - L->pad_w;
            int8_t *o = out + (oy * L->out_w + ox) * L->out_c;
            for (int32_t oc = 0; oc < L->out_c; oc++) {
                const int32_t ic = oc / L->depth_mult;
                int32_t acc = L->bias ? L->bias[oc] : 0;
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *ip = in + ((iy0 + ky * L->dil_h) * L->in_w + ix0) * L->in_c + ic;
                    const int8_t *wp = L->weights + ky * L->k_w * L->out_c + oc;
                    for (int32_t kx = kx0; kx < kx1; kx++)
                        acc += (ip[kx * L->dil_w * L->in_c] + in_offset) * wp[kx * L->out_c];
                }
                o[oc] = requantize(L, acc, oc);
            }
        }
    }
}

static void fully_connected(const ee_layer_t *L, const int8_t *in, int8_t *out)
{
    const int32_t in_offset = -L->in_zp;
    for (int32_t r = 0; r < L->in_h; r++) {
        const int8_t *row = in + r * L->in_c;
        for (int32_t o = 0; o < L->out_c; o++) {
            const int8_t *w = L->weights + o * L->in_c;
            int32_t acc = L->bias ? L->bias[o] : 0;
            for (int32_t i = 0; i < L->in_c; i++) acc += (row[i] + in_offset) * w[i];
            out[r * L->out_c + o] = requantize(L, acc, o);
        }
    }
}

/* AVERAGE_POOL_2D / MAX_POOL_2D: windows clipped to the input, as TFLite does. */
static void pool(const ee_layer_t *L, const int8_t *in, int8_t *out, int is_max)
{
    for (int32_t oy = 0; oy < L->out_h; oy++) {
        for (int32_t ox = 0; ox < L->out_w; ox++) {
            const int32_t iy0 = oy * L->stride_h - L->pad_h;
            const int32_t ix0 = ox * L->stride_w - L->pad_w;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
            const int32_t ky1 = L->k_h < L->in_h - iy0 ? L->k_h : L->in_h - iy0;
            const int32_t kx1 = L->k_w < L->in_w - ix0 ? L->k_w : L->in_w - ix0;
            for (int32_t c = 0; c < L->in_c; c++) {
                int32_t acc = is_max ? -128 : 0, count = 0;
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        int32_t v = in[((iy0 + ky) * L->in_w + ix0 + kx) * L->in_c + c];
                        if (is_max) {
                            if (v > acc) acc = v;
                        } else {
                            acc += v;
                        }
                        count++;
                    }
                }
                if (!is_max && count) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                if (acc < L->act_min) acc = L->act_min;
                if (acc > L->act_max) acc = L->act_max;
                out[(oy * L->out_w + ox) * L->out_c + c] = (int8_t)acc;
            }
        }
    }
}

static void add(const ee_layer_t *L, const int8_t *a, const int8_t *b, int8_t *out)
{
    const int32_t n = L->out_h * L->out_w * L->out_c;
    for (int32_t i = 0; i < n; i++) {
        int32_t x = (a[i] - L->in_zp) * (1 << L->left_shift);
        int32_t y = (b[i] - L->in2_zp) * (1 << L->left_shift);
        int32_t sum = ee_multiply_by_quantized_multiplier(x, L->in1_mult, L->in1_shift) +
                      ee_multiply_by_quantized_multiplier(y, L->in2_mult, L->in2_shift);
        int32_t v = ee_multiply_by_quantized_multiplier(sum, L->mult[0], L->shift[0]) + L->out_zp;
        if (v < L->act_min) v = L->act_min;
        if (v > L->act_max) v = L->act_max;
        out[i] = (int8_t)v;
    }
}

static void softmax(const ee_layer_t *L, const int8_t *in, int8_t *out)
{
    for (int32_t r = 0; r < L->in_h; r++) {
        const int8_t *x = in + r * L->in_c;
        int8_t *y = out + r * L->in_c;
        int32_t max = -128;
        for (int32_t i = 0; i < L->in_c; i++)
            if (x[i] > max) max = x[i];
        float sum = 0.0f;
        for (int32_t i = 0; i < L->in_c; i++) sum += expf(L->beta * L->in_scale * (float)(x[i] - max));
        for (int32_t i = 0; i < L->in_c; i++) {
            float p = expf(L->beta * L->in_scale * (float)(x[i] - max)) / sum;
            int32_t q = (int32_t)lrintf(p / L->out_scale) + L->out_zp;
            y[i] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
        }
    }
}

static void requantize_tensor(const ee_layer_t *L, const int8_t *in, int8_t *out)
{
    for (uint32_t i = 0; i < L->bytes; i++) {
        int32_t v = ee_multiply_by_quantized_multiplier(in[i] - L->in_zp, L->mult[0], L->shift[0]) + L->out_zp;
        out[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    }
}

int ee_run_layer(const ee_layer_t *L, int8_t *arena)
{
    const int8_t *in = arena + L->in;
    int8_t *out = arena + L->out;
    switch (L->op) {
    case EE_OP_CONV_2D: conv_2d(L, in, out); return 0;
    case EE_OP_DEPTHWISE_CONV_2D: depthwise_conv_2d(L, in, out); return 0;
    case EE_OP_FULLY_CONNECTED: fully_connected(L, in, out); return 0;
    case EE_OP_AVERAGE_POOL_2D: pool(L, in, out, 0); return 0;
    case EE_OP_MAX_POOL_2D: pool(L, in, out, 1); return 0;
    case EE_OP_ADD: add(L, in, arena + L->in2, out); return 0;
    case EE_OP_SOFTMAX: softmax(L, in, out); return 0;
    case EE_OP_REQUANTIZE: requantize_tensor(L, in, out); return 0;
    case EE_OP_COPY:
        if (L->out != L->in)
            for (uint32_t i = 0; i < L->bytes; i++) out[i] = in[i];
        return 0;
    default: return 1;
    }
}
