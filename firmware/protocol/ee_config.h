/*
 * Build-time settings of the protocol module. Override any of them with -D on the
 * compiler command line (or in your own header included before this one).
 */
#ifndef EE_CONFIG_H
#define EE_CONFIG_H

/* 0: performance mode (`timestamp%` prints m-lap-us-N).
 * 1: energy mode (`timestamp%` only pulses the timestamp GPIO for the power monitor).
 * The mode is fixed at build time, as in the MLPerf Tiny reference firmware. */
#ifndef EE_ENERGY_MODE
#define EE_ENERGY_MODE 0
#endif

/* Longest command accepted, '%' excluded; longer commands are clamped. */
#ifndef EE_CMD_MAX
#define EE_CMD_MAX 80
#endif

/* Size of the `db` input buffer (bytes); `db load N` refuses N above it. */
#ifndef EE_DB_CAPACITY
#define EE_DB_CAPACITY 32768
#endif

/* Most results `m-results-[...]` prints. */
#ifndef EE_RESULTS_MAX
#define EE_RESULTS_MAX 1024
#endif

/* What `name%` answers: m-name-dut-[EE_DEVICE_NAME]. */
#ifndef EE_DEVICE_NAME
#define EE_DEVICE_NAME "harness-ref"
#endif

/* What `profile%` answers: m-profile-[EE_FIRMWARE_ID]. */
#ifndef EE_FIRMWARE_ID
#define EE_FIRMWARE_ID "harness reference firmware 0.1"
#endif

#endif /* EE_CONFIG_H */
