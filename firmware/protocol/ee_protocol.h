/*
 * Device side of the MLPerf Tiny / EEMBC EnergyRunner serial protocol.
 *
 * Portable C99 with no library calls besides <stddef.h>/<stdint.h>; drop
 * ee_protocol.c, ee_protocol.h and ee_config.h into any firmware (a TensorFlow
 * Lite Micro application, say) and implement the porting interface below.
 *
 * The wire format is documented in docs: see firmware/README.md. In short, the
 * host sends commands terminated by '%' ("name%", "db load 490%", "infer 10 1%");
 * the device answers with lines ending "\r\n", the last one always "m-ready".
 *
 * Usage from the board's main():
 *
 *     board_init();                  // clocks, UART, timer
 *     ee_protocol_init();            // prints m-init-done, m-ready
 *     for (;;) ee_protocol_rx(uart_getc_blocking());
 */
#ifndef EE_PROTOCOL_H
#define EE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "ee_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* -- called by the application ---------------------------------------------------- */

/* Print the boot banner (m-timestamp-mode-..., m-init-done, m-ready). Call once,
 * after the UART and the timer work and the model is ready to run. */
void ee_protocol_init(void);

/* Feed one received byte. A command runs, and prints its whole reply, when its
 * terminating '%' arrives; the call returns after the reply's m-ready. */
void ee_protocol_rx(char c);

/* -- porting interface: the board implements these ------------------------------- */

/* Send n bytes over the serial port; may block until they are queued. */
void ee_port_write(const char *s, size_t n);

/* Microseconds since boot from a hardware counter (at least 1 kHz resolution),
 * wrapping at 2^32. Used in performance mode. */
uint32_t ee_port_timestamp_us(void);

/* Optional (a weak default returns ee_port_timestamp_us()): the stamp that starts a
 * timed `infer` window. A board may align its clock there so that windows doing the
 * same work always read the same number of µs. */
uint32_t ee_port_window_start_us(void);

/* Pulse the timestamp GPIO that the power monitor watches (falling edge = the
 * timestamp). Used in energy mode. */
void ee_port_timestamp_pulse(void);

/* -- porting interface: the model glue implements these --------------------------- */

/* Short model id printed as m-model-[...]: kws01, vww01, ic01, ad01, ... */
const char *ee_model_id(void);

/* Bytes the model's input tensor takes (what `db load N` should announce). */
size_t ee_model_input_bytes(void);

/* Copy the n bytes loaded with `db` into the input tensor. Non-zero = refused
 * (wrong size, say): the device answers e-[...]. */
int ee_model_load_input(const uint8_t *data, size_t n);

/* Run one inference on the current input tensor. Non-zero = failed. */
int ee_model_infer(void);

/* Write the dequantized outputs of the last inference to out[0..capacity) and
 * return how many there are. */
size_t ee_model_results(float *out, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* EE_PROTOCOL_H */
