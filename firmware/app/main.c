/* Reference firmware entry point: board, then the protocol loop. */
#include "board.h"
#include "ee_protocol.h"

int main(void)
{
    board_init();
    ee_protocol_init();
    for (;;) ee_protocol_rx((char)board_getc());
}
