/*
 * int8 kernels for the reference firmware's model runner, with TensorFlow Lite's
 * reference numerics: int32 accumulation with the input zero point folded in,
 * per-channel (or per-tensor) requantization by a Q31 multiplier and a shift with
 * rounding as in TFLite's MultiplyByQuantizedMultiplier (gemmlowp's double rounding,
 * or a single rounding where TFLite's kernel uses one), fused activation by
 * clamping. Softmax runs in float on the dequantized input and quantizes its
 * output, so it may differ from TFLite's fixed-point softmax by one step.
 *
 * Tensors are NHWC, batch 1 (FULLY_CONNECTED: [rows, features]).
 * Filters: CONV_2D [out_c][k_h][k_w][in_c]; DEPTHWISE [k_h][k_w][out_c];
 * FULLY_CONNECTED [out_features][in_features].
 */
#ifndef EE_KERNELS_H
#define EE_KERNELS_H

#include <stdint.h>

enum ee_op {
    EE_OP_CONV_2D = 1,
    EE_OP_DEPTHWISE_CONV_2D = 2,
    EE_OP_FULLY_CONNECTED = 3,
    EE_OP_AVERAGE_POOL_2D = 4,
    EE_OP_MAX_POOL_2D = 5,
    EE_OP_ADD = 6,
    EE_OP_SOFTMAX = 7,
    EE_OP_COPY = 8,    /* RESHAPE and friends: bytes unchanged */
    EE_OP_REQUANTIZE = 9, /* QUANTIZE int8 -> int8 with another scale/zero point */
};

typedef struct {
    uint8_t op;
    /* arena offsets (bytes) of the input(s) and the output */
    uint32_t in, in2, out;
    /* shapes; FULLY_CONNECTED: in_h = rows, in_c = in features, out_c = out features */
    int32_t in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t depth_mult;
    /* zero points */
    int32_t in_zp, in2_zp, out_zp;
    /* fused activation, as a clamp on the quantized output */
    int32_t act_min, act_max;
    /* requantization; n_mult = 1 (per tensor) or out_c (per channel) */
    int32_t n_mult;
    const int32_t *mult, *shift;
    int32_t single_rounding; /* 1: one rounding of the 64-bit product (per-channel FC) */
    const int8_t *weights;
    const int32_t *bias; /* may be 0 */
    /* ADD: inputs rescaled to a common scale after << left_shift */
    int32_t left_shift, in1_mult, in1_shift, in2_mult, in2_shift;
    /* SOFTMAX */
    float in_scale, beta, out_scale;
    /* COPY: bytes */
    uint32_t bytes;
} ee_layer_t;

/* Run one layer on the arena. Returns 0, or non-zero for an unknown op. */
int ee_run_layer(const ee_layer_t *layer, int8_t *arena);

/* TFLite's fixed-point helpers, exposed for tests of the numerics. */
int32_t ee_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift);
int32_t ee_multiply_by_quantized_multiplier_single(int32_t x, int32_t multiplier, int32_t shift);

#endif /* EE_KERNELS_H */
