/*
 * Model glue for the protocol module: runs the layer table of a header generated
 * by `harness firmware gen-model MODEL -o model.h` (see harness/mcu/model_header.py)
 * with the int8 kernels. Build with -DEE_MODEL_HEADER='"path/to/model.h"'.
 */
#include <stddef.h>
#include <stdint.h>

#include "ee_kernels.h"
#include "ee_protocol.h"

#ifndef EE_MODEL_HEADER
#define EE_MODEL_HEADER "synthetic.h"
#endif
#include EE_MODEL_HEADER

static int8_t arena[EE_MODEL_ARENA_BYTES] __attribute__((aligned(16)));

const char *ee_model_id(void) { return EE_MODEL_ID; }

size_t ee_model_input_bytes(void) { return EE_MODEL_INPUT_BYTES; }

int ee_model_load_input(const uint8_t *data, size_t n)
{
    if (n != EE_MODEL_INPUT_BYTES) return 1;
    for (size_t i = 0; i < n; i++) arena[EE_MODEL_INPUT_OFFSET + i] = (int8_t)data[i];
    return 0;
}

int ee_model_infer(void)
{
    for (size_t i = 0; i < sizeof ee_model_layers / sizeof ee_model_layers[0]; i++)
        if (ee_run_layer(&ee_model_layers[i], arena) != 0) return 1;
    return 0;
}

size_t ee_model_results(float *out, size_t capacity)
{
    size_t n = EE_MODEL_OUTPUT_COUNT < capacity ? EE_MODEL_OUTPUT_COUNT : capacity;
    for (size_t i = 0; i < n; i++)
        out[i] = EE_MODEL_OUTPUT_SCALE * (float)(arena[EE_MODEL_OUTPUT_OFFSET + i] - EE_MODEL_OUTPUT_ZP);
    return n;
}
