/*
 * Reset and vector table for the MPS2+ AN386 (Cortex-M4). No CMSIS needed: the few
 * system registers used are written by address.
 */
#include <stdint.h>

extern uint32_t _data_load, _data_start, _data_end, _bss_start, _bss_end, _stack_top;
extern int main(void);
void timer0_handler(void);
void uart0_rx_handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void reset_handler(void)
{
    /* FPU on (CP10, CP11 full access) before any float instruction runs. */
    SCB_CPACR |= (0xFu << 20);
    __asm volatile("dsb\n isb");
    for (uint32_t *src = &_data_load, *dst = &_data_start; dst < &_data_end;) *dst++ = *src++;
    for (uint32_t *dst = &_bss_start; dst < &_bss_end;) *dst++ = 0;
    main();
    for (;;) __asm volatile("wfi");
}

static void fault_handler(void)
{
    /* A fault stops the board; the host sees no m-ready and times out with the
     * transcript so far. */
    for (;;) __asm volatile("bkpt #0");
}

static void unused_handler(void) { for (;;) ; }

#pragma GCC diagnostic ignored "-Woverride-init" /* IRQ defaults, then TIMER0 */

/* 16 system exceptions, then the AN386's 32 external interrupts (TIMER0 = IRQ 8). */
__attribute__((section(".vectors"), used)) static void (*const vectors[16 + 32])(void) = {
    (void (*)(void))(&_stack_top),
    reset_handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0, 0, 0, 0,
    unused_handler, /* SVCall */
    unused_handler, /* DebugMon */
    0,
    unused_handler, /* PendSV */
    unused_handler, /* SysTick */
    [16 + 0 ... 16 + 31] = unused_handler,
    [16 + 0] = uart0_rx_handler,
    [16 + 8] = timer0_handler,
};
