/* MPS2+ AN386 board port (see board.c). */
#ifndef BOARD_H
#define BOARD_H

#include <stdint.h>

#define BOARD_SYSCLK_HZ 25000000u

void board_init(void);
/* Blocking read of one byte from UART0. */
int board_getc(void);
/* SYSCLK ticks since board_init, 64-bit. */
uint64_t board_ticks(void);

#endif
