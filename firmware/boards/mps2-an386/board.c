/*
 * MPS2+ AN386 board port: CMSDK APB UART0 for the protocol, CMSDK APB TIMER0 as the
 * µs clock, an FPGAIO LED as the energy-mode timestamp pin.
 *
 * Clock: the AN386 runs the core and the peripherals from SYSCLK = 25 MHz. TIMER0
 * counts down at SYSCLK from 0xFFFFFFFF; its wrap interrupt extends it to 64 bits.
 * Under QEMU with -icount shift=S each instruction advances the virtual clock by
 * 2^S ns, so the µs printed by m-lap-us are instruction counts × 2^S / 1000.
 *
 * With BOARD_PAUSE_CLOCK_WHEN_IDLE (default 1) TIMER0 is stopped while the firmware
 * waits for the UART (for a byte from the host, or for room to send one). The clock
 * then counts only the firmware's own work, which under -icount depends only on the
 * bytes received, never on when they arrive: two runs of the same session print the
 * same timestamps. Deltas inside `infer` (no waiting there) are unaffected; the
 * absolute value is "µs of work since boot" rather than "µs since boot".
 */
#include <stdint.h>

#include "board.h"
#include "ee_protocol.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

/* CMSDK APB UART0 */
#define UART0_BASE 0x40004000u
#define UART_DATA REG(UART0_BASE + 0x00)
#define UART_STATE REG(UART0_BASE + 0x04)
#define UART_CTRL REG(UART0_BASE + 0x08)
#define UART_INTCLEAR REG(UART0_BASE + 0x0C)
#define UART_BAUDDIV REG(UART0_BASE + 0x10)
#define UART_CTRL_RX_INT 8u
#define UART_INT_RX 2u
#define UART_STATE_TXFULL 1u
#define UART_STATE_RXFULL 2u

/* CMSDK APB TIMER0 */
#define TIMER0_BASE 0x40000000u
#define TIMER_CTRL REG(TIMER0_BASE + 0x00)
#define TIMER_VALUE REG(TIMER0_BASE + 0x04)
#define TIMER_RELOAD REG(TIMER0_BASE + 0x08)
#define TIMER_INT REG(TIMER0_BASE + 0x0C)

/* FPGA IO: bit 0 of the LED register drives LED0 (the timestamp "pin" here). */
#define FPGAIO_LED REG(0x40028000u)

#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ICER0 REG(0xE000E180u)
#define NVIC_ICPR0 REG(0xE000E280u)
#define UART0_RX_IRQ 0
#define TIMER0_IRQ 8

#ifndef BOARD_PAUSE_CLOCK_WHEN_IDLE
#define BOARD_PAUSE_CLOCK_WHEN_IDLE 1
#endif

#define TIMER_CTRL_RUN (1u | 8u) /* enable, interrupt on wrap */
#define TIMER_CTRL_PAUSED 8u

static volatile uint32_t timer_wraps;

/* Paused and resumed on every wait, whether or not the UART is ready yet, so the
 * counted instructions never depend on host timing. */
static inline void clock_pause(void)
{
#if BOARD_PAUSE_CLOCK_WHEN_IDLE
    TIMER_CTRL = TIMER_CTRL_PAUSED;
#endif
}

static inline void clock_resume(void)
{
#if BOARD_PAUSE_CLOCK_WHEN_IDLE
    TIMER_CTRL = TIMER_CTRL_RUN;
#endif
}

void timer0_handler(void)
{
    TIMER_INT = 1u; /* clear */
    timer_wraps++;
}

void board_init(void)
{
    UART_BAUDDIV = BOARD_SYSCLK_HZ / 115200u;
    /* TX and RX enabled. The RX interrupt only wakes the core from WFI inside
     * board_getc; it is enabled in the NVIC there alone, with PRIMASK set, so no
     * handler ever runs in the middle of timed work. Sleeping instead of spinning on
     * the status register also keeps an emulator's I/O thread from being starved. */
    UART_CTRL = 3u | UART_CTRL_RX_INT;

    TIMER_CTRL = 0;
    TIMER_RELOAD = 0xFFFFFFFFu;
    TIMER_VALUE = 0xFFFFFFFFu;
    TIMER_INT = 1u;
    NVIC_ISER0 = 1u << TIMER0_IRQ;
    TIMER_CTRL = TIMER_CTRL_RUN;
}

uint64_t board_ticks(void)
{
    uint32_t primask;
    __asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask));
    uint32_t value = TIMER_VALUE;
    uint32_t wraps = timer_wraps;
    if (TIMER_INT & 1u) { /* wrapped, handler not run yet */
        value = TIMER_VALUE;
        wraps++;
    }
    __asm volatile("msr primask, %0" ::"r"(primask));
    return ((uint64_t)wraps << 32) | (0xFFFFFFFFu - value);
}

int board_getc(void)
{
    clock_pause();
    __asm volatile("cpsid i" ::: "memory");
    NVIC_ISER0 = 1u << UART0_RX_IRQ;
    while (!(UART_STATE & UART_STATE_RXFULL)) {
        /* a pending interrupt wakes WFI even with PRIMASK set: no lost wake-up */
        __asm volatile("wfi" ::: "memory");
    }
    int c = (int)(UART_DATA & 0xFFu);
    NVIC_ICER0 = 1u << UART0_RX_IRQ;
    UART_INTCLEAR = UART_INT_RX;
    NVIC_ICPR0 = 1u << UART0_RX_IRQ;
    __asm volatile("cpsie i" ::: "memory");
    clock_resume();
    return c;
}

void uart0_rx_handler(void)
{
    /* not reached: the interrupt is only enabled with PRIMASK set */
    UART_INTCLEAR = UART_INT_RX;
}

void ee_port_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        clock_pause();
        while (UART_STATE & UART_STATE_TXFULL) {
        }
        clock_resume();
        UART_DATA = (uint8_t)s[i];
    }
}

/* A window starts on a whole µs: the timer is moved forward to the next µs boundary
 * (less than 1 µs, with the clock paused, so it stays monotonic). Under -icount the
 * count of a window is then a function of its work alone: without this, where the
 * window started inside a µs (which depends on everything the firmware did before)
 * made identical windows read 1 µs apart. */
uint32_t ee_port_window_start_us(void)
{
#ifdef BOARD_DEBUG_TICKS
    return (uint32_t)board_ticks();
#endif
    const uint32_t per_us = BOARD_SYSCLK_HZ / 1000000u;
    clock_pause();
    uint64_t ticks = board_ticks();
    uint32_t ahead = (uint32_t)((per_us - ticks % per_us) % per_us);
    uint32_t value = TIMER_VALUE;
    if (ahead && value > ahead) {
        TIMER_VALUE = value - ahead; /* counts down: fewer left = later */
        ticks += ahead;
    }
    clock_resume();
    return (uint32_t)(ticks / per_us);
}

uint32_t ee_port_timestamp_us(void)
{
#ifdef BOARD_DEBUG_TICKS
    return (uint32_t)board_ticks();
#endif
    return (uint32_t)(board_ticks() / (BOARD_SYSCLK_HZ / 1000000u));
}

void ee_port_timestamp_pulse(void)
{
    /* Falling edge marks the timestamp, as the EnergyRunner's interface expects. */
    FPGAIO_LED |= 1u;
    for (volatile int i = 0; i < 100; i++) {
    }
    FPGAIO_LED &= ~1u;
}
